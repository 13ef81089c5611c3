export { InstrumentedQueue } from './instrumented-queue.js';
export { instrumentStore } from './instrument-store.js';
export { Metrics, type Transport } from './metrics.js';
export { registerMetricsRoute } from './metrics-route.js';

export type * from './queue.js';
export { UnrecoverableJobError } from './queue.js';
export { MemoryQueue } from './memory-queue.js';
export { RabbitQueue } from './rabbit-queue.js';

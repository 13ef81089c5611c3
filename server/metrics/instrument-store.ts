import type { Metrics } from './metrics.js';

/**
 * Wraps a store (any driver) so each method call is timed into `parley_store_call_duration_seconds{op}`,
 * `op` being the method name: a bounded label, whatever the arguments. Drivers stay unaware of metrics.
 *
 * @example
 * const store: Store = instrumentStore(new MongoStore(uri, { logger }), metrics);
 */
export function instrumentStore<S extends object>(store: S, metrics: Metrics): S {
  // One wrapper per method, so `store.getUser === store.getUser` holds and a call allocates nothing extra.
  const timed = new Map<string, (...args: unknown[]) => unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      let wrapper = timed.get(prop);
      if (!wrapper) {
        wrapper = timedMethod(prop, value as (...args: unknown[]) => unknown, target, metrics);
        timed.set(prop, wrapper);
      }
      return wrapper;
    },
  });
}

function timedMethod(op: string, method: (...args: unknown[]) => unknown, target: object, metrics: Metrics) {
  return (...args: unknown[]): unknown => {
    const started = performance.now();
    const observe = () => metrics.storeCall(op, (performance.now() - started) / 1000);
    // Called on the driver itself, so its private fields and internal calls are untouched.
    const result = method.apply(target, args);
    if (!(result instanceof Promise)) {
      observe();
      return result;
    }
    return result.finally(observe);
  };
}

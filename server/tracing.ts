import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * The trace id of the work under way, carried by async context: a socket event or a REST request
 * starts one, jobs published meanwhile carry it through the queue (`Job.traceId`), and the consumer
 * runs under it again. The logger adds it to every line (`traceId`), so one message can be followed
 * from the socket through the store and the queue to the worker.
 *
 * @example
 * withTrace(newTraceId(), () => handle(event)); // logs inside have { traceId }
 */
const context = new AsyncLocalStorage<string>();

export function newTraceId(): string {
  return randomBytes(8).toString('hex');
}

export function withTrace<T>(traceId: string, run: () => T): T {
  return context.run(traceId, run);
}

export function currentTraceId(): string | undefined {
  return context.getStore();
}

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

/** This process's random part of every trace id (96 bits, drawn once); a counter makes the rest. */
const processPart = randomBytes(12).toString('hex');
let counter = 0;

/**
 * 32 hex digits, as long as a W3C trace id. The 96 random bits make two processes' ids collide only if
 * they drew the same part (odds about n²/2^97 for n process starts): one random draw per event was
 * 2.6% of a gateway's CPU under chat load. Not a secret, so predictability does not matter.
 */
export function newTraceId(): string {
  counter = (counter + 1) % 0x1_0000_0000;
  return processPart + counter.toString(16).padStart(8, '0');
}

export function withTrace<T>(traceId: string, run: () => T): T {
  return context.run(traceId, run);
}

export function currentTraceId(): string | undefined {
  return context.getStore();
}

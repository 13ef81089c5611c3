import { ParleyError } from '../errors.js';
import { UnrecoverableJobError, type DomainEvent, type Job, type NewJob, type QueueDriverOptions } from './queue.js';
import { currentTraceId, withTrace } from '../tracing.js';

/**
 * How a job is written to a queue, read back and judged after a failed try. Both drivers go through
 * here, so a payload that cannot survive the trip to RabbitMQ fails the same way in embedded mode, and
 * both retry and dead-letter on the same schedule.
 */

const DRIVER_DEFAULTS: QueueDriverOptions = { maxAttempts: 5, retryBaseMs: 1000, queueType: 'classic', prefix: 'parley' };

/** The driver options with their documented defaults; fields given as undefined keep the default. */
export function resolveDriverOptions(options: Partial<QueueDriverOptions>): QueueDriverOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved: QueueDriverOptions = { ...DRIVER_DEFAULTS, ...given };
  checkPositiveInteger('maxAttempts', resolved.maxAttempts);
  if (!Number.isFinite(resolved.retryBaseMs) || resolved.retryBaseMs < 0) {
    throw new RangeError(`retryBaseMs must be a non-negative number, got ${resolved.retryBaseMs}`);
  }
  return resolved;
}

export type DecodedJob = { readonly ok: true; readonly job: Job } | { readonly ok: false; readonly reason: string };

/** What to do with a job whose handler threw. */
export type FailureOutcome =
  | { readonly kind: 'retry'; readonly attempt: number; readonly delayMs: number; readonly reason: string }
  | { readonly kind: 'dead'; readonly reason: string };

/**
 * The wire form of a job: `{ id, type, payload, attempt }` as JSON. Throws `invalid_payload` for a job
 * that would not read back as it was given (a BigInt, a cycle, an undefined payload), at the publisher
 * rather than as a dead letter later.
 */
export function encodeJob(job: NewJob, attempt: number): string {
  let text: string | undefined;
  try {
    const traceId = job.traceId ?? currentTraceId();
    text = JSON.stringify({ id: job.id, type: job.type, payload: job.payload, attempt, ...(traceId ? { traceId } : {}) });
  } catch (err) {
    throw new ParleyError('invalid_payload', `job ${String(job.id)} is not JSON-serialisable: ${errorMessage(err)}`);
  }
  const decoded = decodeJob(text);
  if (!decoded.ok) throw new ParleyError('invalid_payload', `job ${String(job.id)} cannot be queued: ${decoded.reason}`);
  return text;
}

/** Reads a job back; anything else is reported with a reason fit for a dead letter. */
export function decodeJob(text: string): DecodedJob {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'invalid job: body is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'invalid job: body is not an object' };
  }
  const { id, type, payload, attempt, traceId } = value as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') return { ok: false, reason: 'invalid job: missing id' };
  if (typeof type !== 'string' || type === '') return { ok: false, reason: 'invalid job: missing type' };
  if (payload === undefined) return { ok: false, reason: 'invalid job: missing payload' };
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1) {
    return { ok: false, reason: 'invalid job: attempt is not a positive integer' };
  }
  return { ok: true, job: { id, type, payload, attempt, ...(typeof traceId === 'string' ? { traceId } : {}) } };
}

/**
 * A dead letter whose body is not a job still has to be handed back to operators: the raw text
 * becomes the payload, so nothing of it is lost.
 */
export function unreadableJob(text: string, id: string | undefined, attempt: number): Job {
  return { id: id ?? '', type: 'unreadable', payload: text, attempt };
}

/**
 * The copy of a queued job for its next try, built from the stored text rather than the object a
 * handler was given, which the handler may have changed.
 */
export function reencodeJob(text: string, attempt: number): string {
  const decoded = decodeJob(text);
  if (!decoded.ok) throw new ParleyError('invalid_payload', decoded.reason);
  return encodeJob(decoded.job, attempt);
}

/** The envelope a domain event travels in, so event queues share the work queues' retry rules. */
export function eventAsJob(event: DomainEvent): NewJob<DomainEvent> {
  return { id: event.eventId, type: event.type, payload: event };
}

/** A subscriber's payload must be a domain event; anything else can never be handled. */
export function jobAsEvent(job: Job): DomainEvent {
  const payload = job.payload;
  if (typeof payload !== 'object' || payload === null) throw new UnrecoverableJobError('invalid event: payload is not an object');
  const { eventId, type, data } = payload as Record<string, unknown>;
  if (typeof eventId !== 'string' || typeof type !== 'string' || typeof data !== 'object' || data === null) {
    throw new UnrecoverableJobError('invalid event: missing eventId, type or data');
  }
  return payload as DomainEvent;
}

/** The delay before retry number `retry` (1 for the first): retryBaseMs × 2^(retry-1). */
export function retryDelayMs(retryBaseMs: number, retry: number): number {
  return retryBaseMs * 2 ** (retry - 1);
}

/** Retry after a backoff while tries remain; dead-letter after the last one or when retrying cannot help. */
export function judgeFailure(err: unknown, attempt: number, maxAttempts: number, retryBaseMs: number): FailureOutcome {
  const reason = errorMessage(err);
  if (err instanceof UnrecoverableJobError) return { kind: 'dead', reason };
  if (attempt >= maxAttempts) return { kind: 'dead', reason };
  return { kind: 'retry', attempt: attempt + 1, delayMs: retryDelayMs(retryBaseMs, attempt), reason };
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Consumer options come from code, not users: a bound of 0 or 2.5 is a bug to report at once. */
export function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

/** A publish's delay as a whole number of milliseconds (0 when none); refuses negative or absurd ones. */
export function checkDelay(delayMs: number | undefined): number {
  if (delayMs === undefined) return 0;
  // RabbitMQ's per-message TTL is a 32-bit count of milliseconds.
  if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 2 ** 31 - 1) throw new RangeError(`delayMs must be between 0 and ${2 ** 31 - 1}, got ${delayMs}`);
  return Math.ceil(delayMs);
}

/** Runs a job's handler under the trace it was published with (or its id, for jobs from before traces). */
export function runTraced(job: Job, handler: (job: Job) => Promise<void>): Promise<void> {
  return withTrace(job.traceId ?? job.id, () => handler(job));
}

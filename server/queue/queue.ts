/**
 * The queue port: durable work and domain events. Two drivers implement it, `RabbitQueue` (amqplib) and
 * `MemoryQueue` (embedded mode, in process); `test/contract/queue.contract.test.ts` holds both to the same
 * behaviour: at-least-once delivery, ack after the handler succeeds, bounded concurrency, retries with
 * exponential backoff, and a dead-letter queue after the last try.
 */

/** A unit of work as it travels through a queue. `id` is stable across retries and redeliveries. */
export interface Job<T = unknown> {
  readonly id: string;
  readonly type: string;
  readonly payload: T;
  /** 1 on first delivery, 2 on the first retry, … */
  readonly attempt: number;
  /** The trace the job was published under (server/tracing.ts); its handler runs under it again. */
  readonly traceId?: string;
}

export interface NewJob<T = unknown> {
  /** Stable id: consumers use it (or ids inside the payload) to make a repeat harmless. */
  readonly id: string;
  readonly type: string;
  readonly payload: T;
  /** Default: the trace under way when it is published. */
  readonly traceId?: string;
}

/** Domain events on the topic exchange, routed by `type` (e.g. `user.deleted`). */
export interface DomainEvent<T = Record<string, unknown>> {
  readonly eventId: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly producer: string;
  readonly data: T;
}

export interface PublishOptions {
  /**
   * Holds the job back for at least this long before consumers see it. On RabbitMQ a delayed job
   * waits in one queue per work queue and leaves it from the head, so it may also wait for jobs
   * published before it with longer delays: give one work queue delays that do not shrink over time
   * (e.g. "until the end of a fixed window").
   */
  readonly delayMs?: number;
}

export interface ConsumeOptions {
  /** Jobs in flight at once for this consumer (AMQP prefetch). */
  readonly concurrency: number;
  /** Deliveries before a failing job goes to the dead-letter queue (default from the driver options). */
  readonly maxAttempts?: number;
}

export type JobHandler<T = unknown> = (job: Job<T>) => Promise<void>;
export type EventHandler = (event: DomainEvent, attempt: number) => Promise<void>;

export interface Consumer {
  /** Stops taking new jobs and resolves when the ones in flight have been acked or retried. */
  cancel(): Promise<void>;
}

/** What a dead-lettered job looks like when read back (for tests and operators). */
export interface DeadLetter {
  readonly job: Job;
  /** The last failure's message. */
  readonly reason: string;
}

export interface QueueDriverOptions {
  /** Deliveries before dead-lettering, unless a consumer says otherwise (default 5). */
  readonly maxAttempts: number;
  /** Delay before the first retry; doubles each time (default 1000 ms). */
  readonly retryBaseMs: number;
  /** Queue type for RabbitMQ: classic or quorum (default classic). */
  readonly queueType: 'classic' | 'quorum';
  /** Prefix for every queue and exchange name, so tests and tenants do not collide (default 'parley'). */
  readonly prefix: string;
}

export interface Queue {
  readonly driver: 'memory' | 'rabbitmq';
  /** Connects and declares the topology; idempotent. */
  init(): Promise<void>;
  /** Drains: cancels consumers, waits for in-flight handlers and outstanding publisher confirms, closes. */
  close(): Promise<void>;
  /** Rejects when the broker is unreachable (readiness). */
  ping(): Promise<void>;

  /**
   * Publishes a durable job to the named work queue (declared on first use with its retry and
   * dead-letter queues). Resolves only after the broker confirmed it; rejects with
   * `ParleyError('unavailable')` when it cannot be confirmed.
   */
  publish<T>(queue: string, job: NewJob<T>, options?: PublishOptions): Promise<void>;
  /**
   * Consumes a work queue. The job is acked after `handler` resolves; when it throws, the job is
   * retried after retryBaseMs × 2^(attempt-1) until `maxAttempts`, then moved to the queue's
   * dead-letter queue. A throw of `UnrecoverableJobError` dead-letters at once. A message that is not a
   * valid job (bad JSON, missing fields) is dead-lettered at once too: retrying cannot fix it.
   */
  consume<T>(queue: string, handler: JobHandler<T>, options: ConsumeOptions): Promise<Consumer>;

  /** Publishes a domain event to the topic exchange (routing key = type), confirmed like `publish`. */
  publishEvent(event: DomainEvent): Promise<void>;
  /**
   * A named subscriber's durable queue on the topic exchange, bound to `patterns` (AMQP topic syntax,
   * e.g. `user.*`), with the same ack, retry and dead-letter rules as `consume`.
   */
  subscribe(subscriber: string, patterns: readonly string[], handler: EventHandler, options: ConsumeOptions): Promise<Consumer>;

  /** Jobs waiting in a work queue, not counting those in flight (metrics, tests). */
  depth(queue: string): Promise<number>;
  /** Reads and removes what the queue's dead-letter queue holds (operators, tests). */
  drainDeadLetters(queue: string): Promise<DeadLetter[]>;
}

/** Thrown by a handler for a job that can never succeed: it is dead-lettered without retries. */
export class UnrecoverableJobError extends Error {
  override name = 'UnrecoverableJobError';
}

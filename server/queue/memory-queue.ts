import type { Logger } from 'pino';
import { ParleyError } from '../errors.js';
import {
  checkDelay,
  runTraced,
  checkPositiveInteger,
  decodeJob,
  encodeJob,
  eventAsJob,
  judgeFailure,
  jobAsEvent,
  reencodeJob,
  resolveDriverOptions,
  unreadableJob,
} from './job-codec.js';
import type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  DomainEvent,
  EventHandler,
  Job,
  JobHandler,
  NewJob,
  PublishOptions,
  Queue,
  QueueDriverOptions,
} from './queue.js';

export interface MemoryQueueOptions extends Partial<QueueDriverOptions> {
  readonly logger?: Logger;
}

/**
 * The embedded-mode queue: the same ack, retry and dead-letter rules as RabbitMQ, in process and
 * without durability (a restart loses what is queued). Jobs are kept as their JSON text, the form they
 * would have on the wire, so every delivery hands the handler a fresh copy and a payload that could
 * not reach RabbitMQ is refused here too.
 *
 * @example
 * const queue = new MemoryQueue({ retryBaseMs: 1000 });
 * await queue.consume('delivery', async (job) => deliver(job.payload), { concurrency: 4 });
 * await queue.publish('delivery', { id: messageId, type: 'message.offline', payload });
 */
export class MemoryQueue implements Queue {
  readonly driver = 'memory' as const;
  private readonly options: QueueDriverOptions;
  private readonly log: Logger | undefined;
  private readonly lanes = new Map<string, Lane>();
  /** Topic bindings per subscriber, as split patterns; they outlive a cancelled subscription, as on RabbitMQ. */
  private readonly bindings = new Map<string, string[][]>();
  /** Subscriber queues by event type, worked out from `bindings` (see routesOf). */
  private readonly routes = new Map<string, readonly string[]>();
  /** Retries waiting out their backoff and delayed jobs, so close() can stop them. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly consumers = new Set<MemoryConsumer>();
  private closed = false;

  constructor(options: MemoryQueueOptions = {}) {
    const { logger, ...driverOptions } = options;
    this.options = resolveDriverOptions(driverOptions);
    this.log = logger?.child({ module: 'memory-queue' });
  }

  async init(): Promise<void> {
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.consumers].map((consumer) => consumer.cancel()));
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async publish<T>(queue: string, job: NewJob<T>, options: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    const delayMs = checkDelay(options.delayMs);
    if (delayMs === 0) return this.enqueue(queue, encodeJob(job, 1));
    this.later(delayMs, () => this.enqueue(queue, encodeJob(job, 1)));
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    checkPositiveInteger('concurrency', options.concurrency);
    const maxAttempts = options.maxAttempts ?? this.options.maxAttempts;
    checkPositiveInteger('maxAttempts', maxAttempts);
    const lane = this.lane(queue);
    const consumer = new MemoryConsumer({
      concurrency: options.concurrency,
      handler: handler as JobHandler,
      settle: (text, outcome) => this.settle(queue, text, outcome, maxAttempts),
      onIdle: () => this.dispatch(lane),
      onCancel: (self) => {
        lane.consumers = lane.consumers.filter((c) => c !== self);
        this.consumers.delete(self);
      },
    });
    lane.consumers = [...lane.consumers, consumer];
    this.consumers.add(consumer);
    this.dispatch(lane);
    return consumer;
  }

  async publishEvent(event: DomainEvent): Promise<void> {
    this.assertOpen();
    const queues = this.routesOf(event.type);
    // Encoded only when some subscriber wants it: most events (message.sent) have none in process.
    if (queues.length === 0) return;
    const text = encodeJob(eventAsJob(event), 1);
    for (const queue of queues) this.enqueue(queue, text);
  }

  async subscribe(subscriber: string, patterns: readonly string[], handler: EventHandler, options: ConsumeOptions): Promise<Consumer> {
    this.assertOpen();
    const known = this.bindings.get(subscriber) ?? [];
    const fresh = patterns.filter((p) => !known.some((k) => k.join('.') === p)).map((p) => p.split('.'));
    this.bindings.set(subscriber, [...known, ...fresh]);
    this.routes.clear();
    return this.consume(subscriberQueue(subscriber), (job) => handler(jobAsEvent(job), job.attempt), options);
  }

  async depth(queue: string): Promise<number> {
    return this.lane(queue).ready.length;
  }

  async drainDeadLetters(queue: string): Promise<DeadLetter[]> {
    return this.lane(queue).deadLetters.splice(0);
  }

  private assertOpen(): void {
    if (this.closed) throw new ParleyError('unavailable', 'the queue is closed');
  }

  /**
   * The subscriber queues an event type goes to: one per subscriber even when several of its patterns
   * match, as an exchange does. Remembered per type until the bindings change, because matching every
   * pattern against every event (message.sent: one per message) was a share of a gateway's CPU.
   */
  private routesOf(type: string): readonly string[] {
    let queues = this.routes.get(type);
    if (!queues) {
      const key = type.split('.');
      queues = [...this.bindings].filter(([, patterns]) => patterns.some((pattern) => topicMatches(pattern, key))).map(([subscriber]) => subscriberQueue(subscriber));
      this.routes.set(type, queues);
    }
    return queues;
  }

  private lane(queue: string): Lane {
    let lane = this.lanes.get(queue);
    if (!lane) {
      lane = { ready: [], deadLetters: [], consumers: [], turn: 0 };
      this.lanes.set(queue, lane);
    }
    return lane;
  }

  private enqueue(queue: string, text: string): void {
    const lane = this.lane(queue);
    lane.ready.push(text);
    this.dispatch(lane);
  }

  /** Hands waiting jobs to consumers with a free slot, taking turns like competing AMQP consumers. */
  private dispatch(lane: Lane): void {
    while (lane.ready.length > 0) {
      const consumer = nextFreeConsumer(lane);
      if (!consumer) return;
      const text = lane.ready.shift();
      if (text !== undefined) consumer.run(text);
    }
  }

  /** What happens to a job after its handler ran: nothing on success, else a retry or a dead letter. */
  private settle(queue: string, text: string, outcome: HandlerOutcome, maxAttempts: number): void {
    if (outcome.kind === 'done') return;
    if (outcome.kind === 'invalid') {
      this.deadLetter(queue, unreadableJob(text, undefined, 1), outcome.reason);
      return;
    }
    const { job, error } = outcome;
    const next = judgeFailure(error, job.attempt, maxAttempts, this.options.retryBaseMs);
    if (next.kind === 'dead') {
      this.deadLetter(queue, pristine(text), next.reason);
      return;
    }
    this.log?.debug({ queue, jobId: job.id, attempt: job.attempt, delayMs: next.delayMs }, 'job failed, retrying');
    const retryText = reencodeJob(text, next.attempt);
    this.later(next.delayMs, () => this.enqueue(queue, retryText));
  }

  /** Runs `enqueue` after `ms` unless the queue is closed first. */
  private later(ms: number, enqueue: () => void, due = Date.now() + ms): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // Timers run on a monotonic clock rounded to the millisecond and may fire a millisecond before
      // the wall clock reaches `due`; a delayed job must never arrive early.
      const early = due - Date.now();
      if (early > 0) this.later(early, enqueue, due);
      else enqueue();
    }, ms);
    // A pending retry or delayed job must not keep an otherwise finished process alive.
    timer.unref();
    this.timers.add(timer);
  }

  private deadLetter(queue: string, job: Job, reason: string): void {
    this.log?.warn({ queue, jobId: job.id, type: job.type, attempt: job.attempt, reason }, 'job dead-lettered');
    this.lane(queue).deadLetters.push({ job, reason });
  }
}

/** One named queue: jobs waiting, jobs given up on, and who consumes it. */
interface Lane {
  readonly ready: string[];
  readonly deadLetters: DeadLetter[];
  consumers: readonly MemoryConsumer[];
  /** Whose turn it is next among the consumers. */
  turn: number;
}

type HandlerOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly job: Job; readonly error: unknown }
  | { readonly kind: 'invalid'; readonly reason: string };

interface MemoryConsumerSpec {
  readonly concurrency: number;
  readonly handler: JobHandler;
  readonly settle: (text: string, outcome: HandlerOutcome) => void;
  /** Called when a slot frees up, so the queue can hand over the next job. */
  readonly onIdle: () => void;
  readonly onCancel: (consumer: MemoryConsumer) => void;
}

class MemoryConsumer implements Consumer {
  private readonly inFlight = new Set<Promise<void>>();
  private cancelled = false;

  constructor(private readonly spec: MemoryConsumerSpec) {}

  hasFreeSlot(): boolean {
    return !this.cancelled && this.inFlight.size < this.spec.concurrency;
  }

  run(text: string): void {
    // The slot is taken before the handler starts, and the handler starts on a later tick, as a
    // broker's delivery would: a handler that publishes to its own queue must not re-enter dispatch
    // while its slot still looks free.
    const work = Promise.resolve()
      .then(() => this.process(text))
      .finally(() => {
        this.inFlight.delete(work);
        if (!this.cancelled) this.spec.onIdle();
      });
    this.inFlight.add(work);
  }

  async cancel(): Promise<void> {
    if (!this.cancelled) {
      this.cancelled = true;
      this.spec.onCancel(this);
    }
    await Promise.all([...this.inFlight]);
  }

  private async process(text: string): Promise<void> {
    const decoded = decodeJob(text);
    if (!decoded.ok) {
      this.spec.settle(text, { kind: 'invalid', reason: decoded.reason });
      return;
    }
    try {
      await runTraced(decoded.job, this.spec.handler);
      this.spec.settle(text, { kind: 'done' });
    } catch (error) {
      this.spec.settle(text, { kind: 'failed', job: decoded.job, error });
    }
  }
}

function nextFreeConsumer(lane: Lane): MemoryConsumer | undefined {
  const count = lane.consumers.length;
  for (let i = 0; i < count; i++) {
    const index = (lane.turn + i) % count;
    const consumer = lane.consumers[index];
    if (consumer?.hasFreeSlot()) {
      lane.turn = (index + 1) % count;
      return consumer;
    }
  }
  return undefined;
}

/** The job as it was queued, untouched by the handler that failed on it. */
function pristine(text: string): Job {
  const decoded = decodeJob(text);
  return decoded.ok ? decoded.job : unreadableJob(text, undefined, 1);
}

function subscriberQueue(subscriber: string): string {
  return `events.${subscriber}`;
}

/** AMQP topic matching on dot-separated words: `*` is exactly one word, `#` zero or more. */
function topicMatches(pattern: readonly string[], key: readonly string[]): boolean {
  const [head, ...rest] = pattern;
  if (head === undefined) return key.length === 0;
  if (head === '#') return topicMatches(rest, key) || (key.length > 0 && topicMatches(pattern, key.slice(1)));
  if (key.length === 0) return false;
  return (head === '*' || head === key[0]) && topicMatches(rest, key.slice(1));
}

import type { Consumer, ConsumeOptions, DeadLetter, DomainEvent, EventHandler, JobHandler, NewJob, PublishOptions, Queue } from '../queue/index.js';
import type { Metrics } from './metrics.js';

/**
 * The queue port with every consumer's outcomes counted: `parley_jobs_processed_total{queue}` when a
 * handler succeeds, `parley_jobs_failed_total{queue}` when it throws (the driver then retries or
 * dead-letters as usual). Domain-event subscribers count under their queue, `events.<subscriber>`.
 * Wrapping the port, rather than each worker, also covers the notification workers.
 *
 * @example
 * const queue: Queue = new InstrumentedQueue(new RabbitQueue(url, options), metrics);
 */
export class InstrumentedQueue implements Queue {
  constructor(
    private readonly inner: Queue,
    private readonly metrics: Metrics,
  ) {}

  get driver(): Queue['driver'] {
    return this.inner.driver;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  publish<T>(queue: string, job: NewJob<T>, options?: PublishOptions): Promise<void> {
    return this.inner.publish(queue, job, options);
  }

  consume<T>(queue: string, handler: JobHandler<T>, options: ConsumeOptions): Promise<Consumer> {
    return this.inner.consume<T>(queue, (job) => this.counted(queue, () => handler(job)), options);
  }

  publishEvent(event: DomainEvent): Promise<void> {
    return this.inner.publishEvent(event);
  }

  subscribe(subscriber: string, patterns: readonly string[], handler: EventHandler, options: ConsumeOptions): Promise<Consumer> {
    const queue = `events.${subscriber}`;
    return this.inner.subscribe(subscriber, patterns, (event, attempt) => this.counted(queue, () => handler(event, attempt)), options);
  }

  depth(queue: string): Promise<number> {
    return this.inner.depth(queue);
  }

  drainDeadLetters(queue: string): Promise<DeadLetter[]> {
    return this.inner.drainDeadLetters(queue);
  }

  private async counted(queue: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
      this.metrics.jobSettled(queue, 'processed');
    } catch (err) {
      this.metrics.jobSettled(queue, 'failed');
      throw err;
    }
  }
}

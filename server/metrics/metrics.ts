/**
 * Prometheus metrics of one Parley process (prom-client). Every instrument lives on the instance's own
 * `Registry`, not prom-client's global one, so several servers in one process (tests, benchmarks) never
 * collide. Labels take only bounded values (event names, store methods, queue names, error codes), never
 * user ids, tokens or message text. docs/observability.md lists every metric.
 *
 * @example
 * const metrics = new Metrics();
 * const store = instrumentStore(new MongoStore(uri, { logger }), metrics);
 * registerMetricsRoute(gateway.http, metrics); // GET /metrics
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queue } from '../queue/index.js';

/** Where an error answer went out: a socket ack (or refused handshake) or an HTTP response. */
export type Transport = 'socket' | 'http';

// A scrape must answer even while RabbitMQ is down: a depth that takes longer is left out.
const DEPTH_TIMEOUT_MS = 1000;
// Store calls are mostly single-document reads and writes: finer buckets at the low end.
const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class Metrics {
  readonly registry = new Registry();
  private readonly sockets = new Gauge({ name: 'parley_sockets_connected', help: 'Sockets connected to this node', registers: [this.registry] });
  private readonly eventsIn = this.countsByLabel('socket_events_received_total', 'Socket events received from clients, by event', 'event');
  private readonly eventsOut = this.countsByLabel('socket_events_sent_total', "Socket events sent to this node's sockets, one per receiving socket, by event", 'event');
  private readonly ackSeconds = this.histogram('socket_ack_duration_seconds', 'From receiving an acknowledged socket event to answering its ack, by event', ['event']);
  private readonly storeSeconds = this.histogram('store_call_duration_seconds', 'Duration of store calls, by store method', ['op'], STORE_BUCKETS);
  private readonly jobsProcessed = this.counter('jobs_processed_total', 'Jobs whose handler succeeded (and were acked), by queue', ['queue']);
  private readonly jobsFailed = this.counter('jobs_failed_total', 'Job attempts whose handler threw (retried or dead-lettered), by queue', ['queue']);
  private readonly errors = this.counter('errors_total', 'Error answers, by error code and transport', ['code', 'transport']);
  private readonly rateLimited = this.counter('rate_limited_total', 'Answers with code rate_limited, by transport', ['transport']);

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  socketConnected(): void {
    this.sockets.inc();
  }

  socketDisconnected(): void {
    this.sockets.dec();
  }

  eventReceived(event: string): void {
    this.eventsIn.add(event);
  }

  eventSent(event: string): void {
    this.eventsOut.add(event);
  }

  /** An ack answered `seconds` after its event arrived; `errorCode` when it answered an error. */
  acked(event: string, seconds: number, errorCode?: string): void {
    this.ackSeconds.observe({ event }, seconds);
    if (errorCode) this.errorAnswered('socket', errorCode);
  }

  errorAnswered(transport: Transport, code: string): void {
    this.errors.inc({ code, transport });
    if (code === 'rate_limited') this.rateLimited.inc({ transport });
  }

  storeCall(op: string, seconds: number): void {
    this.storeSeconds.observe({ op }, seconds);
  }

  jobSettled(queue: string, outcome: 'processed' | 'failed'): void {
    (outcome === 'processed' ? this.jobsProcessed : this.jobsFailed).inc({ queue });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name: `parley_${name}`, help, labelNames, registers: [this.registry] });
  }

  private countsByLabel(name: string, help: string, label: string): CountsByLabel {
    return new CountsByLabel(this.registry, `parley_${name}`, help, label);
  }

  private histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets?: number[]): Histogram<L> {
    return new Histogram({ name: `parley_${name}`, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  /**
   * Adds `parley_queue_depth{queue}`, read from the broker on each scrape. A queue whose depth cannot be
   * read within a second is left out of that scrape rather than reported with a stale value. Call once.
   */
  watchQueueDepths(queue: Pick<Queue, 'depth'>, names: readonly string[]): void {
    new Gauge({
      name: 'parley_queue_depth',
      help: 'Jobs waiting in a work queue, not counting those in flight',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const depths = await Promise.allSettled(names.map((name) => withTimeout(queue.depth(name), DEPTH_TIMEOUT_MS)));
        depths.forEach((depth, i) => {
          if (depth.status === 'fulfilled') this.set({ queue: names[i]! }, depth.value);
        });
      },
    });
  }
}

/**
 * A counter by one label, kept in plain numbers and handed to prom-client when scraped. prom-client's
 * `inc` hashes and validates the labels on every call, and these counters see every socket event in and
 * out (three per chat message): about 1.5% of a gateway's CPU under chat load.
 */
class CountsByLabel {
  private readonly counts = new Map<string, number>();

  constructor(registry: Registry, name: string, help: string, label: string) {
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of counts) this.inc({ [label]: value }, n);
      },
    });
  }

  add(value: string): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

import { randomUUID } from 'node:crypto';
import {
  connect,
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  type Options,
  type RecoveringChannelModel,
} from 'amqplib';
import type { Logger } from 'pino';
import { ParleyError } from '../errors.js';
import {
  checkDelay,
  runTraced,
  checkPositiveInteger,
  decodeJob,
  encodeJob,
  errorMessage,
  eventAsJob,
  judgeFailure,
  jobAsEvent,
  reencodeJob,
  resolveDriverOptions,
  retryDelayMs,
  unreadableJob,
} from './job-codec.js';
import type {
  ConsumeOptions,
  Consumer,
  DeadLetter,
  DomainEvent,
  EventHandler,
  JobHandler,
  NewJob,
  PublishOptions,
  Queue,
  QueueDriverOptions,
} from './queue.js';

export interface RabbitQueueOptions extends Partial<QueueDriverOptions> {
  readonly logger?: Logger;
}

/** Seconds between AMQP heartbeats, unless the URL says otherwise: a silent broker is noticed in ~2 beats. */
const HEARTBEAT_SECONDS = 10;
/** A host that drops packets would otherwise hold each connection attempt for the OS's TCP timeout. */
const CONNECT_TIMEOUT_MS = 5000;
const RECONNECT_INITIAL_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 5000;
/** Tries before init() gives up on a broker that is down at start-up (about 3 s with the backoff above). */
const INITIAL_CONNECT_RETRIES = 5;
/** How long a publish waits for a reconnect already under way before failing fast. */
const RECONNECT_GRACE_MS = 1000;
/** A confirm that has not come by then is reported as unavailable; the caller's retry may duplicate the job. */
const CONFIRM_TIMEOUT_MS = 10_000;
/** Bound on every wait in cancel() and close(), so shutdown cannot hang on a stuck handler or broker. */
const DRAIN_TIMEOUT_MS = 10_000;
/**
 * A failed job whose retry copy could not be confirmed goes back to the queue after this pause, so a
 * broker that refuses publishes (a resource alarm) does not turn redelivery into a hot loop.
 */
const REQUEUE_DELAY_MS = 1000;
/** Why a job was dead-lettered, on the dead-letter copy. */
const REASON_HEADER = 'x-parley-reason';
/** Tells a returned (unroutable) message apart from the other publishes awaiting their confirm. */
const PUBLISH_ID_HEADER = 'x-parley-publish-id';

/**
 * The RabbitMQ driver (amqplib). One connection, recovered by amqplib's own reconnect loop with
 * backoff; after every (re)connect the topology is declared again and every active consumer is
 * re-established on a channel of its own. Publishes go through a confirm channel and resolve on the
 * broker's ack; while the broker is unreachable they fail fast with `unavailable` instead of queueing
 * in memory, so nothing is acknowledged that could still be lost.
 *
 * Topology for a work queue `delivery` under prefix `parley`: `parley.delivery`, retry queues
 * `parley.delivery.retry.<n>` whose TTL (retryBaseMs × 2^(n-1)) dead-letters back into the work queue,
 * `parley.delivery.delayed` for delayed publishes (per-message TTL, dead-lettered likewise), and
 * `parley.delivery.dlq`. Events go to the topic exchange `parley.events`; subscriber `s` reads the
 * work queue `events.s`. Processes sharing a prefix must agree on retryBaseMs and queueType, or the
 * broker refuses the second declaration (PRECONDITION_FAILED).
 *
 * @example
 * const queue = new RabbitQueue('amqp://guest:guest@127.0.0.1:5672', { logger });
 * await queue.init();
 * await queue.consume('delivery', async (job) => deliver(job.payload), { concurrency: 8 });
 * await queue.publish('delivery', { id: messageId, type: 'message.offline', payload });
 */
export class RabbitQueue implements Queue {
  readonly driver = 'rabbitmq' as const;
  private readonly options: QueueDriverOptions;
  private readonly log: Logger | undefined;
  private readonly names: Names;
  /** Work queues in use and how many retry queues each needs; declared again on every connection. */
  private readonly topology = new Map<string, number>();
  /** Topic patterns bound to each subscriber's queue, rebound on every connection. */
  private readonly bindings = new Map<string, Set<string>>();
  private readonly consumers = new Set<RabbitConsumer>();
  private readonly pendingConfirms = new Set<Promise<void>>();
  /** Publishes waiting out a reconnect in progress. */
  private readonly sessionWaiters = new Set<() => void>();
  private connection: RecoveringChannelModel | undefined;
  /** Identifies the connection opened by the latest init(), so a setup that outlived close() is refused. */
  private lifetime: object | undefined;
  /** The live connection and its shared channels; undefined while disconnected. */
  private session: Session | undefined;
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    options: RabbitQueueOptions = {},
  ) {
    const { logger, ...driverOptions } = options;
    this.options = resolveDriverOptions(driverOptions);
    this.names = new Names(this.options.prefix);
    this.log = logger?.child({ module: 'rabbit-queue' });
  }

  init(): Promise<void> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    const lifetime = {};
    this.lifetime = lifetime;
    const connection = await connect(withHeartbeat(this.url), {
      timeout: CONNECT_TIMEOUT_MS,
      // Nagle's algorithm holds small frames (a publish, its confirm, an ack) for delayed TCP acks: with
      // it on, the notification benchmark's median latency was ~40 ms; with it off, ~3 ms.
      noDelay: true,
      recovery: {
        initialDelay: RECONNECT_INITIAL_DELAY_MS,
        maxDelay: RECONNECT_MAX_DELAY_MS,
        initialMaxRetries: INITIAL_CONNECT_RETRIES,
        // Listeners go on before the first attempt, so no 'error' can be emitted unheard.
        waitForConnect: false,
        setup: (model: ChannelModel) => this.setUp(model, lifetime),
      },
    });
    this.watch(connection);
    this.connection = connection;
    try {
      await connection.waitForConnect();
    } catch (err) {
      this.connection = undefined;
      await connection.close().catch(() => undefined);
      throw new ParleyError('unavailable', `RabbitMQ: ${errorMessage(err)}`, undefined, { cause: err });
    }
  }

  private watch(connection: RecoveringChannelModel): void {
    // An 'error' without a listener would crash the process; the 'close' after it drives recovery.
    connection.on('error', (err: Error) => this.log?.warn({ err: errorMessage(err) }, 'rabbitmq connection error'));
    connection.on('connect', () => this.log?.info('rabbitmq connected'));
    connection.on('connect-failed', (err: Error) => this.log?.debug({ err: errorMessage(err) }, 'rabbitmq connect attempt failed'));
    connection.on('disconnect', (err: Error) => {
      this.session = undefined;
      this.log?.warn({ err: errorMessage(err) }, 'rabbitmq connection lost, reconnecting');
    });
    connection.on('reconnect-scheduled', (info: { attempt: number; delay: number }) =>
      this.log?.debug({ attempt: info.attempt, delayMs: info.delay }, 'rabbitmq reconnect scheduled'),
    );
    connection.on('reconnect-failed', (err: Error) => {
      this.session = undefined;
      this.log?.error({ err: errorMessage(err) }, 'rabbitmq recovery gave up');
    });
  }

  /** Runs on every new connection, before amqplib reports it connected; a throw makes it retry. */
  private async setUp(model: ChannelModel, lifetime: object): Promise<void> {
    const session = new Session(model, (err) => this.log?.warn({ err: errorMessage(err) }, 'rabbitmq channel error'));
    // amqplib's recovery attaches its own listeners only after this function, so until then an
    // 'error' on the raw connection would go unheard and crash the process.
    // Once attached, its errors reach the listener in watch(); a failed setup is logged as connect-failed.
    model.on('error', () => undefined);
    model.on('blocked', (reason: string) => {
      session.blocked = true;
      this.log?.warn({ reason }, 'rabbitmq is blocking publishers');
    });
    model.on('unblocked', () => {
      session.blocked = false;
    });
    await this.declareAll(session);
    await session.publisher.get();
    // close() ran meanwhile: amqplib closes this connection once setup returns, so it must not go live.
    if (this.lifetime !== lifetime) throw new Error('the queue was closed while connecting');
    // Live before the consumers come back, so their first retries can publish.
    this.session = session;
    for (const wake of [...this.sessionWaiters]) wake();
    try {
      for (const consumer of this.consumers) await consumer.attach(model);
    } catch (err) {
      if (this.session === session) this.session = undefined;
      throw err;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown().finally(() => {
      this.closing = undefined;
    });
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    // Consumers first: their in-flight handlers may still publish retries and dead letters.
    await Promise.all([...this.consumers].map((consumer) => consumer.cancel()));
    if (!(await within(Promise.allSettled([...this.pendingConfirms]), DRAIN_TIMEOUT_MS))) {
      this.log?.warn({ pending: this.pendingConfirms.size }, 'closing with publisher confirms outstanding');
    }
    const connection = this.connection;
    this.connection = undefined;
    this.lifetime = undefined;
    this.session = undefined;
    this.opening = undefined;
    if (connection) await within(connection.close().catch(() => undefined), DRAIN_TIMEOUT_MS);
  }

  async ping(): Promise<void> {
    const session = this.session;
    if (!session) throw new ParleyError('unavailable', 'RabbitMQ is not connected');
    try {
      const channel = await session.admin.get();
      await channel.checkExchange(this.names.exchange);
    } catch (err) {
      throw unavailable('RabbitMQ did not answer', err);
    }
  }

  async publish<T>(queue: string, job: NewJob<T>, options: PublishOptions = {}): Promise<void> {
    const delayMs = checkDelay(options.delayMs);
    const body = Buffer.from(encodeJob(job, 1));
    // A delayed job expires out of the delay queue, which dead-letters it into the work queue.
    const target = delayMs > 0 ? this.names.delayed(queue) : this.names.queue(queue);
    const properties: Options.Publish = { messageId: job.id, type: job.type, ...(delayMs > 0 ? { expiration: String(delayMs) } : {}) };
    const session = await this.sessionForPublish();
    try {
      await this.sendToQueue(session, queue, target, body, properties);
    } catch (err) {
      if (!(err instanceof UnroutableError)) throw err;
      // Someone deleted the queue since it was declared on this connection: declare it again, once.
      await this.sendToQueue(session, queue, target, body, properties);
    }
  }

  async publishEvent(event: DomainEvent): Promise<void> {
    const body = Buffer.from(encodeJob(eventAsJob(event), 1));
    const session = await this.sessionForPublish();
    // The exchange is declared with the session; an event no subscriber is bound to is dropped by design.
    await this.confirmPublish(session, this.names.exchange, event.type, body, { messageId: event.eventId, type: event.type }, false);
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options: ConsumeOptions): Promise<Consumer> {
    return this.startConsumer(queue, handler as JobHandler, options);
  }

  async subscribe(subscriber: string, patterns: readonly string[], handler: EventHandler, options: ConsumeOptions): Promise<Consumer> {
    const queue = subscriberQueue(subscriber);
    const bound = this.bindings.get(queue) ?? new Set<string>();
    for (const pattern of patterns) bound.add(pattern);
    this.bindings.set(queue, bound);
    return this.startConsumer(queue, (job) => handler(jobAsEvent(job), job.attempt), options);
  }

  async depth(queue: string): Promise<number> {
    const session = await this.liveSession();
    try {
      await this.ensureQueue(session, queue, this.options.maxAttempts - 1);
      const channel = await session.admin.get();
      const { messageCount } = await channel.checkQueue(this.names.queue(queue));
      return messageCount;
    } catch (err) {
      throw unavailable(`cannot read the depth of ${queue}`, err);
    }
  }

  async drainDeadLetters(queue: string): Promise<DeadLetter[]> {
    const session = await this.liveSession();
    try {
      return await this.readDeadLetters(session, queue);
    } catch (err) {
      throw unavailable(`cannot drain the dead letters of ${queue}`, err);
    }
  }

  private async readDeadLetters(session: Session, queue: string): Promise<DeadLetter[]> {
    await this.ensureQueue(session, queue, this.options.maxAttempts - 1);
    // A channel of its own: a long drain must not hold up the declarations queued on the shared one.
    const channel = await session.model.createChannel();
    channel.on('error', (err: Error) => this.log?.warn({ err: errorMessage(err) }, 'rabbitmq channel error'));
    try {
      const letters: DeadLetter[] = [];
      for (;;) {
        const message = await channel.get(this.names.deadLetters(queue), { noAck: false });
        if (message === false) return letters;
        letters.push(toDeadLetter(message));
        channel.ack(message);
      }
    } finally {
      await within(channel.close().catch(() => undefined), DRAIN_TIMEOUT_MS);
    }
  }

  // ---- connection ----

  /** The live session for a caller's publish or consume: refused once close() has begun. */
  private sessionForPublish(): Promise<Session> {
    if (this.closing) return Promise.reject(new ParleyError('unavailable', 'the queue is closing'));
    return this.liveSession();
  }

  /** The live session, waiting briefly for a reconnect under way; otherwise `unavailable` at once. */
  private async liveSession(): Promise<Session> {
    if (this.session) return this.session;
    if (!this.connection) throw new ParleyError('unavailable', 'the queue is not connected (init() not called, or closed)');
    const session = await this.waitForSession(RECONNECT_GRACE_MS);
    if (!session) throw new ParleyError('unavailable', 'RabbitMQ is unreachable, retry later');
    return session;
  }

  private waitForSession(ms: number): Promise<Session | undefined> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sessionWaiters.delete(wake);
        resolve(this.session);
      };
      const timer = setTimeout(wake, ms);
      this.sessionWaiters.add(wake);
    });
  }

  // ---- topology ----

  private async declareAll(session: Session): Promise<void> {
    const channel = await session.admin.get();
    await channel.assertExchange(this.names.exchange, 'topic', { durable: true });
    for (const [queue, retries] of this.topology) await this.declareQueue(session, channel, queue, retries);
    for (const [queue, patterns] of this.bindings) {
      for (const pattern of patterns) await channel.bindQueue(this.names.queue(queue), this.names.exchange, pattern);
    }
  }

  /** Declares a work queue with `retries` retry queues and its dead-letter queue, once per connection. */
  private async ensureQueue(session: Session, queue: string, retries: number): Promise<void> {
    const wanted = Math.max(retries, this.topology.get(queue) ?? 0);
    this.topology.set(queue, wanted);
    const declared = session.declared.get(queue);
    if (declared !== undefined && declared >= wanted) return;
    const channel = await session.admin.get();
    await this.declareQueue(session, channel, queue, wanted);
  }

  private async declareQueue(session: Session, channel: Channel, queue: string, retries: number): Promise<void> {
    const base = this.names.queue(queue);
    const typed = { 'x-queue-type': this.options.queueType };
    await channel.assertQueue(base, { durable: true, arguments: typed });
    await channel.assertQueue(this.names.deadLetters(queue), { durable: true, arguments: typed });
    for (let retry = 1; retry <= retries; retry++) {
      await channel.assertQueue(this.names.retry(queue, retry), {
        durable: true,
        arguments: {
          ...typed,
          // Every message in one retry queue waits the same time, so expiry at the head is never
          // held up behind a longer wait, as a per-message TTL could be.
          'x-message-ttl': retryDelayMs(this.options.retryBaseMs, retry),
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': base,
        },
      });
    }
    // Delayed jobs: each message carries its own TTL (`expiration`), then goes to the work queue.
    await channel.assertQueue(this.names.delayed(queue), {
      durable: true,
      arguments: { ...typed, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': base },
    });
    session.declared.set(queue, Math.max(retries, session.declared.get(queue) ?? 0));
  }

  // ---- publishing ----

  /**
   * Publishes to one of `queue`'s queues (the work queue, a retry queue or its dead-letter queue),
   * declaring them first. Mandatory, so a queue deleted behind our back is reported instead of the
   * broker confirming a message it dropped; the declaration is then forgotten so the next try redoes it.
   */
  private async sendToQueue(session: Session, queue: string, target: string, body: Buffer, options: Options.Publish): Promise<void> {
    await this.ensureQueue(session, queue, this.options.maxAttempts - 1).catch((err: unknown) => {
      throw unavailable(`cannot declare ${queue}`, err);
    });
    try {
      await this.confirmPublish(session, '', target, body, options, true);
    } catch (err) {
      if (err instanceof UnroutableError) session.declared.delete(queue);
      throw err;
    }
  }

  private confirmPublish(
    session: Session,
    exchange: string,
    routingKey: string,
    body: Buffer,
    options: Options.Publish,
    mandatory: boolean,
  ): Promise<void> {
    const confirmed = sendConfirmed(session, exchange, routingKey, body, options, mandatory);
    this.pendingConfirms.add(confirmed);
    const forget = (): void => {
      this.pendingConfirms.delete(confirmed);
    };
    confirmed.then(forget, forget);
    return confirmed;
  }

  // ---- consuming ----

  private async startConsumer(queue: string, handler: JobHandler, options: ConsumeOptions): Promise<Consumer> {
    checkPositiveInteger('concurrency', options.concurrency);
    const maxAttempts = options.maxAttempts ?? this.options.maxAttempts;
    checkPositiveInteger('maxAttempts', maxAttempts);
    const session = await this.sessionForPublish();
    const consumer = new RabbitConsumer({
      queue: this.names.queue(queue),
      concurrency: options.concurrency,
      log: this.log,
      handle: (message, channelOpen) => this.handleDelivery({ queue, handler, maxAttempts }, message, channelOpen),
      onCancel: (self) => this.consumers.delete(self),
    });
    try {
      await this.ensureQueue(session, queue, maxAttempts - 1);
      const patterns = this.bindings.get(queue) ?? [];
      const channel = await session.admin.get();
      for (const pattern of patterns) await channel.bindQueue(this.names.queue(queue), this.names.exchange, pattern);
      this.consumers.add(consumer);
      await consumer.attach(session.model);
    } catch (err) {
      // A reconnect in the meantime may have attached it elsewhere; cancel() undoes that too.
      await consumer.cancel();
      throw unavailable(`cannot consume ${queue}`, err);
    }
    return consumer;
  }

  /**
   * Runs the handler on one delivery and decides how to settle it. A retry or dead-letter copy is
   * confirmed before the original is acked, so a crash in between repeats the job rather than losing it.
   */
  private async handleDelivery(route: Route, message: ConsumeMessage, channelOpen: () => boolean): Promise<Settlement> {
    const text = message.content.toString('utf8');
    const decoded = decodeJob(text);
    if (!decoded.ok) return this.deadLetter(route.queue, message, decoded.reason, 1);
    const { job } = decoded;
    try {
      await runTraced(job, route.handler);
      return 'ack';
    } catch (err) {
      // The broker has already handed the job, as it was, to another consumer: a copy from here would double it.
      if (!channelOpen()) return 'leave';
      const next = judgeFailure(err, job.attempt, route.maxAttempts, this.options.retryBaseMs);
      if (next.kind === 'dead') return this.deadLetter(route.queue, message, next.reason, job.attempt);
      this.log?.debug({ queue: route.queue, jobId: job.id, attempt: job.attempt, delayMs: next.delayMs }, 'job failed, retrying');
      const retryQueue = this.names.retry(route.queue, job.attempt);
      return this.republish(route.queue, retryQueue, Buffer.from(reencodeJob(text, next.attempt)), message, {});
    }
  }

  private deadLetter(queue: string, message: ConsumeMessage, reason: string, attempt: number): Promise<Settlement> {
    this.log?.warn({ queue, jobId: message.properties.messageId as unknown, attempt, reason }, 'job dead-lettered');
    return this.republish(queue, this.names.deadLetters(queue), message.content, message, { [REASON_HEADER]: reason });
  }

  /** Confirmed copy to `target`, then ack; when the copy cannot be confirmed the original goes back. */
  private async republish(
    queue: string,
    target: string,
    body: Buffer,
    original: ConsumeMessage,
    headers: Record<string, string>,
  ): Promise<Settlement> {
    const { messageId, type } = original.properties as { messageId?: string; type?: string };
    try {
      const session = await this.liveSession();
      await this.sendToQueue(session, queue, target, body, { messageId, type, headers });
      return 'ack';
    } catch (err) {
      this.log?.warn({ target, err: errorMessage(err) }, 'cannot republish a failed job, requeueing it');
      return 'requeue';
    }
  }
}

/** Queue and exchange names under one prefix. */
class Names {
  constructor(private readonly prefix: string) {}

  get exchange(): string {
    return `${this.prefix}.events`;
  }

  queue(queue: string): string {
    return `${this.prefix}.${queue}`;
  }

  retry(queue: string, retry: number): string {
    return `${this.prefix}.${queue}.retry.${retry}`;
  }

  deadLetters(queue: string): string {
    return `${this.prefix}.${queue}.dlq`;
  }

  delayed(queue: string): string {
    return `${this.prefix}.${queue}.delayed`;
  }
}

/** One live connection with the channels shared on it; a reconnect starts a fresh one. */
class Session {
  readonly publisher: LazyChannel<ConfirmChannel>;
  /** Declarations, checks and pings: a refused declaration closes this channel, not the publisher's. */
  readonly admin: LazyChannel<Channel>;
  /** Work queues declared on this connection and their retry queue counts. */
  readonly declared = new Map<string, number>();
  /** Publish ids the broker returned as unroutable; their confirm follows the return. */
  readonly returned = new Set<string>();
  blocked = false;

  constructor(
    readonly model: ChannelModel,
    onChannelError: (err: Error) => void,
  ) {
    this.publisher = new LazyChannel(
      () => model.createConfirmChannel(),
      (channel) => {
        channel.on('error', onChannelError);
        channel.on('return', (message: { properties: { headers?: Record<string, unknown> } }) => {
          const publishId = message.properties.headers?.[PUBLISH_ID_HEADER];
          if (typeof publishId === 'string') this.returned.add(publishId);
        });
      },
    );
    this.admin = new LazyChannel(
      () => model.createChannel(),
      (channel) => channel.on('error', onChannelError),
    );
  }
}

/** A channel opened on first use and again after it closed (a channel error closes only the channel). */
class LazyChannel<C extends Channel> {
  private current: Promise<C> | undefined;

  constructor(
    private readonly open: () => Promise<C>,
    private readonly prepare: (channel: C) => void,
  ) {}

  get(): Promise<C> {
    if (this.current) return this.current;
    const opening = this.open().then((channel) => {
      this.prepare(channel);
      channel.once('close', () => {
        if (this.current === opening) this.current = undefined;
      });
      return channel;
    });
    opening.catch(() => {
      if (this.current === opening) this.current = undefined;
    });
    this.current = opening;
    return opening;
  }
}

/** The broker confirmed a mandatory publish it could not route: the target queue does not exist. */
class UnroutableError extends ParleyError {
  constructor(routingKey: string) {
    super('unavailable', `no queue ${routingKey} to take the message`);
  }
}

/** Publishes on the session's confirm channel and resolves on the broker's ack. */
async function sendConfirmed(
  session: Session,
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: Options.Publish,
  mandatory: boolean,
): Promise<void> {
  if (session.blocked) throw new ParleyError('unavailable', 'RabbitMQ is blocking publishers (resource alarm), retry later');
  const channel = await session.publisher.get().catch((err: unknown) => {
    throw unavailable('cannot open a publisher channel', err);
  });
  const publishId = randomUUID();
  const headers = mandatory ? { ...options.headers, [PUBLISH_ID_HEADER]: publishId } : options.headers;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ParleyError('unavailable', 'RabbitMQ did not confirm the publish in time')), CONFIRM_TIMEOUT_MS);
    const settle = (err: unknown): void => {
      clearTimeout(timer);
      const returned = session.returned.delete(publishId);
      if (err) reject(unavailable('RabbitMQ did not confirm the publish', err));
      else if (returned) reject(new UnroutableError(routingKey));
      else resolve();
    };
    try {
      const properties = { ...options, headers, mandatory, persistent: true, contentType: 'application/json' };
      channel.publish(exchange, routingKey, body, properties, settle);
    } catch (err) {
      // A channel closed under us throws synchronously instead of calling back.
      settle(err ?? new Error('publish failed'));
    }
  });
}

/** `leave`: the delivering channel died, so the broker redelivers the message; there is nothing to settle. */
type Settlement = 'ack' | 'requeue' | 'leave';

interface Route {
  /** The work queue's name without the prefix. */
  readonly queue: string;
  readonly handler: JobHandler;
  readonly maxAttempts: number;
}

interface RabbitConsumerSpec {
  /** The full queue name. */
  readonly queue: string;
  readonly concurrency: number;
  readonly log: Logger | undefined;
  readonly handle: (message: ConsumeMessage, channelOpen: () => boolean) => Promise<Settlement>;
  readonly onCancel: (consumer: RabbitConsumer) => void;
}

/**
 * One consumer on a channel of its own (prefetch applies per channel), re-attached to every new
 * connection until cancelled. A delivery is only ever settled on the channel that brought it: after
 * that channel died the broker redelivers it, which is the at-least-once guarantee.
 */
class RabbitConsumer implements Consumer {
  private readonly inFlight = new Set<Promise<void>>();
  private attachedTo: ChannelModel | undefined;
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private cancelling: Promise<void> | undefined;

  constructor(private readonly spec: RabbitConsumerSpec) {}

  async attach(model: ChannelModel): Promise<void> {
    if (this.cancelling || this.attachedTo === model) return;
    this.attachedTo = model;
    const channel = await model.createChannel();
    const state = { open: true };
    channel.on('error', (err: Error) => this.spec.log?.warn({ queue: this.spec.queue, err: errorMessage(err) }, 'consumer channel error'));
    channel.on('close', () => {
      state.open = false;
      if (this.channel === channel) {
        this.channel = undefined;
        this.consumerTag = undefined;
      }
    });
    await channel.prefetch(this.spec.concurrency);
    const { consumerTag } = await channel.consume(this.spec.queue, (message) => this.receive(channel, state, message), { noAck: false });
    this.channel = channel;
    this.consumerTag = consumerTag;
    // cancel() ran while the channel was opening and could not stop it; whatever arrived meanwhile
    // goes back to the queue with the channel.
    if (this.cancelling) await channel.close().catch(() => undefined);
  }

  cancel(): Promise<void> {
    this.cancelling ??= this.drain();
    return this.cancelling;
  }

  private async drain(): Promise<void> {
    this.spec.onCancel(this);
    const channel = this.channel;
    const consumerTag = this.consumerTag;
    // After cancel-ok no more deliveries arrive, so the in-flight set below is complete.
    if (channel && consumerTag) await within(channel.cancel(consumerTag).catch(() => undefined), DRAIN_TIMEOUT_MS);
    if (!(await within(Promise.allSettled([...this.inFlight]), DRAIN_TIMEOUT_MS))) {
      this.spec.log?.warn({ queue: this.spec.queue, inFlight: this.inFlight.size }, 'cancelling with handlers still running');
    }
    if (channel) await within(channel.close().catch(() => undefined), DRAIN_TIMEOUT_MS);
  }

  private receive(channel: Channel, state: { readonly open: boolean }, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancels consumers of a deleted queue; the next connection declares and attaches again.
      this.spec.log?.warn({ queue: this.spec.queue }, 'consumer cancelled by the broker');
      return;
    }
    const work = this.settle(channel, state, message).finally(() => {
      this.inFlight.delete(work);
    });
    this.inFlight.add(work);
  }

  private async settle(channel: Channel, state: { readonly open: boolean }, message: ConsumeMessage): Promise<void> {
    let settlement: Settlement;
    try {
      settlement = await this.spec.handle(message, () => state.open);
    } catch (err) {
      this.spec.log?.error({ queue: this.spec.queue, err: errorMessage(err) }, 'delivery handling failed, requeueing');
      settlement = 'requeue';
    }
    if (settlement === 'requeue') await new Promise((resolve) => setTimeout(resolve, REQUEUE_DELAY_MS));
    // Never ack on a dead channel: the broker has put the message back already.
    if (settlement === 'leave' || !state.open) return;
    try {
      if (settlement === 'ack') channel.ack(message);
      else channel.nack(message, false, true);
    } catch (err) {
      // Closed between the check and the call; the broker redelivers.
      this.spec.log?.debug({ queue: this.spec.queue, err: errorMessage(err) }, 'could not settle a delivery');
    }
  }
}

function toDeadLetter(message: { content: Buffer; properties: { messageId?: unknown; headers?: Record<string, unknown> } }): DeadLetter {
  const text = message.content.toString('utf8');
  const decoded = decodeJob(text);
  const messageId = typeof message.properties.messageId === 'string' ? message.properties.messageId : undefined;
  const reason = message.properties.headers?.[REASON_HEADER];
  return {
    job: decoded.ok ? decoded.job : unreadableJob(text, messageId, 1),
    reason: typeof reason === 'string' ? reason : 'unknown',
  };
}

function subscriberQueue(subscriber: string): string {
  return `events.${subscriber}`;
}

function unavailable(message: string, cause: unknown): ParleyError {
  if (cause instanceof ParleyError) return cause;
  return new ParleyError('unavailable', `${message}: ${errorMessage(cause)}`);
}

/** Resolves true when `promise` settles within `ms`, false when the wait ran out. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function withHeartbeat(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(HEARTBEAT_SECONDS));
  return parsed.toString();
}

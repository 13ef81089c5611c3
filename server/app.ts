import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { AccountService } from './accounts/index.js';
import { AuthService } from './auth/index.js';
import { ConversationService, MessageService, type Realtime } from './chat/index.js';
import { FollowUpPublisher, QUEUES } from './chat/follow-up.js';
import { OfflineDelivery } from './chat/offline-delivery.js';
import { ReceiptProcessor } from './chat/receipt-processor.js';
import { ScheduledDelivery } from './chat/scheduled-delivery.js';
import { TypingService } from './chat/typing-service.js';
import { type CacheInvalidation, createRedisAdapter, EmitterRealtime, MemoryCacheInvalidation, RedisCacheInvalidation } from './cluster/index.js';
import { EventPublisher } from './events/index.js';
import { ConfigError, type ParleyConfig } from './config.js';
import { ParleyError } from './errors.js';
import { Server } from 'socket.io';
import { createGateway, wireGateway } from './gateway/gateway.js';
import { createSchemas } from './gateway/schemas.js';
import { SocketIoRealtime } from './gateway/socket-realtime.js';
import type { ParleyServer, SocketGateway } from './gateway/socket-gateway.js';
import { registerWebApp } from './gateway/web-app.js';
import { createLogger, type Logger } from './logger.js';
import { InstrumentedQueue, instrumentStore, Metrics, registerMetricsRoute } from './metrics/index.js';
import { NotificationService } from './notifications/index.js';
import { classQueue, createNotifyModule, createNotifyStore, NOTIFY_WORKER_NAMES, PRIORITY_CLASSES, type NotifyModule, type NotifyWorkerName } from './notify/index.js';
import { MemoryPresence, type Presence, PresenceService, RedisPresence } from './presence/index.js';
import { MemoryQueue, type Queue, RabbitQueue } from './queue/index.js';
import { MemoryStore, MongoStore, type Store } from './store/index.js';
import { UserService } from './users/index.js';
import { startWorkers, type WorkerName, WORKER_NAMES, type Workers } from '../workers/index.js';
import { LoginThrottle, originPolicy, RateLimits } from './security/index.js';
import { Retention } from './accounts/retention.js';

/**
 * What a process runs: `all` (embedded default), `web` (gateway only), `worker` (queue consumers) or
 * `tool` (neither: a CLI command that needs the services, e.g. suspending an account).
 */
export type Role = 'all' | 'web' | 'worker' | 'tool';

export interface ParleyOptions {
  readonly logger?: Logger;
  readonly role?: Role;
  /** With role `worker` (or `all`): which workers to run (default: every one). */
  readonly workers?: readonly WorkerName[];
}

export interface Parley {
  /** Connects every driver, then listens (web) and starts workers; resolves with the base URL or ''. */
  start(): Promise<string>;
  /** Drains: stops accepting, finishes in-flight acks, sends clients elsewhere, stops workers, closes. */
  stop(): Promise<void>;
  readonly store: Store;
  readonly queue: Queue;
  readonly presence: Presence;
  readonly logger: Logger;
  readonly role: Role;
  readonly accounts: AccountService;
  /** The notification pipeline (event API, channels, schedules). */
  readonly notify: NotifyModule;
  /** Which driver each port uses, for the start-up log. */
  readonly drivers: Readonly<Record<string, string>>;
  /** This process's Prometheus metrics (served at GET /metrics by a web process). */
  readonly metrics: Metrics;
}

/**
 * The composition root: the one place that turns configuration into drivers and services.
 *
 * @example
 * const parley = createParley(loadConfig(), { role: 'all' });
 * const url = await parley.start();
 */
export function createParley(config: ParleyConfig, options: ParleyOptions = {}): Parley {
  const logger = (options.logger ?? createLogger(config.logLevel)).child({ node: config.nodeId });
  const requested = options.role ?? 'all';
  const prefix = config.cluster.keyPrefix;

  const metrics = new Metrics();
  const store: Store = instrumentStore(config.mongodbUri ? new MongoStore(config.mongodbUri, { logger }) : new MemoryStore(), metrics);
  const queue: Queue = new InstrumentedQueue(
    config.amqpUrl ? new RabbitQueue(config.amqpUrl, { ...config.queues, prefix, logger }) : new MemoryQueue({ ...config.queues, prefix }),
    metrics,
  );
  metrics.watchQueueDepths(queue, [...Object.values(QUEUES), ...PRIORITY_CLASSES.map(classQueue)]);
  const presence: Presence = config.redisUrl
    ? new RedisPresence(config.redisUrl, { nodeId: config.nodeId, ttlMs: config.cluster.presenceTtlMs, prefix, logger })
    : new MemoryPresence();
  // In-process queues have no other consumer: a web process without RabbitMQ runs the workers too.
  const role: Role = requested === 'web' && queue.driver === 'memory' ? 'all' : requested;
  if (role === 'worker' && queue.driver === 'memory') throw new ConfigError('invalid configuration: AMQP_URL: a worker process needs RabbitMQ');
  if (role === 'worker' && !config.redisUrl) throw new ConfigError('invalid configuration: REDIS_URL: a worker process reaches sockets through Redis');

  const rateLimits = RateLimits.connect(config.redisUrl, prefix, logger);
  const gateway =
    role === 'worker' || role === 'tool'
      ? undefined
      : createGateway(config.limits, logger, {
          allowOrigin: originPolicy(config.security.allowedOrigins),
          perIp: rateLimits.create({ name: 'ip', points: config.security.ipRequestsPerSecond, durationSeconds: 1, describe: `more than ${config.security.ipRequestsPerSecond} requests per second from this address` }),
          trustProxyHops: config.security.trustProxyHops,
          onSocketRefused: (code) => metrics.errorAnswered('socket', code),
        });
  // Workers reach sockets through Redis. @socket.io/redis-emitter speaks only the classic adapter's
  // protocol (socketio/socket.io-redis-emitter#127), so unless the classic adapter is configured, a
  // worker uses a detached Socket.IO server (no HTTP) with the gateways' own adapter to broadcast.
  const detached: ParleyServer | undefined = !gateway && (role === 'tool' || !config.redisUrl || config.cluster.adapter !== 'classic') ? new Server() : undefined;
  const io = gateway?.io ?? detached;
  const realtime: Realtime = io ? new SocketIoRealtime(io) : new EmitterRealtime(config.redisUrl!, { prefix });
  const producer = `parley/${config.nodeId}`;

  const sendLimiter = rateLimits.create({
    name: 'send',
    points: config.limits.messagesPerSecond,
    durationSeconds: 1,
    describe: `more than ${config.limits.messagesPerSecond} messages per second`,
    // A tenth of the budget per Redis round trip: 2 points at the default of 20. So a user on n nodes
    // may be refused up to a tenth of the budget per other node early, never late.
    lease: Math.floor(config.limits.messagesPerSecond / 10),
  });
  const events = new EventPublisher(queue, producer, logger);
  const auth = new AuthService(store, config.auth, realtime, events, logger, new LoginThrottle(rateLimits, config.security));
  const invalidation: CacheInvalidation = config.redisUrl ? new RedisCacheInvalidation(config.redisUrl, { prefix, logger }) : new MemoryCacheInvalidation();
  const users = new UserService(store, realtime, events, invalidation);
  const notifications = new NotificationService(store, realtime);
  const notifyStore = createNotifyStore(config.mongodbUri, { logger });
  const notify = createNotifyModule({ config: config.notify, store, notifyStore, queue, notifications, logger });
  const conversations = new ConversationService(store, realtime, config.limits, invalidation);
  const followUp = new FollowUpPublisher(store, queue, presence, producer, logger);
  const messages = new MessageService(store, conversations, users, realtime, queue, followUp, events, sendLimiter);
  const accounts = new AccountService(store, auth, queue, realtime, producer, invalidation, logger);
  const presenceService = new PresenceService(store, presence, realtime, queue, logger);
  const typing = new TypingService(conversations, users, realtime, { ttlMs: config.cluster.typingTtlMs, throttleMs: config.cluster.typingThrottleMs });

  const readiness: Record<string, () => Promise<void>> = { store: () => store.ping() };
  if (config.redisUrl) readiness.redis = () => presence.ping();
  if (config.amqpUrl) readiness.rabbitmq = () => queue.ping();
  if (config.mongodbUri) readiness['notify-store'] = () => notifyStore.ping();

  const sockets: SocketGateway | undefined = gateway
    ? wireGateway(
        gateway,
        { auth, users, conversations, messages, notifications, accounts, readiness, schemas: createSchemas(config.limits) },
        { auth, messages, presence: presenceService, typing, schemas: createSchemas(config.limits), logger, metrics, maxPageSize: config.limits.maxPageSize },
        { presence, maxConnectionsPerUser: config.security.maxConnectionsPerUser, socketEventsPerSecond: config.security.socketEventsPerSecond },
      )
    : undefined;
  if (gateway) registerMetricsRoute(gateway.http, metrics, config.security.metricsToken);
  if (gateway) registerWebApp(gateway.http, { distDir: webDistDir() });
  if (gateway) notify.registerRoutes(gateway.http, (token) => auth.authenticate(token));

  const workerNames = role === 'web' || role === 'tool' ? [] : (options.workers ?? WORKER_NAMES);
  let workers: Workers | undefined;
  let closeAdapter: (() => Promise<void>) | undefined;
  const drivers = {
    store: store.driver,
    queue: queue.driver,
    presence: presence.driver,
    fanout: !config.redisUrl ? 'memory (single node)' : io ? `redis adapter (${config.cluster.adapter})` : 'redis emitter (classic)',
    role,
  };

  return {
    store,
    queue,
    presence,
    logger,
    role,
    accounts,
    notify,
    drivers,
    metrics,
    async start() {
      await reaching('MongoDB (MONGODB_URI)', () => store.init());
      await reaching('MongoDB (MONGODB_URI)', () => notify.init());
      await reaching('RabbitMQ (AMQP_URL)', () => queue.init());
      await reaching('Redis (REDIS_URL)', () => presence.init());
      await reaching('Redis (REDIS_URL)', () => invalidation.init());
      if (io && config.redisUrl) {
        const fanout = await reaching('Redis (REDIS_URL)', () => createRedisAdapter(config.redisUrl!, {
          mode: config.cluster.adapter,
          logger,
          prefix,
          // Broadcasts made while Redis was down never arrived: this node's clients catch up by seq.
          onRecovered: () => {
            if (!gateway) return;
            logger.info({ sockets: gateway.io.engine.clientsCount }, 'redis fan-out back: asking local clients to resync');
            gateway.io.local.emit('resync', { reason: 'fanout_recovered' });
          },
        }));
        io.adapter(fanout.adapter);
        closeAdapter = fanout.close;
        logger.info({ mode: fanout.mode }, 'socket.io redis adapter ready');
      }
      if (workerNames.length > 0) {
        const receipts = new ReceiptProcessor(store, realtime, notifications, queue, producer, logger);
        const delivery = new OfflineDelivery(store, presence, (body, options) => notify.submit(body, options), queue, config.queues.pushCoalesceMs);
        const scheduled = new ScheduledDelivery(store, realtime, notifications, followUp, events, logger);
        const isNotify = (n: WorkerName): n is NotifyWorkerName => (NOTIFY_WORKER_NAMES as readonly string[]).includes(n);
        const retention = new Retention(store, config.retention, logger);
        workers = await startWorkers({ store, queue, presence, receipts, delivery, scheduled, followUp, accounts, retention, config: { ...config.queues, retentionIntervalMs: config.retention.intervalMs }, logger }, workerNames.filter((n) => !isNotify(n)));
        const notifyWorkerNames = workerNames.filter(isNotify);
        if (notifyWorkerNames.length > 0) await notify.startWorkers(notifyWorkerNames);
      }
      if (!gateway) return '';
      await gateway.http.listen({ port: config.port, host: config.host });
      const { port } = gateway.http.server.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
      return `http://${host}:${port}`;
    },
    async stop() {
      if (gateway && sockets) {
        // Stop accepting first, so no new socket lands on a node that is going away.
        gateway.http.server.close();
        await sockets.drain(config.cluster.drainTimeoutMs);
        await gateway.io.close().catch(() => undefined);
        await gateway.http.close().catch(() => undefined);
      }
      await workers?.stop();
      await presence.close().catch(() => undefined);
      await invalidation.close().catch(() => undefined);
      if (detached) await detached.close().catch(() => undefined);
      await closeAdapter?.().catch(() => undefined);
      if (realtime instanceof EmitterRealtime) await realtime.close().catch(() => undefined);
      await notify.stop();
      await queue.close();
      await rateLimits.close();
      await store.close();
    },
  };
}

/** web/dist beside the sources (tsx) or two levels up from dist/server (compiled). */
function webDistDir(): string {
  const candidates = ['../web/dist', '../../web/dist'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => existsSync(dir)) ?? candidates[0]!;
}

/**
 * Runs a start-up step that needs `what`; a failure becomes `unavailable` naming the service and its
 * setting, so `parley start` exits with one clear line instead of a driver's stack trace: "cannot
 * reach" when the connection failed, "failed" when the service answered with an error (a refused
 * login, say). The original error stays attached as the cause.
 */
async function reaching<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof ParleyError && err.code !== 'unavailable')) throw err;
    // A driver's own wrapper (RabbitMQ's "RabbitMQ: …") would otherwise say it twice.
    const root = err instanceof ParleyError && err.cause !== undefined ? err.cause : err;
    const message = root instanceof Error ? root.message : String(root);
    const verdict = isConnectionFailure(root) ? `cannot reach ${what}` : `${what} failed`;
    throw new ParleyError('unavailable', `${verdict} at start-up: ${message}`, undefined, { cause: err });
  }
}

/** Network-level failures and the drivers' ways of saying they gave up connecting. */
const CONNECTION_FAILURE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|EPIPE|ServerSelection|MaxRetriesPerRequest|Connection is closed|timed out/i;

function isConnectionFailure(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (CONNECTION_FAILURE.test(`${e.name} ${typeof code === 'string' ? code : ''} ${e.message}`)) return true;
  }
  return false;
}

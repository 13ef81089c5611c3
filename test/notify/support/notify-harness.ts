import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import type { AuthResult } from '../../../client-sdk/src/index.js';
import { createParley, type Parley } from '../../../server/app.js';
import { WORKER_NAMES } from '../../../workers/index.js';
import { AuthService } from '../../../server/auth/index.js';
import { loadConfig, type ParleyConfig } from '../../../server/config.js';
import { EventPublisher } from '../../../server/events/index.js';
import { createGateway } from '../../../server/gateway/gateway.js';
import { SocketIoRealtime } from '../../../server/gateway/socket-realtime.js';
import { createLogger, type Logger } from '../../../server/logger.js';
import { NotificationService } from '../../../server/notifications/index.js';
import {
  createNotifyModule,
  createNotifyStore,
  notifyConfigFrom,
  type NotifyConfig,
  type NotifyModule,
  type NotifyStore,
  type NotifyWorkerName,
} from '../../../server/notify/index.js';
import { RabbitQueue, type Queue } from '../../../server/queue/index.js';
import { api, registerUser, TEST_ENV, type ApiResponse } from '../../support/server.js';
import { dropDatabase, freshDatabaseUri } from '../../support/mongo.js';

export const AMQP_URL = process.env.PARLEY_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = promisify(execFile);

export interface HarnessOptions {
  /** Parley and notify settings, e.g. `{ SMTP_URL, NOTIFY_MAX_ATTEMPTS: '3' }`. */
  readonly env?: Record<string, string>;
  /** Which notify workers the main process runs (default: all). */
  readonly workers?: readonly NotifyWorkerName[];
  readonly pushAgent?: Agent;
  /** `memory` keeps both stores in this process (default `mongodb`, FerretDB here; NOTIFY_TEST_STORE=memory overrides). */
  readonly store?: 'mongodb' | 'memory';
}

/** One more Parley process sharing the database and broker: its own connections and notify module. */
export interface NotifyProcess {
  readonly notify: NotifyModule;
  readonly notifyStore: NotifyStore;
  readonly queue: Queue;
  stop(): Promise<void>;
}

export interface NotifyHarness {
  /** Base URL of the HTTP server carrying the notify routes. */
  readonly url: string;
  /** Base URL of Parley's own API (register, login, inbox). */
  readonly parleyUrl: string;
  readonly parley: Parley;
  readonly notify: NotifyModule;
  readonly notifyStore: NotifyStore;
  readonly config: ParleyConfig;
  readonly notifyConfig: NotifyConfig;
  readonly prefix: string;
  /** A service key with the given scopes (default: all of them). */
  serviceKey(scopes?: readonly string[]): Promise<string>;
  /** A registered user, with an email address unless `email: null`. */
  user(name: string, options?: { email?: string | null }): Promise<AuthResult>;
  /** `POST /v1/events` with a service key. */
  postEvent(key: string | undefined, body: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Another process over the same database and broker, running the given notify workers. */
  startProcess(workers: readonly NotifyWorkerName[]): Promise<NotifyProcess>;
  /** Messages waiting in the three class queues (a job in flight is not counted). */
  queuedJobs(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * A real Parley (createParley: MongoDB on FerretDB, RabbitMQ with a queue prefix of its own) plus the
 * notify module wired the way server/app.ts wires it: a notify store on the same database, the module
 * given Parley's store, queue and in-app NotificationService, its routes on a Fastify built by the
 * gateway's own `createGateway` (so errors are answered by the gateway's error handler), users
 * authenticated by an AuthService over Parley's store and JWT secret.
 */
export async function startNotifyHarness(options: HarnessOptions = {}): Promise<NotifyHarness> {
  const prefix = `test-notify-${randomUUID().slice(0, 8)}`;
  const store = options.store ?? (process.env.NOTIFY_TEST_STORE === 'memory' ? 'memory' : 'mongodb');
  const mongodbUri = store === 'memory' ? undefined : freshDatabaseUri().replace('maxPoolSize=8', 'maxPoolSize=4');
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    ...TEST_ENV,
    ...(mongodbUri ? { MONGODB_URI: mongodbUri } : {}),
    AMQP_URL,
    KEY_PREFIX: prefix,
    QUEUE_RETRY_BASE_MS: '50',
    NOTIFY_SCHEDULER_INTERVAL_MS: '100',
    ...options.env,
  };
  const config = loadConfig(env);
  const notifyConfig = notifyConfigFrom(env);
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  // The chat workers only: this harness runs the notify module's workers itself (below), and two sets
  // of consumers on one queue would make the tests' counts depend on who took a job.
  const parley = createParley(config, { logger, role: 'all', workers: WORKER_NAMES.filter((name) => !name.startsWith('notify-')) });
  const parleyUrl = await parley.start();

  // ---- what server/app.ts does once the notify module is wired in ----
  const gateway = createGateway(config.limits, logger);
  const realtime = new SocketIoRealtime(gateway.io);
  const notifications = new NotificationService(parley.store, realtime);
  const auth = new AuthService(parley.store, config.auth, realtime, new EventPublisher(parley.queue, 'test', logger), logger);
  const notifyStore = createNotifyStore(mongodbUri, { logger });
  const notify = createNotifyModule({ config: notifyConfig, store: parley.store, notifyStore, queue: parley.queue, notifications, logger, ...(options.pushAgent ? { pushAgent: options.pushAgent } : {}) });
  notify.registerRoutes(gateway.http, (token) => auth.authenticate(token));
  await notify.init();
  await notify.startWorkers(options.workers);
  // ---- end of the wiring ----

  await gateway.http.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(gateway.http.server.address() as AddressInfo).port}`;
  const processes: NotifyProcess[] = [];
  const server = { url };

  return {
    url,
    parleyUrl,
    parley,
    notify,
    notifyStore,
    config,
    notifyConfig,
    prefix,
    async serviceKey(scopes = ['events:write', 'events:read', 'schedules:read', 'schedules:write']) {
      return (await notify.cli.createServiceKey(`test-${randomUUID().slice(0, 8)}`, scopes)).key;
    },
    async user(name, userOptions = {}) {
      const registered = await registerUser({ url: parleyUrl }, name);
      const email = userOptions.email === undefined ? `${registered.user.username}@example.test` : userOptions.email;
      if (email === null) return registered;
      const res = await api({ url: parleyUrl }, 'PATCH', '/v1/me', { token: registered.accessToken, body: { email, displayName: name } });
      if (res.status !== 200) throw new Error(`PATCH /v1/me failed: ${res.status} ${JSON.stringify(res.body)}`);
      return { ...registered, user: res.body.user };
    },
    postEvent(key, body, headers = {}) {
      return api(server, 'POST', '/v1/events', { body, headers: key ? { authorization: `Bearer ${key}`, ...headers } : headers });
    },
    async startProcess(workers) {
      const queue = new RabbitQueue(AMQP_URL, { ...config.queues, prefix, logger });
      await queue.init();
      // Without MongoDB the "other process" shares this one's memory store: only the broker is separate.
      const store = mongodbUri ? createNotifyStore(mongodbUri, { logger }) : notifyStore;
      const other = createNotifyModule({ config: notifyConfig, store: parley.store, notifyStore: store, queue, notifications, logger });
      await other.init();
      await other.startWorkers(workers);
      const proc: NotifyProcess = {
        notify: other,
        notifyStore: store,
        queue,
        async stop() {
          await other.stop();
          await queue.close();
          if (!mongodbUri) await notifyStore.init();
        },
      };
      processes.push(proc);
      return proc;
    },
    async queuedJobs() {
      const depths = await Promise.all(['notify.high', 'notify.normal', 'notify.low'].map((q) => parley.queue.depth(q)));
      return depths.reduce((a, b) => a + b, 0);
    },
    async stop() {
      await Promise.all(processes.splice(0).map((p) => p.stop()));
      await gateway.http.close().catch(() => undefined);
      await notify.stop();
      await parley.stop();
      if (mongodbUri) await dropDatabase(mongodbUri).catch(() => undefined);
      await deleteQueues(prefix);
    },
  };
}

/**
 * Removes every queue and the exchange under a test prefix, so the broker does not collect them.
 * Best effort: other suites stop and restart the broker on purpose, and a cleanup that meets one of
 * those moments must not fail the tests that already passed. Without rabbitmqctl's listing, the
 * notify queues (whose names are known) are removed.
 */
export async function deleteQueues(prefix: string): Promise<void> {
  const known = ['high', 'normal', 'low'].flatMap((c) => {
    const base = `${prefix}.notify.${c}`;
    return [base, `${base}.dlq`, ...Array.from({ length: 10 }, (_, i) => `${base}.retry.${i + 1}`)];
  });
  const listed = await run('rabbitmqctl', ['list_queues', '--quiet', '--no-table-headers', 'name'], { timeout: 60_000 }).then(
    ({ stdout }) => stdout.split('\n').map((line) => line.trim()),
    () => known,
  );
  const ours = listed.filter((name) => name.startsWith(`${prefix}.`));
  try {
    const connection = await connect(AMQP_URL);
    connection.on('error', () => undefined);
    try {
      // One channel per delete: deleting a queue that does not exist is fine, but a channel error is not.
      for (const name of ours) {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.deleteQueue(name).catch(() => undefined);
        await channel.close().catch(() => undefined);
      }
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteExchange(`${prefix}.events`).catch(() => undefined);
      await channel.close().catch(() => undefined);
    } finally {
      await connection.close().catch(() => undefined);
    }
  } catch {
    // The broker is down right now; the queues are test leftovers under a unique prefix.
  }
}

/** Retries `check` until it stops throwing, or rethrows its last error after `ms`. */
export async function eventually<T>(check: () => Promise<T> | T, ms = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type { Logger };

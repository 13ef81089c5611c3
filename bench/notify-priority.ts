/**
 * Does a backlog of low-priority notification jobs delay high-priority ones? Measures, on a real
 * RabbitMQ, the latency of high-priority events from submission to the (local, HTTP) SMS provider
 * receiving them, through the whole pipeline: intake → `notify.high` expand job → deliver job → SMS
 * channel. Twice: with the low queue idle, and with 20,000 low deliver jobs waiting in `notify.low`
 * while its consumers work through them with the same provider. Prints a table and writes JSON to
 * bench/results/.
 *
 *   npx tsx bench/notify-priority.ts [--high 300] [--backlog 20000] [--spacing-ms 10] [--provider-ms 20] [--low-concurrency 4] [--nodelay 1]
 *
 * `--nodelay 1` turns TCP_NODELAY on for every socket of this process, which RabbitQueue's amqplib
 * connection does not do today (amqplib's default is off): an experiment to size what Nagle's
 * algorithm with delayed ACKs costs each publish and ack, before changing the driver.
 *
 * Env: PARLEY_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect } from 'amqplib';
import { silentRealtime } from '../server/chat/index.js';
import { createLogger } from '../server/logger.js';
import { NotificationService } from '../server/notifications/index.js';
import {
  classQueue,
  createNotifyModule,
  JOB_TYPES,
  MemoryNotifyStore,
  notifyConfigFrom,
  type NewAttempt,
  type NotifyModule,
} from '../server/notify/index.js';
import { RabbitQueue } from '../server/queue/index.js';
import { MemoryStore } from '../server/store/index.js';

const AMQP_URL = process.env.PARLEY_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const args = parseArgs(process.argv.slice(2));
const HIGH_JOBS = args.high ?? 300;
const BACKLOG = args.backlog ?? 20_000;
const SPACING_MS = args['spacing-ms'] ?? 10;
const PROVIDER_MS = args['provider-ms'] ?? 20;
const CONCURRENCY = { high: 16, normal: 8, low: args['low-concurrency'] ?? 4 };
const MAX_ATTEMPTS = 5;
const NO_DELAY = args.nodelay === 1;

if (NO_DELAY) {
  const setNoDelay = Socket.prototype.setNoDelay;
  Socket.prototype.setNoDelay = function forceNoDelay(this: Socket) {
    return setNoDelay.call(this, true);
  };
}

interface Scenario {
  readonly name: string;
  readonly backlog: number;
  /** Low jobs still waiting when the last high job arrived. */
  readonly backlogLeft: number;
  /** Low jobs the provider received during the high run, per second. */
  readonly lowPerSecond: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  readonly samples: number;
}

/** The SMS provider: answers after PROVIDER_MS, and notes when each message arrived. */
class Provider {
  readonly arrivals = new Map<string, number>();
  lowArrivals: number[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const now = performance.now();
        const { id } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string };
        if (id.startsWith('backlog-')) this.lowArrivals.push(now);
        else this.arrivals.set(id.split('@')[0]!, now);
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), PROVIDER_MS);
      });
    });
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

async function main(): Promise<void> {
  const provider = new Provider();
  await provider.start();
  const rabbitVersion = await brokerVersion();
  const results: Scenario[] = [];
  for (const backlog of [0, BACKLOG]) results.push(await runScenario(provider, backlog));
  await provider.stop();

  const conditions = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    rabbitmq: rabbitVersion,
    queueType: 'classic',
    tcpNoDelay: NO_DELAY ? 'forced on (--nodelay 1)' : 'amqplib default (off)',
    highJobs: HIGH_JOBS,
    spacingMs: SPACING_MS,
    providerLatencyMs: PROVIDER_MS,
    concurrency: CONCURRENCY,
    pipeline: 'one process: intake → notify.high expand → notify.high deliver → SMS over HTTP; stores in memory',
  };
  printTable(results, conditions);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}notify-priority-${conditions.date.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, `${JSON.stringify({ conditions, results }, null, 2)}\n`);
  process.stdout.write(`\nwritten to ${file}\n`);
}

async function runScenario(provider: Provider, backlog: number): Promise<Scenario> {
  const prefix = `bench-notify-${randomUUID().slice(0, 8)}`;
  const logger = createLogger('silent');
  const queue = new RabbitQueue(AMQP_URL, { prefix, maxAttempts: MAX_ATTEMPTS, retryBaseMs: 1000, logger });
  await queue.init();
  const store = new MemoryStore();
  const notifyStore = new MemoryNotifyStore();
  const config = notifyConfigFrom({
    SMS_URL: `${provider.url}/send`,
    SMS_BODY_TEMPLATE: '{"to":"{{to}}","text":"{{text}}","id":"{{id}}"}',
    NOTIFY_CONCURRENCY_HIGH: String(CONCURRENCY.high),
    NOTIFY_CONCURRENCY_NORMAL: String(CONCURRENCY.normal),
    NOTIFY_CONCURRENCY_LOW: String(CONCURRENCY.low),
    NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
  });
  const notify = createNotifyModule({
    config,
    store,
    notifyStore,
    queue,
    notifications: new NotificationService(store, silentRealtime),
    logger,
    eventTypes: [{ name: 'bench_ping', description: 'benchmark', defaults: { sms: true }, templates: { sms: { text: 'ping {{data.n}}' } } }],
  });
  await notify.init();
  const user = await store.createUser({ username: `hal-${prefix}`, passwordHash: 'x', email: null, displayName: 'Hal' });
  await notifyStore.updateProfile(user.id, { phone: '+15550000001' });
  provider.arrivals.clear();
  provider.lowArrivals = [];
  try {
    await notify.startWorkers(['notify-high', 'notify-normal']);
    if (backlog > 0) {
      await fillBacklog(notify, queue, user.id, backlog);
      process.stdout.write(`  ${backlog} low jobs waiting in ${prefix}.notify.low\n`);
    }
    await notify.startWorkers(['notify-low']);
    const latencies = await measureHigh(notify, provider, user.id);
    const backlogLeft = backlog > 0 ? await queue.depth('notify.low') : 0;
    const window = provider.lowArrivals.length > 1 ? (provider.lowArrivals.at(-1)! - provider.lowArrivals[0]!) / 1000 : 0;
    return {
      name: backlog > 0 ? `high, ${backlog} low waiting` : 'high, low queue idle',
      backlog,
      backlogLeft,
      lowPerSecond: window > 0 ? Math.round(provider.lowArrivals.length / window) : 0,
      latencyMs: summarize(latencies),
      samples: latencies.length,
    };
  } finally {
    await notify.stop();
    await queue.close();
    await deleteQueues(prefix);
  }
}

/**
 * Puts `count` low deliver jobs on `notify.low` while nothing consumes it: attempts recorded and jobs
 * published exactly as the expand step would for one promo to `count` users.
 */
async function fillBacklog(notify: NotifyModule, queue: RabbitQueue, userId: string, count: number): Promise<void> {
  const attempts: NewAttempt[] = Array.from({ length: count }, (_, i) => ({
    id: `backlog-${i}`,
    eventId: 'backlog',
    occurrenceId: 'backlog@0',
    eventType: 'bench_ping',
    userId,
    channel: 'sms',
    target: '+15550000002',
    priorityClass: 'low',
    message: { title: null, body: `low ${i}`, html: null, url: null, data: {} },
    status: 'queued',
  }));
  await notify.notifyStore.createAttempts(attempts);
  const BATCH = 500;
  for (let i = 0; i < count; i += BATCH) {
    await Promise.all(
      attempts.slice(i, i + BATCH).map((a) => queue.publish(classQueue('low'), { id: `deliver:${a.id}`, type: JOB_TYPES.deliver, payload: { attemptId: a.id } })),
    );
  }
  for (let tries = 0; (await queue.depth('notify.low')) < count && tries < 50; tries++) await sleep(100);
}

/** Submits HIGH_JOBS high events SPACING_MS apart; returns each one's submit-to-provider latency. */
async function measureHigh(notify: NotifyModule, provider: Provider, userId: string): Promise<number[]> {
  const submitted = new Map<string, number>();
  for (let n = 0; n < HIGH_JOBS; n++) {
    const started = performance.now();
    const { eventId } = await notify.submit({ event_type: 'bench_ping', priority: 1, payload: { user: [userId], data: { n } } }, { serviceKeyId: 'bench' });
    submitted.set(eventId, started);
    const wait = started + SPACING_MS - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const deadline = performance.now() + 60_000;
  while ([...submitted.keys()].some((id) => !provider.arrivals.has(id)) && performance.now() < deadline) await sleep(20);
  return [...submitted].flatMap(([id, at]) => {
    const arrived = provider.arrivals.get(id);
    return arrived === undefined ? [] : [arrived - at];
  });
}

function summarize(values: number[]): Scenario['latencyMs'] {
  const sorted = [...values].sort((a, b) => a - b);
  const pick = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN);
  return { p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: round(sorted.at(-1) ?? NaN), mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) };
}

function printTable(results: Scenario[], conditions: Record<string, unknown>): void {
  const rows = [
    ['scenario', 'samples', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'low/s', 'low left'],
    ...results.map((r) => [r.name, String(r.samples), String(r.latencyMs.p50), String(r.latencyMs.p90), String(r.latencyMs.p99), String(r.latencyMs.max), String(r.lowPerSecond), String(r.backlogLeft)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  process.stdout.write('\nhigh-priority latency, submit → SMS provider\n');
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}\n`);
  const [idle, loaded] = results;
  if (idle && loaded) process.stdout.write(`\np99 added by the backlog: ${round(loaded.latencyMs.p99 - idle.latencyMs.p99)} ms; p50 added: ${round(loaded.latencyMs.p50 - idle.latencyMs.p50)} ms\n`);
  if (loaded && loaded.lowPerSecond > 0) {
    process.stdout.write(`behind ${loaded.backlog} low jobs in one shared queue, a high job would wait ≈ ${Math.round(loaded.backlog / loaded.lowPerSecond)} s at the low consumers' ${loaded.lowPerSecond}/s\n`);
  }
  process.stdout.write(`conditions: ${JSON.stringify(conditions)}\n`);
}

async function brokerVersion(): Promise<string> {
  const connection = await connect(AMQP_URL);
  connection.on('error', () => undefined);
  const version = String((connection.connection as unknown as { serverProperties?: { version?: unknown } }).serverProperties?.version ?? 'unknown');
  await connection.close();
  return version;
}

async function deleteQueues(prefix: string): Promise<void> {
  const connection = await connect(AMQP_URL);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    for (const cls of ['high', 'normal', 'low']) {
      const base = `${prefix}.notify.${cls}`;
      for (const name of [base, `${base}.dlq`, ...Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => `${base}.retry.${i + 1}`)]) await channel.deleteQueue(name);
    }
    await channel.deleteExchange(`${prefix}.events`);
    await channel.close();
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function parseArgs(argv: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!name || !Number.isFinite(value)) throw new Error(`usage: --high N --backlog N --spacing-ms N --provider-ms N --low-concurrency N --nodelay 0|1 (got ${argv.join(' ')})`);
    out[name] = value;
  }
  return out;
}

const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);

/**
 * Notifications per second through a real RabbitMQ with publisher confirms: `--events` normal-priority
 * events (one user each, SMS channel) are submitted by `--submitters` concurrent callers; each goes
 * intake → `notify.normal` expand job → deliver job → SMS over HTTP to a local provider that answers at
 * once. Reports the submit rate (intake, each publish confirmed) and the end-to-end rate (first submit →
 * last provider arrival), as one JSON line on stdout (`RESULT {…}`). One process, stores in memory, the
 * same pipeline set-up as bench/notify-priority.ts. Run by `npm run bench -- notifications`, or:
 *
 *   npx tsx bench/notify-throughput.ts [--events 3000] [--submitters 16] [--concurrency 16]
 *
 * Env: PARLEY_TEST_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'amqplib';
import { silentRealtime } from '../server/chat/index.js';
import { createLogger } from '../server/logger.js';
import { NotificationService } from '../server/notifications/index.js';
import { createNotifyModule, MemoryNotifyStore, notifyConfigFrom } from '../server/notify/index.js';
import { RabbitQueue } from '../server/queue/index.js';
import { MemoryStore } from '../server/store/index.js';

const AMQP_URL = process.env.PARLEY_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const EVENTS = arg('events', 3000);
const SUBMITTERS = arg('submitters', 16);
const CONCURRENCY = arg('concurrency', 16);
const MAX_ATTEMPTS = 5;

async function main(): Promise<void> {
  const arrivals: number[] = [];
  const provider = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(performance.now());
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;

  const prefix = `bench-nthr-${randomUUID().slice(0, 8)}`;
  const logger = createLogger('silent');
  const queue = new RabbitQueue(AMQP_URL, { prefix, maxAttempts: MAX_ATTEMPTS, retryBaseMs: 1000, logger });
  await queue.init();
  const store = new MemoryStore();
  const notify = createNotifyModule({
    config: notifyConfigFrom({
      SMS_URL: `${url}/send`,
      SMS_BODY_TEMPLATE: '{"to":"{{to}}","text":"{{text}}","id":"{{id}}"}',
      NOTIFY_CONCURRENCY_HIGH: '4',
      NOTIFY_CONCURRENCY_NORMAL: String(CONCURRENCY),
      NOTIFY_CONCURRENCY_LOW: '4',
      NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    }),
    store,
    notifyStore: new MemoryNotifyStore(),
    queue,
    notifications: new NotificationService(store, silentRealtime),
    logger,
    eventTypes: [{ name: 'bench_ping', description: 'benchmark', defaults: { sms: true }, templates: { sms: { text: 'ping {{data.n}}' } } }],
  });
  await notify.init();
  const user = await store.createUser({ username: `nthr-${prefix}`, passwordHash: 'x', email: null, displayName: null });
  await notify.notifyStore.updateProfile(user.id, { phone: '+15550000001' });
  try {
    await notify.startWorkers(['notify-high', 'notify-normal', 'notify-low']);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SUBMITTERS }, async () => {
        while (next < EVENTS) {
          const n = next++;
          await notify.submit({ event_type: 'bench_ping', priority: 'normal', payload: { user: [user.id], data: { n } } }, { serviceKeyId: 'bench' });
        }
      }),
    );
    const submitted = performance.now();
    const deadline = submitted + 120_000;
    while (arrivals.length < EVENTS && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const last = arrivals.at(-1) ?? NaN;
    const result = {
      events: EVENTS,
      delivered: arrivals.length,
      submitters: SUBMITTERS,
      normalConcurrency: CONCURRENCY,
      submitPerSecond: Math.round((EVENTS / (submitted - t0)) * 1000),
      endToEndPerSecond: Math.round((arrivals.length / (last - t0)) * 1000),
      seconds: Math.round((last - t0) / 100) / 10,
      cpu: process.cpuUsage(),
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    await notify.stop();
    await queue.close();
    provider.close();
    await deleteQueues(prefix);
  }
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

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);

import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { dropDatabase, freshDatabaseUri } from './mongo.js';
import { TEST_ENV } from './server.js';

export const TEST_REDIS_URL = process.env.PARLEY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_AMQP_URL = process.env.PARLEY_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** One Parley OS process: a gateway (`start --role web`) or a worker. */
export interface ParleyProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** The gateway's base URL ('' for workers). */
  readonly url: string;
  /** Log lines so far (JSON from pino), for assertions and post-mortems. */
  readonly lines: string[];
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface Cluster {
  readonly env: Record<string, string>;
  readonly gateways: ParleyProcess[];
  readonly workers: ParleyProcess[];
  startGateway(name?: string, env?: Record<string, string>): Promise<ParleyProcess>;
  startWorker(name?: string, args?: string[], env?: Record<string, string>): Promise<ParleyProcess>;
  /** Kills every process (SIGKILL), drops the database and forgets the queues' prefix. */
  stop(): Promise<void>;
}

/**
 * Starts real Parley processes against the local MongoDB server (FerretDB), Redis and RabbitMQ, sharing
 * a fresh database and a fresh key/queue prefix, so clusters of different tests never meet.
 */
export async function startCluster(options: { gateways: number; workers: number; env?: Record<string, string> }): Promise<Cluster> {
  const mongodbUri = freshDatabaseUri();
  const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const env: Record<string, string> = {
    MONGODB_URI: mongodbUri,
    REDIS_URL: TEST_REDIS_URL,
    AMQP_URL: TEST_AMQP_URL,
    ...TEST_ENV,
    KEY_PREFIX: prefix,
    MESSAGES_PER_SECOND: '100000',
    // Start-up is detected from the info line "Parley listening on …"; TEST_CLUSTER_LOGS=1 echoes logs,
    // TEST_CLUSTER_LOG_LEVEL=debug makes them verbose.
    LOG_LEVEL: process.env.TEST_CLUSTER_LOG_LEVEL ?? 'info',
    PRESENCE_TTL_MS: '3000',
    QUEUE_RETRY_BASE_MS: '200',
    QUEUE_MAX_ATTEMPTS: '3',
    OUTBOX_INTERVAL_MS: '500',
    SCHEDULER_INTERVAL_MS: '200',
    HOST: '127.0.0.1',
    PORT: '0',
    ...options.env,
  };
  const all: ParleyProcess[] = [];
  const gateways: ParleyProcess[] = [];
  const workers: ParleyProcess[] = [];
  let count = 0;

  const cluster: Cluster = {
    env,
    gateways,
    workers,
    async startGateway(name = `gw${++count}`, extra = {}) {
      const p = await launch(name, ['start', '--role', 'web'], { ...env, NODE_ID: name, ...extra });
      all.push(p);
      gateways.push(p);
      return p;
    },
    async startWorker(name = `wk${++count}`, args = [], extra = {}) {
      const p = await launch(name, ['worker', ...args], { ...env, NODE_ID: name, ...extra });
      all.push(p);
      workers.push(p);
      return p;
    },
    async stop() {
      for (const p of all) p.kill('SIGKILL');
      await Promise.all(all.map((p) => p.exited));
      await dropDatabase(mongodbUri).catch(() => undefined);
    },
  };
  // Workers first: they declare the queues the gateways publish to.
  for (let i = 0; i < options.workers; i++) await cluster.startWorker();
  await Promise.all(Array.from({ length: options.gateways }, () => cluster.startGateway()));
  return cluster;
}

// Children outlive a test runner that is killed; they would keep load on the shared servers. Every
// child is killed when this process exits or is told to stop.
const children = new Set<ChildProcess>();
const killChildren = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.once('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren();
    process.exit(1);
  });
}

function launch(name: string, args: string[], env: Record<string, string>): Promise<ParleyProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in time:\n${lines.slice(-20).join('\n')}`)), 30_000);
    const onLine = (line: string) => {
      lines.push(line);
      if (process.env.TEST_CLUSTER_LOGS) process.stderr.write(`[${name}] ${line}\n`);
      const started = /"msg":"(Parley listening on (\S+)|Parley workers running)"/.exec(line);
      if (!started) return;
      clearTimeout(timer);
      resolve({ name, child, url: started[2] ?? '', lines, exited, kill: (signal = 'SIGKILL') => child.kill(signal) });
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before starting:\n${lines.slice(-20).join('\n')}`));
    });
  });
}

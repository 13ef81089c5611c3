import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** Test helpers for suites that talk to Redis (presence, fan-out). */

/**
 * Fails the current test if a promise rejection goes unhandled during it. Mocha traps unhandled
 * rejections and re-emits them to nobody, so without this they pass silently, while in production
 * (Node's default) they crash the process.
 */
export function failOnUnhandledRejections(): void {
  let reasons: unknown[] = [];
  const record = (reason: unknown): void => {
    reasons.push(reason);
  };
  beforeEach(() => {
    reasons = [];
    process.on('unhandledRejection', record);
  });
  afterEach(() => {
    process.off('unhandledRejection', record);
    const [first] = reasons;
    if (first !== undefined) throw new Error(`unhandled rejection during the test: ${first instanceof Error ? first.message : String(first)}`);
  });
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/**
 * A redis-server of this test's own on a free port, so it can be flushed, killed and restarted without
 * disturbing anything else using the shared one.
 */
export class PrivateRedis {
  readonly url: string;
  readonly admin: Redis;
  private process: ChildProcess | undefined;

  private constructor(private readonly port: number) {
    this.url = `redis://127.0.0.1:${port}`;
    this.admin = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.admin.on('error', () => {});
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  async restart(): Promise<void> {
    this.process = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 5_000;
    while (!(await accepts(this.port))) {
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server on port ${this.port} did not start`);
      }
      await sleep(20);
    }
  }

  /** Freezes the server: connections stay open, commands wait. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }

  /** As abrupt as a crash: SIGKILL, so the data is gone too (nothing is saved). */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    this.admin.disconnect();
    await this.kill();
  }
}

/**
 * A PrivateRedis for the enclosing `describe`: started before its tests (which are skipped when there is
 * no redis-server binary) and stopped after them. Read `current` inside the tests.
 */
export function usePrivateRedis(): { readonly current: PrivateRedis } {
  let redis: PrivateRedis | undefined;
  before(async function () {
    if (!hasRedisServer()) this.skip();
    redis = await PrivateRedis.start();
  });
  after(async () => {
    await redis?.stop();
  });
  return {
    get current(): PrivateRedis {
      if (!redis) throw new Error('the private redis-server has not started');
      return redis;
    },
  };
}

/**
 * A TCP proxy in front of Redis that delays every answer by `delayMs` (in order): a node whose every
 * call is slow, as on an overloaded machine or a long network path. Returns its URL and a closer.
 */
export async function startSlowLink(redisUrl: string, delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(redisUrl);
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      setTimeout(() => client.writable && client.write(chunk), delayMs);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

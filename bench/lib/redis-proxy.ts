/**
 * A counting TCP proxy for Redis (RESP): listens on 127.0.0.1:<random>, forwards every byte to the real
 * server, and counts the client → server commands by name. Clients (ioredis) send each command as a RESP
 * array of bulk strings (`*<n>\r\n$<len>\r\n<arg>\r\n…`); the first argument is the command. It adds a
 * hop to every Redis round trip, so measure throughput without it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export class RedisCountingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly counts = new Map<string, number>();
  port = 0;

  constructor(
    private readonly targetHost = '127.0.0.1',
    private readonly targetPort = 6379,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  static diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(after).flatMap(([k, n]) => (n - (before[k] ?? 0) > 0 ? [[k, n - (before[k] ?? 0)]] : [])));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client).add(upstream);
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const parsed = parseCommand(pending);
        if (!parsed) break;
        this.counts.set(parsed.name, (this.counts.get(parsed.name) ?? 0) + 1);
        pending = pending.subarray(parsed.length);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }
}

/** One complete RESP command at the start of `buf`: its name and byte length, or null if incomplete. */
function parseCommand(buf: Buffer): { name: string; length: number } | null {
  if (buf.length === 0) return null;
  let at = 0;
  const line = (): string | null => {
    const end = buf.indexOf('\r\n', at);
    if (end < 0) return null;
    const text = buf.toString('latin1', at, end);
    at = end + 2;
    return text;
  };
  const head = line();
  if (head === null) return null;
  if (head[0] !== '*') return { name: head.split(' ')[0]!.toUpperCase() || 'INLINE', length: at }; // inline command
  const count = Number(head.slice(1));
  let name = '';
  for (let i = 0; i < count; i++) {
    const size = line();
    if (size === null) return null;
    const len = Number(size.slice(1));
    if (buf.length < at + len + 2) return null;
    if (i === 0) name = buf.toString('latin1', at, at + len).toUpperCase();
    at += len + 2;
  }
  return { name, length: at };
}

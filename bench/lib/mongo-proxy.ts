/**
 * A counting TCP proxy for the MongoDB wire protocol: listens on 127.0.0.1:<random>, forwards every byte
 * to the real server, and counts the client → server commands by name without touching them. Each message
 * starts with a 16-byte header (int32 LE messageLength, requestID, responseTo, opCode); an OP_MSG (2013)
 * is followed by flagBits and sections, and the command name is the first key of the kind-0 section's BSON
 * document. OP_QUERY (2004, the legacy handshake) is counted as `op_query`, anything else as `op_<code>`.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CommandCounts {
  total: number;
  byName: Record<string, number>;
  byTarget: Record<string, number>;
}

export class MongoCountingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly counts = new Map<string, number>();
  /** The same, keyed `command:collection` (e.g. `update:conversations`). */
  readonly byTarget = new Map<string, number>();
  total = 0;
  port = 0;

  constructor(
    private readonly targetHost = '127.0.0.1',
    private readonly targetPort = 27017,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.pipe(client));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** A copy of the counts so far, to diff against a later one. */
  snapshot(): CommandCounts {
    return { total: this.total, byName: Object.fromEntries(this.counts), byTarget: Object.fromEntries(this.byTarget) };
  }

  static diff(after: CommandCounts, before: CommandCounts): CommandCounts {
    const sub = (a: Record<string, number>, b: Record<string, number>) =>
      Object.fromEntries(Object.entries(a).flatMap(([k, n]) => (n - (b[k] ?? 0) > 0 ? [[k, n - (b[k] ?? 0)]] : [])));
    return { total: after.total - before.total, byName: sub(after.byName, before.byName), byTarget: sub(after.byTarget, before.byTarget) };
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
      while (pending.length >= 16) {
        const length = pending.readInt32LE(0);
        if (pending.length < length) break;
        this.count(pending.subarray(0, length));
        pending = pending.subarray(length);
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

  private count(message: Buffer): void {
    const opCode = message.readInt32LE(12);
    const [name, target] = opCode === 2013 ? opMsgCommand(message) : [opCode === 2004 ? 'op_query' : `op_${opCode}`, ''];
    this.total++;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const key = target ? `${name}:${target}` : name;
    this.byTarget.set(key, (this.byTarget.get(key) ?? 0) + 1);
  }
}

/**
 * The first key of the kind-0 section's document (the command) and its value when that is a string (the
 * collection), or `op_msg` if there is none.
 */
function opMsgCommand(message: Buffer): [string, string] {
  let at = 20; // header (16) + flagBits (4)
  const flags = message.readUInt32LE(16);
  const end = message.length - (flags & 1 ? 4 : 0); // checksumPresent
  while (at < end) {
    const kind = message[at]!;
    if (kind === 0) {
      const type = message[at + 5];
      const nameStart = at + 1 + 4 + 1; // kind, document length, element type
      const nameEnd = message.indexOf(0, nameStart);
      if (nameEnd <= nameStart) return ['op_msg', ''];
      const name = message.toString('utf8', nameStart, nameEnd);
      if (type !== 0x02) return [name, ''];
      const length = message.readInt32LE(nameEnd + 1); // BSON string: int32 length (with its NUL), bytes
      return [name, message.toString('utf8', nameEnd + 5, nameEnd + 4 + length)];
    }
    at += 1 + message.readInt32LE(at + 1); // kind-1 section: its size covers itself, not the kind byte
  }
  return ['op_msg', ''];
}

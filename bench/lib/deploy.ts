/**
 * Starting what is measured: Parley nodes (memory store or the MongoDB server, one or more gateways joined
 * through Redis) and bare relays, each node its own process; and connecting pairs of clients to them with
 * a conversation per pair. Everything gets a fresh database name and key prefix per run.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { api, closeAll, connectMany, type Client } from './clients.js';
import type { Sender } from './chat-load.js';
import { startServer, type ServerProcess } from './server-process.js';

export const MONGODB_BASE = process.env.BENCH_MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
/** What the MongoDB server on this machine is; printed with every MongoDB figure. */
export const MONGODB_LABEL = process.env.BENCH_MONGODB_LABEL ?? 'FerretDB v1.24.2 over PostgreSQL';
const JWT_SECRET = 'bench-secret-that-is-long-enough-0123456789';

export const fresh = (what: string) => `bench${what}_${randomBytes(6).toString('hex')}`;

export interface ParleyOptions {
  /** A mongodb:// URI (e.g. through the counting proxy); unset = memory store. */
  readonly mongodbUri?: string;
  readonly redis?: boolean;
  readonly adapter?: 'classic' | 'sharded';
  readonly keyPrefix?: string;
  readonly env?: Record<string, string>;
}

export function freshMongoUri(base = MONGODB_BASE): string {
  return `${base}/${fresh('db')}?maxPoolSize=16`;
}

export async function dropDatabase(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db().dropDatabase();
  } finally {
    await client.close();
  }
}

export function parleyEnv(o: ParleyOptions): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET,
    ACCESS_TOKEN_TTL_SECONDS: '86400',
    MESSAGES_PER_SECOND: '1000000',
    // One load generator on 127.0.0.1 opens every connection: no per-IP or per-user caps.
    IP_REQUESTS_PER_SECOND: '10000000',
    SOCKET_EVENTS_PER_SECOND: '10000000',
    MAX_CONNECTIONS_PER_USER: '100000',
    MAX_GROUP_MEMBERS: '1000',
    KEY_PREFIX: o.keyPrefix ?? fresh('k'),
    MONGODB_URI: o.mongodbUri ?? '',
    REDIS_URL: o.redis ? REDIS_URL : '',
    AMQP_URL: '',
    REDIS_ADAPTER: o.adapter ?? 'auto',
    ...o.env,
  };
}

/** `count` Parley gateways sharing one key prefix (and database, if any). */
export async function startParley(count: number, o: ParleyOptions = {}, label = 'parley'): Promise<ServerProcess[]> {
  const env = parleyEnv({ ...o, keyPrefix: o.keyPrefix ?? fresh('k'), redis: o.redis ?? count > 1 });
  const nodes: ServerProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startServer('parley', count > 1 ? `${label}-${i + 1}` : label, { ...env, NODE_ID: `${label}-${i + 1}` }));
  return nodes;
}

export async function startBare(count: number, adapter: 'classic' | 'sharded' = 'classic', label = 'bare', redisUrl = REDIS_URL): Promise<ServerProcess[]> {
  const env = { KEY_PREFIX: fresh('b'), REDIS_URL: count > 1 ? redisUrl : '', REDIS_ADAPTER: adapter };
  const nodes: ServerProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await startServer('bare', count > 1 ? `${label}-${i + 1}` : label, env));
  return nodes;
}

export async function stopAll(nodes: readonly ServerProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

export interface Seeded {
  userId: string;
  token: string;
}

/** Users with tokens, created in node 0's store (see servers/parley-node.ts). */
export function seedUsers(node: ServerProcess, count: number): Promise<Seeded[]> {
  return node.request<Seeded[]>('seed', { count, prefix: fresh('u') }, 600_000);
}

/** On the memory store, copies users and conversations from node 0 to the other nodes. */
export async function shareRecords(nodes: readonly ServerProcess[], userIds: string[], conversationIds: string[]): Promise<void> {
  if (nodes.length < 2 || nodes[0]!.drivers.store !== 'memory') return;
  const records = await nodes[0]!.request('export', { userIds, conversationIds });
  for (const node of nodes.slice(1)) await node.request('import', { records });
}

export interface Pairs {
  readonly senders: Sender[];
  readonly clients: Client[];
  close(): void;
}

/**
 * `pairs` pairs of clients, each with its conversation; the first of a pair on nodes[0], the second on the
 * last node (the same node when there is one). Both send to each other.
 */
export async function connectPairs(kind: 'parley' | 'bare', nodes: readonly ServerProcess[], pairs: number): Promise<Pairs> {
  const first = nodes[0]!;
  const last = nodes.at(-1)!;
  let authsA: Record<string, unknown>[];
  let authsB: Record<string, unknown>[];
  let conversationIds: string[];
  if (kind === 'parley') {
    const users = await seedUsers(first, pairs * 2);
    const a = users.slice(0, pairs);
    const b = users.slice(pairs);
    conversationIds = [];
    for (let i = 0; i < pairs; i++) {
      const res = await api<{ conversation: { id: string } }>(first.url, 'POST', '/v1/conversations', a[i]!.token, { type: 'direct', userId: b[i]!.userId });
      conversationIds.push(res.conversation.id);
    }
    await shareRecords(nodes, users.map((u) => u.userId), conversationIds);
    authsA = a.map((u) => ({ token: u.token }));
    authsB = b.map((u) => ({ token: u.token }));
  } else {
    conversationIds = Array.from({ length: pairs }, (_, i) => `pair${i}`);
    authsA = conversationIds.map((c) => ({ rooms: [c] }));
    authsB = authsA;
  }
  const socketsA = await connectMany(first.url, authsA);
  const socketsB = await connectMany(last.url, authsB);
  const senders: Sender[] = [];
  for (let i = 0; i < pairs; i++) {
    senders.push({ socket: socketsA[i]!, conversationId: conversationIds[i]!, recipient: socketsB[i]! });
    senders.push({ socket: socketsB[i]!, conversationId: conversationIds[i]!, recipient: socketsA[i]! });
  }
  const clients = [...socketsA, ...socketsB];
  return { senders, clients, close: () => closeAll(clients) };
}

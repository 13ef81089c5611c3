import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { ServerOptions } from 'socket.io';
import { corkPerTurn } from '../cork-per-turn.js';
import { classicAdapter, shardedAdapter } from './own-echoes.js';

export type FanoutMode = 'sharded' | 'classic';

export interface RedisAdapterOptions {
  /**
   * `classic`: PUBLISH/PSUBSCRIBE, every node receives every broadcast; `EmitterRealtime` reaches it.
   * `sharded`: SPUBLISH/SSUBSCRIBE (Redis >= 7) with a channel per room, so a broadcast to a user's room
   * reaches only the nodes holding one of their sockets; `EmitterRealtime` does NOT reach it.
   * `auto`: sharded when the server accepts SPUBLISH, classic otherwise.
   */
  readonly mode: FanoutMode | 'auto';
  readonly logger?: Logger;
  /** Channel prefix, shared by every node and by `EmitterRealtime` (default 'socket.io'). */
  readonly prefix?: string;
  /**
   * Called once Redis is back after an outage, when both clients are ready again and ioredis has had
   * time to subscribe again: broadcasts made meanwhile were lost, so local clients should catch up.
   */
  readonly onRecovered?: () => void;
}

export interface RedisFanout {
  /** For `io.adapter(...)`. */
  readonly adapter: NonNullable<ServerOptions['adapter']>;
  readonly mode: FanoutMode;
  /** Disconnects both Redis clients. Close the Socket.IO server first: it unsubscribes through them. */
  close(): Promise<void>;
}

const DEFAULT_PREFIX = 'socket.io';

/** Never give up reconnecting, backing off to one attempt every 2 s. */
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 2_000);

const PUBLISHER: RedisOptions = {
  lazyConnect: true,
  // A broadcast during an outage fails (and is logged) at once instead of piling up and flooding the
  // nodes with stale events once Redis is back; clients catch up after `onRecovered`.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 2,
  connectTimeout: 5_000,
  retryStrategy,
};

const SUBSCRIBER: RedisOptions = {
  lazyConnect: true,
  // A subscription (one per room in sharded mode) waits for the connection rather than failing;
  // ioredis subscribes again to everything on reconnect.
  maxRetriesPerRequest: null,
  connectTimeout: 5_000,
  retryStrategy,
};

/**
 * Commands the adapters send without handling their promise. With ioredis a publish during an outage
 * rejects once `maxRetriesPerRequest` is reached, and the classic adapter's unhandled rejection would
 * crash the process (seen with @socket.io/redis-adapter 8.3); the sharded one leaves (un)subscribes
 * unhandled the same way.
 */
const FIRE_AND_FORGET = new Set(['publish', 'spublish', 'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe']);

/**
 * Creates the two ioredis clients of a node's Socket.IO Redis adapter and the adapter over them. Fails if
 * Redis cannot be reached now; afterwards the clients reconnect by themselves, and broadcasts made while
 * Redis is down are lost (logged): clients catch up with `sync`.
 *
 * Sharded mode works with ioredis against a standalone Redis >= 7 (the adapter calls ioredis's
 * `ssubscribe`/`spublish` and listens to `smessageBuffer`), not against a Redis Cluster through ioredis,
 * which the adapter does not support. Workers using `EmitterRealtime` need `classic`: the emitter only
 * PUBLISHes, in the classic adapter's format, and a sharded node hears neither.
 *
 * @example
 * const fanout = await createRedisAdapter(config.redisUrl, { mode: 'classic', prefix: 'parley', logger });
 * io.adapter(fanout.adapter);
 * // on shutdown
 * await new Promise((done) => io.close(done));
 * await fanout.close();
 */
export async function createRedisAdapter(url: string, options: RedisAdapterOptions): Promise<RedisFanout> {
  const log = options.logger?.child({ module: 'redis-fanout' });
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const recovery = new Recovery(options.onRecovered);
  const publisher = corkedPerTurn(watched(new Redis(url, PUBLISHER), 'publisher', log, recovery));
  const subscriber = watched(new Redis(url, SUBSCRIBER), 'subscriber', log, recovery);
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
    const mode = await chooseMode(publisher, options.mode, prefix, log);
    const pub = handlingFailures(publisher, log);
    const sub = handlingFailures(subscriber, log);
    // 'static': one channel per namespace. The default 'dynamic' gives every public room (user:*,
    // session:*, presence:*) its own channel, subscribed asynchronously when a local socket joins, so an
    // event right after a join (presence:subscribe, a reconnect) could be published before this node
    // listens; and it costs one Redis subscription per connected user per node.
    // Either way each node drops the echoes of its own broadcasts before decoding them (own-echoes.ts).
    const adapter = mode === 'sharded' ? shardedAdapter(pub, sub, prefix) : classicAdapter(pub, sub, prefix);
    log?.info({ mode, prefix }, 'socket.io redis adapter created');
    return {
      adapter,
      mode,
      close: () => {
        recovery.cancel();
        return disconnectAll([publisher, subscriber]);
      },
    };
  } catch (err) {
    publisher.disconnect();
    subscriber.disconnect();
    throw err;
  }
}

async function chooseMode(client: Redis, requested: RedisAdapterOptions['mode'], prefix: string, log: Logger | undefined): Promise<FanoutMode> {
  if (requested === 'classic') return 'classic';
  const refusal = await shardedPubSubRefusal(client, prefix);
  if (requested === 'sharded') {
    if (refusal) throw new Error(`REDIS_ADAPTER=sharded needs sharded pub/sub (Redis >= 7): ${refusal}`);
    return 'sharded';
  }
  if (refusal) {
    log?.info({ reason: refusal }, 'classic pub/sub: the server has no sharded pub/sub (Redis >= 7)');
    return 'classic';
  }
  log?.info('sharded pub/sub: processes using EmitterRealtime cannot reach these nodes; use classic if any do');
  return 'sharded';
}

/**
 * Asks the server itself rather than reading its version: Redis-compatible servers report versions of
 * their own. The probe channel is outside the adapter's (`<prefix>#<namespace>#…`, namespaces start with
 * '/'), so nobody receives it. Returns why sharded pub/sub is unavailable, or undefined.
 */
async function shardedPubSubRefusal(client: Redis, prefix: string): Promise<string | undefined> {
  try {
    await client.spublish(`${prefix}#probe#`, '');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Corks every connection `client` opens (ioredis opens a new socket on each reconnect) per event-loop
 * turn, so the commands of one turn leave in one `writev`. The adapter publishes once per broadcast, and
 * a turn under load holds many group commits' broadcasts: a write syscall each was the largest single
 * cost of a message crossing nodes (docs/benchmarks.md).
 */
export function corkedPerTurn(client: Redis): Redis {
  client.on('connect', () => corkPerTurn(client.stream));
  return client;
}

/**
 * The client as the adapter sees it: fire-and-forget commands log their failure instead of rejecting
 * unhandled. Everything else passes through untouched.
 */
function handlingFailures(client: Redis, log: Logger | undefined): Redis {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !FIRE_AND_FORGET.has(property) || typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: unknown) => {
          log?.warn({ command: property, err: err instanceof Error ? err.message : String(err) }, 'redis fan-out command failed');
          return undefined;
        });
    },
  });
}

/**
 * How long after both clients are ready again the outage counts as over. ioredis sends its SUBSCRIBEs
 * right after 'ready'; a broadcast published before they reach Redis is lost too, so the catch-up
 * must come after them.
 */
const RESUBSCRIBE_SETTLE_MS = 1_000;

/** Tracks which clients are down and calls back once all are up again after an outage. */
class Recovery {
  readonly #down = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly onRecovered: (() => void) | undefined) {}

  lost(role: string): void {
    this.#down.add(role);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  back(role: string): void {
    if (!this.#down.delete(role) || this.#down.size > 0 || !this.onRecovered) return;
    const onRecovered = this.onRecovered;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      onRecovered();
    }, RESUBSCRIBE_SETTLE_MS);
  }

  cancel(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Logs connection trouble once per outage and reports it to `recovery`; the listeners also keep
 * ioredis's 'error' events from crashing us.
 */
function watched(client: Redis, role: string, log: Logger | undefined, recovery: Recovery): Redis {
  let down = false;
  const lost = (reason: string) => {
    if (down) return;
    down = true;
    recovery.lost(role);
    log?.warn({ client: role, err: reason }, 'redis connection lost, reconnecting');
  };
  client.on('error', (err: Error) => lost(err.message));
  // A clean server shutdown closes the socket without an error; ioredis then schedules a reconnect.
  client.on('reconnecting', () => lost('connection closed'));
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log?.info({ client: role }, 'redis connection back');
    recovery.back(role);
  });
  return client;
}

async function disconnectAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(
    clients.map(async (client) => {
      if (client.status !== 'ready') return client.disconnect();
      await client.quit().catch(() => client.disconnect());
    }),
  );
}

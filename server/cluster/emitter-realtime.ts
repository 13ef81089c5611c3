import { Emitter } from '@socket.io/redis-emitter';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { ServerToClientEvents } from '../../client-sdk/src/index.js';
import { sessionRoom, userRoom, type Realtime } from '../chat/index.js';

export interface EmitterRealtimeOptions {
  /** The gateways' adapter channel prefix (`createRedisAdapter`'s `prefix`; default 'socket.io'). */
  readonly prefix?: string;
  readonly logger?: Logger;
}

/** For a client we create from a URL. */
const OWNED_CLIENT: RedisOptions = {
  lazyConnect: true,
  // An event published during an outage is dropped (and logged) within two reconnect attempts rather
  // than delivered late; clients catch up with `sync`.
  maxRetriesPerRequest: 2,
  connectTimeout: 5_000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
};

/**
 * `Realtime` for processes without a Socket.IO server (workers): publishes to the gateways' Redis
 * adapter, which delivers on every node. Fire and forget, like the gateway's own broadcasts.
 *
 * Only gateways on the classic adapter hear it: @socket.io/redis-emitter 5 PUBLISHes in the classic
 * adapter's format, while the sharded adapter SSUBSCRIBEs and expects another format (upstream:
 * socketio/socket.io-redis-emitter#127). Run the gateways with `createRedisAdapter(…, { mode: 'classic' })`
 * wherever this is used.
 *
 * @example
 * const realtime = new EmitterRealtime('redis://127.0.0.1:6379', { prefix: 'parley' });
 * realtime.toUsers([userId], 'notification:new', notification);
 * await realtime.close();
 */
export class EmitterRealtime implements Realtime {
  private readonly redis: Redis;
  private readonly ownsClient: boolean;
  private readonly emitter: Emitter<ServerToClientEvents>;

  constructor(redis: string | Redis, options: EmitterRealtimeOptions = {}) {
    const log = options.logger?.child({ module: 'emitter-realtime' });
    this.ownsClient = typeof redis === 'string';
    this.redis = typeof redis === 'string' ? new Redis(redis, OWNED_CLIENT) : redis;
    if (this.ownsClient) watchConnection(this.redis, log);
    // The emitter only ever calls `publish`, and drops the promise: during an outage its rejection would
    // be unhandled and crash the process. So it gets a publish that logs instead.
    const publisher = {
      publish: (channel: string, message: string | Buffer) =>
        this.redis.publish(channel, message).catch((err: unknown) => {
          log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'realtime event lost: redis publish failed');
          return 0;
        }),
    };
    this.emitter = new Emitter<ServerToClientEvents>(publisher, { key: options.prefix ?? 'socket.io' });
  }

  toUsers<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    if (userIds.length === 0) return;
    this.emitter.to(userIds.map(userRoom)).emit(event, ...args);
  }

  toUsersVolatile<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    if (userIds.length === 0) return;
    this.emitter.to(userIds.map(userRoom)).volatile.emit(event, ...args);
  }

  toRoom<E extends keyof ServerToClientEvents>(room: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    this.emitter.to(room).emit(event, ...args);
  }

  leaveRoom(userIds: readonly string[], room: string): void {
    if (userIds.length === 0) return;
    this.emitter.in(userIds.map(userRoom)).socketsLeave(room);
  }

  disconnectSession(sessionId: string): void {
    this.emitter.in(sessionRoom(sessionId)).disconnectSockets(true);
  }

  disconnectUser(userId: string): void {
    this.emitter.in(userRoom(userId)).disconnectSockets(true);
  }

  /** Closes the connection if it was created here from a URL; a client passed in stays open. */
  async close(): Promise<void> {
    if (!this.ownsClient) return;
    if (this.redis.status !== 'ready') return this.redis.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Logs connection trouble once per outage; the listener also keeps ioredis's 'error' events from crashing us. */
function watchConnection(client: Redis, log: Logger | undefined): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log?.warn({ err: err.message }, 'redis connection lost, reconnecting');
  });
  client.on('ready', () => {
    if (down) log?.info('redis connection back');
    down = false;
  });
}

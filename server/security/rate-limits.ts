import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ParleyError } from '../errors.js';

/** A budget per key (a user id, an IP address): `consume` spends a point or throws `rate_limited`. */
export interface Limiter {
  consume(key: string): Promise<void>;
  /** Forgets the key's spending (a successful login clears its failures). */
  reset(key: string): Promise<void>;
  /** Milliseconds until the key may spend again, 0 if it may now; spends nothing. */
  waitFor(key: string): Promise<number>;
}

export interface LimiterSpec {
  /** Unique per purpose: the Redis key prefix. */
  readonly name: string;
  readonly points: number;
  readonly durationSeconds: number;
  /** Once over budget, refuse for this long (default: until the window ends). */
  readonly blockSeconds?: number;
  /** The refusal's message, e.g. "more than 20 messages per second". */
  readonly describe: string;
  /**
   * With Redis: points a node takes from the shared budget at once and then spends locally (default 1,
   * every point from Redis). A round trip per point was a quarter of a cross-node message's cost. A
   * node's unspent points lapse with the window, so a key spread over n nodes may be refused up to
   * (n − 1) × (lease − 1) points early; never later.
   */
  readonly lease?: number;
}

/** Points one node took from the shared budget of a key and has not spent yet. */
interface Lease {
  readonly left: number;
  readonly until: number;
}

/**
 * Builds limiters shared by every node through Redis (`rate-limiter-flexible`'s atomic Lua counter),
 * or in process when there is no Redis. While Redis is unreachable each node falls back to an
 * in-memory budget of its own (the library's insurance limiter), so an outage neither blocks
 * everyone nor lifts every limit.
 *
 * @example
 * const limiters = new RateLimits(redis, 'parley');
 * const sends = limiters.create({ name: 'send', points: 20, durationSeconds: 1, describe: 'more than 20 messages per second' });
 * await sends.consume(userId); // throws ParleyError('rate_limited', …, { retryAfterMs })
 */
export class RateLimits {
  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
  ) {}

  /** Limiters over a Redis connection of their own (or in memory without a URL); close() ends it. */
  static connect(redisUrl: string | undefined, prefix: string, logger?: Logger): RateLimits {
    if (!redisUrl) return new RateLimits(undefined, prefix);
    const redis = new Redis(redisUrl, {
      // Not ready means the in-memory insurance limiter answers: never queue a limit check.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    });
    let down = false;
    redis.on('error', (err: Error) => {
      if (!down) logger?.warn({ module: 'rate-limits', err: err.message }, 'redis connection lost: limits are per node until it is back');
      down = true;
    });
    redis.on('ready', () => {
      down = false;
    });
    return new RateLimits(redis, prefix);
  }

  async close(): Promise<void> {
    if (!this.redis) return;
    await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  create(spec: LimiterSpec): Limiter {
    const options = { points: spec.points, duration: spec.durationSeconds, blockDuration: spec.blockSeconds ?? 0 };
    const memory = new RateLimiterMemory({ ...options, keyPrefix: spec.name });
    const limiter: RateLimiterAbstract = this.redis
      ? new RateLimiterRedis({
          ...options,
          storeClient: this.redis,
          keyPrefix: `${this.prefix}:rl:${spec.name}`,
          rejectIfRedisNotReady: true,
          insuranceLimiter: memory,
        })
      : memory;
    const size = this.redis ? Math.max(1, Math.floor(spec.lease ?? 1)) : 1;
    const leases = new Map<string, Lease>();
    /** Refills under way: concurrent sends of one key share one, so none overwrites another's lease. */
    const refilling = new Map<string, Promise<void>>();
    const spend = (key: string): boolean => {
      const held = leases.get(key);
      if (!held || held.until <= Date.now()) return false;
      if (held.left > 1) leases.set(key, { left: held.left - 1, until: held.until });
      else leases.delete(key);
      return true;
    };
    /** Takes `size` points from the budget; keeps those it allowed, or throws rate_limited if none. */
    const take = async (key: string): Promise<Lease> => {
      try {
        const taken = await limiter.consume(key, size);
        return { left: size, until: Date.now() + taken.msBeforeNext };
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        // The counter moved by `size`; the points that still fitted under the budget are ours.
        const granted = size - (rejection.consumedPoints - spec.points);
        if (granted > 0) return { left: granted, until: Date.now() + rejection.msBeforeNext };
        throw new ParleyError('rate_limited', spec.describe, { retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) });
      }
    };
    const forgetLapsed = (key: string, lease: Lease): void => {
      if (leases.get(key)?.until === lease.until) leases.delete(key);
    };
    const refill = (key: string): Promise<void> => {
      const pending = take(key)
        .then((lease) => {
          leases.set(key, lease);
          // `spend` ignores a lapsed lease; this only keeps keys that spent less than a whole one from
          // staying in the map for good.
          setTimeout(() => forgetLapsed(key, lease), lease.until - Date.now()).unref();
        })
        .finally(() => refilling.delete(key));
      refilling.set(key, pending);
      return pending;
    };
    return {
      async consume(key) {
        if (size === 1) {
          await take(key);
          return;
        }
        // Each pass either spends a point or waits for a refill, which grants one at least or throws.
        while (!spend(key)) await (refilling.get(key) ?? refill(key));
      },
      async reset(key) {
        leases.delete(key);
        await limiter.delete(key);
      },
      async waitFor(key) {
        const spent = await limiter.get(key);
        return spent !== null && spent.consumedPoints >= spec.points ? Math.max(1, Math.ceil(spent.msBeforeNext)) : 0;
      },
    };
  }
}

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
    return {
      async consume(key) {
        try {
          await limiter.consume(key);
        } catch (rejection) {
          if (!(rejection instanceof RateLimiterRes)) throw rejection;
          throw new ParleyError('rate_limited', spec.describe, { retryAfterMs: Math.max(1, Math.ceil(rejection.msBeforeNext)) });
        }
      },
      async reset(key) {
        await limiter.delete(key);
      },
      async waitFor(key) {
        const spent = await limiter.get(key);
        return spent !== null && spent.consumedPoints >= spec.points ? Math.max(1, Math.ceil(spent.msBeforeNext)) : 0;
      },
    };
  }
}

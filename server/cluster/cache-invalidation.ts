import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** What a process caches and another may change: a conversation (members, roles) or a user's block list. */
export type CachedKind = 'conversation' | 'blocks';

export interface CacheChange {
  readonly kind: CachedKind;
  readonly id: string;
}

export interface CacheListener {
  /** Something changed: drop its cached copy. */
  changed(change: CacheChange): void;
  /**
   * Changes may go unheard, or may have (the subscription broke, or came back after breaking): drop
   * every cached copy.
   */
  lost(): void;
}

/**
 * Tells every process's caches when a record they may hold changes, so they can keep it for long instead
 * of re-reading it every few seconds. The conversation and block-list caches sit on every send; with
 * a 2 s lifetime they re-read each active conversation and user every 2 s on every node whatever the
 * traffic (docs/benchmarks.md, store trips).
 */
export interface CacheInvalidation {
  readonly driver: 'memory' | 'redis';
  /** Whether changes made anywhere reach this process now. */
  readonly live: boolean;
  /** Tells every process, this one included, that the record changed. Never throws. */
  publish(kind: CachedKind, id: string): void;
  listen(listener: CacheListener): void;
  init(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How long to keep a cached record: long while every change is heard (this only bounds a change nobody
 * heard: a publish that failed while the other processes stayed connected), short while changes may go
 * unheard, as when Redis is away and records are re-read instead.
 */
export function cacheLifetimeMs(invalidation: CacheInvalidation): number {
  return invalidation.live ? 30_000 : 2_000;
}

/** One process: every change is made here, so every change is heard. */
export class MemoryCacheInvalidation implements CacheInvalidation {
  readonly driver = 'memory' as const;
  readonly live = true;
  private readonly listeners = new Set<CacheListener>();

  publish(kind: CachedKind, id: string): void {
    for (const listener of this.listeners) listener.changed({ kind, id });
  }

  listen(listener: CacheListener): void {
    this.listeners.add(listener);
  }

  async init(): Promise<void> {}

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

const KINDS: ReadonlySet<string> = new Set<CachedKind>(['conversation', 'blocks']);

/**
 * Through one Redis channel, `<prefix>:cache-invalidation`, heard by every gateway and worker. A change
 * is applied here at once and published. When the subscription breaks, changes go unheard: the caches
 * are dropped (`lost`), keep records for 2 s only (`live` is false, see cacheLifetimeMs) and are dropped
 * again once the subscription is back. What is left is a publish that fails while the other processes
 * stay connected (this process alone lost Redis): their copies then live out their 30 s.
 *
 * @example
 * const invalidation = new RedisCacheInvalidation('redis://127.0.0.1:6379', { prefix: 'parley', logger });
 * invalidation.listen({ changed: ({ kind, id }) => cache.delete(`${kind}:${id}`), lost: () => cache.clear() });
 * await invalidation.init();
 * invalidation.publish('conversation', conversationId);
 */
export class RedisCacheInvalidation implements CacheInvalidation {
  readonly driver = 'redis' as const;
  private readonly channel: string;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly listeners = new Set<CacheListener>();
  private readonly log: Logger | undefined;
  /** `live` from init's subscription on, `broken` from a lost connection until subscribed again. */
  private state: 'starting' | 'live' | 'broken' = 'starting';

  constructor(url: string, options: { prefix: string; logger?: Logger }) {
    this.channel = `${options.prefix}:cache-invalidation`;
    this.log = options.logger?.child({ module: 'cache-invalidation' });
    const retryStrategy = (attempt: number) => Math.min(attempt * 100, 2_000);
    // A publish made while Redis is away waits in ioredis's queue and goes out on reconnect.
    this.publisher = new Redis(url, { lazyConnect: true, connectTimeout: 5_000, retryStrategy });
    this.subscriber = new Redis(url, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: null, retryStrategy });
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (err: Error) => this.log?.debug({ err: err.message }, 'redis connection error'));
    }
    this.subscriber.on('message', (channel: string, raw: string) => {
      if (channel === this.channel) this.deliver(raw);
    });
    this.subscriber.on('close', () => {
      if (this.state !== 'live') return;
      this.state = 'broken';
      for (const listener of this.listeners) listener.lost();
    });
    this.subscriber.on('ready', () => void this.resubscribed());
  }

  get live(): boolean {
    return this.state === 'live';
  }

  /** Fails if Redis cannot be reached now, leaving no client behind to reconnect. */
  async init(): Promise<void> {
    try {
      await Promise.all([this.publisher.connect(), this.subscriber.connect()]);
      await this.subscriber.subscribe(this.channel);
    } catch (err) {
      this.publisher.disconnect();
      this.subscriber.disconnect();
      throw err;
    }
    this.state = 'live';
  }

  publish(kind: CachedKind, id: string): void {
    for (const listener of this.listeners) listener.changed({ kind, id });
    this.publisher.publish(this.channel, JSON.stringify({ kind, id })).catch((err: unknown) => {
      this.log?.warn({ kind, id, err: err instanceof Error ? err.message : String(err) }, 'cache invalidation not published; other processes keep their copy until it expires');
    });
  }

  listen(listener: CacheListener): void {
    this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await Promise.all([this.publisher, this.subscriber].map((client) => client.quit().catch(() => client.disconnect())));
  }

  /**
   * ioredis subscribes again by itself on reconnect; waiting for our own SUBSCRIBE's reply means Redis
   * has registered us before the caches empty, so no change falls between the two.
   */
  private async resubscribed(): Promise<void> {
    if (this.state !== 'broken') return;
    try {
      await this.subscriber.subscribe(this.channel);
    } catch {
      return; // lost again: the next 'ready' tries again
    }
    if (this.state !== 'broken') return;
    this.state = 'live';
    this.log?.info('redis back: dropping every cached record, changes may have been missed');
    for (const listener of this.listeners) listener.lost();
  }

  private deliver(raw: string): void {
    let change: unknown;
    try {
      change = JSON.parse(raw);
    } catch {
      return;
    }
    const { kind, id } = (change ?? {}) as { kind?: unknown; id?: unknown };
    if (typeof kind !== 'string' || !KINDS.has(kind) || typeof id !== 'string') return;
    for (const listener of this.listeners) listener.changed({ kind: kind as CachedKind, id });
  }
}

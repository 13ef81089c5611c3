import type { User } from '../../client-sdk/src/index.js';
import { toWireUser } from '../chat/wire.js';
import type { Realtime } from '../chat/realtime.js';
import { type CacheInvalidation, cacheLifetimeMs } from '../cluster/index.js';
import type { EventPublisher } from '../events/index.js';
import { ParleyError } from '../errors.js';
import { presenceRoom } from '../presence/presence-service.js';
import type { Store, UserSettings } from '../store/index.js';

/**
 * Profiles and blocks. Every direct send asks whether the recipient blocked the sender, so block lists
 * are read through a cache that every block change, made by this process or another, clears.
 */
export class UserService {
  private readonly blockCache = new Map<string, { blocked: ReadonlySet<string>; expiresAt: number }>();
  /** Reads under way: concurrent misses of one user share a single store read. */
  private readonly loadingBlocks = new Map<string, Promise<ReadonlySet<string>>>();

  constructor(
    private readonly store: Store,
    private readonly realtime: Realtime,
    private readonly events: EventPublisher,
    private readonly invalidation: CacheInvalidation,
  ) {
    invalidation.listen({
      changed: ({ kind, id }) => {
        if (kind === 'blocks') this.forgetBlocks(id);
      },
      lost: () => {
        this.blockCache.clear();
        this.loadingBlocks.clear();
      },
    });
  }

  async me(userId: string): Promise<User> {
    const user = await this.store.getUser(userId);
    if (!user) throw new ParleyError('not_found', `no user ${userId}`);
    return toWireUser(user, true);
  }

  async get(userId: string): Promise<User> {
    const user = await this.store.getUser(userId);
    if (!user || user.status === 'deleted') throw new ParleyError('not_found', `no user ${userId}`);
    return toWireUser(user);
  }

  async update(
    userId: string,
    patch: { displayName?: string | null | undefined; email?: string | null | undefined; settings?: Partial<UserSettings> | undefined },
  ): Promise<User> {
    const current = await this.store.getUser(userId);
    if (!current) throw new ParleyError('not_found', `no user ${userId}`);
    const settings = patch.settings ? { ...current.settings, ...patch.settings } : undefined;
    const user = await this.store.updateUser(userId, { displayName: patch.displayName, email: patch.email, settings });
    if (!user) throw new ParleyError('not_found', `no user ${userId}`);
    await this.events.publish('user.updated', `user.updated:${userId}:${user.updatedAt.getTime()}`, {
      userId,
      fields: Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined),
    });
    return toWireUser(user, true);
  }

  async block(userId: string, otherUserId: string): Promise<void> {
    if (otherUserId === userId) throw new ParleyError('invalid_payload', 'id: cannot block yourself', { fields: ['id'] });
    await this.get(otherUserId);
    await this.store.addBlock(userId, otherUserId);
    this.invalidation.publish('blocks', userId);
    // Neither may see the other's presence any more, on any node.
    this.realtime.leaveRoom([otherUserId], presenceRoom(userId));
    this.realtime.leaveRoom([userId], presenceRoom(otherUserId));
  }

  async unblock(userId: string, otherUserId: string): Promise<void> {
    await this.store.removeBlock(userId, otherUserId);
    this.invalidation.publish('blocks', userId);
  }

  /** Whether `userId` has blocked `otherUserId`. */
  async hasBlocked(userId: string, otherUserId: string): Promise<boolean> {
    return this.cachedHasBlocked(userId, otherUserId) ?? (await this.blockLists([userId])).get(userId)?.has(otherUserId) ?? false;
  }

  /** `hasBlocked` from the cache alone, without a promise; undefined when the list is not cached. */
  cachedHasBlocked(userId: string, otherUserId: string): boolean | undefined {
    const hit = this.blockCache.get(userId);
    return hit && hit.expiresAt > Date.now() ? hit.blocked.has(otherUserId) : undefined;
  }

  /** Those of `candidates` that neither blocked `userId` nor were blocked by them. */
  async notBlockedWith(userId: string, candidates: readonly string[]): Promise<string[]> {
    const lists = await this.blockLists([userId, ...candidates]);
    const mine = lists.get(userId) ?? new Set<string>();
    return candidates.filter((id) => !mine.has(id) && !(lists.get(id)?.has(userId) ?? false));
  }

  /** Block lists through the cache; misses are loaded in one store read, shared with concurrent callers. */
  private async blockLists(userIds: readonly string[]): Promise<Map<string, ReadonlySet<string>>> {
    const now = Date.now();
    const lists = new Map<string, ReadonlySet<string>>();
    const waiting = new Map<string, Promise<ReadonlySet<string>>>();
    const misses: string[] = [];
    for (const id of new Set(userIds)) {
      const hit = this.blockCache.get(id);
      const pending = this.loadingBlocks.get(id);
      if (hit && hit.expiresAt > now) lists.set(id, hit.blocked);
      else if (pending) waiting.set(id, pending);
      else misses.push(id);
    }
    if (misses.length > 0) {
      const read = this.store.getUsers(misses).then((users) => new Map(users.map((u) => [u.id, new Set(u.blockedUserIds)])));
      for (const id of misses) {
        const one: Promise<ReadonlySet<string>> = read.then((found) => {
          const blocked = found.get(id) ?? new Set<string>();
          if (this.loadingBlocks.get(id) === one) this.blockCache.set(id, { blocked, expiresAt: Date.now() + cacheLifetimeMs(this.invalidation) });
          return blocked;
        });
        const settle = () => {
          if (this.loadingBlocks.get(id) === one) this.loadingBlocks.delete(id);
        };
        one.then(settle, settle);
        this.loadingBlocks.set(id, one);
        waiting.set(id, one);
      }
    }
    for (const [id, pending] of waiting) lists.set(id, await pending);
    return lists;
  }

  /** An in-flight read of the list is dropped too, so it is not cached when it lands (see blockLists). */
  private forgetBlocks(userId: string): void {
    this.blockCache.delete(userId);
    this.loadingBlocks.delete(userId);
  }
}

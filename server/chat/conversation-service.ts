import type { Conversation } from '../../client-sdk/src/index.js';
import { type CacheInvalidation, cacheLifetimeMs } from '../cluster/index.js';
import { ParleyError } from '../errors.js';
import type { ConversationRecord, MemberRecord, Store } from '../store/index.js';
import { directKeyFor } from '../store/index.js';
import type { Realtime } from './realtime.js';
import { toWireConversation } from './wire.js';

export interface ConversationLimits {
  readonly maxGroupMembers: number;
}

/**
 * Direct conversations and groups: who is in them and who may change that. Membership is the access
 * rule for everything else, so `requireMember` is on every chat path; it reads through a cache that
 * every change, made by this process or another, invalidates.
 */
export class ConversationService {
  private readonly cache = new Map<string, { conversation: ConversationRecord; expiresAt: number }>();
  /** Reads under way: concurrent misses of one conversation share a single store read. */
  private readonly loading = new Map<string, Promise<ConversationRecord | null>>();
  /**
   * Counts invalidations. A read that began before one may return what the change replaced, so it is
   * returned but not cached.
   */
  private invalidations = 0;

  constructor(
    private readonly store: Store,
    private readonly realtime: Realtime,
    private readonly limits: ConversationLimits,
    private readonly invalidation: CacheInvalidation,
  ) {
    invalidation.listen({
      changed: ({ kind, id }) => {
        if (kind === 'conversation') this.forget(id);
      },
      lost: () => {
        this.invalidations++;
        this.cache.clear();
        this.loading.clear();
      },
    });
  }

  /** Returns the one direct conversation of the pair, creating it on first use. */
  async openDirect(userId: string, otherUserId: string): Promise<Conversation> {
    if (otherUserId === userId) throw new ParleyError('invalid_payload', 'userId: cannot open a conversation with yourself', { fields: ['userId'] });
    const other = await this.store.getUser(otherUserId);
    if (!other || other.status !== 'active') throw new ParleyError('not_found', `no user ${otherUserId}`, { userId: otherUserId });
    if (other.blockedUserIds.includes(userId)) throw new ParleyError('blocked', 'this user blocked you');
    const key = directKeyFor(userId, otherUserId);
    const existing = await this.store.findConversationByDirectKey(key);
    if (existing) return this.view(existing, userId);
    const members: MemberRecord[] = [
      { userId, role: 'member' },
      { userId: otherUserId, role: 'member' },
    ];
    try {
      const created = await this.store.createConversation({ type: 'direct', title: null, members, directKey: key });
      await this.announce(created);
      return this.view(created, userId);
    } catch (err) {
      // Both users opened it at once: the unique key let one create win; return that one.
      if (!(err instanceof ParleyError) || err.code !== 'conflict') throw err;
      const winner = await this.store.findConversationByDirectKey(key);
      if (!winner) throw err;
      return this.view(winner, userId);
    }
  }

  async createGroup(ownerId: string, title: string, memberIds: readonly string[]): Promise<Conversation> {
    const others = [...new Set(memberIds)].filter((id) => id !== ownerId);
    if (others.length + 1 > this.limits.maxGroupMembers) {
      throw new ParleyError('payload_too_large', `a group has at most ${this.limits.maxGroupMembers} members`);
    }
    await this.requireActiveUsers(others);
    const members: MemberRecord[] = [{ userId: ownerId, role: 'owner' }, ...others.map((userId) => ({ userId, role: 'member' as const }))];
    const created = await this.store.createConversation({ type: 'group', title, members });
    await this.announce(created);
    return this.view(created, ownerId);
  }

  async list(userId: string, limit: number): Promise<Conversation[]> {
    const conversations = await this.store.listConversations(userId, limit);
    const cursors = await this.store.getUserCursors(userId, conversations.map((c) => c.id));
    const byConversation = new Map(cursors.map((c) => [c.conversationId, c]));
    return conversations.map((c) => toWireConversation(c, byConversation.get(c.id)));
  }

  async get(userId: string, conversationId: string): Promise<Conversation> {
    const conversation = await this.requireMember(userId, conversationId, { fresh: true });
    return this.view(conversation, userId);
  }

  async addMembers(actorId: string, conversationId: string, userIds: readonly string[]): Promise<Conversation> {
    const conversation = await this.requireAdmin(actorId, conversationId);
    const fresh = [...new Set(userIds)].filter((id) => !conversation.members.some((m) => m.userId === id));
    if (conversation.members.length + fresh.length > this.limits.maxGroupMembers) {
      throw new ParleyError('payload_too_large', `a group has at most ${this.limits.maxGroupMembers} members`);
    }
    await this.requireActiveUsers(fresh);
    const updated = await this.store.addMembers(conversationId, fresh.map((userId) => ({ userId, role: 'member' as const })));
    if (!updated) throw new ParleyError('not_found', `no conversation ${conversationId}`);
    this.invalidation.publish('conversation', conversationId);
    await this.announce(updated);
    return this.view(updated, actorId);
  }

  /** Removes a member; any member may remove themselves (leave), owners and admins may remove others. */
  async removeMember(actorId: string, conversationId: string, userId: string): Promise<void> {
    const conversation = actorId === userId ? await this.requireMember(actorId, conversationId, { fresh: true }) : await this.requireAdmin(actorId, conversationId);
    if (conversation.type !== 'group') throw new ParleyError('forbidden', 'members of a direct conversation cannot change');
    if (!conversation.members.some((m) => m.userId === userId)) throw new ParleyError('not_found', `${userId} is not a member`);
    const updated = await this.store.removeMember(conversationId, userId);
    if (!updated) throw new ParleyError('not_found', `no conversation ${conversationId}`);
    this.invalidation.publish('conversation', conversationId);
    await this.announce(updated, [userId]);
  }

  /**
   * The conversation, if `userId` is a member. Unknown conversations are `not_found`; other people's
   * are `forbidden`. `fresh` skips the cache, for changes that must see the latest member list.
   */
  async requireMember(userId: string, conversationId: string, options: { fresh?: boolean } = {}): Promise<ConversationRecord> {
    const conversation = options.fresh ? await this.load(conversationId) : await this.cached(conversationId);
    if (!conversation) throw new ParleyError('not_found', `no conversation ${conversationId}`);
    if (!conversation.members.some((m) => m.userId === userId)) throw new ParleyError('forbidden', 'you are not a member of this conversation');
    return conversation;
  }

  /**
   * `requireMember` answered from the cache alone, without a promise: the conversation when it is cached
   * and `userId` is a member, otherwise undefined (ask `requireMember`, which also says why). Sends
   * take this path; its awaits were a measurable part of a message's cost.
   */
  cachedMember(userId: string, conversationId: string): ConversationRecord | undefined {
    const hit = this.cache.get(conversationId);
    if (!hit || hit.expiresAt <= Date.now()) return undefined;
    return hit.conversation.members.some((m) => m.userId === userId) ? hit.conversation : undefined;
  }

  private forget(conversationId: string): void {
    this.invalidations++;
    this.cache.delete(conversationId);
    this.loading.delete(conversationId);
  }

  private async requireAdmin(actorId: string, conversationId: string): Promise<ConversationRecord> {
    const conversation = await this.requireMember(actorId, conversationId, { fresh: true });
    if (conversation.type !== 'group') throw new ParleyError('forbidden', 'members of a direct conversation cannot change');
    const role = conversation.members.find((m) => m.userId === actorId)?.role;
    if (role !== 'owner' && role !== 'admin') throw new ParleyError('forbidden', 'only owners and admins can change members');
    return conversation;
  }

  private async requireActiveUsers(userIds: readonly string[]): Promise<void> {
    const users = await this.store.getUsers(userIds);
    const active = new Set(users.filter((u) => u.status === 'active').map((u) => u.id));
    const missing = userIds.filter((id) => !active.has(id));
    if (missing.length > 0) throw new ParleyError('not_found', `no such users: ${missing.join(', ')}`, { userIds: missing });
  }

  private async cached(conversationId: string): Promise<ConversationRecord | null> {
    const hit = this.cache.get(conversationId);
    if (hit && hit.expiresAt > Date.now()) return hit.conversation;
    const pending = this.loading.get(conversationId);
    if (pending) return pending;
    const read = this.load(conversationId).finally(() => {
      if (this.loading.get(conversationId) === read) this.loading.delete(conversationId);
    });
    this.loading.set(conversationId, read);
    return read;
  }

  private async load(conversationId: string): Promise<ConversationRecord | null> {
    const before = this.invalidations;
    const conversation = await this.store.getConversation(conversationId);
    if (this.invalidations !== before) return conversation;
    if (conversation) this.cache.set(conversationId, { conversation, expiresAt: Date.now() + cacheLifetimeMs(this.invalidation) });
    else this.cache.delete(conversationId);
    return conversation;
  }

  private async view(conversation: ConversationRecord, userId: string): Promise<Conversation> {
    const [cursor] = await this.store.getUserCursors(userId, [conversation.id]);
    return toWireConversation(conversation, cursor);
  }

  /**
   * Tells every member, each with their own cursors, and anyone just removed that the conversation
   * changed. The record is not cached here: another process's newer change may have been heard while
   * this one's write was under way, and this record would then outlive it; the next read loads it.
   */
  private async announce(conversation: ConversationRecord, removed: readonly string[] = []): Promise<void> {
    const cursors = new Map((await this.store.getCursors(conversation.id)).map((c) => [c.userId, c]));
    for (const userId of [...conversation.members.map((m) => m.userId), ...removed]) {
      this.realtime.toUsers([userId], 'conversation:updated', toWireConversation(conversation, cursors.get(userId)));
    }
  }
}

import { ParleyError } from '../errors.js';
import { freeze } from './frozen.js';
import { newId } from './ids.js';
import { MessageTable } from './message-table.js';
import {
  DEFAULT_USER_SETTINGS,
  type AdvanceResult,
  type AppendResult,
  type ConversationRecord,
  type ConversationType,
  type CursorKind,
  type CursorRecord,
  type MemberRecord,
  type MessageDraft,
  type MessageQuery,
  type MessageRecord,
  type NewConversation,
  type NewSession,
  type NewUser,
  type SessionRecord,
  type Store,
  type UserPatch,
  type UserRecord,
  type NewNotification,
  type NewScheduledMessage,
  type NotificationQuery,
  type NotificationRecord,
  type ScheduledMessageRecord,
} from './store.js';

/**
 * The embedded store: everything in this process's memory, gone on exit. JavaScript runs one callback
 * at a time, so each method is atomic as long as it does not await; records are frozen copies, so no
 * caller can change stored state by mutating what it was given.
 */
export class MemoryStore implements Store {
  readonly driver = 'memory' as const;
  private readonly users = new Map<string, UserRecord>();
  private readonly usernames = new Map<string, string>();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly conversations = new Map<string, ConversationRecord>();
  private readonly directKeys = new Map<string, string>();
  /**
   * Messages, timelines, clientMsgIds and pending follow-ups, off the V8 heap (see MessageTable): a long
   * history is most of what this store holds.
   */
  private readonly messages = new MessageTable();
  private readonly cursors = new Map<string, CursorRecord>();
  /** key → the decided value ('' for a plain claim) and when it was made. */
  private readonly claims = new Map<string, { readonly value: string; readonly at: Date }>();
  private readonly scheduled = new Map<string, ScheduledMessageRecord>();
  private readonly notifications = new Map<string, NotificationRecord>();
  private readonly notificationKeys = new Map<string, string>();

  async init(): Promise<void> {}
  async close(): Promise<void> {}
  async ping(): Promise<void> {}

  async claim(key: string): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.set(key, { value: '', at: new Date() });
    return true;
  }

  async decide(key: string, choice: string): Promise<string> {
    const decided = this.claims.get(key);
    if (decided !== undefined) return decided.value;
    this.claims.set(key, { value: choice, at: new Date() });
    return choice;
  }

  async isClaimed(key: string): Promise<boolean> {
    return this.claims.has(key);
  }

  async deleteMessagesBefore(type: ConversationType, before: Date, limit: number): Promise<number> {
    let deleted = 0;
    const cutoff = before.getTime();
    for (const c of this.conversations.values()) {
      if (deleted >= limit) break;
      // Each conversation keeps its newest message, as in the MongoDB driver.
      if (c.type === type) deleted += this.messages.deleteBefore(c.id, cutoff, c.lastSeq, limit - deleted);
    }
    return deleted;
  }

  async deleteSessionsEndedBefore(before: Date): Promise<number> {
    let deleted = 0;
    for (const [id, s] of this.sessions) {
      if (s.expiresAt < before || (s.revokedAt !== null && s.revokedAt < before)) {
        this.sessions.delete(id);
        deleted += 1;
      }
    }
    return deleted;
  }

  async deleteClaimsBefore(prefix: string, before: Date): Promise<number> {
    let deleted = 0;
    for (const [key, claim] of this.claims) {
      if (key.startsWith(prefix) && claim.at < before) {
        this.claims.delete(key);
        deleted += 1;
      }
    }
    return deleted;
  }

  async createUser(input: NewUser): Promise<UserRecord> {
    const usernameLower = input.username.toLowerCase();
    if (this.usernames.has(usernameLower)) throw new ParleyError('conflict', `username ${input.username} is taken`);
    const now = new Date();
    const user = freeze<UserRecord>({
      id: newId(),
      ...input,
      usernameLower,
      status: 'active',
      blockedUserIds: [],
      lastSeenAt: null,
      settings: DEFAULT_USER_SETTINGS,
      createdAt: now,
      updatedAt: now,
    });
    this.users.set(user.id, user);
    this.usernames.set(usernameLower, user.id);
    return user;
  }

  async getUser(id: string): Promise<UserRecord | null> {
    return this.users.get(id) ?? null;
  }

  async getUsers(ids: readonly string[]): Promise<UserRecord[]> {
    return ids.flatMap((id) => this.users.get(id) ?? []);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    const id = this.usernames.get(username.toLowerCase());
    return id === undefined ? null : (this.users.get(id) ?? null);
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const user = this.users.get(id);
    if (!user) return null;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    return this.putUser({ ...user, ...defined, updatedAt: new Date() });
  }

  async setLastSeen(userId: string, at: Date): Promise<void> {
    const user = this.users.get(userId);
    if (!user || (user.lastSeenAt !== null && user.lastSeenAt >= at)) return;
    this.putUser({ ...user, lastSeenAt: at });
  }

  async addBlock(userId: string, blockedUserId: string): Promise<void> {
    const user = this.users.get(userId);
    if (!user || user.blockedUserIds.includes(blockedUserId)) return;
    this.putUser({ ...user, blockedUserIds: [...user.blockedUserIds, blockedUserId] });
  }

  async removeBlock(userId: string, blockedUserId: string): Promise<void> {
    const user = this.users.get(userId);
    if (!user) return;
    this.putUser({ ...user, blockedUserIds: user.blockedUserIds.filter((id) => id !== blockedUserId) });
  }

  async createSession(input: NewSession): Promise<SessionRecord> {
    const session = freeze<SessionRecord>({ ...input, revokedAt: null, createdAt: new Date() });
    this.sessions.set(session.id, session);
    return session;
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    return this.sessions.get(id) ?? null;
  }

  async rotateSession(id: string, expectedHash: string, newHash: string, newExpiresAt: Date, now: Date): Promise<boolean> {
    const s = this.sessions.get(id);
    if (!s || s.revokedAt !== null || s.expiresAt <= now || s.tokenHash !== expectedHash) return false;
    this.sessions.set(id, freeze({ ...s, tokenHash: newHash, expiresAt: newExpiresAt }));
    return true;
  }

  async revokeSession(id: string, at: Date): Promise<void> {
    const s = this.sessions.get(id);
    if (s && s.revokedAt === null) this.sessions.set(id, freeze({ ...s, revokedAt: at }));
  }

  async revokeUserSessions(userId: string, at: Date): Promise<void> {
    for (const s of this.sessions.values()) {
      if (s.userId === userId) await this.revokeSession(s.id, at);
    }
  }

  async createConversation(input: NewConversation): Promise<ConversationRecord> {
    const id = newId();
    const directKey = input.directKey ?? `group:${id}`;
    if (this.directKeys.has(directKey)) throw new ParleyError('conflict', 'conversation exists already');
    const now = new Date();
    const conversation = freeze<ConversationRecord>({
      id,
      type: input.type,
      title: input.title,
      members: input.members,
      directKey,
      lastSeq: 0,
      lastMessage: null,
      lastActivityAt: now,
      createdAt: now,
      updatedAt: now,
    });
    this.conversations.set(id, conversation);
    this.directKeys.set(directKey, id);
    this.messages.open(id);
    this.ensureCursors(id, input.members);
    return conversation;
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    return this.conversations.get(id) ?? null;
  }

  async findConversationByDirectKey(directKey: string): Promise<ConversationRecord | null> {
    const id = this.directKeys.get(directKey);
    return id === undefined ? null : (this.conversations.get(id) ?? null);
  }

  async listConversations(userId: string, limit: number): Promise<ConversationRecord[]> {
    return [...this.conversations.values()]
      .filter((c) => c.members.some((m) => m.userId === userId))
      .sort((a, b) => b.lastActivityAt.getTime() - a.lastActivityAt.getTime())
      .slice(0, limit);
  }

  async addMembers(conversationId: string, members: readonly MemberRecord[]): Promise<ConversationRecord | null> {
    const c = this.conversations.get(conversationId);
    if (!c) return null;
    const fresh = members.filter((m) => !c.members.some((x) => x.userId === m.userId));
    this.ensureCursors(conversationId, fresh);
    return this.putConversation({ ...c, members: [...c.members, ...fresh], updatedAt: new Date() });
  }

  async removeMember(conversationId: string, userId: string): Promise<ConversationRecord | null> {
    const c = this.conversations.get(conversationId);
    if (!c) return null;
    return this.putConversation({ ...c, members: c.members.filter((m) => m.userId !== userId), updatedAt: new Date() });
  }

  async appendMessages(conversationId: string, drafts: readonly MessageDraft[]): Promise<AppendResult[]> {
    const conversation = this.conversations.get(conversationId);
    if (!conversation || !this.messages.has(conversationId)) throw new ParleyError('not_found', `no conversation ${conversationId}`);
    const results = drafts.map((draft) => this.appendOne(conversationId, draft));
    const newest = results.filter((r) => !r.duplicate).at(-1)?.message;
    if (newest && newest.seq > conversation.lastSeq) {
      // Built from frozen parts (members, the stored message), so a shallow freeze keeps it immutable;
      // a deep copy per append was the memory store's largest cost under load.
      this.conversations.set(
        conversationId,
        Object.freeze({
          ...conversation,
          lastSeq: newest.seq,
          lastMessage: Object.freeze({ id: newest.id, seq: newest.seq, senderId: newest.senderId, text: newest.text, createdAt: newest.createdAt }),
          lastActivityAt: newest.createdAt,
          updatedAt: new Date(),
        }),
      );
    }
    for (const { message, duplicate } of results) {
      if (duplicate || message.senderId === null) continue;
      this.advance(conversationId, message.senderId, 'read', message.seq);
    }
    return results;
  }

  private appendOne(conversationId: string, draft: MessageDraft): AppendResult {
    const existing = this.messages.findSent(conversationId, draft.senderId, draft.clientMsgId);
    if (existing) return { message: existing, duplicate: true };
    return { message: this.messages.append(conversationId, draft), duplicate: false };
  }

  async getMessage(id: string): Promise<MessageRecord | null> {
    return this.messages.get(id) ?? null;
  }

  async listMessages(conversationId: string, query: MessageQuery): Promise<MessageRecord[]> {
    // Seq n is at index n - 1, so a page is found by index and only its messages are decoded.
    const length = this.messages.length(conversationId);
    const from = query.afterSeq === undefined ? 0 : Math.max(0, Math.floor(query.afterSeq));
    const to = query.beforeSeq === undefined ? length : Math.min(length, Math.ceil(query.beforeSeq) - 1);
    const visible = (i: number): MessageRecord | undefined => {
      const m = this.messages.at(conversationId, i);
      return m && !m.hiddenFor.includes(query.viewerId) ? m : undefined;
    };
    const page: MessageRecord[] = [];
    // Without afterSeq the page is the newest one before beforeSeq; with it, the oldest after afterSeq.
    if (query.afterSeq === undefined && query.beforeSeq !== undefined) {
      for (let i = to - 1; i >= 0 && page.length < query.limit; i--) pushIfSome(page, visible(i));
      return page.reverse();
    }
    for (let i = from; i < to && page.length < query.limit; i++) pushIfSome(page, visible(i));
    return page;
  }

  async editMessage(id: string, text: string, editedAt: Date): Promise<MessageRecord | null> {
    const m = this.messages.get(id);
    if (!m || m.deletedAt !== null) return null;
    return this.putMessage({ ...m, text, editedAt });
  }

  async deleteMessageForEveryone(id: string, deletedAt: Date): Promise<MessageRecord | null> {
    const m = this.messages.get(id);
    if (!m) return null;
    if (m.deletedAt !== null) return m;
    return this.putMessage({ ...m, text: '', meta: null, deletedAt });
  }

  async hideMessageForUser(id: string, userId: string): Promise<void> {
    const m = this.messages.get(id);
    if (m && !m.hiddenFor.includes(userId)) this.putMessage({ ...m, hiddenFor: [...m.hiddenFor, userId] });
  }

  async listPendingFollowUps(olderThan: Date, limit: number): Promise<MessageRecord[]> {
    return this.messages.pendingBefore(olderThan.getTime(), limit);
  }

  async markFollowUpsDone(ids: readonly string[]): Promise<void> {
    this.messages.markDone(ids);
  }

  async removeUserFromAllConversations(userId: string): Promise<string[]> {
    const left: string[] = [];
    for (const c of this.conversations.values()) {
      if (!c.members.some((m) => m.userId === userId)) continue;
      await this.removeMember(c.id, userId);
      left.push(c.id);
    }
    return left;
  }

  async anonymiseMessagesOf(userId: string): Promise<void> {
    // The table knows each message's sender, so only the user's own messages are decoded.
    for (const id of this.messages.sentBy(userId)) {
      const m = this.messages.get(id);
      if (m) this.putMessage({ ...m, senderId: null });
    }
  }

  async createScheduledMessage(input: NewScheduledMessage): Promise<ScheduledMessageRecord> {
    const record = freeze<ScheduledMessageRecord>({ id: newId(), ...input, status: 'scheduled', messageId: null, createdAt: new Date() });
    this.scheduled.set(record.id, record);
    return record;
  }

  async getScheduledMessage(id: string): Promise<ScheduledMessageRecord | null> {
    return this.scheduled.get(id) ?? null;
  }

  async listDueScheduledMessages(now: Date, limit: number): Promise<ScheduledMessageRecord[]> {
    return [...this.scheduled.values()]
      .filter((s) => s.status === 'scheduled' && s.deliverAt <= now)
      .sort((a, b) => a.deliverAt.getTime() - b.deliverAt.getTime())
      .slice(0, limit);
  }

  async finishScheduledMessage(id: string, status: 'delivered' | 'withdrawn', messageId: string | null): Promise<void> {
    const record = this.scheduled.get(id);
    if (record && record.status === 'scheduled') this.scheduled.set(id, freeze({ ...record, status, messageId }));
  }

  async createNotification(input: NewNotification): Promise<NotificationRecord> {
    const key = `${input.userId}|${input.dedupeKey}`;
    const existing = this.notifications.get(this.notificationKeys.get(key) ?? '');
    if (existing) return existing;
    const { dedupeKey: _key, ...fields } = input;
    const record = freeze<NotificationRecord>({ id: newId(), ...fields, read: false, createdAt: new Date() });
    this.notifications.set(record.id, record);
    this.notificationKeys.set(key, record.id);
    return record;
  }

  async listNotifications(userId: string, query: NotificationQuery): Promise<NotificationRecord[]> {
    return [...this.notifications.values()]
      .filter((n) => n.userId === userId && (!query.unreadOnly || !n.read) && (query.beforeId === undefined || n.id < query.beforeId))
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, query.limit);
  }

  async markNotificationsRead(userId: string, ids: readonly string[] | undefined): Promise<void> {
    for (const n of this.notifications.values()) {
      if (n.userId === userId && !n.read && (ids === undefined || ids.includes(n.id))) this.notifications.set(n.id, freeze({ ...n, read: true }));
    }
  }

  async countUnreadNotifications(userId: string): Promise<number> {
    return [...this.notifications.values()].filter((n) => n.userId === userId && !n.read).length;
  }

  async deleteNotificationsOf(userId: string): Promise<void> {
    for (const [id, n] of this.notifications) {
      if (n.userId === userId) this.notifications.delete(id);
    }
    for (const key of this.notificationKeys.keys()) {
      if (key.startsWith(`${userId}|`)) this.notificationKeys.delete(key);
    }
  }

  async advanceCursor(conversationId: string, userId: string, kind: CursorKind, seq: number): Promise<AdvanceResult> {
    return this.advance(conversationId, userId, kind, seq);
  }

  async getCursors(conversationId: string): Promise<CursorRecord[]> {
    return [...this.cursors.values()].filter((c) => c.conversationId === conversationId);
  }

  async getUserCursors(userId: string, conversationIds: readonly string[]): Promise<CursorRecord[]> {
    return conversationIds.flatMap((id) => this.cursors.get(`${id}|${userId}`) ?? []);
  }

  private advance(conversationId: string, userId: string, kind: CursorKind, seq: number): AdvanceResult {
    const key = `${conversationId}|${userId}`;
    const current = this.cursors.get(key) ?? { conversationId, userId, readSeq: 0, deliveredSeq: 0 };
    const next =
      kind === 'read'
        ? { ...current, readSeq: Math.max(current.readSeq, seq), deliveredSeq: Math.max(current.deliveredSeq, seq) }
        : { ...current, deliveredSeq: Math.max(current.deliveredSeq, seq) };
    const moved = kind === 'read' ? next.readSeq > current.readSeq : next.deliveredSeq > current.deliveredSeq;
    const cursor: CursorRecord = Object.freeze(next);
    this.cursors.set(key, cursor);
    return { moved, cursor };
  }

  private ensureCursors(conversationId: string, members: readonly MemberRecord[]): void {
    for (const { userId } of members) {
      const key = `${conversationId}|${userId}`;
      if (!this.cursors.has(key)) this.cursors.set(key, freeze({ conversationId, userId, readSeq: 0, deliveredSeq: 0 }));
    }
  }

  private putUser(user: UserRecord): UserRecord {
    const frozen = freeze(user);
    this.users.set(frozen.id, frozen);
    return frozen;
  }

  private putConversation(c: ConversationRecord): ConversationRecord {
    const frozen = freeze(c);
    this.conversations.set(frozen.id, frozen);
    return frozen;
  }

  private putMessage(m: MessageRecord): MessageRecord {
    const frozen = freeze(m);
    this.messages.replace(frozen);
    return frozen;
  }
}

function pushIfSome<T>(list: T[], item: T | undefined): void {
  if (item !== undefined) list.push(item);
}

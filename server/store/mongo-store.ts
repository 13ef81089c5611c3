import mongoose, { type Connection } from 'mongoose';
import type { Logger } from 'pino';
import { ParleyError } from '../errors.js';
import { newId } from './ids.js';
import { KeyedQueue } from './keyed-queue.js';
import { DUPLICATE_KEY, ensureIndexes, findByIds, isDuplicateKey, writeErrorsOf } from './mongo-support.js';
import {
  bindModels,
  type ConversationDoc,
  type CursorDoc,
  type MemberDoc,
  type MessageDoc,
  type MongoModels,
  type NotificationDoc,
  type ScheduledMessageDoc,
  type SessionDoc,
  type UserDoc,
  rawCollection,
} from './mongo-models.js';
import type {
  AdvanceResult,
  AppendResult,
  ConversationType,
  NewNotification,
  NewScheduledMessage,
  NotificationQuery,
  NotificationRecord,
  ScheduledMessageRecord,
  ConversationRecord,
  CursorKind,
  CursorRecord,
  MemberRecord,
  MessageDraft,
  MessageQuery,
  MessageRecord,
  NewConversation,
  NewSession,
  NewUser,
  SessionRecord,
  Store,
  UserPatch,
  UserRecord,
} from './store.js';
import { DEFAULT_USER_SETTINGS } from './store.js';

export interface MongoStoreOptions {
  readonly logger?: Logger;
}

/** A lost seq race costs one round of retries; this many in one call means something else is wrong. */
const MAX_APPEND_ROUNDS = 1000;
/** Seq hints kept per process; beyond this the oldest is dropped and read back from the conversation. */
const SEQ_HINT_LIMIT = 10_000;
/** Conversations read per page by the retention sweep. */
const RETENTION_CONVERSATIONS_PER_PAGE = 200;

/**
 * The MongoDB driver (mongoose), also run against FerretDB v1, so it uses neither transactions nor
 * change streams. Each store owns its connection, so several can share a process (tests simulate
 * gateways that way).
 *
 * Guarantees between processes rest on unique inserts: seqs, idempotency keys and `claim` (which
 * rotateSession uses as its compare-and-set). Forward-only updates (cursors, the conversation summary)
 * are conditional updates, atomic on MongoDB. FerretDB v1 applies an update by reading the matching
 * documents and writing each back whole by _id, so racing updates of one document are last-writer-wins
 * there; within a process they are serialised per conversation, so only cross-process races remain.
 *
 * @example
 * const store = new MongoStore('mongodb://127.0.0.1:27017/parley', { logger });
 * await store.init();
 */
export class MongoStore implements Store {
  readonly driver = 'mongodb' as const;
  private readonly conn: Connection;
  private readonly models: MongoModels;
  private readonly log: Logger | undefined;
  /**
   * The highest seq this process knows to be taken, per conversation. Only ever at or below the truth
   * (seqs are never freed), so a stale hint costs a collision and a retry, never a gap.
   */
  private readonly seqHints = new Map<string, number>();
  /**
   * Per conversation: appends in one process take turns to claim seqs, so they do not collide with each
   * other (collisions are left to other processes), and cursor and summary updates take turns too.
   */
  private readonly appendQueue = new KeyedQueue();
  private readonly cursorQueue = new KeyedQueue();
  private opening: Promise<void> | undefined;

  constructor(
    private readonly uri: string,
    options: MongoStoreOptions = {},
  ) {
    this.conn = mongoose.createConnection();
    this.models = bindModels(this.conn);
    this.log = options.logger?.child({ module: 'mongo-store' });
  }

  init(): Promise<void> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    await this.conn.openUri(this.uri, { serverSelectionTimeoutMS: 5000 });
    // Explicit and awaited (autoIndex is off): writes must not start before the unique indexes exist,
    // since they carry the seq and idempotency guarantees.
    let created = 0;
    for (const model of Object.values(this.models) as mongoose.Model<unknown>[]) {
      created += await ensureIndexes(model);
    }
    this.log?.info({ db: this.conn.name, indexesCreated: created }, 'mongo store ready');
  }

  async close(): Promise<void> {
    this.opening = undefined;
    await this.conn.close();
  }

  async ping(): Promise<void> {
    const db = this.conn.db;
    if (!db || this.conn.readyState !== mongoose.ConnectionStates.connected) {
      throw new ParleyError('unavailable', 'the store is not connected');
    }
    await db.admin().ping();
  }

  async claim(key: string): Promise<boolean> {
    return (await this.insertClaim(key, '')) === undefined;
  }

  async decide(key: string, choice: string): Promise<string> {
    return (await this.insertClaim(key, choice)) ?? choice;
  }

  async isClaimed(key: string): Promise<boolean> {
    return (await this.models.claims.exists({ _id: key })) !== null;
  }

  async deleteMessagesBefore(type: ConversationType, before: Date, limit: number): Promise<number> {
    let deleted = 0;
    for (let after = ''; deleted < limit; ) {
      const conversations = await this.models.conversations
        .find({ type, _id: { $gt: after } }, { lastSeq: 1 })
        .sort({ _id: 1 })
        .limit(RETENTION_CONVERSATIONS_PER_PAGE)
        .lean<Pick<ConversationDoc, '_id' | 'lastSeq'>[]>();
      if (conversations.length === 0) break;
      after = conversations.at(-1)!._id;
      // One query and one delete per page of conversations, not per conversation. Each conversation
      // keeps its newest message (its preview, and the seq new messages follow): the query asks for
      // exactly the older ones, so kept messages never fill the page, even where a process stopped
      // between storing messages and publishing their lastSeq and several sit at or above it.
      const older = conversations.filter((c) => c.lastSeq > 1).map((c) => ({ conversationId: c._id, seq: { $lt: c.lastSeq } }));
      if (older.length === 0) continue;
      const doomed = await this.models.messages
        .find({ $or: older, createdAt: { $lt: before } }, { _id: 1 })
        .limit(limit - deleted)
        .lean<Pick<MessageDoc, '_id'>[]>();
      if (doomed.length === 0) continue;
      const result = await this.models.messages.deleteMany({ _id: { $in: doomed.map((m) => m._id) } });
      deleted += result.deletedCount;
    }
    return deleted;
  }

  async deleteSessionsEndedBefore(before: Date): Promise<number> {
    const result = await this.models.sessions.deleteMany({ $or: [{ expiresAt: { $lt: before } }, { revokedAt: { $lt: before } }] });
    return result.deletedCount;
  }

  async deleteClaimsBefore(prefix: string, before: Date): Promise<number> {
    const result = await this.models.claims.deleteMany({ _id: { $regex: `^${escapeRegex(prefix)}` }, createdAt: { $lt: before } });
    return result.deletedCount;
  }

  /** Inserts the claim; when it exists already, returns the value the first claimant stored. */
  private async insertClaim(key: string, value: string): Promise<string | undefined> {
    try {
      await rawCollection(this.models.claims).insertOne({ _id: key, value, createdAt: new Date() });
      return undefined;
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.models.claims.findById(key).lean<{ value?: string }>();
      return existing?.value ?? '';
    }
  }

  // ---- users ----

  async createUser(input: NewUser): Promise<UserRecord> {
    const now = new Date();
    const doc: UserDoc = {
      _id: newId(),
      username: input.username,
      usernameLower: input.username.toLowerCase(),
      passwordHash: input.passwordHash,
      email: input.email,
      displayName: input.displayName,
      status: 'active',
      blockedUserIds: [],
      lastSeenAt: null,
      settings: { ...DEFAULT_USER_SETTINGS },
      createdAt: now,
      updatedAt: now,
    };
    try {
      await rawCollection(this.models.users).insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ParleyError('conflict', `username ${input.username} is taken`);
      throw err;
    }
    return toUser(doc);
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const doc = await this.models.users.findById(id).lean<UserDoc>();
    return doc ? toUser(doc) : null;
  }

  async getUsers(ids: readonly string[]): Promise<UserRecord[]> {
    if (ids.length === 0) return [];
    const docs = await findByIds<UserDoc>(this.models.users, ids);
    const byId = new Map(docs.map((doc) => [doc._id, toUser(doc)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async findUserByUsername(username: string): Promise<UserRecord | null> {
    const doc = await this.models.users.findOne({ usernameLower: username.toLowerCase() }).lean<UserDoc>();
    return doc ? toUser(doc) : null;
  }

  async updateUser(id: string, patch: UserPatch): Promise<UserRecord | null> {
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const doc = await this.models.users
      .findOneAndUpdate({ _id: id }, { $set: { ...defined, updatedAt: new Date() } }, { returnDocument: 'after' })
      .lean<UserDoc>();
    return doc ? toUser(doc) : null;
  }

  async setLastSeen(userId: string, at: Date): Promise<void> {
    await this.models.users.updateOne({ _id: userId, $or: [{ lastSeenAt: null }, { lastSeenAt: { $lt: at } }] }, { $set: { lastSeenAt: at } });
  }

  async addBlock(userId: string, blockedUserId: string): Promise<void> {
    await this.models.users.updateOne({ _id: userId }, { $addToSet: { blockedUserIds: blockedUserId } });
  }

  async removeBlock(userId: string, blockedUserId: string): Promise<void> {
    await this.models.users.updateOne({ _id: userId }, { $pull: { blockedUserIds: blockedUserId } });
  }

  // ---- sessions ----

  async createSession(input: NewSession): Promise<SessionRecord> {
    const doc: SessionDoc = {
      _id: input.id,
      userId: input.userId,
      tokenHash: input.tokenHash,
      expiresAt: input.expiresAt,
      revokedAt: null,
      createdAt: new Date(),
    };
    try {
      await rawCollection(this.models.sessions).insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ParleyError('conflict', `session ${input.id} exists already`);
      throw err;
    }
    return toSession(doc);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const doc = await this.models.sessions.findById(id).lean<SessionDoc>();
    return doc ? toSession(doc) : null;
  }

  async rotateSession(id: string, expectedHash: string, newHash: string, newExpiresAt: Date, now: Date): Promise<boolean> {
    const session = await this.getSession(id);
    if (!session || session.revokedAt !== null || session.expiresAt <= now || session.tokenHash !== expectedHash) return false;
    // The claim is the compare-and-set: of two rotations racing with the same secret only one inserts
    // it, so a stolen refresh token cannot fork the session, on MongoDB and FerretDB alike.
    if (!(await this.claim(`rotate:${id}:${expectedHash}`))) return false;
    await this.models.sessions.updateOne({ _id: id }, { $set: { tokenHash: newHash, expiresAt: newExpiresAt } });
    return true;
  }

  async revokeSession(id: string, at: Date): Promise<void> {
    // The first revocation time is kept, as in the memory driver.
    await this.models.sessions.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at } });
  }

  async revokeUserSessions(userId: string, at: Date): Promise<void> {
    await this.models.sessions.updateMany({ userId, revokedAt: null }, { $set: { revokedAt: at } });
  }

  // ---- conversations ----

  async createConversation(input: NewConversation): Promise<ConversationRecord> {
    const id = newId();
    const now = new Date();
    const members = input.members.map(toMemberDoc);
    const doc: ConversationDoc = {
      _id: id,
      type: input.type,
      title: input.title,
      members,
      memberIds: members.map((m) => m.userId),
      directKey: input.directKey ?? `group:${id}`,
      lastSeq: 0,
      lastMessage: null,
      lastActivityAt: now,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await rawCollection(this.models.conversations).insertOne(doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ParleyError('conflict', 'conversation exists already', { directKey: doc.directKey });
      throw err;
    }
    await this.ensureCursors(id, doc.memberIds);
    return toConversation(doc);
  }

  async getConversation(id: string): Promise<ConversationRecord | null> {
    const doc = await this.models.conversations.findById(id).lean<ConversationDoc>();
    return doc ? toConversation(doc) : null;
  }

  async findConversationByDirectKey(directKey: string): Promise<ConversationRecord | null> {
    const doc = await this.models.conversations.findOne({ directKey }).lean<ConversationDoc>();
    return doc ? toConversation(doc) : null;
  }

  async listConversations(userId: string, limit: number): Promise<ConversationRecord[]> {
    // limit(0) would mean "no limit" to the server.
    if (limit <= 0) return [];
    const docs = await this.models.conversations
      .find({ memberIds: userId })
      .sort({ lastActivityAt: -1, _id: -1 })
      .limit(limit)
      .lean<ConversationDoc[]>();
    return docs.map(toConversation);
  }

  async addMembers(conversationId: string, members: readonly MemberRecord[]): Promise<ConversationRecord | null> {
    const current = await this.models.conversations.findById(conversationId).lean<ConversationDoc>();
    if (!current) return null;
    const fresh = members.filter((m) => !current.memberIds.includes(m.userId)).map(toMemberDoc);
    // Each push is conditional on the user being absent, so concurrent adds of one user store one entry.
    // One command per statement: see server/store/mongo-support.ts.
    for (const member of fresh) {
      await this.models.conversations.updateOne(
        { _id: conversationId, memberIds: { $ne: member.userId } },
        { $push: { members: member, memberIds: member.userId } },
      );
    }
    await this.models.conversations.updateOne({ _id: conversationId }, { $set: { updatedAt: new Date() } });
    await this.ensureCursors(conversationId, fresh.map((m) => m.userId));
    return this.getConversation(conversationId);
  }

  async removeMember(conversationId: string, userId: string): Promise<ConversationRecord | null> {
    const current = await this.models.conversations.findById(conversationId).lean<ConversationDoc>();
    if (!current) return null;
    const member = current.members.find((m) => m.userId === userId);
    // FerretDB v1 pulls by exact value only, so the member is pulled as the literal it was stored as.
    const pull = member ? { members: toMemberDoc(member), memberIds: userId } : { memberIds: userId };
    const doc = await this.models.conversations
      .findOneAndUpdate({ _id: conversationId }, { $pull: pull, $set: { updatedAt: new Date() } }, { returnDocument: 'after' })
      .lean<ConversationDoc>();
    return doc ? toConversation(doc) : null;
  }

  // ---- messages ----

  async appendMessages(conversationId: string, drafts: readonly MessageDraft[]): Promise<AppendResult[]> {
    const firstByKey = new Map<string, number>();
    const unique: number[] = [];
    drafts.forEach((draft, index) => {
      const key = idempotencyKey(draft);
      if (firstByKey.has(key)) return;
      firstByKey.set(key, index);
      unique.push(index);
    });
    if (unique.length === 0) {
      // Nothing to store, but an unknown conversation is still an error, as in the memory driver.
      await this.storedLastSeq(conversationId);
      return [];
    }

    const claimed = await this.appendQueue.run(conversationId, () => this.claimSeqs(conversationId, drafts, unique));
    const stored = [...claimed.values()].filter((r) => !r.duplicate).map((r) => r.message);
    await this.cursorQueue.run(conversationId, () => this.publishAppended(conversationId, stored));

    return drafts.map((draft, index) => {
      const first = firstByKey.get(idempotencyKey(draft)) ?? index;
      const result = claimed.get(first);
      if (!result) throw new ParleyError('internal', 'append lost a draft');
      return first === index ? result : { message: result.message, duplicate: true };
    });
  }

  /**
   * Stores the drafts at `indexes` with the next free seqs. A seq is claimed by inserting the message
   * itself under the unique {conversationId, seq} index, so no seq is ever taken and then left empty,
   * whichever process crashes where. An ordered insertMany stops at the first duplicate key; FerretDB
   * does not say which index it hit, so the draft's idempotency key is looked up to tell a resent
   * message from a seq taken by another process.
   */
  private async claimSeqs(
    conversationId: string,
    drafts: readonly MessageDraft[],
    indexes: readonly number[],
  ): Promise<Map<number, AppendResult>> {
    const results = new Map<number, AppendResult>();
    let lastSeq = this.seqHints.get(conversationId) ?? (await this.storedLastSeq(conversationId));
    let pending = indexes;
    for (let round = 0; pending.length > 0; round++) {
      if (round >= MAX_APPEND_ROUNDS) throw new ParleyError('unavailable', 'could not claim message seqs, retry later', { conversationId });
      const base = lastSeq;
      const docs = pending.map((index, offset) => toMessageDoc(conversationId, base + 1 + offset, draftAt(drafts, index)));
      const failedAt = await this.insertOrdered(docs);
      const insertedCount = failedAt ?? docs.length;
      docs.slice(0, insertedCount).forEach((doc, offset) => {
        results.set(pending[offset] as number, { message: toMessage(doc), duplicate: false });
      });
      lastSeq = base + insertedCount;
      if (failedAt === undefined) break;

      const failedIndex = pending[failedAt] as number;
      const original = await this.findByIdempotencyKey(conversationId, draftAt(drafts, failedIndex));
      if (original) {
        results.set(failedIndex, { message: toMessage(original), duplicate: true });
        pending = pending.slice(failedAt + 1);
      } else {
        this.log?.debug({ conversationId, seq: lastSeq + 1 }, 'seq taken by another process, retrying');
        lastSeq = await this.newerStoredSeq(conversationId, lastSeq);
        pending = pending.slice(failedAt);
      }
    }
    this.rememberSeq(conversationId, lastSeq);
    return results;
  }

  /** Returns the index of the draft that hit a duplicate key, or undefined when all were inserted. */
  private async insertOrdered(docs: readonly MessageDoc[]): Promise<number | undefined> {
    try {
      await rawCollection(this.models.messages).insertMany([...docs], { ordered: true });
      return undefined;
    } catch (err) {
      const index = duplicateWriteIndex(err);
      if (index === undefined) throw err;
      return index;
    }
  }

  /**
   * Brings the conversation summary and the senders' cursors up to the new messages, in parallel: both
   * updates only ever move forward, so (on MongoDB) they commute with those of concurrent appends.
   */
  private async publishAppended(conversationId: string, stored: readonly MessageRecord[]): Promise<void> {
    const newest = stored.reduce<MessageRecord | undefined>((a, m) => (a && a.seq > m.seq ? a : m), undefined);
    if (!newest) return;
    const newestBySender = new Map<string, number>();
    for (const m of stored) {
      if (m.senderId !== null) newestBySender.set(m.senderId, Math.max(newestBySender.get(m.senderId) ?? 0, m.seq));
    }
    await Promise.all([
      // A no-op when another process already stored something newer.
      this.models.conversations.updateOne(
        { _id: conversationId, lastSeq: { $lt: newest.seq } },
        {
          $set: {
            lastSeq: newest.seq,
            lastMessage: { id: newest.id, seq: newest.seq, senderId: newest.senderId, text: newest.text, createdAt: newest.createdAt },
            lastActivityAt: newest.createdAt,
            updatedAt: new Date(),
          },
        },
      ),
      this.liftSenderCursors(conversationId, newestBySender),
    ]);
  }

  private async liftSenderCursors(conversationId: string, newestBySender: ReadonlyMap<string, number>): Promise<void> {
    const lift = (userId: string, seq: number) =>
      this.models.cursors.updateOne(
        { _id: cursorKey(conversationId, userId) },
        { $max: { readSeq: seq, deliveredSeq: seq }, $setOnInsert: { conversationId, userId } },
        { upsert: true },
      );
    // One single-statement command per sender, in parallel: see server/store/mongo-support.ts.
    await Promise.all(
      [...newestBySender].map(async ([userId, seq]) => {
        try {
          await lift(userId, seq);
        } catch (err) {
          // Two upserts of a missing cursor can both insert; the loser's retry finds it and updates it.
          if (!isDuplicateKey(err)) throw err;
          await lift(userId, seq);
        }
      }),
    );
  }

  async getMessage(id: string): Promise<MessageRecord | null> {
    const doc = await this.models.messages.findById(id).lean<MessageDoc>();
    return doc ? toMessage(doc) : null;
  }

  async listMessages(conversationId: string, query: MessageQuery): Promise<MessageRecord[]> {
    if (query.limit <= 0) return [];
    const seq: Record<string, number> = {};
    if (query.afterSeq !== undefined) seq.$gt = query.afterSeq;
    if (query.beforeSeq !== undefined) seq.$lt = query.beforeSeq;
    const filter = {
      conversationId,
      hiddenFor: { $ne: query.viewerId },
      ...(Object.keys(seq).length > 0 ? { seq } : {}),
    };
    // Without afterSeq the page is the newest one before beforeSeq; with it, the oldest after afterSeq.
    const newestFirst = query.afterSeq === undefined && query.beforeSeq !== undefined;
    const docs = await this.models.messages
      .find(filter)
      .sort({ seq: newestFirst ? -1 : 1 })
      .limit(query.limit)
      .lean<MessageDoc[]>();
    const page = docs.map(toMessage);
    return newestFirst ? page.reverse() : page;
  }

  async editMessage(id: string, text: string, editedAt: Date): Promise<MessageRecord | null> {
    const doc = await this.models.messages
      .findOneAndUpdate({ _id: id, deletedAt: null }, { $set: { text, editedAt } }, { returnDocument: 'after' })
      .lean<MessageDoc>();
    return doc ? toMessage(doc) : null;
  }

  async deleteMessageForEveryone(id: string, deletedAt: Date): Promise<MessageRecord | null> {
    const doc = await this.models.messages
      .findOneAndUpdate({ _id: id, deletedAt: null }, { $set: { text: '', meta: null, deletedAt } }, { returnDocument: 'after' })
      .lean<MessageDoc>();
    if (doc) return toMessage(doc);
    // Already a tombstone (or no such message): the first deletion stands.
    return this.getMessage(id);
  }

  async hideMessageForUser(id: string, userId: string): Promise<void> {
    await this.models.messages.updateOne({ _id: id }, { $addToSet: { hiddenFor: userId } });
  }

  async listPendingFollowUps(olderThan: Date, limit: number): Promise<MessageRecord[]> {
    const docs = await this.models.messages
      .find({ followUpPending: true, createdAt: { $lt: olderThan } })
      .sort({ createdAt: 1 })
      .limit(limit)
      .lean<MessageDoc[]>();
    return docs.map(toMessage);
  }

  async markFollowUpsDone(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // A point update for one id; for several, one $in statement (a scan on FerretDB, an index lookup on
    // MongoDB) rather than a multi-statement command: see server/store/mongo-support.ts.
    if (ids.length === 1) await this.models.messages.updateOne({ _id: ids[0] }, { $set: { followUpPending: false } });
    else await this.models.messages.updateMany({ _id: { $in: [...ids] } }, { $set: { followUpPending: false } });
  }

  async removeUserFromAllConversations(userId: string): Promise<string[]> {
    const docs = await this.models.conversations.find({ memberIds: userId }, { _id: 1 }).lean<{ _id: string }[]>();
    for (const { _id } of docs) await this.removeMember(_id, userId);
    return docs.map((d) => d._id);
  }

  async anonymiseMessagesOf(userId: string): Promise<void> {
    await this.models.messages.updateMany({ senderKey: userId, senderId: userId }, { $set: { senderId: null } });
  }

  // ---- scheduled messages ----

  async createScheduledMessage(input: NewScheduledMessage): Promise<ScheduledMessageRecord> {
    const doc: ScheduledMessageDoc = {
      _id: newId(),
      ...input,
      meta: input.meta === null ? null : structuredClone(input.meta),
      status: 'scheduled',
      messageId: null,
      createdAt: new Date(),
    };
    await rawCollection(this.models.scheduledMessages).insertOne(doc);
    return toScheduled(doc);
  }

  async getScheduledMessage(id: string): Promise<ScheduledMessageRecord | null> {
    const doc = await this.models.scheduledMessages.findById(id).lean<ScheduledMessageDoc>();
    return doc ? toScheduled(doc) : null;
  }

  async listDueScheduledMessages(now: Date, limit: number): Promise<ScheduledMessageRecord[]> {
    const docs = await this.models.scheduledMessages
      .find({ status: 'scheduled', deliverAt: { $lte: now } })
      .sort({ deliverAt: 1 })
      .limit(limit)
      .lean<ScheduledMessageDoc[]>();
    return docs.map(toScheduled);
  }

  async finishScheduledMessage(id: string, status: 'delivered' | 'withdrawn', messageId: string | null): Promise<void> {
    await this.models.scheduledMessages.updateOne({ _id: id, status: 'scheduled' }, { $set: { status, messageId } });
  }

  // ---- notifications ----

  async createNotification(input: NewNotification): Promise<NotificationRecord> {
    const doc: NotificationDoc = { _id: newId(), ...input, data: structuredClone({ ...input.data }), read: false, createdAt: new Date() };
    try {
      await rawCollection(this.models.notifications).insertOne(doc);
      return toNotification(doc);
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.models.notifications.findOne({ userId: input.userId, dedupeKey: input.dedupeKey }).lean<NotificationDoc>();
      if (!existing) throw err;
      return toNotification(existing);
    }
  }

  async listNotifications(userId: string, query: NotificationQuery): Promise<NotificationRecord[]> {
    if (query.limit <= 0) return [];
    const filter: Record<string, unknown> = { userId };
    if (query.unreadOnly) filter.read = false;
    if (query.beforeId !== undefined) filter._id = { $lt: query.beforeId };
    const docs = await this.models.notifications.find(filter).sort({ _id: -1 }).limit(query.limit).lean<NotificationDoc[]>();
    return docs.map(toNotification);
  }

  async markNotificationsRead(userId: string, ids: readonly string[] | undefined): Promise<void> {
    const filter: Record<string, unknown> = { userId, read: false };
    if (ids !== undefined) filter._id = { $in: [...ids] };
    await this.models.notifications.updateMany(filter, { $set: { read: true } });
  }

  async countUnreadNotifications(userId: string): Promise<number> {
    return this.models.notifications.countDocuments({ userId, read: false });
  }

  async deleteNotificationsOf(userId: string): Promise<void> {
    await this.models.notifications.deleteMany({ userId });
  }

  // ---- cursors ----

  advanceCursor(conversationId: string, userId: string, kind: CursorKind, seq: number): Promise<AdvanceResult> {
    return this.cursorQueue.run(conversationId, () => this.moveCursor(conversationId, userId, kind, seq));
  }

  private async moveCursor(conversationId: string, userId: string, kind: CursorKind, seq: number): Promise<AdvanceResult> {
    const _id = cursorKey(conversationId, userId);
    // The filter makes the move conditional, so whether a document came back says whether it moved,
    // even with other processes advancing the same cursor.
    const move =
      kind === 'read'
        ? { filter: { _id, readSeq: { $lt: seq } }, update: { $set: { readSeq: seq }, $max: { deliveredSeq: seq } } }
        : { filter: { _id, deliveredSeq: { $lt: seq } }, update: { $set: { deliveredSeq: seq } } };
    for (let attempt = 0; attempt < 2; attempt++) {
      const moved = await this.models.cursors
        .findOneAndUpdate(move.filter, move.update, { returnDocument: 'after' })
        .lean<CursorDoc>();
      if (moved) return { moved: true, cursor: toCursor(moved) };
      const current = await this.models.cursors.findById(_id).lean<CursorDoc>();
      if (current) return { moved: false, cursor: toCursor(current) };
      await this.ensureCursors(conversationId, [userId]);
    }
    throw new ParleyError('internal', 'cursor vanished while advancing', { conversationId, userId });
  }

  async getCursors(conversationId: string): Promise<CursorRecord[]> {
    const docs = await this.models.cursors.find({ conversationId }).lean<CursorDoc[]>();
    return docs.map(toCursor);
  }

  async getUserCursors(userId: string, conversationIds: readonly string[]): Promise<CursorRecord[]> {
    if (conversationIds.length === 0) return [];
    const keys = conversationIds.map((id) => cursorKey(id, userId));
    const docs = await findByIds<CursorDoc>(this.models.cursors, keys);
    const byKey = new Map(docs.map((doc) => [doc._id, toCursor(doc)]));
    return keys.flatMap((key) => byKey.get(key) ?? []);
  }

  // ---- internals ----

  /** Creates missing cursors at 0; existing ones (duplicate keys) are left as they are. */
  private async ensureCursors(conversationId: string, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const docs: CursorDoc[] = userIds.map((userId) => ({
      _id: cursorKey(conversationId, userId),
      conversationId,
      userId,
      readSeq: 0,
      deliveredSeq: 0,
    }));
    try {
      await rawCollection(this.models.cursors).insertMany(docs, { ordered: false });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  private async storedLastSeq(conversationId: string): Promise<number> {
    const doc = await this.models.conversations.findById(conversationId, { lastSeq: 1 }).lean<Pick<ConversationDoc, 'lastSeq'>>();
    if (!doc) throw new ParleyError('not_found', `no conversation ${conversationId}`, { conversationId });
    return doc.lastSeq;
  }

  /**
   * After a collision: the conversation's published lastSeq when another process has moved it past
   * ours (a read by _id), else the highest stored seq (a sort over the conversation's messages, which
   * FerretDB does by reading them all). Either is a stored seq, so the next claim leaves no gap.
   */
  private async newerStoredSeq(conversationId: string, lastSeq: number): Promise<number> {
    const published = await this.storedLastSeq(conversationId);
    if (published > lastSeq) return published;
    return Math.max(lastSeq, await this.maxStoredSeq(conversationId));
  }

  private async maxStoredSeq(conversationId: string): Promise<number> {
    const [doc] = await this.models.messages
      .find({ conversationId }, { seq: 1 })
      .sort({ seq: -1 })
      .limit(1)
      .lean<Pick<MessageDoc, 'seq'>[]>();
    return doc?.seq ?? 0;
  }

  private async findByIdempotencyKey(conversationId: string, draft: MessageDraft): Promise<MessageDoc | null> {
    return this.models.messages
      .findOne({ conversationId, senderKey: draft.senderId, clientMsgId: draft.clientMsgId })
      .lean<MessageDoc>();
  }

  private rememberSeq(conversationId: string, seq: number): void {
    const known = Math.max(this.seqHints.get(conversationId) ?? 0, seq);
    // Re-inserting moves the key to the end, so the map drops the least recently appended conversation.
    this.seqHints.delete(conversationId);
    this.seqHints.set(conversationId, known);
    if (this.seqHints.size > SEQ_HINT_LIMIT) {
      const oldest = this.seqHints.keys().next();
      if (!oldest.done) this.seqHints.delete(oldest.value);
    }
  }

}

function idempotencyKey(draft: MessageDraft): string {
  return `${draft.senderId}|${draft.clientMsgId}`;
}

function cursorKey(conversationId: string, userId: string): string {
  return `${conversationId}|${userId}`;
}

function draftAt(drafts: readonly MessageDraft[], index: number): MessageDraft {
  const draft = drafts[index];
  if (!draft) throw new ParleyError('internal', `no draft at ${index}`);
  return draft;
}

/** The index of the write that stopped an ordered insert on a duplicate key, if that is what stopped it. */
function duplicateWriteIndex(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const [first] = writeErrorsOf(err);
  if (!first || first.code !== DUPLICATE_KEY || typeof first.index !== 'number') return undefined;
  return first.index;
}

function toMemberDoc(member: MemberRecord): MemberDoc {
  return { userId: member.userId, role: member.role };
}

function toMessageDoc(conversationId: string, seq: number, draft: MessageDraft): MessageDoc {
  return {
    _id: newId(),
    conversationId,
    seq,
    senderId: draft.senderId,
    senderKey: draft.senderId,
    clientMsgId: draft.clientMsgId,
    text: draft.text,
    meta: draft.meta === null ? null : structuredClone(draft.meta),
    createdAt: draft.createdAt,
    editedAt: null,
    deletedAt: null,
    hiddenFor: [],
    followUpPending: true,
  };
}

function toUser(doc: UserDoc): UserRecord {
  return {
    id: doc._id,
    username: doc.username,
    usernameLower: doc.usernameLower,
    passwordHash: doc.passwordHash,
    email: doc.email ?? null,
    displayName: doc.displayName ?? null,
    status: doc.status,
    blockedUserIds: [...(doc.blockedUserIds ?? [])],
    lastSeenAt: doc.lastSeenAt ?? null,
    settings: { ...DEFAULT_USER_SETTINGS, ...(doc.settings ?? {}) },
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function toSession(doc: SessionDoc): SessionRecord {
  return {
    id: doc._id,
    userId: doc.userId,
    tokenHash: doc.tokenHash,
    expiresAt: doc.expiresAt,
    revokedAt: doc.revokedAt ?? null,
    createdAt: doc.createdAt,
  };
}

function toConversation(doc: ConversationDoc): ConversationRecord {
  const last = doc.lastMessage ?? null;
  return {
    id: doc._id,
    type: doc.type,
    title: doc.title ?? null,
    members: (doc.members ?? []).map(toMemberDoc),
    directKey: doc.directKey,
    lastSeq: doc.lastSeq,
    lastMessage: last && { id: last.id, seq: last.seq, senderId: last.senderId ?? null, text: last.text, createdAt: last.createdAt },
    lastActivityAt: doc.lastActivityAt,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function toMessage(doc: MessageDoc): MessageRecord {
  return {
    id: doc._id,
    conversationId: doc.conversationId,
    seq: doc.seq,
    senderId: doc.senderId ?? null,
    clientMsgId: doc.clientMsgId,
    text: doc.text,
    meta: doc.meta ?? null,
    createdAt: doc.createdAt,
    editedAt: doc.editedAt ?? null,
    deletedAt: doc.deletedAt ?? null,
    hiddenFor: [...(doc.hiddenFor ?? [])],
  };
}

function toScheduled(doc: ScheduledMessageDoc): ScheduledMessageRecord {
  return {
    id: doc._id,
    conversationId: doc.conversationId,
    senderId: doc.senderId,
    clientMsgId: doc.clientMsgId,
    text: doc.text,
    meta: doc.meta ?? null,
    deliverAt: doc.deliverAt,
    status: doc.status,
    messageId: doc.messageId ?? null,
    createdAt: doc.createdAt,
  };
}

function toNotification(doc: NotificationDoc): NotificationRecord {
  return {
    id: doc._id,
    userId: doc.userId,
    type: doc.type,
    title: doc.title ?? null,
    body: doc.body ?? null,
    data: doc.data ?? {},
    read: doc.read,
    createdAt: doc.createdAt,
  };
}

function toCursor(doc: CursorDoc): CursorRecord {
  return { conversationId: doc.conversationId, userId: doc.userId, readSeq: doc.readSeq ?? 0, deliveredSeq: doc.deliveredSeq ?? 0 };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

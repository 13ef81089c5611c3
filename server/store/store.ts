/**
 * The store port: everything Parley keeps durably. Two drivers implement it, `MemoryStore` (embedded
 * mode, fast tests) and `MongoStore` (mongoose); `test/contract/store.contract.ts` holds both to the same
 * behaviour. Records are plain immutable objects with string ids; callers never see driver documents.
 *
 * Only what MongoDB and FerretDB v1 both support is used: no transactions, change streams or $lookup.
 * Every guarantee between processes rests on unique indexes (`claim`, seqs, idempotency keys). Forward-
 * only updates (cursors, conversation summaries) are also atomic between processes on MongoDB; FerretDB
 * v1 applies updates as read-modify-write, so there the Mongo driver serialises them per process.
 */

export type UserStatus = 'active' | 'blocked' | 'deleted';
export type ConversationType = 'direct' | 'group';
export type MemberRole = 'owner' | 'admin' | 'member';

export interface UserRecord {
  readonly id: string;
  readonly username: string;
  /** `username` lower-cased: the unique key, so usernames are unique case-insensitively. */
  readonly usernameLower: string;
  readonly passwordHash: string;
  readonly email: string | null;
  readonly displayName: string | null;
  readonly status: UserStatus;
  /** Users this user has blocked. */
  readonly blockedUserIds: readonly string[];
  /** When the user's last socket closed; null if never (or while unknown). */
  readonly lastSeenAt: Date | null;
  readonly settings: UserSettings;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface UserSettings {
  /** Others see `lastSeenAt: null` for this user. */
  readonly hideLastSeen: boolean;
  /** Get an in-app notification when someone reads your message. */
  readonly notifyOnRead: boolean;
}

export const DEFAULT_USER_SETTINGS: UserSettings = Object.freeze({ hideLastSeen: false, notifyOnRead: false });

export interface NewUser {
  readonly username: string;
  readonly passwordHash: string;
  readonly email: string | null;
  readonly displayName: string | null;
}

export interface UserPatch {
  readonly displayName?: string | null;
  readonly email?: string | null;
  readonly passwordHash?: string;
  readonly status?: UserStatus;
  readonly settings?: UserSettings;
}

/** A login session: one refresh-token family. Only the hash of the current refresh secret is kept. */
export interface SessionRecord {
  readonly id: string;
  readonly userId: string;
  readonly tokenHash: string;
  readonly expiresAt: Date;
  readonly revokedAt: Date | null;
  readonly createdAt: Date;
}

export interface NewSession {
  readonly id: string;
  readonly userId: string;
  readonly tokenHash: string;
  readonly expiresAt: Date;
}

export interface MemberRecord {
  readonly userId: string;
  readonly role: MemberRole;
}

/** The newest message of a conversation, denormalised for the conversation list. */
export interface MessageSummary {
  readonly id: string;
  readonly seq: number;
  readonly senderId: string | null;
  readonly text: string;
  readonly createdAt: Date;
}

export interface ConversationRecord {
  readonly id: string;
  readonly type: ConversationType;
  readonly title: string | null;
  readonly members: readonly MemberRecord[];
  /**
   * Unique per conversation: `direct:<smaller user id>:<larger user id>` for direct conversations, so
   * there is one per pair even under concurrent creation; `group:<id>` for groups.
   */
  readonly directKey: string;
  /** Highest stored seq (0 when empty). */
  readonly lastSeq: number;
  readonly lastMessage: MessageSummary | null;
  /** Creation or newest message; the conversation list is sorted by it, newest first. */
  readonly lastActivityAt: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewConversation {
  readonly type: ConversationType;
  readonly title: string | null;
  readonly members: readonly MemberRecord[];
  /** Required for direct conversations; groups get `group:<id>` from the driver. */
  readonly directKey?: string;
}

export interface MessageRecord {
  readonly id: string;
  readonly conversationId: string;
  /** 1, 2, 3, … per conversation, without gaps. */
  readonly seq: number;
  /** null once the sender's account is deleted. */
  readonly senderId: string | null;
  readonly clientMsgId: string;
  /** Empty once deleted for everyone. */
  readonly text: string;
  readonly meta: Readonly<Record<string, unknown>> | null;
  readonly createdAt: Date;
  readonly editedAt: Date | null;
  readonly deletedAt: Date | null;
  /** Users who deleted this message for themselves. */
  readonly hiddenFor: readonly string[];
}

export interface MessageDraft {
  readonly senderId: string;
  readonly clientMsgId: string;
  readonly text: string;
  readonly meta: Readonly<Record<string, unknown>> | null;
  readonly createdAt: Date;
}

/** A message waiting for its `deliverAt`: no seq yet, invisible to recipients. */
export interface ScheduledMessageRecord {
  readonly id: string;
  readonly conversationId: string;
  readonly senderId: string;
  readonly clientMsgId: string;
  readonly text: string;
  readonly meta: Readonly<Record<string, unknown>> | null;
  readonly deliverAt: Date;
  readonly status: 'scheduled' | 'delivered' | 'withdrawn';
  /** The stored message once delivered. */
  readonly messageId: string | null;
  readonly createdAt: Date;
}

export interface NewScheduledMessage {
  readonly conversationId: string;
  readonly senderId: string;
  readonly clientMsgId: string;
  readonly text: string;
  readonly meta: Readonly<Record<string, unknown>> | null;
  readonly deliverAt: Date;
}

export interface NotificationRecord {
  readonly id: string;
  readonly userId: string;
  readonly type: string;
  readonly title: string | null;
  readonly body: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  readonly read: boolean;
  readonly createdAt: Date;
}

export interface NewNotification {
  readonly userId: string;
  readonly type: string;
  readonly title: string | null;
  readonly body: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  /** Unique per user: creating the same notification twice stores it once (redelivered jobs). */
  readonly dedupeKey: string;
}

export interface NotificationQuery {
  readonly unreadOnly: boolean;
  readonly limit: number;
  /** Only notifications created before this one (keyset paging, newest first). */
  readonly beforeId?: string | undefined;
}

export interface AppendResult {
  readonly message: MessageRecord;
  /** True when (conversation, sender, clientMsgId) was already stored and `message` is the original. */
  readonly duplicate: boolean;
}

export interface MessageQuery {
  readonly viewerId: string;
  /** Messages with seq > afterSeq, oldest first. */
  readonly afterSeq?: number;
  /** Messages with seq < beforeSeq: the newest `limit` of them, returned oldest first. */
  readonly beforeSeq?: number;
  readonly limit: number;
}

export type CursorKind = 'read' | 'delivered';

export interface CursorRecord {
  readonly conversationId: string;
  readonly userId: string;
  readonly readSeq: number;
  readonly deliveredSeq: number;
}

export interface AdvanceResult {
  /** False when the cursor was already at or past the seq: a no-op, not an error. */
  readonly moved: boolean;
  readonly cursor: CursorRecord;
}

export interface Store {
  /** Creates indexes and connects; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the backing server answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  /** Which driver this is, for logs and `/readyz`. */
  readonly driver: 'memory' | 'mongodb';

  /**
   * Records `key` once: true for the first caller ever, false for every later one, in any process.
   * Backed by a unique insert, the one write that both MongoDB and FerretDB v1 make atomic, so it is the
   * building block for compare-and-set steps (refresh rotation, once-only work).
   */
  claim(key: string): Promise<boolean>;

  /**
   * Records `choice` for `key` unless a choice was recorded before; returns the recorded (first ever)
   * choice, in any process. Like `claim`, but a caller that crashed after deciding can learn what it
   * decided: scheduled delivery and withdrawal both decide on one key, so exactly one of them happens.
   */
  decide(key: string, choice: string): Promise<string>;
  /** Whether `key` was claimed (or decided) before. */
  isClaimed(key: string): Promise<boolean>;

  // ---- retention (the `retention` worker) ----

  /**
   * Deletes up to `limit` messages of conversations of `type` created before `before`; returns how many
   * it deleted (call again while that equals `limit`). The conversations, their seqs and cursors stay.
   */
  deleteMessagesBefore(type: ConversationType, before: Date, limit: number): Promise<number>;
  /** Deletes sessions (refresh tokens) that expired or were revoked before `before`; returns how many. */
  deleteSessionsEndedBefore(before: Date): Promise<number>;
  /** Deletes claims whose key starts with `prefix` made before `before` (processed-event records). */
  deleteClaimsBefore(prefix: string, before: Date): Promise<number>;

  /** Throws `ParleyError('conflict')` when the username is taken (case-insensitively). */
  createUser(input: NewUser): Promise<UserRecord>;
  getUser(id: string): Promise<UserRecord | null>;
  getUsers(ids: readonly string[]): Promise<UserRecord[]>;
  findUserByUsername(username: string): Promise<UserRecord | null>;
  /** Returns the updated user, or null when there is no such user. */
  updateUser(id: string, patch: UserPatch): Promise<UserRecord | null>;
  /** Sets lastSeenAt unless it is already later (last-seen writes may arrive out of order). */
  setLastSeen(userId: string, at: Date): Promise<void>;
  /** Idempotent: blocking twice leaves one entry. */
  addBlock(userId: string, blockedUserId: string): Promise<void>;
  removeBlock(userId: string, blockedUserId: string): Promise<void>;

  createSession(input: NewSession): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | null>;
  /**
   * Compare-and-set of the refresh secret: succeeds only when the session is not revoked, not expired at
   * `now`, and its current hash is `expectedHash`. Exactly one of two concurrent rotations succeeds.
   */
  rotateSession(id: string, expectedHash: string, newHash: string, newExpiresAt: Date, now: Date): Promise<boolean>;
  revokeSession(id: string, at: Date): Promise<void>;
  revokeUserSessions(userId: string, at: Date): Promise<void>;

  /** Throws `ParleyError('conflict')` when `directKey` exists already. Creates every member's cursor at 0. */
  createConversation(input: NewConversation): Promise<ConversationRecord>;
  getConversation(id: string): Promise<ConversationRecord | null>;
  findConversationByDirectKey(directKey: string): Promise<ConversationRecord | null>;
  /** The user's conversations, newest activity first. */
  listConversations(userId: string, limit: number): Promise<ConversationRecord[]>;
  /** Adds members not yet present (creating their cursors at 0); returns the updated conversation or null. */
  addMembers(conversationId: string, members: readonly MemberRecord[]): Promise<ConversationRecord | null>;
  /** Returns the updated conversation, or null when there is no such conversation. */
  removeMember(conversationId: string, userId: string): Promise<ConversationRecord | null>;

  /**
   * Stores drafts in order with gapless seqs (lastSeq+1, lastSeq+2, …), safe against other processes
   * appending to the same conversation at once. A draft whose (conversation, sender, clientMsgId) is
   * already stored, or repeated earlier in the same call, is not stored again: its result is the original
   * with `duplicate: true`. Results are in draft order. Afterwards the conversation's lastSeq, lastMessage
   * and lastActivityAt reflect the newest message, and each sender's read and delivered cursors are at
   * least the seq of their own newest message (you have read what you wrote).
   */
  appendMessages(conversationId: string, drafts: readonly MessageDraft[]): Promise<AppendResult[]>;
  getMessage(id: string): Promise<MessageRecord | null>;
  /** Oldest first, excluding messages hidden for the viewer. */
  listMessages(conversationId: string, query: MessageQuery): Promise<MessageRecord[]>;
  /** Sets text and editedAt unless the message is deleted; returns the result or null when not edited. */
  editMessage(id: string, text: string, editedAt: Date): Promise<MessageRecord | null>;
  /** Tombstone: text '' and meta null, deletedAt set; id and seq stay. Returns the result or null. */
  deleteMessageForEveryone(id: string, deletedAt: Date): Promise<MessageRecord | null>;
  hideMessageForUser(id: string, userId: string): Promise<void>;
  /**
   * Messages whose follow-up work (domain event, offline delivery) was not yet confirmed published and
   * that were stored before `olderThan`, oldest first: the outbox a reconciler republishes from.
   */
  listPendingFollowUps(olderThan: Date, limit: number): Promise<MessageRecord[]>;
  /** Marks the follow-up work of these messages as published. */
  markFollowUpsDone(ids: readonly string[]): Promise<void>;

  /** Account deletion: the user leaves every conversation (direct ones too); returns their ids. */
  removeUserFromAllConversations(userId: string): Promise<string[]>;
  /** Account deletion: the user's messages stay, with senderId null. Idempotency keys are kept. */
  anonymiseMessagesOf(userId: string): Promise<void>;

  createScheduledMessage(input: NewScheduledMessage): Promise<ScheduledMessageRecord>;
  getScheduledMessage(id: string): Promise<ScheduledMessageRecord | null>;
  /** Scheduled (not delivered or withdrawn) messages due at `now`, oldest first. */
  listDueScheduledMessages(now: Date, limit: number): Promise<ScheduledMessageRecord[]>;
  /** Records the outcome; idempotent. */
  finishScheduledMessage(id: string, status: 'delivered' | 'withdrawn', messageId: string | null): Promise<void>;

  /** Stores a notification once per (userId, dedupeKey); returns the stored one. */
  createNotification(input: NewNotification): Promise<NotificationRecord>;
  listNotifications(userId: string, query: NotificationQuery): Promise<NotificationRecord[]>;
  /** Marks the given notifications (or all, when `ids` is undefined) of the user read. */
  markNotificationsRead(userId: string, ids: readonly string[] | undefined): Promise<void>;
  countUnreadNotifications(userId: string): Promise<number>;
  deleteNotificationsOf(userId: string): Promise<void>;

  /**
   * Moves one cursor forward to `seq`, never back. Moving the read cursor also lifts the delivered
   * cursor to at least `seq` (what you read was delivered to you).
   */
  advanceCursor(conversationId: string, userId: string, kind: CursorKind, seq: number): Promise<AdvanceResult>;
  getCursors(conversationId: string): Promise<CursorRecord[]>;
  /** One user's cursors in the given conversations (missing ones are absent from the result). */
  getUserCursors(userId: string, conversationIds: readonly string[]): Promise<CursorRecord[]>;
}

/** The unique key of the direct conversation between two users, whichever of them asks. */
export function directKeyFor(a: string, b: string): string {
  return a < b ? `direct:${a}:${b}` : `direct:${b}:${a}`;
}

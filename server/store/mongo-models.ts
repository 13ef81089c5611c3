import { Schema, type Connection, type Model, type mongo } from 'mongoose';
import type { ConversationType, MemberRole, UserSettings, UserStatus } from './store.js';

/*
 * Document shapes and schemas of MongoStore. Every `_id` is a String (the hex from `newId()`), so any
 * string a client sends can be used in a query without an ObjectId cast error. Indexes are built by
 * `MongoStore.init()` with `createIndexes()`, never by autoIndex, so two processes starting at once do
 * not race index builds against their first writes.
 */

export interface UserDoc {
  _id: string;
  username: string;
  usernameLower: string;
  passwordHash: string;
  email: string | null;
  displayName: string | null;
  status: UserStatus;
  blockedUserIds: string[];
  lastSeenAt: Date | null;
  settings: UserSettings;
  createdAt: Date;
  updatedAt: Date;
}

export interface SessionDoc {
  _id: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface MemberDoc {
  userId: string;
  role: MemberRole;
}

export interface MessageSummaryDoc {
  id: string;
  seq: number;
  senderId: string | null;
  text: string;
  createdAt: Date;
}

export interface ConversationDoc {
  _id: string;
  type: ConversationType;
  title: string | null;
  members: MemberDoc[];
  /** `members[].userId` again, as a flat array: the key of the "conversations of a user" index. */
  memberIds: string[];
  directKey: string;
  lastSeq: number;
  lastMessage: MessageSummaryDoc | null;
  lastActivityAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export interface MessageDoc {
  _id: string;
  conversationId: string;
  seq: number;
  senderId: string | null;
  /**
   * The original sender, kept when senderId is nulled by account deletion: the idempotency index is on
   * it, so two deleted users' equal clientMsgIds in one conversation never collide.
   */
  senderKey: string;
  clientMsgId: string;
  text: string;
  meta: Record<string, unknown> | null;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
  hiddenFor: string[];
  /** True until the message's follow-up work (events, offline delivery) was confirmed published. */
  followUpPending: boolean;
}

export interface ScheduledMessageDoc {
  _id: string;
  conversationId: string;
  senderId: string;
  clientMsgId: string;
  text: string;
  meta: Record<string, unknown> | null;
  deliverAt: Date;
  status: 'scheduled' | 'delivered' | 'withdrawn';
  messageId: string | null;
  createdAt: Date;
}

export interface NotificationDoc {
  _id: string;
  userId: string;
  type: string;
  title: string | null;
  body: string | null;
  data: Record<string, unknown>;
  read: boolean;
  dedupeKey: string;
  createdAt: Date;
}

export interface CursorDoc {
  /** `<conversationId>|<userId>`: one cursor per member, and upserts by key cannot create two. */
  _id: string;
  conversationId: string;
  userId: string;
  readSeq: number;
  deliveredSeq: number;
}

export interface ClaimDoc {
  /** The claimed key; the _id index makes the first insert the only one. */
  _id: string;
  /** What the first claimant decided (`decide`); '' for a plain claim. */
  value: string;
  createdAt: Date;
}

// minimize: false keeps `meta: {}` as written instead of dropping it; no versionKey because no update
// here is a read-modify-write of a whole document.
const options = { versionKey: false, minimize: false, autoIndex: false, autoCreate: false } as const;

const userSchema = new Schema<UserDoc>(
  {
    _id: { type: String, required: true },
    username: { type: String, required: true },
    usernameLower: { type: String, required: true },
    passwordHash: { type: String, required: true },
    email: { type: String, default: null },
    displayName: { type: String, default: null },
    status: { type: String, required: true },
    blockedUserIds: { type: [String], default: [] },
    lastSeenAt: { type: Date, default: null },
    settings: { type: Schema.Types.Mixed, default: null },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  options,
);
userSchema.index({ usernameLower: 1 }, { unique: true });

const sessionSchema = new Schema<SessionDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    tokenHash: { type: String, required: true },
    expiresAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
    createdAt: { type: Date, required: true },
  },
  options,
);
sessionSchema.index({ userId: 1 });

// Field order matters: FerretDB v1 pulls array elements by exact value, so a member must be stored as
// { userId, role } in this order to be removable with the same literal.
const memberSchema = new Schema<MemberDoc>(
  { userId: { type: String, required: true }, role: { type: String, required: true } },
  { _id: false, versionKey: false },
);

const messageSummarySchema = new Schema<MessageSummaryDoc>(
  {
    id: { type: String, required: true },
    seq: { type: Number, required: true },
    senderId: { type: String, default: null },
    text: { type: String, default: '' },
    createdAt: { type: Date, required: true },
  },
  { _id: false, versionKey: false },
);

const conversationSchema = new Schema<ConversationDoc>(
  {
    _id: { type: String, required: true },
    type: { type: String, required: true },
    title: { type: String, default: null },
    members: { type: [memberSchema], default: [] },
    memberIds: { type: [String], default: [] },
    directKey: { type: String, required: true },
    lastSeq: { type: Number, required: true },
    lastMessage: { type: messageSummarySchema, default: null },
    lastActivityAt: { type: Date, required: true },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  options,
);
conversationSchema.index({ directKey: 1 }, { unique: true });
conversationSchema.index({ memberIds: 1, lastActivityAt: -1 });

const messageSchema = new Schema<MessageDoc>(
  {
    _id: { type: String, required: true },
    conversationId: { type: String, required: true },
    seq: { type: Number, required: true },
    senderId: { type: String, default: null },
    senderKey: { type: String, required: true },
    clientMsgId: { type: String, required: true },
    text: { type: String, default: '' },
    meta: { type: Schema.Types.Mixed, default: null },
    createdAt: { type: Date, required: true },
    editedAt: { type: Date, default: null },
    deletedAt: { type: Date, default: null },
    hiddenFor: { type: [String], default: [] },
    followUpPending: { type: Boolean, default: false },
  },
  options,
);
// The seq index is what makes seqs gapless across processes: a seq is claimed by inserting the message.
messageSchema.index({ conversationId: 1, seq: 1 }, { unique: true });
messageSchema.index({ conversationId: 1, senderKey: 1, clientMsgId: 1 }, { unique: true });
messageSchema.index({ senderKey: 1 });
messageSchema.index({ followUpPending: 1, createdAt: 1 });

const scheduledMessageSchema = new Schema<ScheduledMessageDoc>(
  {
    _id: { type: String, required: true },
    conversationId: { type: String, required: true },
    senderId: { type: String, required: true },
    clientMsgId: { type: String, required: true },
    text: { type: String, default: '' },
    meta: { type: Schema.Types.Mixed, default: null },
    deliverAt: { type: Date, required: true },
    status: { type: String, required: true },
    messageId: { type: String, default: null },
    createdAt: { type: Date, required: true },
  },
  options,
);
scheduledMessageSchema.index({ status: 1, deliverAt: 1 });

const notificationSchema = new Schema<NotificationDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    type: { type: String, required: true },
    title: { type: String, default: null },
    body: { type: String, default: null },
    data: { type: Schema.Types.Mixed, default: {} },
    read: { type: Boolean, default: false },
    dedupeKey: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  options,
);
// Redelivered jobs create the same notification again; the index keeps one.
notificationSchema.index({ userId: 1, dedupeKey: 1 }, { unique: true });
notificationSchema.index({ userId: 1, read: 1, _id: -1 });

const cursorSchema = new Schema<CursorDoc>(
  {
    _id: { type: String, required: true },
    conversationId: { type: String, required: true },
    userId: { type: String, required: true },
    readSeq: { type: Number, default: 0 },
    deliveredSeq: { type: Number, default: 0 },
  },
  options,
);
cursorSchema.index({ conversationId: 1 });
cursorSchema.index({ userId: 1 });

const claimSchema = new Schema<ClaimDoc>(
  { _id: { type: String, required: true }, value: { type: String, default: '' }, createdAt: { type: Date, required: true } },
  options,
);

export interface MongoModels {
  readonly users: Model<UserDoc>;
  readonly sessions: Model<SessionDoc>;
  readonly conversations: Model<ConversationDoc>;
  readonly messages: Model<MessageDoc>;
  readonly cursors: Model<CursorDoc>;
  readonly claims: Model<ClaimDoc>;
  readonly scheduledMessages: Model<ScheduledMessageDoc>;
  readonly notifications: Model<NotificationDoc>;
}

/** Binds the schemas to one connection, so several stores (one per simulated process) can coexist. */
export function bindModels(conn: Connection): MongoModels {
  return {
    users: conn.model<UserDoc>('User', userSchema, 'users'),
    sessions: conn.model<SessionDoc>('Session', sessionSchema, 'sessions'),
    conversations: conn.model<ConversationDoc>('Conversation', conversationSchema, 'conversations'),
    messages: conn.model<MessageDoc>('Message', messageSchema, 'messages'),
    cursors: conn.model<CursorDoc>('Cursor', cursorSchema, 'cursors'),
    claims: conn.model<ClaimDoc>('Claim', claimSchema, 'claims'),
    scheduledMessages: conn.model<ScheduledMessageDoc>('ScheduledMessage', scheduledMessageSchema, 'scheduled_messages'),
    notifications: conn.model<NotificationDoc>('Notification', notificationSchema, 'notifications'),
  };
}

/**
 * The driver collection behind a model, typed with our document shape. Mongoose types it as a
 * collection of ObjectId-keyed documents, which our String `_id`s are not. Inserts go through it to
 * skip mongoose's per-document casting and to get the driver's own bulk-write errors.
 */
export function rawCollection<T extends { _id: string }>(model: Model<T>): mongo.Collection<T> {
  return model.collection as unknown as mongo.Collection<T>;
}

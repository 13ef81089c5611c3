/**
 * Parley's wire contract: the one source of truth for what crosses the socket and the REST API.
 * The server imports these types from the SDK's front door, so both sides are checked by the compiler.
 */

export type ErrorCode =
  | 'invalid_payload'
  | 'unauthorized'
  | 'forbidden'
  | 'blocked'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Every acknowledged event answers `{ ok: true, ...data }` or `{ ok: false, error }`. */
export type Ack<T extends object = Record<string, never>> = ({ ok: true } & T) | { ok: false; error: ErrorBody };
export type AckCallback<T extends object = Record<string, never>> = (answer: Ack<T>) => void;

/** `scheduled` and `withdrawn` only on a scheduled message's own view (seq 0 until delivered). */
export type MessageStatus = 'sent' | 'delivered' | 'read' | 'scheduled' | 'withdrawn';

export interface Message {
  id: string;
  conversationId: string;
  seq: number;
  senderId: string | null;
  clientMsgId: string;
  text: string;
  meta?: Record<string, unknown>;
  createdAt: string;
  editedAt?: string;
  deletedAt?: string;
  /** Scheduled messages: when they will be (or were to be) delivered. */
  deliverAt?: string;
  /** Present on the sender's own messages: derived from the other members' cursors. */
  status?: MessageStatus;
  /** With `status`: how many other members have read / received it, out of `recipients`. */
  readBy?: number;
  deliveredTo?: number;
  recipients?: number;
}

export interface Member {
  userId: string;
  role: 'owner' | 'admin' | 'member';
}

export interface Conversation {
  id: string;
  type: 'direct' | 'group';
  title?: string;
  members: Member[];
  lastSeq: number;
  lastMessage?: Message;
  unreadCount: number;
  readSeq: number;
  deliveredSeq: number;
  createdAt: string;
  updatedAt: string;
}

export interface User {
  id: string;
  username: string;
  displayName: string | null;
  email?: string | null;
  /** Only on your own profile. */
  settings?: { hideLastSeen: boolean; notifyOnRead: boolean };
  createdAt: string;
}

export interface Presence {
  userId: string;
  online: boolean;
  lastSeenAt: string | null;
}

export interface Notification {
  id: string;
  type: string;
  title?: string;
  body?: string;
  data: Record<string, unknown>;
  read: boolean;
  createdAt: string;
}

export interface SendMessagePayload {
  conversationId: string;
  clientMsgId: string;
  text: string;
  meta?: Record<string, unknown>;
  /** ISO time in the future: the message is scheduled (ack'd with seq 0, status 'scheduled'). */
  deliverAt?: string;
}

export interface SyncPayload {
  /** Last seq the client holds per conversation; conversations not named are sent from the start. */
  conversations?: Record<string, number>;
  limit?: number;
}

export interface SyncedConversation {
  conversation: Conversation;
  messages: Message[];
  hasMore: boolean;
}

export interface ReceiptEvent {
  conversationId: string;
  userId: string;
  deliveredSeq?: number;
  readSeq?: number;
}

export interface TypingEvent {
  conversationId: string;
  userId: string;
  state: 'start' | 'stop';
}

export interface ClientToServerEvents {
  'message:send': (payload: SendMessagePayload, ack: AckCallback<{ message: Message }>) => void;
  'message:edit': (payload: { messageId: string; text: string }, ack: AckCallback<{ message: Message }>) => void;
  'message:delete': (payload: { messageId: string; scope: 'me' | 'everyone' }, ack: AckCallback) => void;
  'receipt:delivered': (payload: { conversationId: string; seq: number }, ack: AckCallback) => void;
  'receipt:read': (payload: { conversationId: string; seq: number }, ack: AckCallback) => void;
  'message:withdraw': (payload: { messageId: string }, ack: AckCallback) => void;
  sync: (payload: SyncPayload, ack: AckCallback<{ conversations: SyncedConversation[] }>) => void;
  typing: (payload: { conversationId: string; state: 'start' | 'stop' }) => void;
  'presence:subscribe': (payload: { userIds: string[] }, ack: AckCallback<{ presence: Presence[] }>) => void;
  'presence:unsubscribe': (payload: { userIds: string[] }, ack: AckCallback) => void;
}

export interface ServerToClientEvents {
  'message:new': (message: Message) => void;
  'message:updated': (message: Message) => void;
  receipt: (receipt: ReceiptEvent) => void;
  typing: (typing: TypingEvent) => void;
  presence: (presence: Presence) => void;
  'conversation:updated': (conversation: Conversation) => void;
  'notification:new': (notification: Notification) => void;
  /** Events for this socket may have been lost (the server's fan-out was down): catch up with `sync`. */
  resync: (hint: { reason: 'fanout_recovered' }) => void;
}

/** REST: `POST /v1/auth/register`, `/login`, `/refresh`. */
export interface AuthResult {
  user: User;
  accessToken: string;
  refreshToken: string;
}

/**
 * REST answer shapes the SDK reads that `protocol.ts` (the shared socket contract) does not name.
 * They mirror docs/protocol.md §5; add a type here rather than editing the shared contract.
 */
import type { Conversation, ErrorBody, Message, Notification, User } from './protocol.js';

/** `GET /v1/conversations/:id/messages`: ascending by seq. */
export interface HistoryPage {
  messages: Message[];
  hasMore: boolean;
}

/** `GET /v1/conversations`. */
export interface ConversationList {
  conversations: Conversation[];
}

/** `GET /v1/conversations/:id`, `POST /v1/conversations`. */
export interface ConversationAnswer {
  conversation: Conversation;
}

/** `POST /v1/conversations/:id/messages`, `PATCH /v1/messages/:id`. */
export interface MessageAnswer {
  message: Message;
}

/** `GET /v1/me`, `GET /v1/users/:id`. */
export interface UserAnswer {
  user: User;
}

/** Every REST failure: `{ error: { code, message, details? } }` with the matching HTTP status. */
export interface ErrorAnswer {
  error: ErrorBody;
}

/** Query of `GET /v1/conversations/:id/messages`; see docs/protocol.md §5.4 for the paging rules. */
export interface HistoryQuery {
  afterSeq?: number;
  beforeSeq?: number;
  limit?: number;
}

/** Your own account settings (`GET /v1/me` → `user.settings`). */
export type UserSettings = NonNullable<User['settings']>;

/** `GET /v1/notifications`: newest first, plus your unread count over the whole inbox. */
export interface NotificationPage {
  notifications: Notification[];
  unreadCount: number;
}

/** Query of `notifications()`. */
export interface NotificationsQuery {
  /** Only unread ones (default false: all). */
  unreadOnly?: boolean;
  /** Page size (server default 50, at most MAX_PAGE_SIZE). */
  limit?: number;
  /** Older than this notification id: pass the last id of the previous page. */
  before?: string;
}

/** `POST /v1/notifications/read`. */
export interface UnreadCountAnswer {
  unreadCount: number;
}

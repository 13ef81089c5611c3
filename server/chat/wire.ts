import type { Conversation, Message, MessageStatus, User } from '../../client-sdk/src/index.js';
import type { ConversationRecord, CursorRecord, MessageRecord, MessageSummary, ScheduledMessageRecord, UserRecord } from '../store/index.js';

/** The public view of a user; `self` adds what only the user may see. */
export function toWireUser(user: UserRecord, self = false): User {
  const wire: User = { id: user.id, username: user.username, displayName: user.displayName, createdAt: user.createdAt.toISOString() };
  if (self) {
    wire.email = user.email;
    wire.settings = { ...user.settings };
  }
  return wire;
}

/**
 * A stored message as the wire shows it. With `cursors`, the viewer's own messages carry their status,
 * derived from the other members' cursors (receipts are cursors, never rows per message).
 */
export function toWireMessage(m: MessageRecord | (MessageSummary & Partial<MessageRecord>), conversationId?: string): Message {
  const wire: Message = {
    id: m.id,
    conversationId: m.conversationId ?? conversationId ?? '',
    seq: m.seq,
    senderId: m.senderId,
    clientMsgId: m.clientMsgId ?? '',
    text: m.text,
    createdAt: m.createdAt.toISOString(),
  };
  if (m.meta) wire.meta = { ...m.meta };
  if (m.editedAt) wire.editedAt = m.editedAt.toISOString();
  if (m.deletedAt) wire.deletedAt = m.deletedAt.toISOString();
  return wire;
}

/**
 * A scheduled message as its sender sees it: `id` is the scheduled id (for `message:withdraw`), `seq` is
 * 0 until delivery assigns one, and `status` is `scheduled` or `withdrawn`.
 */
export function toWireScheduled(s: ScheduledMessageRecord): Message {
  const wire: Message = {
    id: s.id,
    conversationId: s.conversationId,
    seq: 0,
    senderId: s.senderId,
    clientMsgId: s.clientMsgId,
    text: s.text,
    createdAt: s.createdAt.toISOString(),
    deliverAt: s.deliverAt.toISOString(),
    status: s.status === 'withdrawn' ? 'withdrawn' : 'scheduled',
  };
  if (s.meta) wire.meta = { ...s.meta };
  return wire;
}

/** Adds `status`, `readBy`, `deliveredTo` and `recipients` to the sender's own message. */
export function withStatus(message: Message, viewerId: string, cursors: readonly CursorRecord[], memberIds: readonly string[]): Message {
  if (message.senderId !== viewerId) return message;
  const others = cursors.filter((c) => c.userId !== viewerId && memberIds.includes(c.userId));
  const readBy = others.filter((c) => c.readSeq >= message.seq).length;
  const deliveredTo = others.filter((c) => c.deliveredSeq >= message.seq).length;
  const status: MessageStatus = others.length > 0 && readBy === others.length ? 'read' : deliveredTo > 0 ? 'delivered' : 'sent';
  return { ...message, status, readBy, deliveredTo, recipients: others.length };
}

export function toWireConversation(c: ConversationRecord, cursor: CursorRecord | undefined): Conversation {
  const readSeq = cursor?.readSeq ?? 0;
  const wire: Conversation = {
    id: c.id,
    type: c.type,
    members: c.members.map((m) => ({ userId: m.userId, role: m.role })),
    lastSeq: c.lastSeq,
    unreadCount: Math.max(0, c.lastSeq - readSeq),
    readSeq,
    deliveredSeq: cursor?.deliveredSeq ?? 0,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
  if (c.title !== null) wire.title = c.title;
  if (c.lastMessage) wire.lastMessage = toWireMessage(c.lastMessage, c.id);
  return wire;
}

import type { NotificationService } from '../notifications/index.js';
import type { Presence } from '../presence/index.js';
import type { Store } from '../store/index.js';
import type { DeliveryJob } from './follow-up.js';

/**
 * The delivery worker's work: a message reached a member with no live socket, so it becomes an in-app
 * notification. At most one per conversation and recipient per coalescing window: the notification's
 * dedupe key names the window, so later messages in it (and redelivered jobs) add nothing. A recipient
 * who came online before the job ran gets nothing: they have the message already.
 */
export class OfflineDelivery {
  constructor(
    private readonly store: Store,
    private readonly presence: Presence,
    private readonly notifications: NotificationService,
    private readonly coalesceMs: number,
  ) {}

  async process(job: DeliveryJob): Promise<'notified' | 'skipped'> {
    if ((await this.presence.online([job.recipientId])).has(job.recipientId)) return 'skipped';
    const [message, conversation, recipient] = await Promise.all([
      this.store.getMessage(job.messageId),
      this.store.getConversation(job.conversationId),
      this.store.getUser(job.recipientId),
    ]);
    if (!message || message.deletedAt || !conversation || !recipient || recipient.status !== 'active') return 'skipped';
    if (!conversation.members.some((m) => m.userId === job.recipientId)) return 'skipped';
    const [cursor] = await this.store.getUserCursors(job.recipientId, [job.conversationId]);
    if (cursor && cursor.deliveredSeq >= message.seq) return 'skipped';
    const sender = message.senderId ? await this.store.getUser(message.senderId) : null;
    const from = sender ? (sender.displayName ?? sender.username) : 'a deleted user';
    const window = this.coalesceMs > 0 ? Math.floor(message.createdAt.getTime() / this.coalesceMs) : message.seq;
    await this.notifications.notify({
      userId: job.recipientId,
      type: 'message.offline',
      title: conversation.title ? `New message in ${conversation.title}` : `New message from ${from}`,
      body: message.text.slice(0, 140),
      data: { conversationId: conversation.id, messageId: message.id, seq: message.seq, senderId: message.senderId },
      dedupeKey: `offline:${conversation.id}:${window}`,
    });
    return 'notified';
  }
}

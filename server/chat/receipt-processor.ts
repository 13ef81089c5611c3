import { domainEvent } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { NotificationService } from '../notifications/index.js';
import type { Queue } from '../queue/index.js';
import type { CursorKind, Store } from '../store/index.js';
import type { Realtime } from './realtime.js';

export interface ReceiptJob {
  readonly conversationId: string;
  readonly userId: string;
  readonly kind: CursorKind;
  readonly seq: number;
}

/** How many newly read messages are looked at for "your message was read" notifications per receipt. */
const READ_NOTIFY_WINDOW = 100;

/**
 * The receipts worker's work: move one cursor forward, tell the conversation's members, and for read
 * receipts publish `message.read` and notify senders who asked to know. Every step is idempotent, so a
 * redelivered job changes nothing more: the cursor does not move twice, the event has a fixed id, and
 * notifications are deduplicated by (reader, message).
 */
export class ReceiptProcessor {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly realtime: Realtime,
    private readonly notifications: NotificationService,
    private readonly queue: Queue,
    private readonly producer: string,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'receipts' });
  }

  async process(job: ReceiptJob): Promise<void> {
    const conversation = await this.store.getConversation(job.conversationId);
    if (!conversation || !conversation.members.some((m) => m.userId === job.userId)) return;
    // Nobody can have read past the newest message.
    const seq = Math.min(job.seq, conversation.lastSeq);
    const [before] = await this.store.getUserCursors(job.userId, [job.conversationId]);
    const { moved, cursor } = await this.store.advanceCursor(job.conversationId, job.userId, job.kind, seq);
    const memberIds = conversation.members.map((m) => m.userId);
    if (moved) {
      this.realtime.toUsers(
        memberIds,
        'receipt',
        job.kind === 'read'
          ? { conversationId: job.conversationId, userId: job.userId, readSeq: cursor.readSeq, deliveredSeq: cursor.deliveredSeq }
          : { conversationId: job.conversationId, userId: job.userId, deliveredSeq: cursor.deliveredSeq },
      );
    }
    if (job.kind !== 'read') return;
    // A redelivered job finds the cursor moved already; `before` then equals the target and this is a no-op.
    const from = before?.readSeq ?? 0;
    if (cursor.readSeq <= from) return;
    await this.queue.publishEvent(
      domainEvent('message.read', `message.read:${job.conversationId}:${job.userId}:${cursor.readSeq}`, this.producer, {
        conversationId: job.conversationId,
        userId: job.userId,
        readSeq: cursor.readSeq,
      }),
    );
    await this.notifySenders(job, from, cursor.readSeq);
  }

  /** One notification per sender who wants them, naming the reader and the sender's newest message read. */
  private async notifySenders(job: ReceiptJob, from: number, to: number): Promise<void> {
    const read = await this.store.listMessages(job.conversationId, {
      viewerId: job.userId,
      afterSeq: Math.max(from, to - READ_NOTIFY_WINDOW),
      beforeSeq: to + 1,
      limit: READ_NOTIFY_WINDOW,
    });
    const newestBySender = new Map<string, (typeof read)[number]>();
    for (const m of read) {
      if (m.senderId && m.senderId !== job.userId && !m.deletedAt) newestBySender.set(m.senderId, m);
    }
    if (newestBySender.size === 0) return;
    const [reader, ...senders] = await this.store.getUsers([job.userId, ...newestBySender.keys()]);
    if (!reader) return;
    for (const sender of senders) {
      const message = newestBySender.get(sender.id);
      if (!message || !sender.settings.notifyOnRead || sender.status !== 'active') continue;
      await this.notifications.notify({
        userId: sender.id,
        type: 'message.read',
        title: `${reader.displayName ?? reader.username} read your message`,
        body: message.text.slice(0, 140),
        data: { conversationId: job.conversationId, messageId: message.id, seq: message.seq, readerId: reader.id },
        dedupeKey: `read:${message.id}:${reader.id}`,
      });
    }
    this.log.debug({ conversationId: job.conversationId, readerId: job.userId }, 'read notifications sent');
  }
}

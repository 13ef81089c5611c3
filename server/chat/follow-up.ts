import { domainEvent } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { Presence } from '../presence/index.js';
import type { Queue } from '../queue/index.js';
import type { ConversationRecord, MessageRecord, Store } from '../store/index.js';

/** Work queues, by name; each has its retry and dead-letter queues. */
export const QUEUES = {
  delivery: 'delivery',
  receipts: 'receipts',
  presence: 'presence',
} as const;

/** How long published messages wait to be marked done together. */
const MARK_WINDOW_MS = 50;

/** Offline delivery of one message to one recipient. */
export interface DeliveryJob {
  readonly messageId: string;
  readonly conversationId: string;
  readonly recipientId: string;
}

/**
 * Publishes what follows a stored message: the `message.sent` domain event and, for each member with no
 * live socket, an offline delivery job. Messages are stored as "follow-up pending"; only after every
 * publish was confirmed is that cleared. When RabbitMQ is down the message is still acked to its sender
 * (it is stored), and the outbox reconciler publishes the follow-up later: at least once, with
 * deterministic ids so consumers can make a repeat harmless.
 */
export class FollowUpPublisher {
  private readonly log: Logger;
  /** Published messages waiting to be marked done: one store write for every publish of a short window. */
  private marks: string[] = [];
  private marking: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly queue: Queue,
    private readonly presence: Presence,
    private readonly producer: string,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'follow-up' });
  }

  /** Never throws: what could not be published stays pending for the reconciler. */
  async publish(conversation: ConversationRecord, messages: readonly MessageRecord[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      const memberIds = conversation.members.map((m) => m.userId);
      const online = await this.presence.online(memberIds);
      // One Promise.all for the whole batch, not an async function and a Promise.all per message: that
      // was ≈ 1.4 KB of the ≈ 32 KB a gateway allocates per message (sampling heap profile, chat load).
      await Promise.all(messages.flatMap((m) => this.publishes(m, memberIds.filter((id) => id !== m.senderId && !online.has(id)))));
    } catch (err) {
      this.log.warn({ err, conversationId: conversation.id, count: messages.length }, 'follow-up not published; the outbox will retry');
      return;
    }
    // Not awaited: waiting out the mark window here kept every batch's records and closures alive for
    // 50 ms, long enough to survive a young-generation collection and be copied by it.
    this.markDone(messages.map((m) => m.id));
  }

  /**
   * Marks in batches: under load many conversations' group commits publish within milliseconds of each
   * other, and one write then covers them all (a store trip per batch was a quarter of all commands per
   * message). A crash or a failed write before it only means the outbox republishes them, which
   * consumers make harmless.
   */
  private markDone(ids: readonly string[]): void {
    this.marks.push(...ids);
    this.marking ??= new Promise((resolve) => setTimeout(resolve, MARK_WINDOW_MS))
      .then(() => {
        const batch = this.marks;
        this.marks = [];
        this.marking = undefined;
        return this.store.markFollowUpsDone(batch);
      })
      .catch((err: unknown) => this.log.warn({ err }, 'follow-up marks not stored; the outbox will republish those messages'));
  }

  /** Republishes follow-up work still pending after `graceMs` (the outbox reconciler's pass). */
  async reconcile(graceMs: number, batch = 200): Promise<number> {
    const pending = await this.store.listPendingFollowUps(new Date(Date.now() - graceMs), batch);
    const byConversation = new Map<string, MessageRecord[]>();
    for (const m of pending) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m]);
    for (const [conversationId, messages] of byConversation) {
      const conversation = await this.store.getConversation(conversationId);
      if (!conversation) {
        await this.store.markFollowUpsDone(messages.map((m) => m.id));
        continue;
      }
      await this.publish(conversation, messages);
    }
    if (pending.length > 0) this.log.info({ count: pending.length }, 'outbox: republished pending follow-up work');
    return pending.length;
  }

  /** The publishes one message needs: its domain event and an offline delivery job per recipient. */
  private publishes(message: MessageRecord, offlineRecipients: readonly string[]): Promise<void>[] {
    const event = domainEvent('message.sent', `message.sent:${message.id}`, this.producer, {
      messageId: message.id,
      conversationId: message.conversationId,
      seq: message.seq,
      senderId: message.senderId,
    });
    return [
      this.queue.publishEvent(event),
      ...offlineRecipients.map((recipientId) =>
        this.queue.publish<DeliveryJob>(QUEUES.delivery, {
          id: `delivery:${message.id}:${recipientId}`,
          type: 'message.offline',
          payload: { messageId: message.id, conversationId: message.conversationId, recipientId },
        }),
      ),
    ];
  }
}

import type { EventPublisher } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { NotificationService } from '../notifications/index.js';
import type { ScheduledMessageRecord, Store } from '../store/index.js';
import type { FollowUpPublisher } from './follow-up.js';
import type { Realtime } from './realtime.js';
import { toWireMessage } from './wire.js';

/**
 * Delivers scheduled messages at their time, exactly once even with several schedulers running:
 * delivery and withdrawal decide on the same key (the first decision wins, and a scheduler that crashed
 * after deciding finishes the job on its next pass), and the append itself is idempotent by the
 * scheduled message's clientMsgId, so two schedulers delivering at once store one message.
 */
export class ScheduledDelivery {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly realtime: Realtime,
    private readonly notifications: NotificationService,
    private readonly followUp: FollowUpPublisher,
    private readonly events: EventPublisher,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'scheduler' });
  }

  /** Delivers what is due; returns how many were handled. */
  async runDue(now = new Date(), batch = 100): Promise<number> {
    const due = await this.store.listDueScheduledMessages(now, batch);
    for (const scheduled of due) {
      try {
        await this.deliver(scheduled);
      } catch (err) {
        this.log.error({ err, scheduledId: scheduled.id }, 'scheduled delivery failed; retrying on the next pass');
      }
    }
    return due.length;
  }

  private async deliver(scheduled: ScheduledMessageRecord): Promise<void> {
    const decided = await this.store.decide(`scheduled:${scheduled.id}`, 'deliver');
    if (decided !== 'deliver') {
      await this.store.finishScheduledMessage(scheduled.id, 'withdrawn', null);
      return;
    }
    const conversation = await this.store.getConversation(scheduled.conversationId);
    if (!conversation || !conversation.members.some((m) => m.userId === scheduled.senderId)) {
      // The sender left (or the conversation is gone) before the time: nothing to deliver into.
      await this.store.finishScheduledMessage(scheduled.id, 'withdrawn', null);
      return;
    }
    const [result] = await this.store.appendMessages(conversation.id, [
      { senderId: scheduled.senderId, clientMsgId: scheduled.clientMsgId, text: scheduled.text, meta: scheduled.meta, createdAt: new Date() },
    ]);
    if (!result) return;
    await this.store.finishScheduledMessage(scheduled.id, 'delivered', result.message.id);
    if (result.duplicate) return;
    const memberIds = conversation.members.map((m) => m.userId);
    this.realtime.toUsers(memberIds, 'message:new', toWireMessage(result.message));
    await this.followUp.publish(conversation, [result.message]);
    for (const recipientId of memberIds.filter((id) => id !== scheduled.senderId)) {
      await this.notifications.notify({
        userId: recipientId,
        type: 'message.delivered',
        title: 'A scheduled message was delivered',
        body: scheduled.text.slice(0, 140),
        data: { conversationId: conversation.id, messageId: result.message.id, seq: result.message.seq, senderId: scheduled.senderId },
        dedupeKey: `scheduled:${scheduled.id}`,
      });
    }
    await this.events.publish('message.scheduled.delivered', `message.scheduled.delivered:${scheduled.id}`, {
      scheduledId: scheduled.id,
      messageId: result.message.id,
      conversationId: conversation.id,
      seq: result.message.seq,
    });
  }
}

import type { Message, SyncedConversation } from '../../client-sdk/src/index.js';
import { ParleyError } from '../errors.js';
import type { EventPublisher } from '../events/index.js';
import type { Queue } from '../queue/index.js';
import type { AppendResult, ConversationRecord, CursorKind, MessageRecord, Store } from '../store/index.js';
import type { UserService } from '../users/index.js';
import type { ConversationService } from './conversation-service.js';
import { type FollowUpPublisher, QUEUES } from './follow-up.js';
import type { ReceiptJob } from './receipt-processor.js';
import { MessageBatcher } from './message-batcher.js';
import type { Realtime } from './realtime.js';
import { toWireConversation, toWireMessage, toWireScheduled, withStatus } from './wire.js';
import type { Limiter } from '../security/rate-limits.js';

export interface SendInput {
  readonly conversationId: string;
  readonly clientMsgId: string;
  readonly text: string;
  readonly meta?: Record<string, unknown> | undefined;
  /** A time in the future: store now, deliver (and assign a seq) then. */
  readonly deliverAt?: Date | undefined;
}

export interface HistoryQuery {
  readonly afterSeq?: number | undefined;
  readonly beforeSeq?: number | undefined;
  readonly limit: number;
}

export interface HistoryPage {
  readonly messages: Message[];
  readonly hasMore: boolean;
}

/**
 * Sending, editing, deleting, history, receipts and sync. Socket and REST handlers both call this, so
 * both have the same semantics: idempotent by clientMsgId, gapless seqs, ack after the durable write.
 */
export class MessageService {
  private readonly batcher: MessageBatcher;

  constructor(
    private readonly store: Store,
    private readonly conversations: ConversationService,
    private readonly users: UserService,
    private readonly realtime: Realtime,
    private readonly queue: Queue,
    private readonly followUp: FollowUpPublisher,
    private readonly events: EventPublisher,
    /** Sends per user (MESSAGES_PER_SECOND), shared by every node when Redis is configured. */
    private readonly sendLimiter: Limiter,
  ) {
    this.batcher = new MessageBatcher(store, (conversation, results) => this.announceStored(conversation, results));
  }

  async send(senderId: string, input: SendInput): Promise<Message> {
    await this.sendLimiter.consume(senderId);
    // Cache hits are answered without a promise; only misses go to the store.
    const conversation = this.conversations.cachedMember(senderId, input.conversationId) ?? (await this.conversations.requireMember(senderId, input.conversationId));
    const blocked = this.blockedBy(senderId, conversation) ?? (await this.loadBlockedBy(senderId, conversation));
    if (blocked) throw new ParleyError('blocked', 'this user blocked you');
    if (input.deliverAt && input.deliverAt.getTime() > Date.now()) return this.schedule(senderId, conversation, input, input.deliverAt);
    const { message } = await this.batcher.append(conversation, {
      senderId,
      clientMsgId: input.clientMsgId,
      text: input.text,
      meta: input.meta ?? null,
      createdAt: new Date(),
    });
    const wire = toWireMessage(message);
    wire.status = 'sent';
    return wire;
  }

  /**
   * Withdraws a scheduled message before its time. Delivery and withdrawal decide on one key, so at the
   * delivery instant exactly one of them wins; a late withdrawal is a `conflict`.
   */
  async withdraw(userId: string, scheduledId: string): Promise<void> {
    const scheduled = await this.store.getScheduledMessage(scheduledId);
    if (!scheduled) throw new ParleyError('not_found', `no scheduled message ${scheduledId}`);
    if (scheduled.senderId !== userId) throw new ParleyError('forbidden', 'only the sender can withdraw a scheduled message');
    const decided = await this.store.decide(`scheduled:${scheduledId}`, 'withdraw');
    if (decided !== 'withdraw') throw new ParleyError('conflict', 'the message was delivered already');
    await this.store.finishScheduledMessage(scheduledId, 'withdrawn', null);
    this.realtime.toUsers([userId], 'message:updated', toWireScheduled({ ...scheduled, status: 'withdrawn' }));
    await this.events.publish('message.withdrawn', `message.withdrawn:${scheduledId}`, { scheduledId, conversationId: scheduled.conversationId, senderId: userId });
  }

  async edit(userId: string, messageId: string, text: string): Promise<Message> {
    const { message, conversation } = await this.requireVisibleMessage(userId, messageId);
    if (message.senderId !== userId) throw new ParleyError('forbidden', 'only the sender can edit a message');
    if (message.deletedAt) throw new ParleyError('conflict', 'the message was deleted');
    const edited = await this.store.editMessage(messageId, text, new Date());
    if (!edited) throw new ParleyError('conflict', 'the message was deleted');
    return this.announceUpdated(conversation, edited);
  }

  async delete(userId: string, messageId: string, scope: 'me' | 'everyone'): Promise<void> {
    const { message, conversation } = await this.requireVisibleMessage(userId, messageId);
    if (scope === 'me') {
      await this.store.hideMessageForUser(messageId, userId);
      return;
    }
    if (message.senderId !== userId) throw new ParleyError('forbidden', 'only the sender can delete a message for everyone');
    const deleted = await this.store.deleteMessageForEveryone(messageId, new Date());
    if (deleted) this.announceUpdated(conversation, deleted);
  }

  async history(userId: string, conversationId: string, query: HistoryQuery): Promise<HistoryPage> {
    const conversation = await this.conversations.requireMember(userId, conversationId);
    const rows = await this.store.listMessages(conversationId, {
      viewerId: userId,
      afterSeq: query.afterSeq,
      beforeSeq: query.beforeSeq,
      limit: query.limit + 1,
    });
    const hasMore = rows.length > query.limit;
    // Backwards pages come oldest first, so the extra row that proves "more" is the first one.
    const backwards = query.afterSeq === undefined && query.beforeSeq !== undefined;
    const page = hasMore ? (backwards ? rows.slice(1) : rows.slice(0, query.limit)) : rows;
    return { messages: await this.withStatuses(userId, conversation, page), hasMore };
  }

  /**
   * Queues a receipt for the receipts worker, which moves the cursor (forward only) and tells the members.
   * Resolves once RabbitMQ confirmed the job; `unavailable` while it is down, so the client retries.
   */
  async receipt(userId: string, conversationId: string, kind: CursorKind, seq: number): Promise<void> {
    await this.conversations.requireMember(userId, conversationId);
    await this.queue.publish<ReceiptJob>(QUEUES.receipts, {
      id: `receipt:${conversationId}:${userId}:${kind}:${seq}`,
      type: `receipt.${kind}`,
      payload: { conversationId, userId, kind, seq },
    });
  }

  /**
   * What the client missed: for each of the user's conversations whose lastSeq is past the client's,
   * the messages after it (at most `limit`, with `hasMore`). Conversations the client did not name are
   * new to it and come from the start.
   */
  async sync(userId: string, known: Readonly<Record<string, number>>, limit: number): Promise<SyncedConversation[]> {
    const conversations = await this.store.listConversations(userId, 1000);
    const cursors = new Map((await this.store.getUserCursors(userId, conversations.map((c) => c.id))).map((c) => [c.conversationId, c]));
    const behind = conversations.filter((c) => !(c.id in known) || (known[c.id] ?? 0) < c.lastSeq);
    return Promise.all(
      behind.map(async (c) => {
        const page = await this.history(userId, c.id, { afterSeq: known[c.id] ?? 0, limit });
        return { conversation: toWireConversation(c, cursors.get(c.id)), ...page };
      }),
    );
  }

  private announceStored(conversation: ConversationRecord, results: readonly AppendResult[]): void {
    const memberIds = conversation.members.map((m) => m.userId);
    const fresh = results.filter((r) => !r.duplicate).map((r) => r.message);
    for (const message of fresh) this.realtime.toUsers(memberIds, 'message:new', toWireMessage(message));
    // Not awaited by the sender's ack: the message is stored; its follow-up has the outbox behind it.
    void this.followUp.publish(conversation, fresh);
  }

  private async schedule(senderId: string, conversation: ConversationRecord, input: SendInput, deliverAt: Date): Promise<Message> {
    const candidate = await this.store.createScheduledMessage({
      conversationId: conversation.id,
      senderId,
      clientMsgId: input.clientMsgId,
      text: input.text,
      meta: input.meta ?? null,
      deliverAt,
    });
    // The same clientMsgId scheduled twice is one scheduled message: the first one recorded wins.
    const winner = await this.store.decide(`schedule:${conversation.id}:${senderId}:${input.clientMsgId}`, candidate.id);
    if (winner !== candidate.id) await this.store.finishScheduledMessage(candidate.id, 'withdrawn', null);
    const scheduled = winner === candidate.id ? candidate : await this.store.getScheduledMessage(winner);
    if (!scheduled) throw new ParleyError('internal', 'scheduled message vanished');
    // A retry after delivery answers with the delivered message, as a retried send would.
    const delivered = scheduled.messageId ? await this.store.getMessage(scheduled.messageId) : null;
    return delivered ? { ...toWireMessage(delivered), status: 'sent' } : toWireScheduled(scheduled);
  }

  private announceUpdated(conversation: ConversationRecord, message: MessageRecord): Message {
    const wire = toWireMessage(message);
    this.realtime.toUsers(conversation.members.map((m) => m.userId), 'message:updated', wire);
    return wire;
  }

  private async requireVisibleMessage(userId: string, messageId: string): Promise<{ message: MessageRecord; conversation: ConversationRecord }> {
    const message = await this.store.getMessage(messageId);
    if (!message || message.hiddenFor.includes(userId)) throw new ParleyError('not_found', `no message ${messageId}`);
    const conversation = await this.conversations.requireMember(userId, message.conversationId);
    return { message, conversation };
  }

  /** Whether the other member of a direct conversation blocked the sender; undefined if not cached. */
  private blockedBy(senderId: string, conversation: ConversationRecord): boolean | undefined {
    const otherId = directPeer(senderId, conversation);
    return otherId === undefined ? false : this.users.cachedHasBlocked(otherId, senderId);
  }

  private async loadBlockedBy(senderId: string, conversation: ConversationRecord): Promise<boolean> {
    const otherId = directPeer(senderId, conversation);
    return otherId !== undefined && (await this.users.hasBlocked(otherId, senderId));
  }

  private async withStatuses(userId: string, conversation: ConversationRecord, messages: readonly MessageRecord[]): Promise<Message[]> {
    const wire = messages.map((m) => toWireMessage(m));
    if (!wire.some((m) => m.senderId === userId)) return wire;
    const cursors = await this.store.getCursors(conversation.id);
    const memberIds = conversation.members.map((m) => m.userId);
    return wire.map((m) => withStatus(m, userId, cursors, memberIds));
  }
}

/** The other member of a direct conversation; undefined for groups (blocks do not apply there). */
function directPeer(userId: string, conversation: ConversationRecord): string | undefined {
  if (conversation.type !== 'direct') return undefined;
  return conversation.members.find((m) => m.userId !== userId)?.userId;
}

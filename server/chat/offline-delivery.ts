import { ParleyError } from '../errors.js';
import type { EventBody, SubmitOptions, SubmitResult } from '../notify/index.js';
import type { Presence } from '../presence/index.js';
import type { Queue } from '../queue/index.js';
import type { ConversationRecord, MessageRecord, Store, UserRecord } from '../store/index.js';
import { type DeliveryJob, QUEUES } from './follow-up.js';

/** The summary of the messages held back in one coalescing window, due when it ends. */
export interface SummaryJob {
  readonly conversationId: string;
  readonly recipientId: string;
  /** floor(createdAt / coalesceMs) of the messages it covers. */
  readonly window: number;
  /** The window's first message, which was notified at once; the summary covers those after it. */
  readonly firstMessageId: string;
}

export const SUMMARY_JOB_TYPE = 'message.offline.summary';

/** The notification pipeline's front door, as the notify module offers it in process. */
export type SubmitEvent = (body: EventBody, options: SubmitOptions) => Promise<SubmitResult>;

/** Events Parley submits itself carry this in place of a service key. */
const PRODUCER_KEY = 'parley:chat';
/** A summary runs this long after its window ends, so messages stored right at the end are in it. */
const SUMMARY_SETTLE_MS = 1_000;
/** Messages counted into one summary at most; more read "1000+". */
const SUMMARY_MAX = 1_000;
const PAGE = 100;
const PREVIEW_CHARS = 140;

export type DeliveryOutcome = 'notified' | 'held' | 'skipped';

/**
 * The delivery worker's work: a message reached a member with no live socket. It becomes a
 * `message.offline` event in the notification pipeline, which shows it in the app and sends push and
 * email as the recipient's preferences say.
 *
 * Coalescing, per recipient and conversation, in fixed windows of `coalesceMs` (by the messages'
 * `createdAt`): the window's first message is notified at once; later ones are held, and when the
 * window ends one summary covers them ("3 new messages from Ann"). So at most one notification starts
 * per window, plus that window's summary. Every decision rests on `store.decide` (a unique insert) and
 * every event on an Idempotency-Key derived from the window, so redelivered jobs and any number of
 * workers add nothing. A recipient who is online, or has received the messages, when a job runs gets
 * nothing: they have them already.
 */
export class OfflineDelivery {
  constructor(
    private readonly store: Store,
    private readonly presence: Presence,
    private readonly submit: SubmitEvent,
    private readonly queue: Queue,
    private readonly coalesceMs: number,
  ) {}

  async process(job: DeliveryJob): Promise<DeliveryOutcome> {
    if (await this.isOnline(job.recipientId)) return 'skipped';
    const [message, conversation, recipient] = await Promise.all([
      this.store.getMessage(job.messageId),
      this.store.getConversation(job.conversationId),
      this.store.getUser(job.recipientId),
    ]);
    if (!message || message.deletedAt || !conversation || !this.reaches(conversation, recipient)) return 'skipped';
    if (await this.hasReceived(job.recipientId, conversation.id, message.seq)) return 'skipped';

    if (this.coalesceMs <= 0) {
      await this.notifyOne(message, conversation, job.recipientId, `offline:${job.recipientId}:${message.id}`);
      return 'notified';
    }
    const window = Math.floor(message.createdAt.getTime() / this.coalesceMs);
    const windowKey = `offline:${job.recipientId}:${conversation.id}:${window}`;
    const first = await this.store.decide(windowKey, message.id);
    if (first === message.id) {
      await this.notifyOne(message, conversation, job.recipientId, windowKey);
      return 'notified';
    }
    // The window's second message schedules its summary; later ones are counted by it.
    if ((await this.store.decide(`${windowKey}:summary`, message.id)) === message.id) {
      const summary: SummaryJob = { conversationId: conversation.id, recipientId: job.recipientId, window, firstMessageId: first };
      const dueAt = (window + 1) * this.coalesceMs + SUMMARY_SETTLE_MS;
      await this.queue.publish(QUEUES.delivery, { id: `${windowKey}:summary`, type: SUMMARY_JOB_TYPE, payload: summary }, { delayMs: Math.max(0, dueAt - Date.now()) });
    }
    return 'held';
  }

  /** The end of a window: one notification for the messages held in it, if they are still unseen. */
  async summarise(job: SummaryJob): Promise<DeliveryOutcome> {
    if (await this.isOnline(job.recipientId)) return 'skipped';
    const [first, conversation, recipient] = await Promise.all([
      this.store.getMessage(job.firstMessageId),
      this.store.getConversation(job.conversationId),
      this.store.getUser(job.recipientId),
    ]);
    if (!first || !conversation || !this.reaches(conversation, recipient)) return 'skipped';
    const held = await this.heldAfter(first, job.recipientId, (job.window + 1) * this.coalesceMs);
    const last = held.at(-1);
    if (!last || (await this.hasReceived(job.recipientId, conversation.id, last.seq))) return 'skipped';

    const names = await this.senderNames(held);
    const count = held.length >= SUMMARY_MAX ? `${SUMMARY_MAX}+` : String(held.length);
    const noun = held.length === 1 ? 'new message' : 'new messages';
    const title = conversation.title && names.length > 1 ? `${count} ${noun} in ${conversation.title}` : `${count} ${noun} from ${listNames(names)}`;
    await this.submitEvent(job.recipientId, `offline:${job.recipientId}:${conversation.id}:${job.window}:summary`, {
      kind: 'summary',
      conversationId: conversation.id,
      messageId: last.id,
      seq: last.seq,
      count: held.length,
      from: listNames(names),
      title,
      preview: last.text.slice(0, PREVIEW_CHARS),
    });
    return 'notified';
  }

  private async notifyOne(message: MessageRecord, conversation: ConversationRecord, recipientId: string, key: string): Promise<void> {
    const [from] = await this.senderNames([message]);
    await this.submitEvent(recipientId, key, {
      kind: 'message',
      conversationId: conversation.id,
      messageId: message.id,
      seq: message.seq,
      senderId: message.senderId,
      count: 1,
      from,
      title: conversation.title ? `New message in ${conversation.title}` : `New message from ${from}`,
      preview: message.text.slice(0, PREVIEW_CHARS),
    });
  }

  /**
   * The body depends only on the key's messages, so a repeat carries the same body and is answered
   * as a replay instead of a conflict.
   */
  private async submitEvent(recipientId: string, idempotencyKey: string, data: Record<string, unknown>): Promise<void> {
    const body: EventBody = { event_type: 'message.offline', priority: 'normal', payload: { user: [recipientId], data } };
    try {
      await this.submit(body, { serviceKeyId: PRODUCER_KEY, idempotencyKey });
    } catch (err) {
      // Another body under this key: a summary whose messages changed (one was deleted) between two
      // runs. The first one's notification stands.
      if (!(err instanceof ParleyError && err.code === 'conflict')) throw err;
    }
  }

  /** Messages after `first` stored before `endsAt`, visible to the recipient and not their own, oldest first. */
  private async heldAfter(first: MessageRecord, recipientId: string, endsAt: number): Promise<MessageRecord[]> {
    const held: MessageRecord[] = [];
    for (let afterSeq = first.seq; held.length < SUMMARY_MAX; ) {
      const page = await this.store.listMessages(first.conversationId, { viewerId: recipientId, afterSeq, limit: PAGE });
      for (const m of page) {
        if (m.createdAt.getTime() >= endsAt) return held;
        if (!m.deletedAt && m.senderId !== recipientId) held.push(m);
      }
      if (page.length < PAGE) return held;
      afterSeq = page.at(-1)!.seq;
    }
    return held;
  }

  private async senderNames(messages: readonly MessageRecord[]): Promise<string[]> {
    const ids = [...new Set(messages.map((m) => m.senderId))];
    const users = await this.store.getUsers(ids.filter((id): id is string => id !== null));
    const byId = new Map(users.map((u) => [u.id, u.displayName ?? u.username]));
    return ids.map((id) => (id && byId.get(id)) || 'a deleted user');
  }

  private reaches(conversation: ConversationRecord, recipient: UserRecord | null): boolean {
    return recipient?.status === 'active' && conversation.members.some((m) => m.userId === recipient.id);
  }

  private async isOnline(userId: string): Promise<boolean> {
    return (await this.presence.online([userId])).has(userId);
  }

  private async hasReceived(userId: string, conversationId: string, seq: number): Promise<boolean> {
    const [cursor] = await this.store.getUserCursors(userId, [conversationId]);
    return cursor !== undefined && cursor.deliveredSeq >= seq;
  }
}

/** "Ann", "Ann and Bob", "Ann, Bob and Carl", "Ann, Bob and 3 others". */
function listNames(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? 'someone';
  if (names.length === 2) return `${names[0]} and ${names[1]}`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]}`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others`;
}

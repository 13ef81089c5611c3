import { flushCorked } from '../cork-per-turn.js';
import type { AppendResult, ConversationRecord, MessageDraft, Store } from '../store/index.js';

interface Pending {
  readonly conversation: ConversationRecord;
  readonly draft: MessageDraft;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Group commit for sends. Drafts for one conversation that arrive while a write is in flight wait and go
 * to the store together in the next `appendMessages`, so under load one round trip stores many messages,
 * and at low load a lone send waits only for the current event-loop turn. One conversation never has two
 * writes in flight in this process, so `onStored` sees its messages in seq order, and the caller's
 * promise resolves only after the store acknowledged the write.
 *
 * The commits of one turn start together, from one setImmediate, and a second one right behind it sends
 * what they wrote (flushCorked): their frames would otherwise stay corked (cork-per-turn.ts) through the
 * next turn's reading of sockets, which under load added that whole turn to every message's latency.
 * A store that answers in the same turn (the memory store) has its messages and acks on the wire by then;
 * a later answer leaves at the end of its own turn, as any write does.
 */
export class MessageBatcher {
  // Mutable on purpose: this is the queue that concurrent sends join while a write is in flight.
  private readonly queues = new Map<string, Pending[]>();
  /** Conversations whose queue was opened this turn: their commits start at the turn's end. */
  private opened: string[] = [];

  constructor(
    private readonly store: Store,
    private readonly onStored: (conversation: ConversationRecord, results: readonly AppendResult[]) => void,
    private readonly maxBatch = 256,
  ) {}

  /** Queues a draft; `conversation` is the membership the sender was checked against. */
  append(conversation: ConversationRecord, draft: MessageDraft): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(conversation.id);
      if (queue) {
        queue.push({ conversation, draft, resolve, reject });
        return;
      }
      this.queues.set(conversation.id, [{ conversation, draft, resolve, reject }]);
      if (this.opened.push(conversation.id) > 1) return;
      // setImmediate, not a microtask: lets the socket frames already read in this turn join the batch.
      // Between two immediates Node runs every microtask, so the flush comes after the commits' acks.
      setImmediate(this.commitOpened);
      setImmediate(flushCorked);
    });
  }

  private readonly commitOpened = (): void => {
    const opened = this.opened;
    this.opened = [];
    for (const conversationId of opened) void this.drain(conversationId);
  };

  private async drain(conversationId: string): Promise<void> {
    const queue = this.queues.get(conversationId);
    while (queue && queue.length > 0) {
      const batch = queue.splice(0, this.maxBatch);
      try {
        const results = await this.store.appendMessages(conversationId, batch.map((p) => p.draft));
        // The newest membership seen in the batch decides who is told.
        this.onStored(batch[batch.length - 1]!.conversation, results);
        batch.forEach((p, i) => p.resolve(results[i] as AppendResult));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.queues.delete(conversationId);
  }
}

import type { Conversation, Message, SyncedConversation } from './protocol.js';
import type { HistoryPage } from './sdk-types.js';

export interface MessageStreamDeps {
  /** One page of `GET /v1/conversations/:id/messages?afterSeq=`, ascending. */
  readonly history: (conversationId: string, afterSeq: number) => Promise<HistoryPage>;
  /** Receives each message once, in seq order per conversation. */
  readonly deliver: (message: Message) => void;
}

/** How many conversations a `sync` may name (docs/protocol.md §4.1). */
const MAX_SYNC_CONVERSATIONS = 1000;

/**
 * Turns everything that carries messages (socket events, sync answers, polled history, send results)
 * into one stream per conversation that has no duplicates and no gaps.
 *
 * The invariant: `cursor(c)` is the highest seq handed to `deliver` for conversation c; a message is
 * delivered only if its seq is above the cursor, and only after every visible message between the two.
 * Messages the viewer deleted for themselves never come back from the server, so a missing seq inside a
 * page is not a gap.
 *
 * The baseline: until one is set, the stream does not know which conversations exist and delivers
 * nothing; `setBaseline` tracks the conversations that exist then from their current `lastSeq` (older
 * messages are history, read with `history()`). Any conversation that appears later is delivered from
 * its first message. Initial cursors passed to the constructor are a baseline too.
 *
 * All work runs through `run`, one task at a time, because a task may await the network (a gap fetch, a
 * sync) and events that arrive meanwhile must wait for it to keep the order.
 */
export class MessageStream {
  readonly #deps: MessageStreamDeps;
  // Insertion order is recency order: `#advance` re-inserts, so the newest activity is at the end.
  readonly #cursors = new Map<string, number>();
  #baselined: boolean;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(deps: MessageStreamDeps, initialCursors?: Readonly<Record<string, number>>) {
    this.#deps = deps;
    this.#baselined = initialCursors !== undefined;
    for (const [id, seq] of Object.entries(initialCursors ?? {})) this.#cursors.set(id, seq);
  }

  get baselined(): boolean {
    return this.#baselined;
  }

  /** Runs `task` after every task queued before it. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** The highest seq delivered for a conversation; undefined while not tracked. */
  cursor(conversationId: string): number | undefined {
    return this.#cursors.get(conversationId);
  }

  /** The cursors to name in a `sync`, most recently active first, at most 1000. */
  knownSeqs(): Record<string, number> {
    const entries = [...this.#cursors.entries()].slice(-MAX_SYNC_CONVERSATIONS);
    return Object.fromEntries(entries);
  }

  // ---- the methods below are called from inside `run` tasks ----

  /** Tracks every listed conversation not yet tracked from its current `lastSeq`. */
  setBaseline(conversations: readonly Conversation[]): void {
    for (const c of conversations) {
      if (!this.#cursors.has(c.id)) this.#cursors.set(c.id, c.lastSeq);
    }
    this.#baselined = true;
  }

  /**
   * Delivers `message` if it is new, fetching any gap before it first. Throws if the gap could not be
   * fetched: then nothing at or after the gap was delivered and a later catch-up must fill it.
   */
  async accept(message: Message): Promise<void> {
    const cursor = this.#cursorOrStart(message.conversationId);
    if (cursor === undefined || message.seq <= cursor) return;
    if (message.seq > cursor + 1) await this.fill(message.conversationId, message.seq - 1);
    if (message.seq > (this.#cursors.get(message.conversationId) ?? 0)) this.#advance(message);
  }

  /** True if an update to this message concerns one the app already has (or history it may show). */
  isDelivered(message: Message): boolean {
    const cursor = this.#cursors.get(message.conversationId);
    return cursor === undefined || message.seq <= cursor;
  }

  /**
   * Delivers the messages of one `sync` answer entry. Returns true if the server has more (`hasMore`):
   * sync again with the new cursors.
   */
  acceptSynced(synced: SyncedConversation): boolean {
    const id = synced.conversation.id;
    for (const message of synced.messages) {
      if (message.seq > (this.#cursorOrStart(id) ?? 0)) this.#advance(message);
    }
    if (synced.hasMore) return true;
    // The server read lastSeq before the page, so every seq up to it is either in the page or hidden
    // from this viewer: skipping to it stops the next sync from asking for hidden messages again.
    const cursor = this.#cursors.get(id) ?? 0;
    if (synced.conversation.lastSeq > cursor) this.#cursors.set(id, synced.conversation.lastSeq);
    return false;
  }

  /**
   * Pages history after the cursor until `upTo` is covered (or, without `upTo`, to the end), delivering
   * in order. With a `conversation` (from a list read before the pages), skips to its `lastSeq` at the
   * end, as `acceptSynced` does.
   */
  async fill(conversationId: string, upTo?: number, conversation?: Conversation): Promise<void> {
    for (;;) {
      const after = this.#cursorOrStart(conversationId) ?? 0;
      if (upTo !== undefined && after >= upTo) return;
      const page = await this.#deps.history(conversationId, after);
      for (const message of page.messages) {
        if (message.seq > (this.#cursorOrStart(conversationId) ?? 0)) this.#advance(message);
      }
      const newest = page.messages.at(-1)?.seq ?? after;
      if (!page.hasMore || page.messages.length === 0) break;
      if (upTo !== undefined && newest >= upTo) return;
    }
    if (conversation && conversation.lastSeq > (this.#cursors.get(conversationId) ?? 0)) this.#cursors.set(conversationId, conversation.lastSeq);
  }

  /** The cursor, or 0 for a conversation that appeared after the baseline, or undefined before one. */
  #cursorOrStart(conversationId: string): number | undefined {
    const cursor = this.#cursors.get(conversationId);
    if (cursor !== undefined) return cursor;
    return this.#baselined ? 0 : undefined;
  }

  #advance(message: Message): void {
    this.#cursors.delete(message.conversationId);
    this.#cursors.set(message.conversationId, message.seq);
    this.#deps.deliver(message);
  }
}

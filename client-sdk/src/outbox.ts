import { type BackoffOptions, backoffDelay, Waker } from './backoff.js';
import { ParleyClientError, toClientError } from './errors.js';
import type { OutboxEntry, OutboxStorage } from './outbox-storage.js';
import type { Message } from './protocol.js';

/** What happened to an outbox entry: queued by `send` or resumed from storage, then sent or failed. */
export type OutboxEvent =
  | { readonly type: 'queued'; readonly entry: OutboxEntry }
  | { readonly type: 'sent'; readonly entry: OutboxEntry; readonly message: Message }
  | { readonly type: 'failed'; readonly entry: OutboxEntry; readonly error: ParleyClientError };

export interface OutboxDeps {
  readonly storage: OutboxStorage;
  /** Resolves once a transport (socket or REST fallback) is usable, or the client closed. */
  readonly transportReady: () => Promise<void>;
  /** One attempt to store the entry; throws a ParleyClientError. */
  readonly transmit: (entry: OutboxEntry) => Promise<Message>;
  readonly retry: BackoffOptions;
  readonly onEvent: (event: OutboxEvent) => void;
}

interface Waiter {
  readonly resolve: (message: Message) => void;
  readonly reject: (error: ParleyClientError) => void;
}

const CLOSED = Symbol('closed');

/**
 * Messages on their way to the server. Each entry is persisted before its first attempt and removed only
 * once the server answered for it. Per conversation one entry is in flight at a time, in FIFO order, so
 * seqs follow the order of `send` calls; every retry reuses the entry's clientMsgId, which the server
 * deduplicates, so a message whose ack was lost is stored once.
 */
export class Outbox {
  readonly #deps: OutboxDeps;
  readonly #queues = new Map<string, OutboxEntry[]>();
  readonly #draining = new Set<string>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #waker = new Waker();
  readonly #loaded: Promise<void>;
  #lastOrder = 0;
  #closed = false;

  constructor(deps: OutboxDeps) {
    this.#deps = deps;
    this.#loaded = this.#resume();
  }

  /** Persists and queues a message; resolves with the stored message, rejects on a permanent error. */
  async enqueue(input: { conversationId: string; clientMsgId: string; text: string; meta?: Record<string, unknown> }): Promise<Message> {
    await this.#loaded;
    if (this.#closed) throw closedError();
    if (this.#find(input.clientMsgId)) throw new ParleyClientError('conflict', `clientMsgId ${input.clientMsgId} is already queued`);
    this.#lastOrder = Math.max(this.#lastOrder + 1, Date.now());
    const entry: OutboxEntry = {
      clientMsgId: input.clientMsgId,
      conversationId: input.conversationId,
      text: input.text,
      ...(input.meta === undefined ? {} : { meta: input.meta }),
      createdAt: new Date().toISOString(),
      order: this.#lastOrder,
    };
    await this.#deps.storage.add(entry);
    const settled = new Promise<Message>((resolve, reject) => this.#waiters.set(entry.clientMsgId, { resolve, reject }));
    this.#push(entry);
    return settled;
  }

  /** Entries not yet stored by the server, oldest first. */
  pending(conversationId?: string): OutboxEntry[] {
    const lists = conversationId === undefined ? [...this.#queues.values()] : [this.#queues.get(conversationId) ?? []];
    return lists.flat().sort((a, b) => a.order - b.order);
  }

  /** Resolves once entries found in storage at start-up are queued. */
  get ready(): Promise<void> {
    return this.#loaded;
  }

  /** Cuts retry backoffs short: called when a transport becomes usable again. */
  wake(): void {
    this.#waker.wake();
  }

  /** Stops sending; pending entries stay in storage for the next client, their promises reject `closed`. */
  close(): void {
    this.#closed = true;
    this.#waker.wake();
    for (const waiter of this.#waiters.values()) waiter.reject(closedError());
    this.#waiters.clear();
  }

  async #resume(): Promise<void> {
    const stored = [...(await this.#deps.storage.load())].sort((a, b) => a.order - b.order);
    for (const entry of stored) {
      this.#lastOrder = Math.max(this.#lastOrder, entry.order);
      this.#push(entry);
    }
  }

  #push(entry: OutboxEntry): void {
    const queue = this.#queues.get(entry.conversationId);
    if (queue) queue.push(entry);
    else this.#queues.set(entry.conversationId, [entry]);
    this.#deps.onEvent({ type: 'queued', entry });
    void this.#drain(entry.conversationId);
  }

  async #drain(conversationId: string): Promise<void> {
    if (this.#draining.has(conversationId)) return;
    this.#draining.add(conversationId);
    try {
      for (;;) {
        const queue = this.#queues.get(conversationId);
        const entry = queue?.[0];
        if (!queue || !entry || this.#closed) return;
        const outcome = await this.#deliver(entry);
        if (outcome === CLOSED) return;
        queue.shift();
        if (queue.length === 0) this.#queues.delete(conversationId);
        await Promise.resolve(this.#deps.storage.remove(entry.clientMsgId)).catch(() => undefined);
        this.#settle(entry, outcome);
      }
    } finally {
      this.#draining.delete(conversationId);
    }
  }

  /** Retries one entry until the server answers for it: a message, or a permanent error. */
  async #deliver(entry: OutboxEntry): Promise<Message | ParleyClientError | typeof CLOSED> {
    for (let attempt = 0; ; attempt += 1) {
      await this.#deps.transportReady();
      if (this.#closed) return CLOSED;
      try {
        return await this.#deps.transmit(entry);
      } catch (err) {
        const error = toClientError(err);
        if (error.permanent) return error;
        if (this.#closed) return CLOSED;
        if (error.code === 'rate_limited') {
          // The server's budget resets on its own clock; waking early would only burn another attempt.
          await sleep(error.retryAfterMs ?? backoffDelay(attempt, this.#deps.retry));
        } else {
          await this.#waker.wait(backoffDelay(attempt, this.#deps.retry));
        }
      }
    }
  }

  #settle(entry: OutboxEntry, outcome: Message | ParleyClientError): void {
    const waiter = this.#waiters.get(entry.clientMsgId);
    this.#waiters.delete(entry.clientMsgId);
    if (outcome instanceof ParleyClientError) {
      this.#deps.onEvent({ type: 'failed', entry, error: outcome });
      waiter?.reject(outcome);
      return;
    }
    this.#deps.onEvent({ type: 'sent', entry, message: outcome });
    waiter?.resolve(outcome);
  }

  #find(clientMsgId: string): OutboxEntry | undefined {
    for (const queue of this.#queues.values()) {
      const found = queue.find((e) => e.clientMsgId === clientMsgId);
      if (found) return found;
    }
    return undefined;
  }
}

function closedError(): ParleyClientError {
  return new ParleyClientError('closed', 'the client was closed; the message stays in the outbox storage');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

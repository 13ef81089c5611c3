import type { TypingEvent } from './protocol.js';

export interface TypingOptions {
  /**
   * While the user keeps typing, `start` is sent again at most this often (default 2000 ms). Keep it
   * below the server's TYPING_TTL_MS (default 5 s), after which the server ends a start by itself.
   */
  startIntervalMs?: number;
  /** `stop` is sent after this long without a `typing()` call (default 3000 ms). */
  idleMs?: number;
  /** Another member's `start` with no news for this long counts as stopped (default 6000 ms). */
  remoteTimeoutMs?: number;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Our own typing indicator, per conversation: the first `typing()` sends `start`, more calls re-send it
 * at most every `startIntervalMs` (so the server's expiry never fires while the user types), and
 * `stop` goes after `idleMs` without a call or at `stop()`. Nothing is sent while `send` says the
 * socket is down; the server stops a disconnected socket's indicators itself (`reset`).
 */
export class TypingSender {
  readonly #send: (conversationId: string, state: 'start' | 'stop') => boolean;
  readonly #startIntervalMs: number;
  readonly #idleMs: number;
  /** Per conversation: when `start` was last sent, and the idle timer that will send `stop`. */
  readonly #active = new Map<string, { lastStartAt: number; idle: Timer }>();

  /** `send` emits one typing frame and returns false if it could not (socket down). */
  constructor(send: (conversationId: string, state: 'start' | 'stop') => boolean, options: { startIntervalMs: number; idleMs: number }) {
    this.#send = send;
    this.#startIntervalMs = options.startIntervalMs;
    this.#idleMs = options.idleMs;
  }

  typing(conversationId: string): void {
    const now = Date.now();
    const current = this.#active.get(conversationId);
    if (current) clearTimeout(current.idle);
    let lastStartAt = current?.lastStartAt;
    if (lastStartAt === undefined || now - lastStartAt >= this.#startIntervalMs) {
      if (this.#send(conversationId, 'start')) lastStartAt = now;
    }
    if (lastStartAt === undefined) {
      // Nothing went out, so there is nothing to stop later.
      this.#active.delete(conversationId);
      return;
    }
    const idle = setTimeout(() => this.stop(conversationId), this.#idleMs);
    this.#active.set(conversationId, { lastStartAt, idle });
  }

  /** Sends `stop` if a `start` is standing for this conversation. */
  stop(conversationId: string): void {
    const current = this.#active.get(conversationId);
    if (!current) return;
    clearTimeout(current.idle);
    this.#active.delete(conversationId);
    this.#send(conversationId, 'stop');
  }

  isTyping(conversationId: string): boolean {
    return this.#active.has(conversationId);
  }

  /** Forgets every indicator without sending anything (the socket went away, or the client closed). */
  reset(): void {
    for (const { idle } of this.#active.values()) clearTimeout(idle);
    this.#active.clear();
  }
}

/**
 * Other members' typing, as the server reports it, turned into changes only: `start` when someone
 * starts (repeated starts just keep it alive), `stop` when they stop, send a message, or say nothing for
 * `timeoutMs` (a lost `stop`, a dead connection).
 */
export class TypingTracker {
  readonly #emit: (event: TypingEvent) => void;
  readonly #timeoutMs: number;
  /** `conversationId|userId` → the running expiry timer. */
  readonly #active = new Map<string, { conversationId: string; userId: string; timer: Timer }>();

  constructor(emit: (event: TypingEvent) => void, options: { timeoutMs: number }) {
    this.#emit = emit;
    this.#timeoutMs = options.timeoutMs;
  }

  receive(event: TypingEvent): void {
    const key = `${event.conversationId}|${event.userId}`;
    const current = this.#active.get(key);
    if (event.state === 'stop') {
      if (current) this.#end(key);
      return;
    }
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => this.#end(key), this.#timeoutMs);
    this.#active.set(key, { conversationId: event.conversationId, userId: event.userId, timer });
    if (!current) this.#emit({ conversationId: event.conversationId, userId: event.userId, state: 'start' });
  }

  /** A message from `userId` ends their indicator in that conversation. */
  messageFrom(conversationId: string, userId: string): void {
    const key = `${conversationId}|${userId}`;
    if (this.#active.has(key)) this.#end(key);
  }

  /** Who is typing in a conversation now. */
  typingIn(conversationId: string): string[] {
    return [...this.#active.values()].filter((t) => t.conversationId === conversationId).map((t) => t.userId);
  }

  /** Ends every indicator: with `stop` events (`emit`), or silently. */
  clear(emit: boolean): void {
    for (const key of [...this.#active.keys()]) this.#end(key, emit);
  }

  #end(key: string, emit = true): void {
    const current = this.#active.get(key);
    if (!current) return;
    clearTimeout(current.timer);
    this.#active.delete(key);
    if (emit) this.#emit({ conversationId: current.conversationId, userId: current.userId, state: 'stop' });
  }
}

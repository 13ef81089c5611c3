import { type BackoffOptions, backoffDelay } from './backoff.js';
import { type ParleyClientError, toClientError } from './errors.js';

export interface CursorBatcherOptions {
  /** Moves one cursor on the server; throws a ParleyClientError. */
  readonly send: (conversationId: string, seq: number) => Promise<void>;
  /** Coalescing window (ms) between the first `add` and the flush. */
  readonly delayMs: number;
  readonly retry: BackoffOptions;
  /** A cursor dropped after a permanent error (e.g. removed from the conversation). */
  readonly onError: (error: ParleyClientError) => void;
}

/**
 * Coalesces cursor moves (read or delivered receipts): many `add`s for one conversation within the
 * window become one request with the highest seq. Cursors only move forward on the server, so sending the
 * max is equivalent to sending them all. Failed flushes are retried with backoff; `flushSoon` retries at
 * once (e.g. after a reconnect).
 */
export class CursorBatcher {
  readonly #options: CursorBatcherOptions;
  readonly #pending = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;
  #closed = false;

  constructor(options: CursorBatcherOptions) {
    this.#options = options;
  }

  add(conversationId: string, seq: number): void {
    if (this.#closed || !Number.isInteger(seq) || seq < 1) return;
    const current = this.#pending.get(conversationId) ?? 0;
    if (seq > current) this.#pending.set(conversationId, seq);
    this.#schedule(this.#options.delayMs);
  }

  /** Flushes now if anything is pending (no-op otherwise). */
  flushSoon(): void {
    if (this.#pending.size > 0) this.#schedule(0, true);
  }

  /** Sends everything pending; resolves when this flush is done (failures stay pending). */
  async flush(): Promise<void> {
    if (this.#flushing) await this.#flushing;
    if (this.#pending.size === 0) return;
    this.#clearTimer();
    this.#flushing = this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  close(): void {
    this.#closed = true;
    this.#clearTimer();
    this.#pending.clear();
  }

  async #flushOnce(): Promise<void> {
    const batch = [...this.#pending.entries()];
    this.#pending.clear();
    let retry = false;
    await Promise.all(
      batch.map(async ([conversationId, seq]) => {
        try {
          await this.#options.send(conversationId, seq);
        } catch (err) {
          const error = toClientError(err);
          if (error.permanent) {
            this.#options.onError(error);
            return;
          }
          retry = true;
          const current = this.#pending.get(conversationId) ?? 0;
          if (seq > current) this.#pending.set(conversationId, seq);
        }
      }),
    );
    if (!retry) {
      this.#failures = 0;
      return;
    }
    this.#schedule(backoffDelay(this.#failures, this.#options.retry));
    this.#failures += 1;
  }

  #schedule(ms: number, replace = false): void {
    if (this.#closed) return;
    if (this.#timer !== undefined && !replace) return;
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Exponential backoff with jitter, the shape Socket.IO's own reconnection uses. */
export interface BackoffOptions {
  /** First delay (ms). */
  initialMs: number;
  /** Largest delay (ms). */
  maxMs: number;
  /** 0 … 1: each delay is spread uniformly over ±jitter of its nominal value. */
  jitter: number;
}

/** The delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const nominal = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  const spread = nominal * options.jitter;
  return Math.max(0, Math.round(nominal - spread + Math.random() * 2 * spread));
}

/**
 * Sleeps that can be cut short: `wait(ms)` resolves after `ms` or at the next `wake()`, whichever comes
 * first. Used so that a retry waiting out its backoff goes at once when the connection comes back.
 */
export class Waker {
  readonly #sleepers = new Set<() => void>();

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#sleepers.add(done);
    });
  }

  wake(): void {
    for (const done of [...this.#sleepers]) done();
  }
}

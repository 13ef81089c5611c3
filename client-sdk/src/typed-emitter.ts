/** An event map: event name → listener signature. */
export type EventsOf<E> = { [K in keyof E]: (...args: any[]) => void };

/**
 * A small typed emitter: `on` returns its own unsubscribe function. A listener that throws does not stop
 * the other listeners nor corrupt the emitter's owner; its error is rethrown on a fresh task, where the
 * platform reports it as uncaught.
 *
 * @example
 * class Clock extends TypedEmitter<{ tick: (n: number) => void }> {}
 * const off = new Clock().on('tick', (n) => console.log(n));
 * off();
 */
export class TypedEmitter<E extends EventsOf<E>> {
  readonly #listeners = new Map<keyof E, Set<E[keyof E]>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof E>(event: K, listener: E[K]): () => void {
    const wrapper = ((...args: Parameters<E[K]>) => {
      off();
      listener(...args);
    }) as E[K];
    const off = this.on(event, wrapper);
    return off;
  }

  off<K extends keyof E>(event: K, listener: E[K]): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
}

/**
 * Runs tasks one at a time per key, in the order they were queued; different keys run in parallel.
 * The Mongo driver serialises its read-modify-write steps with it, because FerretDB v1 applies even a
 * conditional update as "read, change, write back", so two racing updates of one document in one
 * process could otherwise both match and the last write would win.
 */
export class KeyedQueue {
  // Mutable on purpose: the tail of each key's queue, replaced as tasks join it.
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    // Forget idle keys, unless another task has queued behind this one meanwhile.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** One message waiting to be stored by the server. */
export interface OutboxEntry {
  /** The idempotency key, reused by every retry of this message. */
  readonly clientMsgId: string;
  readonly conversationId: string;
  readonly text: string;
  readonly meta?: Record<string, unknown>;
  /** When `send` was called (ISO 8601). */
  readonly createdAt: string;
  /** Strictly increasing across the entries of one storage: FIFO order, also after a reload. */
  readonly order: number;
}

/**
 * Where the outbox keeps unsent messages, so that a new client created with the same storage (a page
 * reload, an app restart) resumes them. Methods may be synchronous or return promises.
 */
export interface OutboxStorage {
  load(): readonly OutboxEntry[] | Promise<readonly OutboxEntry[]>;
  add(entry: OutboxEntry): void | Promise<void>;
  remove(clientMsgId: string): void | Promise<void>;
}

/**
 * Keeps the outbox in memory: survives a client's `close()` and a new `createClient` with the same
 * instance, not a process exit. The default.
 *
 * @example
 * const storage = new MemoryOutboxStorage();
 * const first = createClient({ url, getToken, storage });
 * await first.close();
 * const second = createClient({ url, getToken, storage }); // sends what `first` had not
 */
export class MemoryOutboxStorage implements OutboxStorage {
  readonly #entries = new Map<string, OutboxEntry>();

  load(): readonly OutboxEntry[] {
    return [...this.#entries.values()];
  }

  add(entry: OutboxEntry): void {
    this.#entries.set(entry.clientMsgId, entry);
  }

  remove(clientMsgId: string): void {
    this.#entries.delete(clientMsgId);
  }
}

/** The part of the Web Storage API the outbox uses (`localStorage`, `sessionStorage`, or your own). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Keeps the outbox in `localStorage` (one JSON array under `key`), so unsent messages survive a reload.
 * Use one key per signed-in user.
 *
 * @example
 * const storage = new LocalStorageOutboxStorage({ key: `parley.outbox.${userId}` });
 * const client = createClient({ url, getToken: session.getToken, storage });
 */
export class LocalStorageOutboxStorage implements OutboxStorage {
  readonly #key: string;
  readonly #storage: KeyValueStorage;

  constructor(options: { key?: string; storage?: KeyValueStorage } = {}) {
    this.#key = options.key ?? 'parley.outbox';
    const storage = options.storage ?? (globalThis as { localStorage?: KeyValueStorage }).localStorage;
    if (!storage) throw new TypeError('LocalStorageOutboxStorage: no localStorage here; pass options.storage');
    this.#storage = storage;
  }

  load(): readonly OutboxEntry[] {
    return this.#read();
  }

  add(entry: OutboxEntry): void {
    this.#write([...this.#read().filter((e) => e.clientMsgId !== entry.clientMsgId), entry]);
  }

  remove(clientMsgId: string): void {
    this.#write(this.#read().filter((e) => e.clientMsgId !== clientMsgId));
  }

  #read(): OutboxEntry[] {
    const raw = this.#storage.getItem(this.#key);
    if (!raw) return [];
    try {
      const parsed: unknown = JSON.parse(raw);
      return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
    } catch {
      // A corrupt value must not take the app down; it is overwritten by the next write.
      return [];
    }
  }

  #write(entries: readonly OutboxEntry[]): void {
    this.#storage.setItem(this.#key, JSON.stringify(entries));
  }
}

function isEntry(value: unknown): value is OutboxEntry {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e['clientMsgId'] === 'string' && typeof e['conversationId'] === 'string' && typeof e['text'] === 'string' && typeof e['order'] === 'number';
}

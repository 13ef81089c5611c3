import { deepFreeze, NOBODY } from './frozen.js';
import type { MessageRecord } from './store.js';

/** Bytes per chunk: few chunks for a large history, and a mostly deleted one is freed soon enough. */
const CHUNK_BYTES = 4 * 2 ** 20;
/** Each entry: its JSON's length in bytes (UInt32LE), then the JSON. */
const HEADER_BYTES = 4;

interface Chunk {
  readonly bytes: Buffer;
  /** Entries in this chunk that are still some message's current version. */
  live: number;
}

/** A message without its id (the key), as stored: dates as epoch milliseconds. */
type Stored = [
  conversationId: string,
  seq: number,
  senderId: string | null,
  clientMsgId: string,
  text: string,
  meta: Record<string, unknown> | null,
  createdAt: number,
  editedAt: number | null,
  deletedAt: number | null,
  hiddenFor: string[],
];

/**
 * The memory store's messages by id, kept as JSON in Buffers, outside the V8 heap, and decoded on
 * every read. An embedded server holds every message it was ever sent: as objects (a record, its Date,
 * its text) they were most of the heap, which each young-generation collection copied as it arrived
 * and each full collection traced again, ever longer as the history grew (docs/benchmarks.md). Here a
 * message leaves its id and a number on the heap. Each read returns a fresh frozen record, so no caller
 * can change what is stored. An edit writes a new version and a deletion drops the id; a chunk is freed
 * once none of its entries is current.
 */
export class MessageTable {
  /** id → where its current version starts: chunk index × CHUNK_BYTES + offset. */
  private readonly places = new Map<string, number>();
  private readonly chunks: Array<Chunk | undefined> = [];
  /** The chunk being filled and the first free byte in it. */
  private current = -1;
  private tail = CHUNK_BYTES;

  get size(): number {
    return this.places.size;
  }

  /** Buffer bytes held, freed chunks left out. */
  get heldBytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + (chunk?.bytes.length ?? 0), 0);
  }

  get(id: string): MessageRecord | undefined {
    const place = this.places.get(id);
    return place === undefined ? undefined : this.read(id, place);
  }

  /** Stores `message` as the current version of its id. */
  set(message: MessageRecord): void {
    const json = JSON.stringify(encode(message));
    const length = Buffer.byteLength(json);
    const place = this.reserve(HEADER_BYTES + length);
    const chunk = this.chunks[Math.floor(place / CHUNK_BYTES)]!;
    const offset = place % CHUNK_BYTES;
    chunk.bytes.writeUInt32LE(length, offset);
    chunk.bytes.write(json, offset + HEADER_BYTES, length, 'utf8');
    chunk.live += 1;
    const previous = this.places.get(message.id);
    this.places.set(message.id, place);
    if (previous !== undefined) this.release(previous);
  }

  delete(id: string): boolean {
    const place = this.places.get(id);
    if (place === undefined) return false;
    this.places.delete(id);
    this.release(place);
    return true;
  }

  private read(id: string, place: number): MessageRecord {
    const { bytes } = this.chunks[Math.floor(place / CHUNK_BYTES)]!;
    const offset = place % CHUNK_BYTES;
    const start = offset + HEADER_BYTES;
    return decode(id, JSON.parse(bytes.toString('utf8', start, start + bytes.readUInt32LE(offset))) as Stored);
  }

  /** Room for `size` bytes: in the current chunk, a new one, or (larger than a chunk) one of its own. */
  private reserve(size: number): number {
    if (size > CHUNK_BYTES) return this.addChunk(size) * CHUNK_BYTES;
    if (this.tail + size > CHUNK_BYTES) {
      const full = this.current;
      this.current = this.addChunk(CHUNK_BYTES);
      this.tail = 0;
      if (full >= 0 && this.chunks[full]?.live === 0) this.chunks[full] = undefined;
    }
    const place = this.current * CHUNK_BYTES + this.tail;
    this.tail += size;
    return place;
  }

  private addChunk(size: number): number {
    // Not from Node's shared pool, and not zeroed: only bytes written here are ever read.
    this.chunks.push({ bytes: Buffer.allocUnsafeSlow(size), live: 0 });
    return this.chunks.length - 1;
  }

  private release(place: number): void {
    const index = Math.floor(place / CHUNK_BYTES);
    const chunk = this.chunks[index]!;
    chunk.live -= 1;
    if (chunk.live === 0 && index !== this.current) this.chunks[index] = undefined;
  }
}

function encode(m: MessageRecord): Stored {
  return [m.conversationId, m.seq, m.senderId, m.clientMsgId, m.text, m.meta as Record<string, unknown> | null, m.createdAt.getTime(), m.editedAt?.getTime() ?? null, m.deletedAt?.getTime() ?? null, [...m.hiddenFor]];
}

function decode(id: string, [conversationId, seq, senderId, clientMsgId, text, meta, createdAt, editedAt, deletedAt, hiddenFor]: Stored): MessageRecord {
  return Object.freeze({
    id,
    conversationId,
    seq,
    senderId,
    clientMsgId,
    text,
    meta: meta === null ? null : deepFreeze(meta),
    createdAt: new Date(createdAt),
    editedAt: editedAt === null ? null : new Date(editedAt),
    deletedAt: deletedAt === null ? null : new Date(deletedAt),
    hiddenFor: hiddenFor.length === 0 ? NOBODY : Object.freeze(hiddenFor),
  });
}

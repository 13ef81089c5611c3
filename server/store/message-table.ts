import { randomBytes } from 'node:crypto';
import { deepFreeze, freeze, NOBODY } from './frozen.js';
import { offHeap } from './off-heap.js';
import { SlotIndex } from './slot-index.js';
import type { MessageDraft, MessageRecord } from './store.js';

/** Bytes per chunk of message JSON: few chunks for a large history, and a drained one is freed soon enough. */
const CHUNK_BYTES = 4 * 2 ** 20;
/** Each entry: its JSON's length in bytes (UInt32LE), then the JSON. */
const HEADER_BYTES = 4;
/** Messages per page of the per-message columns (a power of two; see Page). */
const PAGE_SHIFT = 12;
const PAGE_SLOTS = 1 << PAGE_SHIFT;
/** The first size of a conversation's timeline. */
const FIRST_TIMELINE_SIZE = 8;
const NO_SENDER = -1;

interface Chunk {
  readonly bytes: Buffer;
  /** Entries in this chunk that are still some message's current version. */
  live: number;
}

/**
 * What the table knows of PAGE_SLOTS consecutive messages (slots), without decoding them: typed arrays,
 * so their contents live outside the V8 heap. A page is freed once none of its messages is left.
 */
interface Page {
  /** Where the message's current version starts (chunk index × CHUNK_BYTES + offset); -1 once deleted. */
  readonly place: Float64Array;
  readonly createdAt: Float64Array;
  /** The Unix seconds in the message's id. */
  readonly idSeconds: Uint32Array;
  /** The sender's number in `senderNumbers`, or NO_SENDER. */
  readonly sender: Int32Array;
  /** The hash of (conversation, sender, clientMsgId): the message's key in the clientMsgId table. */
  readonly key: Uint32Array;
  /** 1 while the message's follow-up work is not yet marked done. */
  readonly pending: Uint8Array;
  live: number;
}

/** A conversation's messages in seq order: seq n is the slot at index n - 1. */
interface Timeline {
  slots: Uint32Array;
  length: number;
  /** Every index before this one is a deleted message (where retention's next pass starts). */
  start: number;
}

/** A message as stored, without its id: dates as epoch milliseconds. */
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
 * The memory store's messages, with everything it looks them up by, kept off the V8 heap. An embedded
 * server holds every message it was ever sent. Kept as objects (a record, its Date, its text) they were
 * most of the heap; kept as JSON with their indexes in Maps (ids, clientMsgIds, the timelines' id
 * strings, the set of pending follow-ups) they still left ≈ 400 bytes per message for each young-
 * generation collection to copy twice, and for full collections, ever longer, to trace
 * (docs/benchmarks.md). Here the JSON is in Buffers and every index is a typed array:
 *
 * - each message gets the next slot number, and its id carries it (an ObjectId layout: 4 bytes of Unix
 *   seconds, 3 bytes drawn per table, 5 bytes of slot), so finding a message by id is arithmetic, checked
 *   by rebuilding the id;
 * - a timeline lists a conversation's slots in seq order;
 * - clientMsgIds are found through an open-addressing hash table of slots (SlotIndex, which grows a
 *   few cells per add rather than all at once), keyed by a 32-bit hash, and confirmed by decoding the
 *   (rare) message whose key matches.
 *
 * Each read decodes a fresh frozen record, so no caller can change what is stored. An edit writes a new
 * version; a chunk of JSON or a page of columns is freed once none of its messages is current.
 */
export class MessageTable {
  private readonly chunks: Array<Chunk | undefined> = [];
  /** The chunk being filled and the first free byte in it. */
  private current = -1;
  private tail = CHUNK_BYTES;
  private readonly pages: Array<Page | undefined> = [];
  /** Slots handed out so far: the next message's slot. */
  private slots = 0;
  private live = 0;
  /** Senders by number, so the columns can say whose a message is. */
  private readonly senderNumbers = new Map<string, number>();
  private readonly timelines = new Map<string, Timeline>();
  private readonly keys = new SlotIndex((slot) => this.column(slot).key[slot & (PAGE_SLOTS - 1)]!);
  /** No pending follow-up before this slot. */
  private firstPending = 0;
  /** The table's part of every id, drawn once (as an ObjectId's per-process random bytes). */
  private readonly tag = randomBytes(3).toString('hex');

  get size(): number {
    return this.live;
  }

  /** Buffer bytes held for the JSON, freed chunks left out. */
  get heldBytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + (chunk?.bytes.length ?? 0), 0);
  }

  /** Pages of columns held, freed ones left out. */
  get heldPages(): number {
    return this.pages.filter((page) => page !== undefined).length;
  }

  /** Starts a conversation's (empty) timeline; a no-op if it has one. */
  open(conversationId: string): void {
    if (!this.timelines.has(conversationId)) this.timelines.set(conversationId, { slots: new Uint32Array(FIRST_TIMELINE_SIZE), length: 0, start: 0 });
  }

  has(conversationId: string): boolean {
    return this.timelines.has(conversationId);
  }

  /** The conversation's highest seq so far (deleted messages count); 0 for one it does not know. */
  length(conversationId: string): number {
    return this.timelines.get(conversationId)?.length ?? 0;
  }

  /** The message with seq `index + 1`, unless it was deleted. */
  at(conversationId: string, index: number): MessageRecord | undefined {
    const timeline = this.timelines.get(conversationId);
    if (!timeline || index < 0 || index >= timeline.length) return undefined;
    const slot = timeline.slots[index]!;
    return this.isLive(slot) ? this.read(slot) : undefined;
  }

  get(id: string): MessageRecord | undefined {
    const slot = this.slotOf(id);
    return slot < 0 ? undefined : this.read(slot);
  }

  /** The message `senderId` sent to the conversation with this clientMsgId, if it is stored. */
  findSent(conversationId: string, senderId: string, clientMsgId: string): MessageRecord | undefined {
    let found: MessageRecord | undefined;
    this.keys.find(keyOf(conversationId, senderId, clientMsgId), (slot) => {
      const m = this.read(slot);
      if (m.conversationId !== conversationId || m.senderId !== senderId || m.clientMsgId !== clientMsgId) return false;
      found = m;
      return true;
    });
    return found;
  }

  /**
   * Stores a new message as the conversation's next seq, pending its follow-up work. The caller checks
   * first that it is not a duplicate (findSent).
   */
  append(conversationId: string, draft: MessageDraft): MessageRecord {
    const timeline = this.timelines.get(conversationId);
    if (!timeline) throw new Error(`no timeline for conversation ${conversationId}`);
    const slot = this.slots;
    const seconds = Math.floor(Date.now() / 1000);
    // Field by field rather than freeze(copy(…)) of a spread: only meta and the date are the caller's.
    const message: MessageRecord = Object.freeze({
      id: this.idOf(slot, seconds),
      conversationId,
      seq: timeline.length + 1,
      senderId: draft.senderId,
      clientMsgId: draft.clientMsgId,
      text: draft.text,
      meta: draft.meta === null ? null : freeze(draft.meta),
      createdAt: new Date(draft.createdAt.getTime()),
      editedAt: null,
      deletedAt: null,
      hiddenFor: NOBODY,
    });
    // Written before the slot is taken: should encoding throw, the table is as it was.
    const place = this.write(message);
    this.slots += 1;
    const index = slot & (PAGE_SLOTS - 1);
    if (index === 0) {
      // The page before stayed allocated while it could still get slots; now that it cannot, it goes if empty.
      if (this.pages.at(-1)?.live === 0) this.pages[this.pages.length - 1] = undefined;
      this.pages.push(newPage());
    }
    const page = this.pages[slot >>> PAGE_SHIFT]!;
    page.place[index] = place;
    page.createdAt[index] = message.createdAt.getTime();
    page.idSeconds[index] = seconds;
    page.sender[index] = this.senderNumber(draft.senderId);
    page.key[index] = keyOf(conversationId, draft.senderId, draft.clientMsgId);
    page.pending[index] = 1;
    page.live += 1;
    this.live += 1;
    this.keys.add(slot);
    if (timeline.length === timeline.slots.length) {
      const grown = new Uint32Array(timeline.slots.length * 2);
      grown.set(timeline.slots);
      timeline.slots = grown;
    }
    timeline.slots[timeline.length++] = slot;
    return message;
  }

  /**
   * Stores `message` as the new version of a message already in the table (an edit, a deletion, a
   * hide, or its sender anonymised); false if there is none with its id.
   */
  replace(message: MessageRecord): boolean {
    const slot = this.slotOf(message.id);
    if (slot < 0) return false;
    const page = this.column(slot);
    const index = slot & (PAGE_SLOTS - 1);
    const previous = page.place[index]!;
    page.place[index] = this.write(message);
    this.release(previous);
    if (message.senderId === null && page.sender[index] !== NO_SENDER) {
      // An anonymised message is no sender's any more: its clientMsgId leaves the index.
      this.keys.remove(slot);
      page.sender[index] = NO_SENDER;
    }
    return true;
  }

  /** The ids of every stored message `senderId` sent. */
  sentBy(senderId: string): string[] {
    const sender = this.senderNumbers.get(senderId);
    const ids: string[] = [];
    if (sender === undefined) return ids;
    for (let slot = 0; slot < this.slots; slot++) {
      const page = this.pages[slot >>> PAGE_SHIFT];
      const index = slot & (PAGE_SLOTS - 1);
      if (page && page.sender[index] === sender && page.place[index]! >= 0) ids.push(this.idOf(slot, page.idSeconds[index]!));
    }
    return ids;
  }

  /**
   * Deletes up to `limit` of the conversation's messages created before `cutoff`, never the one with
   * seq `keepSeq` or later; returns how many.
   */
  deleteBefore(conversationId: string, cutoff: number, keepSeq: number, limit: number): number {
    const timeline = this.timelines.get(conversationId);
    if (!timeline) return 0;
    let deleted = 0;
    for (let i = timeline.start; i < timeline.length && i + 1 < keepSeq && deleted < limit; i++) {
      const slot = timeline.slots[i]!;
      if (!this.isLive(slot)) continue;
      // The times are in the columns so that messages which stay need not be decoded.
      if (this.column(slot).createdAt[slot & (PAGE_SLOTS - 1)]! >= cutoff) continue;
      this.delete(slot);
      deleted += 1;
    }
    while (timeline.start < timeline.length && !this.isLive(timeline.slots[timeline.start]!)) timeline.start += 1;
    return deleted;
  }

  /** Messages whose follow-up work is not marked done, created before `olderThan`, oldest first. */
  pendingBefore(olderThan: number, limit: number): MessageRecord[] {
    while (this.firstPending < this.slots && !this.isPending(this.firstPending)) this.firstPending += 1;
    const found: Array<{ slot: number; createdAt: number }> = [];
    for (let slot = this.firstPending; slot < this.slots; slot++) {
      if (!this.isPending(slot)) continue;
      const createdAt = this.column(slot).createdAt[slot & (PAGE_SLOTS - 1)]!;
      if (createdAt < olderThan) found.push({ slot, createdAt });
    }
    return found
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, limit)
      .map(({ slot }) => this.read(slot));
  }

  markDone(ids: readonly string[]): void {
    for (const id of ids) {
      const slot = this.slotOf(id);
      if (slot >= 0) this.column(slot).pending[slot & (PAGE_SLOTS - 1)] = 0;
    }
  }

  private idOf(slot: number, seconds: number): string {
    return seconds.toString(16).padStart(8, '0') + this.tag + slot.toString(16).padStart(10, '0');
  }

  /** The slot of a stored message's id, or -1 (no such id, or deleted). */
  private slotOf(id: string): number {
    if (id.length !== 24 || !id.startsWith(this.tag, 8)) return -1;
    const slot = Number.parseInt(id.slice(14), 16);
    if (!(slot < this.slots) || !this.isLive(slot)) return -1;
    // parseInt stops at the first non-hex character, so only the id rebuilt from the slot proves it.
    return this.idOf(slot, this.column(slot).idSeconds[slot & (PAGE_SLOTS - 1)]!) === id ? slot : -1;
  }

  private column(slot: number): Page {
    return this.pages[slot >>> PAGE_SHIFT]!;
  }

  private isLive(slot: number): boolean {
    const page = this.pages[slot >>> PAGE_SHIFT];
    return page !== undefined && page.place[slot & (PAGE_SLOTS - 1)]! >= 0;
  }

  private isPending(slot: number): boolean {
    const page = this.pages[slot >>> PAGE_SHIFT];
    return page !== undefined && page.pending[slot & (PAGE_SLOTS - 1)] === 1;
  }

  private senderNumber(senderId: string): number {
    let n = this.senderNumbers.get(senderId);
    if (n === undefined) this.senderNumbers.set(senderId, (n = this.senderNumbers.size));
    return n;
  }

  private delete(slot: number): void {
    const p = slot >>> PAGE_SHIFT;
    const page = this.pages[p]!;
    const index = slot & (PAGE_SLOTS - 1);
    if (page.sender[index] !== NO_SENDER) this.keys.remove(slot);
    this.release(page.place[index]!);
    page.place[index] = -1;
    page.pending[index] = 0;
    page.live -= 1;
    this.live -= 1;
    // The last page may still get new slots; any other is done with once it is empty.
    if (page.live === 0 && p !== this.pages.length - 1) this.pages[p] = undefined;
  }

  private read(slot: number): MessageRecord {
    const page = this.column(slot);
    const index = slot & (PAGE_SLOTS - 1);
    const place = page.place[index]!;
    const { bytes } = this.chunks[Math.floor(place / CHUNK_BYTES)]!;
    const offset = place % CHUNK_BYTES;
    const start = offset + HEADER_BYTES;
    const stored = JSON.parse(bytes.toString('utf8', start, start + bytes.readUInt32LE(offset))) as Stored;
    return decode(this.idOf(slot, page.idSeconds[index]!), stored);
  }

  /** Writes a version of a message; returns its place. */
  private write(message: MessageRecord): number {
    const json = JSON.stringify(encode(message));
    const length = Buffer.byteLength(json);
    const place = this.reserve(HEADER_BYTES + length);
    const chunk = this.chunks[Math.floor(place / CHUNK_BYTES)]!;
    const offset = place % CHUNK_BYTES;
    chunk.bytes.writeUInt32LE(length, offset);
    chunk.bytes.write(json, offset + HEADER_BYTES, length, 'utf8');
    chunk.live += 1;
    return place;
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
    this.chunks.push({ bytes: Buffer.from(offHeap(size)), live: 0 });
    return this.chunks.length - 1;
  }

  private release(place: number): void {
    const index = Math.floor(place / CHUNK_BYTES);
    const chunk = this.chunks[index]!;
    chunk.live -= 1;
    if (chunk.live === 0 && index !== this.current) this.chunks[index] = undefined;
  }
}

/** One of a page's columns: PAGE_SLOTS elements of `Type`, zeroed, off the heap. */
function pageColumn<T>(Type: { new (buffer: SharedArrayBuffer): T; readonly BYTES_PER_ELEMENT: number }): T {
  return new Type(offHeap(PAGE_SLOTS * Type.BYTES_PER_ELEMENT));
}

function newPage(): Page {
  return {
    place: pageColumn(Float64Array),
    createdAt: pageColumn(Float64Array),
    idSeconds: pageColumn(Uint32Array),
    sender: pageColumn(Int32Array),
    key: pageColumn(Uint32Array),
    pending: pageColumn(Uint8Array),
    live: 0,
  };
}

/** FNV-1a over the three parts, each ended by a code unit no id contains, as an unsigned 32-bit number. */
function keyOf(conversationId: string, senderId: string, clientMsgId: string): number {
  return hashPart(hashPart(hashPart(0x811c9dc5, conversationId), senderId), clientMsgId) >>> 0;
}

function hashPart(h: number, part: string): number {
  for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0xffff, 0x01000193);
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

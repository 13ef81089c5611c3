import { offHeap } from './off-heap.js';

/** A cell is 0 when empty, REMOVED once its entry left, and otherwise its slot + 1. */
const EMPTY = 0;
const REMOVED = -1;
/** The first table's cells (a power of two, as every table's). */
const FIRST_SIZE = 1024;

/**
 * The message table's clientMsgId index: a set of slots found by a 32-bit key, in an open-addressing
 * table off the V8 heap. The keys themselves stay in the table's columns (`keyOf`).
 *
 * It grows without a pause. Once half its cells are used, new entries go to a table sized at four
 * times the entries, and every later add moves the next few cells of the old table across, enough
 * that the move is done before the new table is half full. Until then a lookup probes both tables.
 * Rebuilt in one go, a table of half a million entries held the event loop for 120 ms (docs/benchmarks.md).
 *
 * @example
 * const index = new SlotIndex((slot) => keys[slot]);
 * index.add(slot);
 * const found = index.find(key, (slot) => isTheOne(slot)); // -1 if none
 */
export class SlotIndex {
  private cells: Int32Array = table(FIRST_SIZE);
  /** Cells of `cells` that are not empty (entries and removed ones). */
  private used = 0;
  private entries = 0;
  /** The table before the last growth, while its entries are being moved into `cells`. */
  private moving: Int32Array | undefined;
  /** Cells of `moving` already moved (each left REMOVED, so probes through it still find the rest). */
  private moved = 0;
  /** Cells of `moving` to move per add. */
  private step = 0;

  constructor(private readonly keyOf: (slot: number) => number) {}

  get size(): number {
    return this.entries;
  }

  /** Whether an old table's entries are still being moved across (a growth is under way). */
  get growing(): boolean {
    return this.moving !== undefined;
  }

  add(slot: number): void {
    if (this.moving) this.moveSome(this.step);
    if ((this.used + 1) * 2 > this.cells.length) this.grow();
    this.put(slot);
    this.entries += 1;
  }

  /** The first slot with this key that `matches` accepts, or -1. */
  find(key: number, matches: (slot: number) => boolean): number {
    const found = this.probe(this.cells, key, matches);
    return found >= 0 || !this.moving ? found : this.probe(this.moving, key, matches);
  }

  /** Takes `slot` out of the index; a no-op if it is not in it. */
  remove(slot: number): void {
    if (this.removeFrom(this.cells, slot) || (this.moving && this.removeFrom(this.moving, slot))) this.entries -= 1;
  }

  private grow(): void {
    // Only after many removals can the new table fill up before the old one is moved: finish it first.
    if (this.moving) this.moveSome(this.moving.length);
    let size = FIRST_SIZE;
    while (size < (this.entries + 1) * 4) size *= 2;
    this.moving = this.cells;
    this.moved = 0;
    // The new table reaches half full no sooner than entries + 2 adds from now: the move ends by then.
    this.step = Math.ceil(this.moving.length / (this.entries + 1)) + 1;
    this.cells = table(size);
    this.used = 0;
  }

  private moveSome(count: number): void {
    const old = this.moving!;
    const end = Math.min(old.length, this.moved + count);
    for (let cell = this.moved; cell < end; cell++) {
      if (old[cell]! > 0) this.put(old[cell]! - 1);
      if (old[cell] !== EMPTY) old[cell] = REMOVED;
    }
    this.moved = end;
    if (end === old.length) this.moving = undefined;
  }

  private put(slot: number): void {
    const mask = this.cells.length - 1;
    let cell = this.keyOf(slot) & mask;
    while (this.cells[cell] !== EMPTY) cell = (cell + 1) & mask;
    this.cells[cell] = slot + 1;
    this.used += 1;
  }

  private probe(cells: Int32Array, key: number, matches: (slot: number) => boolean): number {
    const mask = cells.length - 1;
    for (let cell = key & mask; cells[cell] !== EMPTY; cell = (cell + 1) & mask) {
      const slot = cells[cell]! - 1;
      if (slot >= 0 && this.keyOf(slot) === key && matches(slot)) return slot;
    }
    return -1;
  }

  private removeFrom(cells: Int32Array, slot: number): boolean {
    const mask = cells.length - 1;
    for (let cell = this.keyOf(slot) & mask; cells[cell] !== EMPTY; cell = (cell + 1) & mask) {
      if (cells[cell] === slot + 1) {
        cells[cell] = REMOVED;
        return true;
      }
    }
    return false;
  }
}

function table(size: number): Int32Array {
  return new Int32Array(offHeap(size * Int32Array.BYTES_PER_ELEMENT));
}

import { expect } from 'chai';
import { SlotIndex } from '../../server/store/slot-index.js';

/** A spread of 32-bit keys, as the message table's hashes are (a multiplicative hash of the slot). */
const spread = (slot: number) => Math.imul(slot + 1, 0x9e3779b1) >>> 0;

/** An index over `keyOf`, and how many times the index has asked for a key so far. */
function counted(keyOf: (slot: number) => number): { index: SlotIndex; calls: () => number } {
  let calls = 0;
  const index = new SlotIndex((slot) => {
    calls += 1;
    return keyOf(slot);
  });
  return { index, calls: () => calls };
}

const has = (index: SlotIndex, keyOf: (slot: number) => number, slot: number) => index.find(keyOf(slot), (s) => s === slot) === slot;

describe('SlotIndex (the message table’s clientMsgId index)', () => {
  it('finds every slot added, before, during and after each growth', () => {
    const index = new SlotIndex(spread);
    let sawGrowth = false;
    for (let slot = 0; slot < 20_000; slot++) {
      index.add(slot);
      sawGrowth ||= index.growing;
      if (slot % 997 === 0) for (let s = 0; s <= slot; s += 13) expect(has(index, spread, s), `slot ${s} after adding ${slot}`).to.equal(true);
    }
    expect(sawGrowth).to.equal(true);
    for (let slot = 0; slot < 20_000; slot++) expect(has(index, spread, slot)).to.equal(true);
    expect(index.size).to.equal(20_000);
    expect(index.find(spread(20_000), () => true)).to.equal(-1);
  });

  it('never moves more than a few entries in one add, however large it grows', () => {
    const { index, calls } = counted(spread);
    let most = 0;
    for (let slot = 0; slot < 300_000; slot++) {
      const before = calls();
      index.add(slot);
      most = Math.max(most, calls() - before);
    }
    // One key for the new slot, and a few for the cells moved with it. Rebuilt in one go, the add that
    // crossed 131,072 entries asked for every one of them.
    expect(most).to.be.at.most(8);
  });

  it('removes slots whether they are still in the old table or already moved', () => {
    const index = new SlotIndex(spread);
    let slot = 0;
    while (!index.growing) index.add(slot++);
    const grownAt = slot;
    // The first slots are still in the old table; the last one went to the new table.
    const removed = [0, 1, 2, grownAt - 1];
    for (const s of removed) index.remove(s);
    index.remove(grownAt + 10); // never added: a no-op
    expect(index.size).to.equal(grownAt - removed.length);
    while (index.growing) index.add(slot++);
    for (let s = 0; s < slot; s++) expect(has(index, spread, s), `slot ${s}`).to.equal(!removed.includes(s));
  });

  it('tells apart slots whose keys collide, by the caller’s check', () => {
    const sameKey = () => 42;
    const index = new SlotIndex(sameKey);
    for (let slot = 0; slot < 3000; slot++) index.add(slot);
    expect(index.find(42, (s) => s === 2500)).to.equal(2500);
    expect(index.find(42, (s) => s === 3000)).to.equal(-1);
    expect(index.find(7, () => true)).to.equal(-1);
  });

  it('keeps every entry through growth after most were removed', () => {
    const index = new SlotIndex(spread);
    for (let slot = 0; slot < 10_000; slot++) index.add(slot);
    for (let slot = 0; slot < 9_900; slot++) index.remove(slot);
    for (let slot = 10_000; slot < 40_000; slot++) index.add(slot);
    expect(index.size).to.equal(30_100);
    for (let slot = 0; slot < 40_000; slot++) expect(has(index, spread, slot), `slot ${slot}`).to.equal(slot >= 9_900);
  });
});

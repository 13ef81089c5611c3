import { expect } from 'chai';
import { MessageTable } from '../../server/store/message-table.js';
import type { MessageRecord } from '../../server/store/index.js';

const MiB = 2 ** 20;

function message(n: number, patch: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id: `m${String(n).padStart(23, '0')}`,
    conversationId: 'c'.repeat(24),
    seq: n,
    senderId: 's'.repeat(24),
    clientMsgId: `client-${n}`,
    text: `message ${n}`,
    meta: null,
    createdAt: new Date(1_700_000_000_000 + n),
    editedAt: null,
    deletedAt: null,
    hiddenFor: [],
    ...patch,
  };
}

describe('the memory store\'s message table', () => {
  it('gives back every field as stored, in a frozen record of its own', () => {
    const table = new MessageTable();
    const stored = message(1, { text: 'héllo 👋 "quoted" \ud800 lone', meta: { tags: ['a', { b: 1 }], n: null }, editedAt: new Date(5), deletedAt: new Date(6), hiddenFor: ['u1', 'u2'], senderId: null });
    table.set(stored);
    const read = table.get(stored.id)!;
    expect(read).to.deep.equal(stored);
    expect(read).to.not.equal(table.get(stored.id));
    expect(Object.isFrozen(read) && Object.isFrozen(read.meta) && Object.isFrozen((read.meta as { tags: unknown[] }).tags) && Object.isFrozen(read.hiddenFor)).to.equal(true);
    expect(table.get('missing')).to.equal(undefined);
  });

  it('keeps only the newest version of an id, and forgets deleted ids', () => {
    const table = new MessageTable();
    table.set(message(1));
    table.set(message(1, { text: 'edited', editedAt: new Date(9) }));
    table.set(message(2));
    expect(table.size).to.equal(2);
    expect(table.get(message(1).id)!.text).to.equal('edited');
    expect(table.delete(message(2).id)).to.equal(true);
    expect(table.delete(message(2).id)).to.equal(false);
    expect(table.get(message(2).id)).to.equal(undefined);
  });

  it('frees a chunk once none of its entries is current, and stores an entry larger than a chunk', () => {
    const table = new MessageTable();
    const text = 'x'.repeat(1000);
    const count = 10_000; // ≈ 1.14 kB each: 3,679 to a 4 MiB chunk, so three chunks
    for (let n = 1; n <= count; n++) table.set(message(n, { text }));
    expect(table.heldBytes).to.equal(3 * 4 * MiB);
    for (let n = 1; n <= 4000; n++) table.delete(message(n).id);
    expect(table.heldBytes, 'the first chunk held only deleted entries').to.equal(2 * 4 * MiB);
    const huge = message(count + 1, { text: 'y'.repeat(5 * MiB) });
    table.set(huge);
    expect(table.get(huge.id)!.text).to.have.length(5 * MiB);
    expect(table.get(message(count).id)!.text).to.equal(text);
    table.delete(huge.id);
    expect(table.heldBytes).to.equal(2 * 4 * MiB);
  });
});

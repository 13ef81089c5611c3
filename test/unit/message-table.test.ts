import { expect } from 'chai';
import { MessageTable } from '../../server/store/message-table.js';
import type { MessageDraft, MessageRecord } from '../../server/store/index.js';
import { ID_PATTERN } from '../../server/store/ids.js';

const MiB = 2 ** 20;
const CONVERSATION = 'c'.repeat(24);
const SENDER = 's'.repeat(24);

function draft(n: number, patch: Partial<MessageDraft> = {}): MessageDraft {
  return { senderId: SENDER, clientMsgId: `client-${n}`, text: `message ${n}`, meta: null, createdAt: new Date(1_700_000_000_000 + n), ...patch };
}

/** A table with one conversation and `count` messages in it (seq n created at base + n ms). */
function filled(count: number, patch: Partial<MessageDraft> = {}): { table: MessageTable; sent: MessageRecord[] } {
  const table = new MessageTable();
  table.open(CONVERSATION);
  const sent: MessageRecord[] = [];
  for (let n = 1; n <= count; n++) sent.push(table.append(CONVERSATION, draft(n, patch)));
  return { table, sent };
}

describe('the memory store\'s message table', () => {
  it('gives back every field as stored, in a frozen record of its own', () => {
    const { table, sent } = filled(1);
    const edited: MessageRecord = { ...sent[0]!, text: 'héllo 👋 "quoted" \ud800 lone', meta: { tags: ['a', { b: 1 }], n: null }, editedAt: new Date(5), deletedAt: new Date(6), hiddenFor: ['u1', 'u2'] };
    expect(table.replace(edited)).to.equal(true);
    const read = table.get(edited.id)!;
    expect(read).to.deep.equal(edited);
    expect(read).to.not.equal(table.get(edited.id));
    expect(Object.isFrozen(read) && Object.isFrozen(read.meta) && Object.isFrozen((read.meta as { tags: unknown[] }).tags) && Object.isFrozen(read.hiddenFor)).to.equal(true);
    expect(table.at(CONVERSATION, 0)).to.deep.equal(edited);
  });

  it('gives each message an ObjectId-shaped id of its own, found only when it is exactly that id', () => {
    const { table, sent } = filled(3);
    const ids = sent.map((m) => m.id);
    for (const id of ids) expect(id).to.match(ID_PATTERN);
    expect(new Set(ids).size).to.equal(3);
    expect([...ids].sort()).to.deep.equal(ids);
    expect(sent.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
    const id = ids[1]!;
    // Number.parseInt would read these as the same slot; the table must not.
    expect(table.get(`${id.slice(0, 23)}z`)).to.equal(undefined);
    expect(table.get(`${id.slice(0, 22)}g${id[23]}`)).to.equal(undefined);
    expect(table.get(`${(Number.parseInt(id.slice(0, 8), 16) + 1).toString(16)}${id.slice(8)}`), 'other seconds').to.equal(undefined);
    expect(table.get(id.toUpperCase())).to.equal(undefined);
    expect(table.get('missing')).to.equal(undefined);
    expect(filled(3).table.get(id), 'another table').to.equal(undefined);
    expect(table.replace({ ...sent[0]!, id: `${id.slice(0, 23)}z` })).to.equal(false);
  });

  it('leaves the table as it was when a message cannot be encoded', () => {
    const { table, sent } = filled(2);
    expect(() => table.append(CONVERSATION, draft(3, { meta: { n: 1n } }))).to.throw(TypeError);
    expect(table.size).to.equal(2);
    expect(table.length(CONVERSATION)).to.equal(2);
    expect(table.findSent(CONVERSATION, SENDER, 'client-3')).to.equal(undefined);
    expect(table.sentBy(SENDER)).to.deep.equal(sent.map((m) => m.id));
    const next = table.append(CONVERSATION, draft(3));
    expect(next.seq).to.equal(3);
    expect(table.get(next.id)).to.deep.equal(next);
    expect(table.pendingBefore(Number.POSITIVE_INFINITY, 10).map((m) => m.seq)).to.deep.equal([1, 2, 3]);
  });

  it('finds a message by conversation, sender and clientMsgId, through any number of rehashes', () => {
    const count = 5000;
    const { table, sent } = filled(count);
    for (const n of [1, 2, 511, 512, 513, 2048, count]) expect(table.findSent(CONVERSATION, SENDER, `client-${n}`)?.id).to.equal(sent[n - 1]!.id);
    expect(table.findSent(CONVERSATION, SENDER, `client-${count + 1}`)).to.equal(undefined);
    expect(table.findSent(CONVERSATION, 't'.repeat(24), 'client-1'), 'another sender').to.equal(undefined);
    table.open('d'.repeat(24));
    expect(table.findSent('d'.repeat(24), SENDER, 'client-1'), 'another conversation').to.equal(undefined);
    expect(table.findSent(`${CONVERSATION}${SENDER}`, '', 'client-1'), 'the parts are kept apart').to.equal(undefined);
  });

  it('lists and anonymises a sender\'s messages: they leave the clientMsgId index', () => {
    const { table, sent } = filled(3);
    const other = table.append(CONVERSATION, draft(4, { senderId: 'o'.repeat(24) }));
    expect(table.sentBy(SENDER)).to.deep.equal(sent.map((m) => m.id));
    expect(table.sentBy('nobody')).to.deep.equal([]);
    for (const m of sent) table.replace({ ...m, senderId: null });
    expect(table.sentBy(SENDER)).to.deep.equal([]);
    expect(table.get(sent[0]!.id)!.senderId).to.equal(null);
    expect(table.findSent(CONVERSATION, SENDER, 'client-1')).to.equal(undefined);
    expect(table.findSent(CONVERSATION, 'o'.repeat(24), 'client-4')?.id).to.equal(other.id);
  });

  it('deletes before a time, up to a limit, never the newest messages, and forgets what it deleted', () => {
    const { table, sent } = filled(10);
    // Messages 1–10 were created at base + n ms: before base + 8 are 1–7; seq 6 onwards is kept.
    expect(table.deleteBefore(CONVERSATION, 1_700_000_000_008, 6, 3)).to.equal(3);
    expect(table.deleteBefore(CONVERSATION, 1_700_000_000_008, 6, 100)).to.equal(2);
    expect(table.deleteBefore(CONVERSATION, 1_700_000_000_008, 6, 100)).to.equal(0);
    expect(table.size).to.equal(5);
    expect(table.length(CONVERSATION)).to.equal(10);
    for (let i = 0; i < 5; i++) expect(table.at(CONVERSATION, i)).to.equal(undefined);
    expect(table.at(CONVERSATION, 5)!.seq).to.equal(6);
    expect(table.get(sent[0]!.id)).to.equal(undefined);
    expect(table.findSent(CONVERSATION, SENDER, 'client-1')).to.equal(undefined);
    expect(table.replace({ ...sent[0]!, text: 'back' }), 'a deleted message cannot be edited back').to.equal(false);
  });

  it('lists messages with follow-up work pending, oldest first, until marked done or deleted', () => {
    const table = new MessageTable();
    table.open(CONVERSATION);
    // Created out of slot order: 3 is the oldest.
    const [a, b, c, d] = [30, 20, 10, 40].map((ms, i) => table.append(CONVERSATION, draft(i + 1, { createdAt: new Date(ms) })));
    expect(table.pendingBefore(35, 10).map((m) => m.id)).to.deep.equal([c!.id, b!.id, a!.id]);
    expect(table.pendingBefore(35, 2).map((m) => m.id)).to.deep.equal([c!.id, b!.id]);
    table.markDone([c!.id, 'missing']);
    expect(table.pendingBefore(100, 10).map((m) => m.id)).to.deep.equal([b!.id, a!.id, d!.id]);
    expect(table.deleteBefore(CONVERSATION, 25, 4, 10), 'b (20 ms) and c (10 ms)').to.equal(2);
    expect(table.pendingBefore(100, 10).map((m) => m.id)).to.deep.equal([a!.id, d!.id]);
    table.markDone([a!.id, d!.id]);
    expect(table.pendingBefore(100, 10)).to.deep.equal([]);
  });

  it('frees a chunk or a page once none of its messages is current, and stores a message larger than a chunk', () => {
    const text = 'x'.repeat(1000);
    const count = 10_000; // ≈ 1.1 kB each: 3 chunks of 4 MiB; 3 pages of 4,096 messages
    const { table } = filled(count, { text });
    expect(table.heldBytes).to.equal(3 * 4 * MiB);
    expect(table.heldPages).to.equal(3);
    expect(table.deleteBefore(CONVERSATION, Number.POSITIVE_INFINITY, 4500, count)).to.equal(4499);
    expect(table.heldBytes, 'the first chunk held only deleted messages').to.equal(2 * 4 * MiB);
    expect(table.heldPages, 'the first page held only deleted messages').to.equal(2);
    const huge = table.append(CONVERSATION, draft(count + 1, { text: 'y'.repeat(5 * MiB) }));
    expect(table.get(huge.id)!.text).to.have.length(5 * MiB);
    expect(table.at(CONVERSATION, count - 1)!.text).to.equal(text);
    expect(table.deleteBefore(CONVERSATION, Number.POSITIVE_INFINITY, count + 2, count)).to.equal(count - 4499 + 1);
    expect(table.size).to.equal(0);
    expect(table.heldBytes, 'only the chunk being filled').to.equal(4 * MiB);
    expect(table.heldPages, 'only the page being filled').to.equal(1);
  });

  it('keeps its bytes out of what V8 counts as external memory, whose growth starts full collections', () => {
    const before = process.memoryUsage().external;
    const { table } = filled(38_000, { text: 'x'.repeat(1000) });
    expect(table.heldBytes).to.equal(11 * 4 * MiB);
    // Counted, the 44 MiB would show here however much garbage of the tests before a collection freed.
    expect(process.memoryUsage().external - before).to.be.below(4 * MiB);
  });
});

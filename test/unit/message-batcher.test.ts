import { once } from 'node:events';
import { createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { MessageBatcher } from '../../server/chat/message-batcher.js';
import { corkPerTurn } from '../../server/cork-per-turn.js';
import { MemoryStore, type ConversationRecord, type MessageDraft } from '../../server/store/index.js';
import { countWrites } from '../support/socket-writes.js';

/** Both ends of a loopback TCP connection; `server` is corked per turn, as a gateway's sockets are. */
async function corkedPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = new Socket().connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  corkPerTurn(server);
  return {
    server,
    client,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

function draft(n: number): MessageDraft {
  return { senderId: 'a'.repeat(24), clientMsgId: `m${n}`, text: `message ${n}`, meta: null, createdAt: new Date() };
}

describe('the group commit (MessageBatcher)', () => {
  let store: MemoryStore;
  let conversations: ConversationRecord[];

  beforeEach(async () => {
    store = new MemoryStore();
    await store.init();
    const members = [{ userId: 'a'.repeat(24), role: 'member' as const }];
    conversations = await Promise.all([1, 2].map((n) => store.createConversation({ type: 'group', title: `g${n}`, members })));
  });

  it('stores the sends of one turn together, per conversation, in order', async () => {
    const stored: Array<{ conversationId: string; seqs: number[] }> = [];
    const batcher = new MessageBatcher(store, (conversation, results) => stored.push({ conversationId: conversation.id, seqs: results.map((r) => r.message.seq) }));
    const [one, two] = conversations as [ConversationRecord, ConversationRecord];
    const results = await Promise.all([batcher.append(one, draft(1)), batcher.append(two, draft(2)), batcher.append(one, draft(3))]);
    expect(results.map((r) => r.message.seq)).to.deep.equal([1, 1, 2]);
    expect(stored).to.deep.equal([
      { conversationId: one.id, seqs: [1, 2] },
      { conversationId: two.id, seqs: [1] },
    ]);
  });

  it('sends what its commits and their senders wrote before the next turn reads any socket', async () => {
    const pair = await corkedPair();
    try {
      const writes = countWrites(pair.server);
      let atNextTurn: { writes: number; corked: number } | undefined;
      const batcher = new MessageBatcher(store, () => {
        pair.server.write('message:new');
        // Due by the next turn's timers phase, which comes before its poll (socket reads) and check
        // phases: what is still corked then waits through a whole turn.
        setTimeout(() => (atNextTurn = { writes: writes.calls, corked: pair.server.writableCorked }), 0);
        const due = performance.now() + 3;
        while (performance.now() < due);
      });
      const [one, two] = conversations as [ConversationRecord, ConversationRecord];
      await Promise.all([one, two].map((c, n) => batcher.append(c, draft(n)).then(() => pair.server.write('ack'))));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(atNextTurn, 'frames sent by the next turn').to.deep.equal({ writes: 1, corked: 0 });
    } finally {
      pair.close();
    }
  });
});

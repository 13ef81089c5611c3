import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { AuthResult, Conversation } from '../../client-sdk/src/index.js';
import { startRestartableServer, type RestartableServer } from '../support/restartable-server.js';
import { collectMessages, range, settle, TestClients, waitFor } from '../support/sdk.js';
import { api, openDirect, registerUser } from '../support/server.js';

describe('SDK delivery after missed events (MongoDB store)', function () {
  this.timeout(120_000);
  let server: RestartableServer;
  const clients = new TestClients();

  before(async () => {
    server = await startRestartableServer();
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  after(async () => {
    await server.destroy();
  });

  const sendRest = async (target: { url: string }, from: AuthResult, conversationId: string, text: string): Promise<number> => {
    const res = await api(target, 'POST', `/v1/conversations/${conversationId}/messages`, {
      token: from.accessToken,
      body: { clientMsgId: randomUUID(), text },
    });
    expect(res.status).to.equal(201);
    return res.body.message.seq;
  };

  describe("when the receiver's connection drops while others send", () => {
    it('catches up on reconnect and emits every message once, in order', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      // No jitter and a 2 s first delay: a deterministic window in which bob is away.
      const bobClient = await clients.online(server, bob, { reconnect: { initialMs: 2000, maxMs: 2000, jitter: 0 } });
      const bobSeen = collectMessages(bobClient, conversationId);
      const live: number[] = [];
      bobClient.socket.on('message:new', (m) => live.push(m.seq));

      for (const i of range(1, 2)) await sendRest(server, ann, conversationId, `live ${i}`);
      await waitFor(() => bobSeen.length === 2, 'bob gets the first two live');

      bobClient.socket.io.engine.close();
      await waitFor(() => bobClient.state !== 'online', 'bob disconnected');
      for (const i of range(3, 7)) await sendRest(server, ann, conversationId, `missed ${i}`);
      await waitFor(() => bobClient.state === 'online', 'bob reconnects');
      await sendRest(server, ann, conversationId, 'after');

      await waitFor(() => bobSeen.length >= 8, 'bob has all eight');
      await settle();
      // The precondition that makes this a test of catching up: 3…7 never arrived as live events.
      expect(live.filter((seq) => seq >= 3 && seq <= 7)).to.deep.equal([]);
      expect(bobSeen.map((m) => m.seq)).to.deep.equal(range(1, 8));
      expect(bobSeen.map((m) => m.text)).to.deep.equal(['live 1', 'live 2', 'missed 3', 'missed 4', 'missed 5', 'missed 6', 'missed 7', 'after']);
    });

    it('delivers a conversation created while it was away, from its first message', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const bobClient = await clients.online(server, bob, { reconnect: { initialMs: 2000, maxMs: 2000, jitter: 0 } });
      const conversations: Conversation[] = [];
      bobClient.on('conversation', (c) => conversations.push(c));

      bobClient.socket.io.engine.close();
      await waitFor(() => bobClient.state !== 'online', 'bob disconnected');
      const created = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'group', title: 'while away', memberIds: [bob.user.id] } });
      const conversationId: string = created.body.conversation.id;
      const bobSeen = collectMessages(bobClient, conversationId);
      for (const i of range(1, 3)) await sendRest(server, ann, conversationId, `g${i}`);

      await waitFor(() => bobSeen.length >= 3, 'bob gets the new group messages');
      await settle();
      expect(bobSeen.map((m) => m.text)).to.deep.equal(['g1', 'g2', 'g3']);
      expect(conversations.map((c) => c.id)).to.include(conversationId);
    });
  });

  describe('when message n+2 arrives right after n (seq n+1 was stored by a process without fan-out to ours)', () => {
    it('fetches the gap and emits n+1 before n+2, each once', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const peer = await server.startPeer();
      try {
        const bobClient = await clients.online(server, bob);
        const bobSeen = collectMessages(bobClient, conversationId);
        const live: number[] = [];
        bobClient.socket.on('message:new', (m) => live.push(m.seq));

        await sendRest(server, ann, conversationId, 'n');
        await waitFor(() => bobSeen.length === 1, 'bob gets n');
        // Stored by the peer process: bob's process never emits message:new for it.
        await sendRest(peer, ann, conversationId, 'n+1');
        await sendRest(server, ann, conversationId, 'n+2');

        await waitFor(() => bobSeen.length >= 3, 'bob gets n+1 and n+2');
        await settle();
        expect(live).to.deep.equal([1, 3], 'precondition: the live stream skipped seq 2');
        expect(bobSeen.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
        expect(bobSeen.map((m) => m.text)).to.deep.equal(['n', 'n+1', 'n+2']);
      } finally {
        await peer.stop();
      }
    });
  });
});

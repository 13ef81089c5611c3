import { expect } from 'chai';
import { type Message, MemoryOutboxStorage, type OutboxEvent, ParleyClientError } from '../../client-sdk/src/index.js';
import { startRestartableServer, type RestartableServer } from '../support/restartable-server.js';
import { collectMessages, delay, range, settle, TestClients, waitFor } from '../support/sdk.js';
import { api, openDirect, registerUser } from '../support/server.js';

describe('SDK outbox when the server restarts (MongoDB store)', function () {
  this.timeout(120_000);
  let server: RestartableServer;
  const clients = new TestClients();

  before(async () => {
    server = await startRestartableServer();
  });
  afterEach(async () => {
    await clients.closeAll();
    if (!server.parley) await server.start();
  });
  after(async () => {
    await server.destroy();
  });

  const historyOf = async (token: string, conversationId: string): Promise<Message[]> => {
    const res = await api(server, 'GET', `/v1/conversations/${conversationId}/messages?limit=200`, { token });
    expect(res.status).to.equal(200);
    return res.body.messages;
  };

  describe('when messages are sent before, during and after the server is down', () => {
    it('stores each exactly once, in send order, resolves every send and delivers each once to the peer', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const annClient = await clients.online(server, ann);
      const bobClient = await clients.online(server, bob);
      const bobSeen = collectMessages(bobClient, conversationId);

      const sends: Promise<Message>[] = [];
      for (const i of range(1, 3)) sends.push(annClient.send(conversationId, `m${i}`));
      // No await between the sends and the stop: some of them are in flight when the process goes away.
      await server.stop();
      await waitFor(() => annClient.state !== 'online', 'ann notices the server is gone');
      for (const i of range(4, 6)) sends.push(annClient.send(conversationId, `m${i}`));
      // Let both the socket and the REST fallback fail a few times before the server returns.
      await waitFor(() => annClient.state === 'offline', 'ann offline (socket and REST both refused)');
      await delay(500);
      await server.start();

      const stored = await Promise.all(sends);
      expect(stored.map((m) => m.text)).to.deep.equal(range(1, 6).map((i) => `m${i}`));
      expect(stored.map((m) => m.seq)).to.deep.equal(range(1, 6));
      expect(annClient.pending()).to.deep.equal([]);

      const history = await historyOf(bob.accessToken, conversationId);
      expect(history.map((m) => m.text)).to.deep.equal(range(1, 6).map((i) => `m${i}`));
      expect(history.map((m) => m.seq)).to.deep.equal(range(1, 6));

      await waitFor(() => bobSeen.length >= 6, 'bob receives all six');
      await settle();
      expect(bobSeen.map((m) => m.seq)).to.deep.equal(range(1, 6));
      expect(bobSeen.map((m) => m.text)).to.deep.equal(range(1, 6).map((i) => `m${i}`));
    });
  });

  describe('when a client is closed with unsent messages (a page reload) while the server is down', () => {
    it('lets a new client with the same storage send them, once and in order', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const storage = new MemoryOutboxStorage();
      const first = await clients.online(server, ann, { storage });
      await first.send(conversationId, 'before');

      await server.stop();
      await waitFor(() => first.state !== 'online', 'first client notices the server is gone');
      const orphaned = range(1, 3).map((i) => first.send(conversationId, `reloaded ${i}`));
      await waitFor(() => storage.load().length === 3, 'three entries persisted');
      await first.close();
      const outcomes = await Promise.allSettled(orphaned);
      for (const outcome of outcomes) {
        expect(outcome.status).to.equal('rejected');
        const reason = (outcome as PromiseRejectedResult).reason as unknown;
        expect(reason).to.be.instanceOf(ParleyClientError);
        expect((reason as ParleyClientError).code).to.equal('closed');
      }
      expect(storage.load()).to.have.length(3);

      await server.start();
      const second = clients.create(server, ann, { storage });
      const sent: Message[] = [];
      second.on('outbox', (event: OutboxEvent) => {
        if (event.type === 'sent') sent.push(event.message);
      });
      await waitFor(() => sent.length === 3, 'the second client sends the three resumed entries');
      expect(sent.map((m) => m.text)).to.deep.equal(['reloaded 1', 'reloaded 2', 'reloaded 3']);
      expect(storage.load()).to.deep.equal([]);

      const history = await historyOf(bob.accessToken, conversationId);
      expect(history.map((m) => m.text)).to.deep.equal(['before', 'reloaded 1', 'reloaded 2', 'reloaded 3']);
      expect(history.map((m) => m.seq)).to.deep.equal(range(1, 4));
    });
  });
});

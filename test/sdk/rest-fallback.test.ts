import { expect } from 'chai';
import type { ReceiptEvent } from '../../client-sdk/src/index.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { collectMessages, collectStates, settle, TestClients, waitFor } from '../support/sdk.js';
import { openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

describe('SDK REST fallback when WebSockets are blocked', function () {
  this.timeout(60_000);
  let server: TestServer;
  let proxy: FaultProxy;
  const clients = new TestClients();

  before(async () => {
    server = await startServer({ store: 'memory' });
  });
  beforeEach(async () => {
    proxy = await startFaultProxy(server);
    proxy.blockSocketIo(true);
  });
  afterEach(async () => {
    await clients.closeAll();
    await proxy.close();
  });
  after(async () => {
    await server.stop();
  });

  describe('when every socket.io request is refused but the REST API is reachable', () => {
    it('sends and receives over REST, then returns to the socket once it is allowed', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const annClient = clients.create(server, ann, { url: proxy.url, transports: ['websocket'], fallback: { afterFailures: 2, pollIntervalMs: 200 } });
      const annStates = collectStates(annClient);
      await waitFor(() => annClient.state === 'fallback', 'ann in fallback');

      const bobClient = await clients.online(server, bob);
      const conversationId = await openDirect(server, ann, bob);
      const annSeen = collectMessages(annClient, conversationId);
      const bobSeen = collectMessages(bobClient, conversationId);
      const bobReceipts: ReceiptEvent[] = [];
      bobClient.on('receipt', (r) => bobReceipts.push(r));

      const sent = await annClient.send(conversationId, 'over REST');
      expect(sent.seq).to.equal(1);
      await waitFor(() => bobSeen.length === 1, 'bob gets the message ann sent over REST');
      expect(bobSeen[0]!.clientMsgId).to.equal(sent.clientMsgId);

      await bobClient.send(conversationId, 'polled by ann');
      await waitFor(() => annSeen.length === 2, 'ann polls bob’s reply');
      expect(annSeen.map((m) => m.text)).to.deep.equal(['over REST', 'polled by ann']);

      annClient.markRead(conversationId, 2);
      await waitFor(() => bobReceipts.some((r) => r.userId === ann.user.id && r.readSeq === 2), 'bob sees ann’s read receipt');
      expect(annStates).to.not.include('online');

      proxy.blockSocketIo(false);
      await waitFor(() => annClient.state === 'online', 'ann back on the socket');
      await bobClient.send(conversationId, 'live again');
      await waitFor(() => annSeen.length === 3, 'ann gets the live message');
      await settle();
      expect(annSeen.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
      expect(annSeen.map((m) => m.text)).to.deep.equal(['over REST', 'polled by ann', 'live again']);
      expect(bobSeen.map((m) => m.seq)).to.deep.equal([1, 2, 3]);
    });

    it('retries a send whose answer was lost with the same clientMsgId, so it is stored once', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const annClient = clients.create(server, ann, { url: proxy.url, transports: ['websocket'], fallback: { afterFailures: 2, pollIntervalMs: 200 } });
      await waitFor(() => annClient.state === 'fallback', 'ann in fallback');
      proxy.loseResponses(2, (req) => req.method === 'POST' && (req.url ?? '').endsWith('/messages'));

      const stored = await annClient.send(conversationId, 'exactly once');
      expect(proxy.lostResponses).to.equal(2);
      const history = await bobHistory(server, bob.accessToken, conversationId);
      expect(history).to.deep.equal([{ seq: 1, text: 'exactly once', clientMsgId: stored.clientMsgId }]);
    });
  });

  describe('when socket acks are lost (server→client traffic stalls)', () => {
    it('retries after the ack timeout with the same clientMsgId, so each message is stored once', async () => {
      proxy.blockSocketIo(false);
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const annClient = await clients.online(server, ann, { url: proxy.url, transports: ['websocket'], ackTimeoutMs: 500 });

      proxy.holdDownstream();
      const sends = [annClient.send(conversationId, 'first'), annClient.send(conversationId, 'second')];
      // Long enough for several ack timeouts (and retries) of the first message.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      proxy.releaseDownstream();

      const stored = await Promise.all(sends);
      expect(stored.map((m) => m.seq)).to.deep.equal([1, 2]);
      const history = await bobHistory(server, bob.accessToken, conversationId);
      expect(history.map((m) => m.text)).to.deep.equal(['first', 'second']);
    });
  });
});

async function bobHistory(server: TestServer, token: string, conversationId: string) {
  const res = await fetch(`${server.url}/v1/conversations/${conversationId}/messages`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { messages: { seq: number; text: string; clientMsgId: string }[] };
  return body.messages.map(({ seq, text, clientMsgId }) => ({ seq, text, clientMsgId }));
}

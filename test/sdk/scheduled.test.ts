import { expect } from 'chai';
import { type Message, ParleyClientError } from '../../client-sdk/src/index.js';
import { collectMessages, delay, settle, TestClients, waitFor } from '../support/sdk.js';
import { openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

describe('SDK scheduled messages (memory store)', function () {
  this.timeout(30_000);
  let server: TestServer;
  const clients = new TestClients();

  before(async () => {
    server = await startServer({ store: 'memory', env: { SCHEDULER_INTERVAL_MS: '50' } });
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  after(async () => {
    await server.stop();
  });

  async function pair() {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const [annClient, bobClient] = await Promise.all([clients.online(server, ann), clients.online(server, bob)]);
    return { ann, bob, conversationId, annClient, bobClient };
  }

  it('schedules without blocking later sends, and delivers at its time to everyone with a seq', async () => {
    const { ann, conversationId, annClient, bobClient } = await pair();
    const bobSeen = collectMessages(bobClient, conversationId);
    const annSeen = collectMessages(annClient, conversationId);
    const deliverAt = new Date(Date.now() + 1200);

    const scheduled = await annClient.send(conversationId, 'later', { deliverAt, clientMsgId: 'scheduled-1' });
    expect(scheduled).to.include({ seq: 0, status: 'scheduled', text: 'later', clientMsgId: 'scheduled-1', senderId: ann.user.id });
    expect(scheduled.deliverAt).to.equal(deliverAt.toISOString());
    expect(annClient.pending(conversationId), 'not in the outbox').to.deep.equal([]);

    const now = await annClient.send(conversationId, 'now');
    expect(now.seq, 'the scheduled one holds no seq yet').to.equal(1);
    await waitFor(() => bobSeen.length === 1, 'bob gets the immediate one');
    expect(bobSeen.map((m) => m.text)).to.deep.equal(['now']);

    await waitFor(() => bobSeen.length === 2 && annSeen.length === 2, 'both get the scheduled one', 5000);
    expect(Date.now()).to.be.at.least(deliverAt.getTime());
    const delivered = bobSeen[1]!;
    expect(delivered).to.include({ seq: 2, text: 'later', clientMsgId: 'scheduled-1', senderId: ann.user.id });
    expect(annSeen[1]!.clientMsgId, 'the sender can match it to the scheduled view').to.equal(scheduled.clientMsgId);

    const late = await annClient.withdraw(scheduled.id).catch((err: unknown) => err);
    expect(late).to.be.instanceOf(ParleyClientError);
    expect((late as ParleyClientError).code).to.equal('conflict');
  });

  it('withdraws before its time: nothing is delivered, and the sender’s other devices hear of it', async () => {
    const { ann, conversationId, annClient, bobClient } = await pair();
    const annTablet = await clients.online(server, ann);
    const updates: Message[] = [];
    annTablet.on('scheduledUpdated', (m) => updates.push(m));
    const updatedAsMessages: Message[] = [];
    annTablet.on('messageUpdated', (m) => updatedAsMessages.push(m));
    const bobSeen = collectMessages(bobClient, conversationId);
    const deliverAt = new Date(Date.now() + 1000);

    const scheduled = await annClient.send(conversationId, 'never mind', { deliverAt });
    await annClient.withdraw(scheduled.id);
    await annClient.withdraw(scheduled.id); // twice is fine
    await waitFor(() => updates.length >= 1, 'the tablet hears of the withdrawal');
    expect(updates[0]).to.include({ id: scheduled.id, status: 'withdrawn', seq: 0 });
    expect(updatedAsMessages, 'not an edit of a message in the stream').to.deep.equal([]);

    await delay(deliverAt.getTime() - Date.now() + 300);
    await settle();
    expect(bobSeen).to.deep.equal([]);
  });

  it('withdraws over REST while the socket is down', async () => {
    const { conversationId, annClient, bobClient } = await pair();
    const bobSeen = collectMessages(bobClient, conversationId);
    const scheduled = await annClient.send(conversationId, 'over rest', { deliverAt: new Date(Date.now() + 1000).toISOString() });
    // Force the REST path: the client is not `online` while the socket reconnects.
    annClient.socket.disconnect();
    await waitFor(() => annClient.state !== 'online', 'ann off the socket');
    await annClient.withdraw(scheduled.id);
    await delay(1300);
    expect(bobSeen).to.deep.equal([]);
  });
});

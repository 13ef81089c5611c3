import { expect } from 'chai';
import type { Message } from '../../client-sdk/src/index.js';
import { FollowUpPublisher } from '../../server/chat/follow-up.js';
import { EventPublisher } from '../../server/events/index.js';
import { ScheduledDelivery } from '../../server/chat/scheduled-delivery.js';
import type { Realtime } from '../../server/chat/realtime.js';
import { createLogger } from '../../server/logger.js';
import { NotificationService } from '../../server/notifications/index.js';
import { MemoryPresence } from '../../server/presence/index.js';
import { MemoryQueue } from '../../server/queue/index.js';
import { MongoStore } from '../../server/store/index.js';
import { api, type ClientSocket, connectClient, eventually, openDirect, registerUser, request, startServer, type TestServer, until } from '../support/server.js';

describe('scheduled messages (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;
  const sockets: ClientSocket[] = [];

  before(async () => {
    server = await startServer({ env: { SCHEDULER_INTERVAL_MS: '100' } });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await server.stop();
  });

  it('keeps a scheduled message invisible until its time, then delivers it once with the next seq', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const [annSocket, bobSocket] = [await connectClient(server, ann.accessToken), await connectClient(server, bob.accessToken)];
    sockets.push(annSocket, bobSocket);
    await request(annSocket, 'message:send', { conversationId, clientMsgId: 'now-1', text: 'first' });

    const deliverAt = new Date(Date.now() + 1500).toISOString();
    const ack = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'later-1', text: 'from the past', deliverAt });
    expect(ack.ok).to.equal(true);
    expect(ack.message).to.include({ seq: 0, status: 'scheduled', deliverAt });
    const again = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'later-1', text: 'from the past', deliverAt });
    expect(again.message.id).to.equal(ack.message.id);

    const early = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
    expect(early.body.messages.map((m: Message) => m.text)).to.deep.equal(['first']);

    const arrived = await until<Message>(bobSocket, 'message:new', (m) => m.clientMsgId === 'later-1', 10_000);
    expect(arrived.seq).to.equal(2);
    expect(Date.now()).to.be.at.least(Date.parse(deliverAt));
    await eventually(async () => {
      const inbox = await api(server, 'GET', '/v1/notifications', { token: bob.accessToken });
      expect(inbox.body.notifications.map((n: any) => n.type)).to.include('message.delivered');
    });
    await new Promise((r) => setTimeout(r, 400));
    const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
    expect(history.body.messages.map((m: Message) => m.seq)).to.deep.equal([1, 2]);
  });

  it('withdraws before the time, and refuses a withdrawal after delivery with conflict', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const annSocket = await connectClient(server, ann.accessToken);
    sockets.push(annSocket);
    const soon = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'w1', text: 'never mind', deliverAt: new Date(Date.now() + 60_000).toISOString() });
    const bobTries = await api(server, 'DELETE', `/v1/scheduled-messages/${soon.message.id}`, { token: bob.accessToken });
    expect(bobTries.body.error.code).to.equal('forbidden');
    expect((await request(annSocket, 'message:withdraw', { messageId: soon.message.id })).ok).to.equal(true);

    const quick = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'w2', text: 'too late to stop', deliverAt: new Date(Date.now() + 300).toISOString() });
    await until<Message>(annSocket, 'message:new', (m) => m.clientMsgId === 'w2', 10_000);
    const late = await request(annSocket, 'message:withdraw', { messageId: quick.message.id });
    expect(late.error.code).to.equal('conflict');
    const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
    expect(history.body.messages.map((m: Message) => m.text)).to.deep.equal(['too late to stop']);
  });

  describe('when two schedulers and a withdrawal race at the delivery instant', () => {
    it('leaves either one delivered message or a withdrawn one, never both', async () => {
      const stores = [new MongoStore(server.mongodbUri!), new MongoStore(server.mongodbUri!)];
      await Promise.all(stores.map((s) => s.init()));
      const logger = createLogger('silent');
      const silent: Realtime = { toUsers() {}, toUsersVolatile() {}, toRoom() {}, leaveRoom() {}, disconnectSession() {}, disconnectUser() {} };
      const queue = new MemoryQueue({});
      await queue.init();
      const schedulers = stores.map(
        (store) =>
          new ScheduledDelivery(store, silent, new NotificationService(store, silent), new FollowUpPublisher(store, queue, new MemoryPresence(), 'test', logger), new EventPublisher(queue, 'test', logger), logger),
      );
      try {
        const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
        const conversationId = await openDirect(server, ann, bob);
        const annSocket = await connectClient(server, ann.accessToken);
        sockets.push(annSocket);
        const outcomes: string[] = [];
        for (let round = 0; round < 8; round++) {
          const sent = await request(annSocket, 'message:send', { conversationId, clientMsgId: `race-${round}`, text: `race ${round}`, deliverAt: new Date(Date.now() + 40_000).toISOString() });
          const due = new Date(Date.now() + 60_000);
          const [withdrawal] = await Promise.all([
            api(server, 'DELETE', `/v1/scheduled-messages/${sent.message.id}`, { token: ann.accessToken }),
            schedulers[0]!.runDue(due),
            schedulers[1]!.runDue(due),
          ]);
          const stored = (await stores[0]!.listMessages(conversationId, { viewerId: bob.user.id, limit: 1000 })).filter((m) => m.clientMsgId === `race-${round}`);
          const record = await stores[0]!.getScheduledMessage(sent.message.id);
          if (withdrawal.status === 200) {
            expect(stored, 'withdrawn, so not delivered').to.have.length(0);
            expect(record?.status).to.equal('withdrawn');
            outcomes.push('withdrawn');
          } else {
            expect(withdrawal.body.error.code).to.equal('conflict');
            expect(stored, 'delivered exactly once').to.have.length(1);
            expect(record?.status).to.equal('delivered');
            outcomes.push('delivered');
          }
        }
        expect(outcomes).to.have.length(8);
      } finally {
        await queue.close();
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });
});

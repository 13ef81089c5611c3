import { expect } from 'chai';
import type { Notification } from '../../client-sdk/src/index.js';
import { settle, TestClients, waitFor } from '../support/sdk.js';
import { openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

describe('SDK notifications and settings (memory store)', function () {
  this.timeout(30_000);
  let server: TestServer;
  const clients = new TestClients();

  before(async () => {
    server = await startServer({ store: 'memory' });
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  after(async () => {
    await server.stop();
  });

  it('notifies a sender who asked for read notifications, live and in the inbox, and marks them read', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const [annClient, bobClient] = await Promise.all([clients.online(server, ann), clients.online(server, bob)]);
    const live: Notification[] = [];
    annClient.on('notification', (n) => live.push(n));

    expect((await annClient.me()).settings).to.deep.equal({ hideLastSeen: false, notifyOnRead: false });
    const updated = await annClient.updateSettings({ notifyOnRead: true });
    expect(updated.settings).to.deep.equal({ hideLastSeen: false, notifyOnRead: true });
    expect((await annClient.me()).settings?.notifyOnRead).to.equal(true);

    // Three messages, read one at a time: one notification each (newest first in the inbox).
    const sent = [];
    for (const text of ['one', 'two', 'three']) sent.push(await annClient.send(conversationId, text));
    for (const message of sent) {
      const before = live.length;
      bobClient.markRead(conversationId, message.seq);
      await waitFor(() => live.length === before + 1, `notification for ${message.text}`);
    }
    expect(live.map((n) => [n.type, n.body, n.read, n.data['seq']])).to.deep.equal([
      ['message.read', 'one', false, 1],
      ['message.read', 'two', false, 2],
      ['message.read', 'three', false, 3],
    ]);
    expect(live[0]!.title).to.include(bob.user.username);
    expect(live[0]!.data).to.include({ conversationId, readerId: bob.user.id });

    const inbox = await annClient.notifications();
    expect(inbox.unreadCount).to.equal(3);
    expect(inbox.notifications.map((n) => n.id)).to.deep.equal(live.map((n) => n.id).reverse());

    const firstPage = await annClient.notifications({ limit: 2 });
    const secondPage = await annClient.notifications({ limit: 2, before: firstPage.notifications.at(-1)!.id });
    expect([...firstPage.notifications, ...secondPage.notifications].map((n) => n.body)).to.deep.equal(['three', 'two', 'one']);

    expect(await annClient.markNotificationsRead([live[2]!.id])).to.equal(2);
    const unread = await annClient.notifications({ unreadOnly: true });
    expect(unread.notifications.map((n) => n.body)).to.deep.equal(['two', 'one']);
    expect(unread.unreadCount).to.equal(2);

    expect(await annClient.markNotificationsRead()).to.equal(0);
    expect((await annClient.notifications({ unreadOnly: true })).notifications).to.deep.equal([]);
    const all = await annClient.notifications({ unreadOnly: false });
    expect(all.notifications.map((n) => n.read)).to.deep.equal([true, true, true]);
    expect(all.unreadCount).to.equal(0);
  });

  it('sends nothing to a sender who did not ask', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const [annClient, bobClient] = await Promise.all([clients.online(server, ann), clients.online(server, bob)]);
    const live: Notification[] = [];
    annClient.on('notification', (n) => live.push(n));
    const readSeqs: number[] = [];
    annClient.on('receipt', (r) => r.readSeq !== undefined && r.userId === bob.user.id && readSeqs.push(r.readSeq));

    const message = await annClient.send(conversationId, 'quiet');
    bobClient.markRead(conversationId, message.seq);
    await waitFor(() => readSeqs.includes(message.seq), 'the read receipt');
    await settle();
    expect(live).to.deep.equal([]);
    expect((await annClient.notifications()).unreadCount).to.equal(0);
  });
});

import { expect } from 'chai';
import type { Message } from '../../client-sdk/src/index.js';
import { api, connectClient, eventually, openDirect, registerUser, request, startServer, type TestServer, until } from '../support/server.js';

describe('account deletion and notifications (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('notifies a sender who asked for it when their message is read, naming reader and message', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    await api(server, 'PATCH', '/v1/me', { token: ann.accessToken, body: { settings: { notifyOnRead: true } } });
    const conversationId = await openDirect(server, ann, bob);
    const annSocket = await connectClient(server, ann.accessToken);
    const sent = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'n1', text: 'did you see this?' });
    const live = until<any>(annSocket, 'notification:new', (n) => n.type === 'message.read');
    await api(server, 'POST', `/v1/conversations/${conversationId}/read`, { token: bob.accessToken, body: { seq: 1 } });
    const notification = await live;
    expect(notification.data).to.include({ messageId: sent.message.id, readerId: bob.user.id });
    expect(notification.title).to.contain(bob.user.username);
    // Reading again (a redelivered receipt) adds nothing.
    await api(server, 'POST', `/v1/conversations/${conversationId}/read`, { token: bob.accessToken, body: { seq: 1 } });
    const inbox = await api(server, 'GET', '/v1/notifications?unread=true', { token: ann.accessToken });
    expect(inbox.body.notifications.filter((n: any) => n.type === 'message.read')).to.have.length(1);
    expect(inbox.body.unreadCount).to.equal(1);
    const marked = await api(server, 'POST', '/v1/notifications/read', { token: ann.accessToken, body: {} });
    expect(marked.body.unreadCount).to.equal(0);
    annSocket.close();
  });

  it('leaves an offline recipient one in-app notification per conversation and window', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    for (let i = 1; i <= 3; i++) {
      await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: `off${i}`, text: `offline ${i}` } });
    }
    await eventually(async () => {
      const inbox = await api(server, 'GET', '/v1/notifications', { token: bob.accessToken });
      expect(inbox.body.notifications.filter((n: any) => n.type === 'message.offline')).to.have.length(1);
      expect(inbox.body.notifications[0].data.conversationId).to.equal(conversationId);
    });
  });

  it('gives an online recipient no offline notification', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const bobSocket = await connectClient(server, bob.accessToken);
    await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: 'on1', text: 'you are here' } });
    await new Promise((r) => setTimeout(r, 500));
    const inbox = await api(server, 'GET', '/v1/notifications', { token: bob.accessToken });
    expect(inbox.body.notifications).to.have.length(0);
    bobSocket.close();
  });

  describe('when a user deletes their account', () => {
    it('refuses a wrong password and changes nothing', async () => {
      const ann = await registerUser(server, 'ann');
      const res = await api(server, 'DELETE', '/v1/me', { token: ann.accessToken, body: { password: 'wrong password' } });
      expect(res.body.error.code).to.equal('unauthorized');
      expect((await api(server, 'GET', '/v1/me', { token: ann.accessToken })).status).to.equal(200);
    });

    it('revokes tokens, disconnects sockets, leaves groups, keeps messages with a null sender, and drops notifications', async () => {
      const [gone, bob, cat] = await Promise.all([registerUser(server, 'gone'), registerUser(server, 'bob'), registerUser(server, 'cat')]);
      const group = await api(server, 'POST', '/v1/conversations', { token: gone.accessToken, body: { type: 'group', title: 'g', memberIds: [bob.user.id, cat.user.id] } });
      const groupId = group.body.conversation.id;
      const direct = await openDirect(server, bob, gone);
      await api(server, 'POST', `/v1/conversations/${groupId}/messages`, { token: gone.accessToken, body: { clientMsgId: 'g1', text: 'bye all' } });
      await api(server, 'POST', `/v1/conversations/${direct}/messages`, { token: bob.accessToken, body: { clientMsgId: 'd1', text: 'hi' } });
      await eventually(async () => {
        const inbox = await api(server, 'GET', '/v1/notifications', { token: gone.accessToken });
        expect(inbox.body.notifications.length).to.be.greaterThan(0);
      });

      const goneSocket = await connectClient(server, gone.accessToken);
      const bobSocket = await connectClient(server, bob.accessToken);
      const disconnected = new Promise((resolve) => goneSocket.once('disconnect', resolve));
      const memberChange = until<any>(bobSocket, 'conversation:updated', (c) => c.id === groupId && c.members.length === 2);

      const res = await api(server, 'DELETE', '/v1/me', { token: gone.accessToken, body: { password: 'correct horse battery' } });
      expect(res.status).to.equal(200);
      await disconnected;
      await memberChange;
      expect((await api(server, 'GET', '/v1/me', { token: gone.accessToken })).status).to.equal(401);
      expect((await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: gone.refreshToken } })).status).to.equal(401);
      expect((await api(server, 'POST', '/v1/auth/login', { body: { username: gone.user.username, password: 'correct horse battery' } })).status).to.equal(401);

      await eventually(async () => {
        const history = await api(server, 'GET', `/v1/conversations/${groupId}/messages`, { token: cat.accessToken });
        expect(history.body.messages.map((m: Message) => [m.text, m.senderId])).to.deep.equal([['bye all', null]]);
        const conversation = await api(server, 'GET', `/v1/conversations/${groupId}`, { token: cat.accessToken });
        expect(conversation.body.conversation.members.map((m: any) => m.userId)).to.not.include(gone.user.id);
        expect(await server.parley.store.listNotifications(gone.user.id, { unreadOnly: false, limit: 10 })).to.deep.equal([]);
        expect(await server.parley.store.listConversations(gone.user.id, 10)).to.deep.equal([]);
      });
      // The other side keeps the direct conversation's history.
      const bobView = await api(server, 'GET', `/v1/conversations/${direct}/messages`, { token: bob.accessToken });
      expect(bobView.body.messages.map((m: Message) => m.text)).to.deep.equal(['hi']);
      bobSocket.close();
    });
  });
});

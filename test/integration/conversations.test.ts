import { expect } from 'chai';
import { api, connectClient, openDirect, registerUser, request, startServer, type TestServer, until } from '../support/server.js';

describe('conversations, groups and blocks (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  it('keeps one direct conversation per pair, even when both open it at once', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const ids = await Promise.all([openDirect(server, ann, bob), openDirect(server, bob, ann), openDirect(server, ann, bob)]);
    expect(new Set(ids).size).to.equal(1);
  });

  it('refuses a direct conversation with an unknown user or yourself', async () => {
    const ann = await registerUser(server, 'ann');
    const unknown = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'direct', userId: '0123456789abcdef01234567' } });
    expect(unknown.body.error.code).to.equal('not_found');
    const self = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'direct', userId: ann.user.id } });
    expect(self.body.error.code).to.equal('invalid_payload');
  });

  it('lists conversations by last activity with the last message', async () => {
    const [ann, bob, cat] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'cat')]);
    const withBob = await openDirect(server, ann, bob);
    const withCat = await openDirect(server, ann, cat);
    await api(server, 'POST', `/v1/conversations/${withBob}/messages`, { token: bob.accessToken, body: { clientMsgId: 'l1', text: 'newest' } });
    const list = await api(server, 'GET', '/v1/conversations', { token: ann.accessToken });
    expect(list.body.conversations.map((c: any) => c.id)).to.deep.equal([withBob, withCat]);
    expect(list.body.conversations[0]).to.deep.include({ lastSeq: 1, unreadCount: 1 });
    expect(list.body.conversations[0].lastMessage.text).to.equal('newest');
  });

  it('lets owners add and remove members, members only leave, and tells everyone', async () => {
    const [owner, bob, cat, dan] = await Promise.all([registerUser(server, 'own'), registerUser(server, 'bob'), registerUser(server, 'cat'), registerUser(server, 'dan')]);
    const created = await api(server, 'POST', '/v1/conversations', { token: owner.accessToken, body: { type: 'group', title: 'team', memberIds: [bob.user.id] } });
    expect(created.status).to.equal(201);
    const id = created.body.conversation.id;
    expect(created.body.conversation.members).to.deep.include({ userId: owner.user.id, role: 'owner' });

    const bobAdds = await api(server, 'POST', `/v1/conversations/${id}/members`, { token: bob.accessToken, body: { userIds: [dan.user.id] } });
    expect(bobAdds.body.error.code).to.equal('forbidden');

    const catSocket = await connectClient(server, cat.accessToken);
    const told = until<any>(catSocket, 'conversation:updated', (c) => c.id === id);
    const added = await api(server, 'POST', `/v1/conversations/${id}/members`, { token: owner.accessToken, body: { userIds: [cat.user.id] } });
    expect(added.body.conversation.members.map((m: any) => m.userId)).to.include(cat.user.id);
    expect((await told).members).to.have.length(3);
    catSocket.close();

    const catRemovesBob = await api(server, 'DELETE', `/v1/conversations/${id}/members/${bob.user.id}`, { token: cat.accessToken });
    expect(catRemovesBob.body.error.code).to.equal('forbidden');
    const catLeaves = await api(server, 'DELETE', `/v1/conversations/${id}/members/${cat.user.id}`, { token: cat.accessToken });
    expect(catLeaves.status).to.equal(200);
    const catReads = await api(server, 'GET', `/v1/conversations/${id}/messages`, { token: cat.accessToken });
    expect(catReads.body.error.code).to.equal('forbidden');
    const ownerRemovesBob = await api(server, 'DELETE', `/v1/conversations/${id}/members/${bob.user.id}`, { token: owner.accessToken });
    expect(ownerRemovesBob.status).to.equal(200);
    const bobSends = await api(server, 'POST', `/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { clientMsgId: 'x', text: 'still here?' } });
    expect(bobSends.body.error.code).to.equal('forbidden');
  });

  describe('when a user blocks another', () => {
    it('refuses the blocked user a new direct conversation and sends, until unblocked', async () => {
      const [ann, bob, cat] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'cat')]);
      const existing = await openDirect(server, ann, bob);
      expect((await api(server, 'POST', `/v1/users/${bob.user.id}/block`, { token: ann.accessToken })).status).to.equal(200);
      expect((await api(server, 'POST', `/v1/users/${cat.user.id}/block`, { token: ann.accessToken })).status).to.equal(200);

      const bobSocket = await connectClient(server, bob.accessToken);
      const ack = await request(bobSocket, 'message:send', { conversationId: existing, clientMsgId: 'b1', text: 'hello?' });
      expect(ack.error.code).to.equal('blocked');
      const catOpens = await api(server, 'POST', '/v1/conversations', { token: cat.accessToken, body: { type: 'direct', userId: ann.user.id } });
      expect(catOpens.body.error.code).to.equal('blocked');
      const history = await api(server, 'GET', `/v1/conversations/${existing}/messages`, { token: ann.accessToken });
      expect(history.body.messages).to.have.length(0);

      await api(server, 'DELETE', `/v1/users/${bob.user.id}/block`, { token: ann.accessToken });
      const again = await request(bobSocket, 'message:send', { conversationId: existing, clientMsgId: 'b2', text: 'hello!' });
      expect(again.ok).to.equal(true);
      bobSocket.close();
    });
  });
});

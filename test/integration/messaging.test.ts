import { expect } from 'chai';
import type { AuthResult, Message } from '../../client-sdk/src/index.js';
import { api, type ClientSocket, connectClient, eventually, openDirect, registerUser, request, startServer, type TestServer, until } from '../support/server.js';

describe('messaging over real sockets (MongoDB store)', function () {
  this.timeout(120_000);
  let server: TestServer;
  const sockets: ClientSocket[] = [];
  const connect = async (user: AuthResult) => {
    const socket = await connectClient(server, user.accessToken);
    sockets.push(socket);
    return socket;
  };

  before(async () => {
    server = await startServer();
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await server.stop();
  });

  describe('when the same clientMsgId is sent twice concurrently', () => {
    it('stores one message and gives two identical acks', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const socket = await connect(ann);
      const payload = { conversationId, clientMsgId: 'dup-1', text: 'once' };
      const [a, b] = await Promise.all([request(socket, 'message:send', payload), request(socket, 'message:send', payload)]);
      expect(a.ok).to.equal(true);
      expect(b.ok).to.equal(true);
      expect(a.message.id).to.equal(b.message.id);
      expect(a.message.seq).to.equal(b.message.seq);
      const rest = await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: 'dup-1', text: 'once' } });
      expect(rest.body.message.id).to.equal(a.message.id);
      const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
      expect(history.body.messages).to.have.length(1);
    });
  });

  describe('when 20 senders send 50 messages each into one group at once', () => {
    it('gives seqs 1..1000 and delivers all of them once, in order, to every member device', async () => {
      const users = await Promise.all(Array.from({ length: 20 }, (_, i) => registerUser(server, `s${i}`)));
      const owner = users[0]!;
      const created = await api(server, 'POST', '/v1/conversations', {
        token: owner.accessToken,
        body: { type: 'group', title: 'load', memberIds: users.slice(1).map((u) => u.user.id) },
      });
      const conversationId: string = created.body.conversation.id;
      const senders = await Promise.all(users.map(connect));
      // A second device of the owner must see the same stream.
      const devices = [...senders, await connect(owner)];
      const received = devices.map(() => [] as number[]);
      const allArrived = devices.map(
        (socket, i) =>
          new Promise<void>((resolve) => {
            socket.on('message:new', (m: Message) => {
              if (m.conversationId !== conversationId) return;
              received[i]!.push(m.seq);
              if (received[i]!.length === 1000) resolve();
            });
          }),
      );

      const acks = await Promise.all(
        senders.flatMap((socket, s) =>
          Array.from({ length: 50 }, (_, k) => request(socket, 'message:send', { conversationId, clientMsgId: `s${s}-m${k}`, text: `message ${k} from ${s}` })),
        ),
      );
      expect(acks.every((a) => a.ok)).to.equal(true);
      const seqs = acks.map((a) => a.message.seq as number).sort((x, y) => x - y);
      expect(seqs).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));

      await Promise.all(allArrived);
      await new Promise((r) => setTimeout(r, 200)); // any duplicate would have arrived by now
      for (const seen of received) expect(seen).to.deep.equal(Array.from({ length: 1000 }, (_, i) => i + 1));
    });
  });

  describe('when history is paged', () => {
    it('pages forwards with afterSeq and backwards with beforeSeq, with hasMore', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      for (let i = 1; i <= 7; i++) {
        await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: `p${i}`, text: `m${i}` } });
      }
      const path = `/v1/conversations/${conversationId}/messages`;
      const first = await api(server, 'GET', `${path}?afterSeq=0&limit=3`, { token: bob.accessToken });
      expect(first.body.messages.map((m: Message) => m.seq)).to.deep.equal([1, 2, 3]);
      expect(first.body.hasMore).to.equal(true);
      const next = await api(server, 'GET', `${path}?afterSeq=6&limit=3`, { token: bob.accessToken });
      expect(next.body.messages.map((m: Message) => m.seq)).to.deep.equal([7]);
      expect(next.body.hasMore).to.equal(false);
      const back = await api(server, 'GET', `${path}?beforeSeq=7&limit=3`, { token: bob.accessToken });
      expect(back.body.messages.map((m: Message) => m.seq)).to.deep.equal([4, 5, 6]);
      expect(back.body.hasMore).to.equal(true);
      const oldest = await api(server, 'GET', `${path}?beforeSeq=3&limit=3`, { token: bob.accessToken });
      expect(oldest.body.messages.map((m: Message) => m.seq)).to.deep.equal([1, 2]);
      expect(oldest.body.hasMore).to.equal(false);
    });
  });

  describe('when messages are edited and deleted', () => {
    it('lets only the sender edit or delete for everyone, and tombstones keep id and seq', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const [annSocket, bobSocket] = await Promise.all([connect(ann), connect(bob)]);
      const sent = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'e1', text: 'draft' });

      const stolen = await request(bobSocket, 'message:edit', { messageId: sent.message.id, text: 'mine now' });
      expect(stolen.error.code).to.equal('forbidden');

      const updated = until<Message>(bobSocket, 'message:updated', (m) => m.id === sent.message.id && m.text === 'final');
      const edited = await request(annSocket, 'message:edit', { messageId: sent.message.id, text: 'final' });
      expect(edited.message.editedAt).to.be.a('string');
      await updated;

      const bobDeletes = await request(bobSocket, 'message:delete', { messageId: sent.message.id, scope: 'everyone' });
      expect(bobDeletes.error.code).to.equal('forbidden');

      const tombstone = until<Message>(bobSocket, 'message:updated', (m) => m.id === sent.message.id && m.deletedAt !== undefined);
      expect((await request(annSocket, 'message:delete', { messageId: sent.message.id, scope: 'everyone' })).ok).to.equal(true);
      const seen = await tombstone;
      expect(seen.text).to.equal('');
      expect(seen.seq).to.equal(sent.message.seq);

      const afterDelete = await request(annSocket, 'message:edit', { messageId: sent.message.id, text: 'again' });
      expect(afterDelete.error.code).to.equal('conflict');

      const other = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'e2', text: 'hide me' });
      expect((await request(bobSocket, 'message:delete', { messageId: other.message.id, scope: 'me' })).ok).to.equal(true);
      const bobView = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
      expect(bobView.body.messages.map((m: Message) => m.seq)).to.deep.equal([1]);
      const annView = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken });
      expect(annView.body.messages.map((m: Message) => m.seq)).to.deep.equal([1, 2]);
    });
  });

  describe('when receipts arrive', () => {
    it('moves cursors only forward, tells the sender, and derives status and unread counts', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
      const conversationId = await openDirect(server, ann, bob);
      const [annSocket, bobSocket] = await Promise.all([connect(ann), connect(bob)]);
      for (let i = 1; i <= 3; i++) await request(annSocket, 'message:send', { conversationId, clientMsgId: `r${i}`, text: `m${i}` });

      const bobList = await api(server, 'GET', '/v1/conversations', { token: bob.accessToken });
      expect(bobList.body.conversations[0].unreadCount).to.equal(3);

      const delivered = until(annSocket, 'receipt', (r: any) => r.userId === bob.user.id && r.deliveredSeq === 3);
      expect((await request(bobSocket, 'receipt:delivered', { conversationId, seq: 3 })).ok).to.equal(true);
      await delivered;
      const read = until(annSocket, 'receipt', (r: any) => r.userId === bob.user.id && r.readSeq === 2);
      expect((await request(bobSocket, 'receipt:read', { conversationId, seq: 2 })).ok).to.equal(true);
      await read;
      // Going back is a no-op, not an error.
      expect((await request(bobSocket, 'receipt:read', { conversationId, seq: 1 })).ok).to.equal(true);

      const bobConversation = await api(server, 'GET', `/v1/conversations/${conversationId}`, { token: bob.accessToken });
      expect(bobConversation.body.conversation).to.include({ readSeq: 2, deliveredSeq: 3, unreadCount: 1 });
      const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken });
      expect(history.body.messages.map((m: Message) => m.status)).to.deep.equal(['read', 'read', 'delivered']);

      // A seq past the newest message is clamped to it.
      const rest = await api(server, 'POST', `/v1/conversations/${conversationId}/read`, { token: bob.accessToken, body: { seq: 99 } });
      expect(rest.status).to.equal(200);
      await eventually(async () => {
        const after = await api(server, 'GET', `/v1/conversations/${conversationId}`, { token: bob.accessToken });
        expect(after.body.conversation).to.include({ unreadCount: 0, readSeq: 3 });
      });
    });

    it('counts readers in a group as k of n', async () => {
      const [ann, bob, cat] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'cat')]);
      const created = await api(server, 'POST', '/v1/conversations', { token: ann.accessToken, body: { type: 'group', title: 'g', memberIds: [bob.user.id, cat.user.id] } });
      const conversationId = created.body.conversation.id;
      await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: 'g1', text: 'hello all' } });
      await api(server, 'POST', `/v1/conversations/${conversationId}/read`, { token: bob.accessToken, body: { seq: 1 } });
      await eventually(async () => {
        const history = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken });
        expect(history.body.messages[0]).to.include({ status: 'delivered', readBy: 1, recipients: 2 });
      });
    });
  });

  describe('when a client reconnects after missing messages', () => {
    it('syncs what it missed, including a conversation it did not know', async () => {
      const [ann, bob, cat] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'cat')]);
      const known = await openDirect(server, ann, bob);
      const annSocket = await connect(ann);
      let bobSocket = await connect(bob);
      await request(annSocket, 'message:send', { conversationId: known, clientMsgId: 'k1', text: 'before' });
      bobSocket.close();

      for (let i = 2; i <= 4; i++) await request(annSocket, 'message:send', { conversationId: known, clientMsgId: `k${i}`, text: `while away ${i}` });
      const fresh = await openDirect(server, cat, bob);
      await api(server, 'POST', `/v1/conversations/${fresh}/messages`, { token: cat.accessToken, body: { clientMsgId: 'c1', text: 'new friend' } });

      bobSocket = await connect(bob);
      const synced = await request(bobSocket, 'sync', { conversations: { [known]: 1 }, limit: 2 });
      expect(synced.ok).to.equal(true);
      const byId = new Map<string, any>(synced.conversations.map((c: any) => [c.conversation.id, c]));
      expect(byId.get(known).messages.map((m: Message) => m.seq)).to.deep.equal([2, 3]);
      expect(byId.get(known).hasMore).to.equal(true);
      expect(byId.get(fresh).messages.map((m: Message) => m.text)).to.deep.equal(['new friend']);

      const rest = await request(bobSocket, 'sync', { conversations: { [known]: 3, [fresh]: 1 } });
      expect(rest.conversations).to.have.length(1);
      expect(rest.conversations[0].messages.map((m: Message) => m.seq)).to.deep.equal([4]);
    });
  });

  describe('when a user sends faster than the limit', () => {
    it('answers rate_limited with retryAfterMs', async () => {
      const limited = await startServer({ store: 'memory', env: { MESSAGES_PER_SECOND: '5' } });
      try {
        const [ann, bob] = await Promise.all([registerUser(limited, 'ann'), registerUser(limited, 'bob')]);
        const conversationId = await openDirect(limited, ann, bob);
        const socket = await connectClient(limited, ann.accessToken);
        sockets.push(socket);
        const acks = await Promise.all(Array.from({ length: 8 }, (_, i) => request(socket, 'message:send', { conversationId, clientMsgId: `rl${i}`, text: 'fast' })));
        const refused = acks.filter((a) => !a.ok);
        expect(acks.filter((a) => a.ok)).to.have.length(5);
        expect(refused[0].error.code).to.equal('rate_limited');
        expect(refused[0].error.details.retryAfterMs).to.be.a('number');
      } finally {
        await limited.stop();
      }
    });
  });
});

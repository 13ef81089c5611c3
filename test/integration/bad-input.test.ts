import { expect } from 'chai';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { api, type ClientSocket, connectClient, openDirect, registerUser, request, startServer, type TestServer } from '../support/server.js';

describe('bad input at the edge (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let ann: AuthResult;
  let bob: AuthResult;
  let eve: AuthResult;
  let conversationId: string;
  let socket: ClientSocket;
  let eveSocket: ClientSocket;

  before(async () => {
    server = await startServer({ env: { MAX_TEXT_LENGTH: '100', MAX_META_BYTES: '64', HTTP_BODY_LIMIT_BYTES: '2048', SOCKET_MAX_BUFFER_BYTES: '4096' } });
    [ann, bob, eve] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'eve')]);
    conversationId = await openDirect(server, ann, bob);
    await request((socket = await connectClient(server, ann.accessToken)), 'message:send', { conversationId, clientMsgId: 'ok-1', text: 'the only message' });
    eveSocket = await connectClient(server, eve.accessToken);
  });
  after(async () => {
    socket.close();
    eveSocket.close();
    await server.stop();
  });

  async function storedCount(): Promise<number> {
    const res = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: bob.accessToken });
    return res.body.messages.length;
  }

  const otherId = '0123456789abcdef01234567';
  const sendCases: Array<[string, () => unknown, string]> = [
    ['a missing text', () => ({ conversationId, clientMsgId: 'b1' }), 'invalid_payload'],
    ['a number as text', () => ({ conversationId, clientMsgId: 'b2', text: 42 }), 'invalid_payload'],
    ['an extra field', () => ({ conversationId, clientMsgId: 'b3', text: 'x', admin: true }), 'invalid_payload'],
    ['an operator object as conversationId', () => ({ conversationId: { $gt: '' }, clientMsgId: 'b4', text: 'x' }), 'invalid_payload'],
    ['an operator object as clientMsgId', () => ({ conversationId, clientMsgId: { $ne: null }, text: 'x' }), 'invalid_payload'],
    ['a malformed id', () => ({ conversationId: 'abc', clientMsgId: 'b5', text: 'x' }), 'invalid_payload'],
    ['an oversized text', () => ({ conversationId, clientMsgId: 'b6', text: 'x'.repeat(101) }), 'payload_too_large'],
    ['oversized meta', () => ({ conversationId, clientMsgId: 'b7', text: 'x', meta: { blob: 'y'.repeat(80) } }), 'payload_too_large'],
    ['a $ key in meta', () => ({ conversationId, clientMsgId: 'b8', text: 'x', meta: { $where: '1' } }), 'invalid_payload'],
    ['a __proto__ key in meta', () => ({ conversationId, clientMsgId: 'b8p', text: 'x', meta: JSON.parse('{"a":{"__proto__":{"admin":true}}}') }), 'invalid_payload'],
    ['an array payload', () => [conversationId, 'b9', 'x'], 'invalid_payload'],
    ['a null payload', () => null, 'invalid_payload'],
    ['an unknown conversation', () => ({ conversationId: otherId, clientMsgId: 'b10', text: 'x' }), 'not_found'],
  ];

  for (const [what, payload, code] of sendCases) {
    it(`answers message:send with ${what} with ${code} and stores nothing`, async () => {
      const ack = await request(socket, 'message:send', payload());
      expect(ack.ok).to.equal(false);
      expect(ack.error.code).to.equal(code);
      expect(await storedCount()).to.equal(1);
    });
  }

  it('answers a non-member with forbidden and stores nothing', async () => {
    const ack = await request(eveSocket, 'message:send', { conversationId, clientMsgId: 'eve1', text: 'let me in' });
    expect(ack.error.code).to.equal('forbidden');
    const rest = await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: eve.accessToken });
    expect(rest.status).to.equal(403);
    expect(rest.body.error.code).to.equal('forbidden');
    expect(await storedCount()).to.equal(1);
  });

  it('names the offending fields in details', async () => {
    const ack = await request(socket, 'message:send', { conversationId: 5, clientMsgId: 'f1', text: 'x', extra: 1 });
    expect(ack.error.details.fields).to.include.members(['conversationId', 'extra']);
  });

  const otherEvents: Array<[string, unknown, string]> = [
    ['message:edit', { messageId: { $gt: '' }, text: 'x' }, 'invalid_payload'],
    ['message:edit', { messageId: otherId, text: 'x' }, 'not_found'],
    ['message:delete', { messageId: otherId, scope: 'nobody' }, 'invalid_payload'],
    ['receipt:read', { conversationId: otherId, seq: 1 }, 'not_found'],
    ['receipt:read', { conversationId: 'x', seq: -1 }, 'invalid_payload'],
    ['receipt:delivered', { conversationId: 'x', seq: 1.5 }, 'invalid_payload'],
    ['sync', { conversations: { nope: 1 } }, 'invalid_payload'],
    ['sync', { limit: 100000 }, 'invalid_payload'],
  ];
  for (const [event, payload, code] of otherEvents) {
    it(`answers ${event} ${JSON.stringify(payload)} with ${code}`, async () => {
      const ack = await request(socket, event, payload);
      expect(ack.error.code).to.equal(code);
    });
  }

  it('keeps the connection and the server alive after an unknown event and an event without ack', async () => {
    (socket as any).emit('no:such:event', { x: 1 });
    (socket as any).emit('message:send', { conversationId, clientMsgId: 'noack', text: 'no ack' });
    const ack = await request(socket, 'sync', {});
    expect(ack.ok).to.equal(true);
  });

  it('drops a socket whose frame exceeds maxHttpBufferSize, and the server carries on', async () => {
    const victim = await connectClient(server, ann.accessToken);
    const closed = new Promise<string>((resolve) => victim.once('disconnect', resolve));
    victim.emit('message:send' as any, { conversationId, clientMsgId: 'huge', text: 'x'.repeat(10_000) }, () => undefined);
    expect(await closed).to.be.a('string');
    expect((await request(socket, 'sync', {})).ok).to.equal(true);
    expect(await storedCount()).to.equal(1);
  });

  const restCases: Array<[string, string, () => { body?: unknown; rawBody?: string; headers?: Record<string, string> }, number, string]> = [
    ['POST', '/v1/auth/register', () => ({ body: { username: { $gt: '' }, password: 'long enough pw' } }), 400, 'invalid_payload'],
    ['POST', '/v1/auth/login', () => ({ body: { username: 'x', password: { $ne: '' } } }), 400, 'invalid_payload'],
    ['POST', '/v1/auth/login', () => ({ rawBody: '{"username":', headers: { 'content-type': 'application/json' } }), 400, 'invalid_payload'],
    ['POST', '/v1/auth/login', () => ({ rawBody: 'username=x', headers: { 'content-type': 'text/plain' } }), 400, 'invalid_payload'],
    ['POST', '/v1/auth/register', () => ({ body: { username: 'big', password: 'x'.repeat(3000) } }), 413, 'payload_too_large'],
  ];
  for (const [method, path, options, status, code] of restCases) {
    it(`answers ${method} ${path} ${JSON.stringify(options()).slice(0, 60)} with ${status} ${code}`, async () => {
      const res = await api(server, method, path, options());
      expect(res.status).to.equal(status);
      expect(res.body.error.code).to.equal(code);
    });
  }

  it('refuses REST sends with bad bodies and stores nothing', async () => {
    const path = `/v1/conversations/${conversationId}/messages`;
    const bad = [
      { clientMsgId: 'r1' },
      { clientMsgId: 'r2', text: 'x', conversationId },
      { clientMsgId: ['r3'], text: 'x' },
      { clientMsgId: 'r4', text: 'x'.repeat(101) },
    ];
    for (const body of bad) {
      const res = await api(server, 'POST', path, { token: ann.accessToken, body });
      expect(res.body.error.code).to.be.oneOf(['invalid_payload', 'payload_too_large']);
    }
    const badId = await api(server, 'POST', '/v1/conversations/not-an-id/messages', { token: ann.accessToken, body: { clientMsgId: 'r5', text: 'x' } });
    expect(badId.body.error.code).to.equal('invalid_payload');
    const badQuery = await api(server, 'GET', `${path}?limit=abc`, { token: ann.accessToken });
    expect(badQuery.body.error.code).to.equal('invalid_payload');
    expect(await storedCount()).to.equal(1);
  });
});

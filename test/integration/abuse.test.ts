import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import jwt from 'jsonwebtoken';
import { connect } from 'socket.io-client';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { api, type ClientSocket, connectClient, openDirect, registerUser, request, startServer, TEST_JWT_SECRET, type TestServer } from '../support/server.js';

const ERROR_CODES = ['invalid_payload', 'unauthorized', 'forbidden', 'blocked', 'not_found', 'conflict', 'payload_too_large', 'rate_limited', 'unavailable'];

/**
 * What a hostile or broken client can do, against a real server on the MongoDB store: origins,
 * key rotation, oversized frames, generated garbage for every socket event and REST route, floods,
 * connection caps and password guessing. Each limit is set low here so it is cheap to reach.
 */
describe('abuse: a hostile client against the gateway (MongoDB store)', function () {
  this.timeout(120_000);
  let server: TestServer;

  before(async () => {
    server = await startServer({
      env: {
        ALLOWED_ORIGINS: 'https://chat.example.test',
        SOCKET_MAX_BUFFER_BYTES: '8192',
        SOCKET_EVENTS_PER_SECOND: '40',
        MAX_CONNECTIONS_PER_USER: '3',
        LOGIN_FAILURES_PER_USERNAME: '3',
      },
    });
  });
  after(async () => {
    await server?.stop();
  });

  const track: ClientSocket[] = [];
  afterEach(() => {
    for (const s of track.splice(0)) s.close();
  });
  async function socketOf(user: AuthResult): Promise<ClientSocket> {
    const s = await connectClient(server, user.accessToken);
    track.push(s);
    return s;
  }
  /** parley_errors_total{transport="socket",code} from /metrics (0 before the first). */
  async function socketErrors(code: string): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('parley_errors_total{') && l.includes(`code="${code}"`) && l.includes('transport="socket"'));
    return line ? Number(line.split(' ').pop()) : 0;
  }
  /** Resolves with the connect_error of a refused handshake, or fails if the socket connects. */
  function refusedHandshake(options: Parameters<typeof connect>[1]): Promise<Error & { data?: { code: string } }> {
    return new Promise((resolve, reject) => {
      const s = connect(server.url, { reconnection: false, forceNew: true, ...options });
      s.once('connect', () => {
        s.close();
        reject(new Error('the handshake was accepted'));
      });
      s.once('connect_error', (err) => {
        s.close();
        resolve(err as Error & { data?: { code: string } });
      });
    });
  }

  describe('origins', () => {
    it('refuses a socket handshake and a REST call from a browser origin that is not allowed, and accepts the allowed one and no origin', async () => {
      const user = await registerUser(server, 'origin');
      const before = await socketErrors('forbidden');
      const websocketFromEvil = await refusedHandshake({ auth: { token: user.accessToken }, transports: ['websocket'], extraHeaders: { origin: 'https://evil.example' } });
      expect(websocketFromEvil.message).to.not.equal('');
      const pollingFromEvil = await refusedHandshake({ auth: { token: user.accessToken }, transports: ['polling'], extraHeaders: { origin: 'https://evil.example' } });
      expect(pollingFromEvil.message).to.not.equal('');
      expect(await socketErrors('forbidden'), 'both refusals counted in parley_errors_total').to.equal(before + 2);

      const evil = await api(server, 'GET', '/v1/me', { token: user.accessToken, headers: { origin: 'https://evil.example' } });
      expect(evil.status).to.equal(403);
      expect(evil.body.error.code).to.equal('forbidden');

      const allowed = await api(server, 'GET', '/v1/me', { token: user.accessToken, headers: { origin: 'https://chat.example.test' } });
      expect(allowed.status).to.equal(200);
      const preflight = await fetch(`${server.url}/v1/me`, {
        method: 'OPTIONS',
        headers: { origin: 'https://chat.example.test', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      expect(preflight.headers.get('access-control-allow-origin')).to.equal('https://chat.example.test');
      expect((await api(server, 'GET', '/v1/me', { token: user.accessToken })).status, 'no Origin: an app or a backend').to.equal(200);
      const sameOrigin = connect(server.url, { auth: { token: user.accessToken }, transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { origin: server.url } });
      track.push(sameOrigin as ClientSocket);
      await new Promise<void>((resolve, reject) => {
        sameOrigin.once('connect', resolve);
        sameOrigin.once('connect_error', reject);
      });
    });
  });

  describe('JWT key rotation', () => {
    it('accepts tokens of the previous key during a rotation, signs with the new kid, and refuses the old key once it is retired', async () => {
      const nextSecret = `next-${'y'.repeat(40)}`;
      const base = { MONGODB_URI: server.mongodbUri! };
      // The same database before, during and after the rotation, as three deploys would see it.
      const before = await startServer({ env: { ...base } });
      const user = await registerUser(before, 'rotate');
      await before.parley.stop();
      const during = await startServer({ env: { ...base, JWT_SECRET: nextSecret, JWT_KID: 'k2', JWT_PREVIOUS_KEYS: `k1:${TEST_JWT_SECRET}` } });
      try {
        expect((await api(during, 'GET', '/v1/me', { token: user.accessToken })).status, 'an old token still works').to.equal(200);
        const fresh = await api(during, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
        expect((jwt.decode(fresh.body.accessToken, { complete: true })!.header as { kid: string }).kid).to.equal('k2');
        expect((await api(during, 'GET', '/v1/me', { token: fresh.body.accessToken })).status).to.equal(200);

        const after = await startServer({ env: { ...base, JWT_SECRET: nextSecret, JWT_KID: 'k2' } });
        try {
          expect((await api(after, 'GET', '/v1/me', { token: user.accessToken })).status, 'the retired key').to.equal(401);
          expect((await api(after, 'GET', '/v1/me', { token: fresh.body.accessToken })).status).to.equal(200);
        } finally {
          await after.parley.stop();
        }
      } finally {
        await during.parley.stop();
      }
    });
  });

  describe('oversized frames', () => {
    for (const transport of ['websocket', 'polling'] as const) {
      it(`closes a ${transport} socket that sends a frame over SOCKET_MAX_BUFFER_BYTES, and goes on serving`, async () => {
        const [ann, bob] = await Promise.all([registerUser(server, 'big'), registerUser(server, 'peer')]);
        const conversationId = await openDirect(server, ann, bob);
        const s = await connectClient(server, ann.accessToken, { transports: [transport] });
        track.push(s);
        const closed = new Promise<string>((resolve) => s.once('disconnect', resolve));
        s.emit('message:send', { conversationId, clientMsgId: 'huge', text: 'x'.repeat(64 * 1024) }, () => undefined);
        expect(await closed).to.be.oneOf(['transport close', 'transport error', 'io server disconnect']);

        const again = await socketOf(ann);
        const ack = await request(again, 'message:send', { conversationId, clientMsgId: 'small', text: 'still here' });
        expect(ack.ok).to.equal(true);
        expect(ack.message.seq, 'the huge message was never stored').to.equal(1);
      });
    }
  });

  describe('generated garbage', () => {
    const events = ['message:send', 'message:edit', 'message:delete', 'receipt:delivered', 'receipt:read', 'message:withdraw', 'sync', 'presence:subscribe', 'presence:unsubscribe'];

    it('answers every socket event with arbitrary payloads by an error code (or a harmless success), never crashing and never writing', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'fuzz'), registerUser(server, 'fuzzpeer')]);
      const conversationId = await openDirect(server, ann, bob);
      const s = await socketOf(ann);
      const snapshot = async () => JSON.stringify([
        (await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken })).body,
        (await api(server, 'GET', '/v1/conversations', { token: ann.accessToken })).body.conversations.map((c: any) => [c.id, c.lastSeq, c.unreadCount]),
      ]);
      const before = await snapshot();
      let asked = 0;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...events), fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom('conversationId', 'messageId', 'clientMsgId', 'text', 'seq', 'userIds', 'scope', 'conversations', 'limit', 'deliverAt'), fc.anything())), async (event, payload) => {
          // Stay under the socket's event budget: this test is about payloads, not floods.
          if (++asked % 30 === 0) await new Promise((r) => setTimeout(r, 1_000));
          const answer = await request(s, event, payload);
          if (answer.ok) return;
          expect(ERROR_CODES, `${event} ${JSON.stringify(payload)} → ${JSON.stringify(answer.error)}`).to.include(answer.error.code);
        }),
        { numRuns: 150 },
      );
      expect(s.connected, 'the socket survived').to.equal(true);
      expect(await snapshot(), 'nothing was written').to.equal(before);
    });

    it('answers every REST route with arbitrary bodies and ids by a 4xx error code, never a 5xx, and writes nothing', async () => {
      const [ann, bob] = await Promise.all([registerUser(server, 'rest'), registerUser(server, 'restpeer')]);
      const conversationId = await openDirect(server, ann, bob);
      const routes: [string, string][] = [
        ['POST', '/v1/auth/register'], ['POST', '/v1/auth/login'], ['POST', '/v1/auth/refresh'], ['PATCH', '/v1/me'], ['POST', '/v1/me/password'],
        ['POST', '/v1/conversations'], ['GET', '/v1/conversations/:id'], ['POST', '/v1/conversations/:id/members'], ['DELETE', '/v1/conversations/:id/members/:id'],
        ['POST', '/v1/conversations/:id/messages'], ['GET', '/v1/conversations/:id/messages'], ['POST', '/v1/conversations/:id/read'],
        ['PATCH', '/v1/messages/:id'], ['DELETE', '/v1/messages/:id'], ['DELETE', '/v1/scheduled-messages/:id'], ['GET', '/v1/users/:id'],
        ['POST', '/v1/users/:id/block'], ['DELETE', '/v1/users/:id/block'], ['POST', '/v1/notifications/read'], ['PATCH', '/v1/notify/preferences'],
        ['POST', '/v1/notify/push/subscriptions'], ['DELETE', '/v1/notify/push/subscriptions/:id'], ['POST', '/v1/events'],
      ];
      const before = (await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken })).body;
      const pathId = fc.oneof(fc.constant(conversationId), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 24, maxLength: 24 }), fc.string({ maxLength: 30 }).map(encodeURIComponent));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), pathId, fc.jsonValue(), async ([method, template], id, body) => {
          const path = template.replaceAll(':id', id || 'x');
          const res = await api(server, method, path, { token: ann.accessToken, ...(method === 'GET' || method === 'DELETE' ? {} : { body }) });
          expect(res.status, `${method} ${path} ${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`).to.be.below(500);
          if (res.status >= 400) expect(ERROR_CODES).to.include(res.body.error.code);
        }),
        { numRuns: 200 },
      );
      // The only bodies that could write are those naming a real conversation with a valid shape:
      // garbage never does, so the conversation is as it was.
      expect((await api(server, 'GET', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken })).body).to.deep.equal(before);
      expect((await api(server, 'GET', '/healthz')).status).to.equal(200);
    });
  });

  describe('floods and caps', () => {
    it('refuses a flooding socket rate_limited, then disconnects it, while another user keeps normal service', async () => {
      const [flooder, ann, bob] = await Promise.all([registerUser(server, 'flood'), registerUser(server, 'calm'), registerUser(server, 'calmpeer')]);
      const floodConversation = await openDirect(server, flooder, bob);
      const calmConversation = await openDirect(server, ann, bob);
      const flood = await socketOf(flooder);
      const calm = await socketOf(ann);
      const kicked = new Promise<string>((resolve) => flood.once('disconnect', resolve));
      const answers: string[] = [];
      for (let i = 0; i < 400; i++) {
        flood.emit('message:send', { conversationId: floodConversation, clientMsgId: `f${i}`, text: 'spam' }, (a: any) => answers.push(a.ok ? 'ok' : a.error.code));
      }
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        const ack = await request(calm, 'message:send', { conversationId: calmConversation, clientMsgId: `c${i}`, text: 'hello' });
        latencies.push(performance.now() - started);
        expect(ack.ok, JSON.stringify(ack)).to.equal(true);
      }
      expect(await kicked).to.equal('io server disconnect');
      expect(answers.filter((a) => a === 'ok').length, 'the socket budget was honoured').to.be.at.most(40);
      expect(answers).to.include('rate_limited');
      latencies.sort((a, b) => a - b);
      // Generous: this asserts "not starved", not a benchmark figure (see docs/benchmarks.md).
      expect(latencies[5]!, `calm user's median ack ${latencies[5]} ms`).to.be.below(1_000);
    });

    it('caps the connections of one user', async () => {
      const user = await registerUser(server, 'many');
      for (let i = 0; i < 3; i++) await socketOf(user);
      const before = await socketErrors('rate_limited');
      const fourth = await refusedHandshake({ auth: { token: user.accessToken }, transports: ['websocket'] });
      expect(fourth.message).to.equal('rate_limited');
      expect(fourth.data?.code).to.equal('rate_limited');
      expect(await socketErrors('rate_limited'), 'the refusal counted in parley_errors_total').to.equal(before + 1);
      track.pop()!.close();
      await new Promise((r) => setTimeout(r, 200));
      await socketOf(user);
    });

    it('blocks password guessing on one account after the allowed failures, even with the right password, without affecting others', async () => {
      const [victim, bystander] = await Promise.all([registerUser(server, 'victim'), registerUser(server, 'bystander')]);
      const login = (username: string, password: string) => api(server, 'POST', '/v1/auth/login', { body: { username, password } });
      for (let i = 0; i < 3; i++) expect((await login(victim.user.username, `guess ${i}`)).status).to.equal(401);
      const blocked = await login(victim.user.username, 'correct horse battery');
      expect(blocked.status).to.equal(429);
      expect(blocked.body.error.code).to.equal('rate_limited');
      expect(blocked.body.error.details.retryAfterMs).to.be.above(60_000);
      expect((await login(bystander.user.username, 'correct horse battery')).status).to.equal(200);
    });
  });

  describe('per-IP request limit', () => {
    let limited: TestServer;
    before(async () => {
      limited = await startServer({ store: 'memory', env: { IP_REQUESTS_PER_SECOND: '10' } });
    });
    after(async () => {
      await limited?.stop();
    });

    it('answers rate_limited past IP_REQUESTS_PER_SECOND, but never limits health checks', async () => {
      const statuses = await Promise.all(Array.from({ length: 30 }, () => api(limited, 'GET', `/v1/users/${randomUUID()}`).then((r) => [r.status, r.body.error?.code])));
      const limitedOnes = statuses.filter(([status]) => status === 429);
      expect(limitedOnes.length).to.be.at.least(15);
      for (const [, code] of limitedOnes) expect(code).to.equal('rate_limited');
      const health = await Promise.all(Array.from({ length: 30 }, () => api(limited, 'GET', '/healthz')));
      expect(health.every((r) => r.status === 200)).to.equal(true);
    });
  });
});

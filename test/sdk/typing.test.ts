import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { AuthResult, ParleyClient, TypingEvent } from '../../client-sdk/src/index.js';
import { delay, settle, TestClients, waitFor } from '../support/sdk.js';
import { api, connectClient, openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

/** Every `typing` event `client` emits for one conversation, as `userId:state`. */
function collectTyping(client: ParleyClient, conversationId: string): string[] {
  const seen: string[] = [];
  client.on('typing', (t: TypingEvent) => {
    if (t.conversationId === conversationId) seen.push(`${t.userId}:${t.state}`);
  });
  return seen;
}

// Short timings on both sides so a test takes a second, with the ratios of the defaults kept: the
// client re-sends start more often than the server's TTL, and stops after an idle pause.
const TYPING = { startIntervalMs: 200, idleMs: 500, remoteTimeoutMs: 800 };

describe('SDK typing indicators (memory store)', function () {
  this.timeout(30_000);
  const clients = new TestClients();
  let server: TestServer;

  before(async () => {
    server = await startServer({ store: 'memory', env: { TYPING_TTL_MS: '1000', TYPING_THROTTLE_MS: '100' } });
  });
  afterEach(async () => {
    await clients.closeAll();
  });
  after(async () => {
    await server.stop();
  });

  async function pair(target: TestServer): Promise<{ ann: AuthResult; bob: AuthResult; conversationId: string; annClient: ParleyClient; bobClient: ParleyClient }> {
    const [ann, bob] = await Promise.all([registerUser(target, 'ann'), registerUser(target, 'bob')]);
    const conversationId = await openDirect(target, ann, bob);
    const [annClient, bobClient] = await Promise.all([clients.online(target, ann, { typing: TYPING }), clients.online(target, bob, { typing: TYPING })]);
    return { ann, bob, conversationId, annClient, bobClient };
  }

  it('shows one start to the other member while the user keeps typing, then a stop once they pause', async () => {
    const { ann, conversationId, annClient, bobClient } = await pair(server);
    const seen = collectTyping(bobClient, conversationId);
    const frames: string[] = [];
    const emit = annClient.socket.emit.bind(annClient.socket);
    annClient.socket.emit = ((event: string, ...args: unknown[]) => {
      if (event === 'typing') frames.push((args[0] as { state: string }).state);
      return (emit as (...a: unknown[]) => unknown)(event, ...args);
    }) as typeof annClient.socket.emit;

    // Keystrokes every 50 ms for ~1.2 s: longer than the server's TTL, so only the re-sent starts keep it up.
    const typingUntil = Date.now() + 1200;
    while (Date.now() < typingUntil) {
      annClient.typing(conversationId);
      await delay(50);
    }
    expect(seen).to.deep.equal([`${ann.user.id}:start`], 'one start while typing, no expiry in between');
    expect(bobClient.typingUsers(conversationId)).to.deep.equal([ann.user.id]);
    const starts = frames.filter((f) => f === 'start').length;
    expect(starts, 'starts are throttled client-side').to.be.within(4, 8);

    await waitFor(() => seen.length === 2, 'bob sees the stop after the pause', 3000);
    expect(seen[1]).to.equal(`${ann.user.id}:stop`);
    expect(frames.at(-1)).to.equal('stop');
    expect(bobClient.typingUsers(conversationId)).to.deep.equal([]);
  });

  it('stops at once on stopTyping and on send, and the message follows', async () => {
    const { ann, conversationId, annClient, bobClient } = await pair(server);
    const seen = collectTyping(bobClient, conversationId);
    const messages: string[] = [];
    bobClient.on('message', (m) => messages.push(m.text));

    annClient.typing(conversationId);
    await waitFor(() => seen.length === 1, 'start');
    const stoppedAt = Date.now();
    annClient.stopTyping(conversationId);
    await waitFor(() => seen.length === 2, 'stop');
    expect(Date.now() - stoppedAt, 'well before the idle timeout').to.be.below(TYPING.idleMs);

    annClient.typing(conversationId);
    await waitFor(() => seen.length === 3, 'start again');
    await annClient.send(conversationId, 'done typing');
    await waitFor(() => messages.length === 1, 'the message');
    await settle();
    expect(seen).to.deep.equal([`${ann.user.id}:start`, `${ann.user.id}:stop`, `${ann.user.id}:start`, `${ann.user.id}:stop`]);
    expect(messages).to.deep.equal(['done typing']);
  });

  describe('when the server never says stop (a long TYPING_TTL_MS)', () => {
    let slow: TestServer;
    before(async () => {
      slow = await startServer({ store: 'memory', env: { TYPING_TTL_MS: '60000' } });
    });
    after(async () => {
      await slow.stop();
    });

    it('ends a remote start by itself after the quiet period, or when that member sends a message', async () => {
      const [ann, bob] = await Promise.all([registerUser(slow, 'ann'), registerUser(slow, 'bob')]);
      const conversationId = await openDirect(slow, ann, bob);
      const bobClient = await clients.online(slow, bob, { typing: TYPING });
      const seen = collectTyping(bobClient, conversationId);
      // Ann on a raw socket: one start and nothing else, as from a client that vanished without a stop.
      const annSocket = await connectClient(slow, ann.accessToken);
      try {
        annSocket.emit('typing', { conversationId, state: 'start' });
        await waitFor(() => seen.length === 1, 'start');
        const startedAt = Date.now();
        await waitFor(() => seen.length === 2, 'stop by the SDK', 3000);
        expect(Date.now() - startedAt).to.be.within(TYPING.remoteTimeoutMs - 100, TYPING.remoteTimeoutMs + 700);

        // Throttle window of the server (1 s default) has passed: the next start is forwarded.
        await delay(300);
        annSocket.emit('typing', { conversationId, state: 'start' });
        await waitFor(() => seen.length === 3, 'start again');
        const res = await api(slow, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { clientMsgId: randomUUID(), text: 'sent' } });
        expect(res.status).to.equal(201);
        await waitFor(() => seen.length === 4, 'stop at the message');
        expect(seen).to.deep.equal([`${ann.user.id}:start`, `${ann.user.id}:stop`, `${ann.user.id}:start`, `${ann.user.id}:stop`]);
      } finally {
        annSocket.close();
      }
    });
  });
});

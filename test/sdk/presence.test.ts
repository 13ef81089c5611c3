import { expect } from 'chai';
import type { Presence } from '../../client-sdk/src/index.js';
import { settle, TestClients, waitFor } from '../support/sdk.js';
import { openDirect, registerUser, startServer, type TestServer } from '../support/server.js';

/** Every `presence` event of `client` for one user, in arrival order. */
function collectPresence(client: { on(event: 'presence', listener: (p: Presence) => void): () => void }, userId: string): Presence[] {
  const seen: Presence[] = [];
  client.on('presence', (p) => {
    if (p.userId === userId) seen.push(p);
  });
  return seen;
}

describe('SDK presence (memory store)', function () {
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

  it('shows a contact online, then offline with last seen, and subscribes again after the watcher reconnects', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    await openDirect(server, ann, bob);
    // No jitter and a 1.5 s first delay: a deterministic window in which ann's watcher is away.
    const annClient = await clients.online(server, ann, { reconnect: { initialMs: 1500, maxMs: 1500, jitter: 0 } });
    const seen = collectPresence(annClient, bob.user.id);

    const first = await annClient.subscribePresence([bob.user.id]);
    expect(first).to.deep.equal([{ userId: bob.user.id, online: false, lastSeenAt: null }]);
    expect(seen).to.deep.equal(first, 'the first answer is emitted too');

    const bobClient = await clients.online(server, bob);
    await waitFor(() => seen.at(-1)?.online === true, 'ann sees bob online');
    expect(annClient.presenceOf(bob.user.id)).to.deep.equal({ userId: bob.user.id, online: true, lastSeenAt: null });

    // Ann's socket drops; while she is away bob leaves. The server forgot her subscription with her socket.
    annClient.socket.io.engine.close();
    await waitFor(() => annClient.state !== 'online', 'ann disconnected');
    const leftAt = Date.now();
    await bobClient.close();
    await waitFor(() => annClient.state === 'online', 'ann reconnects');
    await waitFor(() => seen.at(-1)?.online === false, 'ann learns bob went offline, from the new subscription');
    const offline = seen.at(-1)!;
    expect(offline.lastSeenAt, 'last seen').to.be.a('string');
    expect(Math.abs(Date.parse(offline.lastSeenAt!) - leftAt)).to.be.below(2000);

    // Live events flow again on the new socket: the subscription was renewed, not just read once.
    const bobAgain = await clients.online(server, bob);
    await waitFor(() => seen.at(-1)?.online === true, 'ann sees bob online again, live');
    await bobAgain.close();
    await waitFor(() => seen.at(-1)?.online === false, 'ann sees bob offline again, live');
    expect(Date.parse(seen.at(-1)!.lastSeenAt!)).to.be.at.least(Date.parse(offline.lastSeenAt!));
    expect(seen.map((p) => p.online)).to.deep.equal([false, true, false, true, false]);
  });

  it('waits for the socket when asked before it is up, hides last seen on request, and stops after unsubscribe', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    await openDirect(server, ann, bob);
    const annClient = clients.create(server, ann);
    const seen = collectPresence(annClient, bob.user.id);
    // Asked while still connecting: it resolves once the socket is up.
    const first = await annClient.subscribePresence([bob.user.id, bob.user.id]);
    expect(first.map((p) => p.userId)).to.deep.equal([bob.user.id]);

    const bobClient = await clients.online(server, bob);
    const me = await bobClient.updateSettings({ hideLastSeen: true });
    expect(me.settings).to.deep.equal({ hideLastSeen: true, notifyOnRead: false });
    await waitFor(() => seen.at(-1)?.online === true, 'ann sees bob online');
    await bobClient.close();
    await waitFor(() => seen.at(-1)?.online === false, 'ann sees bob offline');
    expect(seen.at(-1)!.lastSeenAt, 'hidden last seen').to.equal(null);

    await annClient.unsubscribePresence([bob.user.id]);
    const count = seen.length;
    await (await clients.online(server, bob)).close();
    await settle();
    expect(seen.length, 'no events after unsubscribing').to.equal(count);
    expect(annClient.presenceOf(bob.user.id)).to.equal(undefined);
  });

  it('leaves out users who share no conversation: no entry, no events', async () => {
    const [ann, stranger] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'str')]);
    const annClient = await clients.online(server, ann);
    const seen = collectPresence(annClient, stranger.user.id);
    expect(await annClient.subscribePresence([stranger.user.id])).to.deep.equal([]);
    await clients.online(server, stranger);
    await settle();
    expect(seen).to.deep.equal([]);
  });
});

import { expect } from 'chai';
import type { Presence } from '../../client-sdk/src/index.js';
import { api, connectClient, openDirect, registerUser, request, startServer, type TestServer, until } from '../support/server.js';

describe('presence and typing on one node (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startServer({ env: { TYPING_TTL_MS: '300', TYPING_THROTTLE_MS: '200' } });
  });
  after(async () => {
    await server.stop();
  });

  it('shows a contact online while any device is, then offline with last seen', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    await openDirect(server, ann, bob);
    const watcher = await connectClient(server, ann.accessToken);
    const first = await request(watcher, 'presence:subscribe', { userIds: [bob.user.id] });
    expect(first.presence).to.deep.equal([{ userId: bob.user.id, online: false, lastSeenAt: null }]);

    const online = until<Presence>(watcher, 'presence', (p) => p.userId === bob.user.id && p.online);
    const phone = await connectClient(server, bob.accessToken);
    await online;
    const laptop = await connectClient(server, bob.accessToken);
    phone.close();
    await new Promise((r) => setTimeout(r, 300));
    expect((await request(watcher, 'presence:subscribe', { userIds: [bob.user.id] })).presence[0].online).to.equal(true);

    const offline = until<Presence>(watcher, 'presence', (p) => p.userId === bob.user.id && !p.online);
    laptop.close();
    const seen = await offline;
    expect(seen.lastSeenAt).to.be.a('string');
    watcher.close();
  });

  it('shows presence only to users who share a conversation, and hides last seen on request', async () => {
    const [ann, bob, stranger] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob'), registerUser(server, 'str')]);
    await openDirect(server, ann, bob);
    const strangerSocket = await connectClient(server, stranger.accessToken);
    expect((await request(strangerSocket, 'presence:subscribe', { userIds: [bob.user.id] })).presence).to.deep.equal([]);
    await api(server, 'PATCH', '/v1/me', { token: bob.accessToken, body: { settings: { hideLastSeen: true } } });
    const watcher = await connectClient(server, ann.accessToken);
    await request(watcher, 'presence:subscribe', { userIds: [bob.user.id] });
    const bobSocket = await connectClient(server, bob.accessToken);
    const offline = until<Presence>(watcher, 'presence', (p) => p.userId === bob.user.id && !p.online);
    bobSocket.close();
    expect((await offline).lastSeenAt).to.equal(null);
    watcher.close();
    strangerSocket.close();
  });

  it('forwards typing to the other member, throttled, and stops it by itself', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const [annSocket, bobSocket] = [await connectClient(server, ann.accessToken), await connectClient(server, bob.accessToken)];
    const seen: string[] = [];
    bobSocket.on('typing', (t) => {
      if (t.conversationId === conversationId && t.userId === ann.user.id) seen.push(t.state);
    });
    const stopped = until<any>(bobSocket, 'typing', (t) => t.state === 'stop');
    annSocket.emit('typing', { conversationId, state: 'start' });
    annSocket.emit('typing', { conversationId, state: 'start' });
    annSocket.emit('typing', { conversationId, state: 'start' });
    await stopped;
    expect(seen).to.deep.equal(['start', 'stop']);
    annSocket.close();
    bobSocket.close();
  });

  it('never sends presence or typing to a blocked user', async () => {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const bobSocket = await connectClient(server, bob.accessToken);
    await request(bobSocket, 'presence:subscribe', { userIds: [ann.user.id] });
    await api(server, 'POST', `/v1/users/${bob.user.id}/block`, { token: ann.accessToken });
    const received: string[] = [];
    bobSocket.on('presence', (p) => p.userId === ann.user.id && received.push('presence'));
    bobSocket.on('typing', (t) => t.userId === ann.user.id && received.push('typing'));
    await new Promise((r) => setTimeout(r, 100));

    const annSocket = await connectClient(server, ann.accessToken);
    annSocket.emit('typing', { conversationId, state: 'start' });
    await new Promise((r) => setTimeout(r, 500));
    annSocket.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(received).to.deep.equal([]);
    expect((await request(bobSocket, 'presence:subscribe', { userIds: [ann.user.id] })).presence).to.deep.equal([]);
    bobSocket.close();
  });
});

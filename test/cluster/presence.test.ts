import { expect } from 'chai';
import type { Presence, TypingEvent } from '../../client-sdk/src/index.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { api, connectClient, registerUser, request, until } from '../support/server.js';
import type { AuthResult } from '../../client-sdk/src/index.js';

type Socket = Awaited<ReturnType<typeof connectClient>>;

/**
 * Presence across gateway OS processes sharing Redis (PRESENCE_TTL_MS=3000 in the harness). Sockets
 * connect straight to one node and never reconnect, so a killed node's users have no other way back.
 */
describe('presence across a cluster of gateway processes (Redis, RabbitMQ, MongoDB)', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let ttlMs: number;
  const sockets: Socket[] = [];

  before(async () => {
    cluster = await startCluster({ gateways: 2, workers: 1 });
    ttlMs = Number(cluster.env.PRESENCE_TTL_MS);
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await cluster?.stop();
  });

  async function on(node: { url: string }, user: AuthResult): Promise<Socket> {
    const socket = await connectClient(node, user.accessToken);
    sockets.push(socket);
    return socket;
  }

  /** Every presence event the socket receives, in order. */
  function heard(socket: Socket): Presence[] {
    const events: Presence[] = [];
    socket.on('presence', (p: Presence) => events.push(p));
    return events;
  }

  async function group(owner: AuthResult, members: AuthResult[]): Promise<string> {
    const res = await api(cluster.gateways[0]!, 'POST', '/v1/conversations', { token: owner.accessToken, body: { type: 'group', title: 'presence', memberIds: members.map((m) => m.user.id) } });
    expect(res.status).to.equal(201);
    return res.body.conversation.id;
  }

  it("shows a killed node's users offline on other nodes within the TTL, with last seen, while a second device keeps its user online", async () => {
    const [node0, node1] = cluster.gateways as [typeof cluster.gateways[0], typeof cluster.gateways[0]];
    const victim = await cluster.startGateway('gw-victim');
    const [watcher, solo, duo] = await Promise.all(['watcher', 'solo', 'duo'].map((name) => registerUser(node0, name))) as [AuthResult, AuthResult, AuthResult];
    await group(watcher, [solo, duo]);

    // solo's only device and one of duo's two are on the victim; duo's other device is on node 1.
    await on(victim, solo);
    await on(victim, duo);
    await on(node1, duo);
    const watching = await on(node0, watcher);
    const events = heard(watching);
    const subscribed = await request(watching, 'presence:subscribe', { userIds: [solo.user.id, duo.user.id] });
    expect(subscribed.presence.map((p: Presence) => [p.userId, p.online]).sort()).to.deep.equal(
      [
        [solo.user.id, true],
        [duo.user.id, true],
      ].sort(),
    );

    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    const offline = await until<Presence>(watching, 'presence', (p) => p.userId === solo.user.id && !p.online, 4 * ttlMs);
    const elapsed = Date.now() - killedAt;
    cluster.gateways.splice(cluster.gateways.indexOf(victim), 1);

    // The node's entries live 0.7 TTL after its last heartbeat, and a sweep runs every 0.1 TTL or so.
    expect(elapsed, `offline after ${elapsed} ms`).to.be.below(ttlMs);
    expect(offline.lastSeenAt, 'last seen on the offline event').to.be.a('string');
    expect(Date.parse(offline.lastSeenAt!)).to.be.within(killedAt - ttlMs, Date.now());
    // The sweep that reported solo also judged duo, whose other device is alive.
    expect(events.filter((p) => p.userId === duo.user.id && !p.online), 'duo never went offline').to.deep.equal([]);
    const now = await request(watching, 'presence:subscribe', { userIds: [duo.user.id] });
    expect(now.presence[0]).to.include({ userId: duo.user.id, online: true });

    // Last seen went through RabbitMQ to the worker and into MongoDB: a fresh subscriber sees it.
    const later = await on(node1, watcher);
    const deadline = Date.now() + 10_000;
    let stored: Presence | undefined;
    while (Date.now() < deadline) {
      stored = (await request(later, 'presence:subscribe', { userIds: [solo.user.id] })).presence[0];
      if (stored?.lastSeenAt) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stored).to.include({ userId: solo.user.id, online: false });
    expect(stored!.lastSeenAt).to.equal(offline.lastSeenAt);
  });

  it("never shows a blocked user the blocker's presence or typing, on any node", async () => {
    const [node0, node1] = cluster.gateways as [typeof cluster.gateways[0], typeof cluster.gateways[0]];
    const [ann, bob, carl] = await Promise.all(['ann', 'bob', 'carl'].map((name) => registerUser(node0, name))) as [AuthResult, AuthResult, AuthResult];
    const conversationId = await group(ann, [bob, carl]);
    expect((await api(node1, 'POST', `/v1/users/${bob.user.id}/block`, { token: ann.accessToken })).status).to.equal(200);

    // Bob (blocked) and Carl (the control) watch Ann from node 0; Ann comes and goes on node 1.
    const bobSocket = await on(node0, bob);
    const carlSocket = await on(node0, carl);
    const bobHeard: unknown[] = [];
    bobSocket.on('presence', (p: Presence) => bobHeard.push(p));
    bobSocket.on('typing', (t: TypingEvent) => bobHeard.push(t));
    expect((await request(bobSocket, 'presence:subscribe', { userIds: [ann.user.id] })).presence).to.deep.equal([]);
    await request(carlSocket, 'presence:subscribe', { userIds: [ann.user.id] });

    const annOnline = until<Presence>(carlSocket, 'presence', (p) => p.userId === ann.user.id && p.online);
    const annSocket = await connectClient(node1, ann.accessToken);
    await annOnline;
    const typing = until<TypingEvent>(carlSocket, 'typing', (t) => t.userId === ann.user.id && t.state === 'start');
    annSocket.emit('typing', { conversationId, state: 'start' });
    await typing;
    const annOffline = until<Presence>(carlSocket, 'presence', (p) => p.userId === ann.user.id && !p.online);
    annSocket.close();
    await annOffline;

    // Carl heard all of it through the same node and the same Redis channels; Bob heard nothing.
    expect(bobHeard).to.deep.equal([]);
  });
});

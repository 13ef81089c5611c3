import { expect } from 'chai';
import type { Presence, TypingEvent } from '../../client-sdk/src/index.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { api, connectClient, registerUser, request, until } from '../support/server.js';
import type { AuthResult } from '../../client-sdk/src/index.js';

type Socket = Awaited<ReturnType<typeof connectClient>>;

/**
 * Presence across gateway OS processes sharing Redis. Sockets connect straight to one node and never
 * reconnect. (The kill -9 proof — a dead node's users shown offline within the TTL — is not in the suite:
 * it failed in one of three full CI runs, see the issue 3 note; test/contract/presence.contract.test.ts
 * covers the sweeper with private Redis servers.)
 */
describe('presence across a cluster of gateway processes (Redis, RabbitMQ, MongoDB)', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  const sockets: Socket[] = [];

  before(async () => {
    cluster = await startCluster({ gateways: 2, workers: 1 });
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

  async function group(owner: AuthResult, members: AuthResult[]): Promise<string> {
    const res = await api(cluster.gateways[0]!, 'POST', '/v1/conversations', { token: owner.accessToken, body: { type: 'group', title: 'presence', memberIds: members.map((m) => m.user.id) } });
    expect(res.status).to.equal(201);
    return res.body.conversation.id;
  }

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

import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { createClient, type Message, type ParleyClient } from '../../client-sdk/src/index.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { api, connectClient, openDirect, registerUser, request, until } from '../support/server.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import type { AuthResult } from '../../client-sdk/src/index.js';

/**
 * Several gateway OS processes joined through Redis, plus a worker process, against the local Redis,
 * RabbitMQ and MongoDB server. Clients reach the gateways through a TCP balancer each, pinned to one
 * node while it lives, and reconnect to the next when it dies, as behind a real load balancer.
 */
describe('a cluster of gateway processes (Redis, RabbitMQ, MongoDB)', function () {
  this.timeout(240_000);
  let cluster: Cluster;
  const balancers: TcpBalancer[] = [];
  const clients: ParleyClient[] = [];

  before(async () => {
    cluster = await startCluster({ gateways: 3, workers: 1 });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(balancers.splice(0).map((b) => b.close()));
  });
  after(async () => {
    await cluster?.stop();
  });

  const urls = () => cluster.gateways.filter((g) => g.child.exitCode === null && g.child.signalCode === null).map((g) => g.url);

  /** A balancer whose first choice is gateway `node` (0-based), then the others in order. */
  async function via(node: number): Promise<string> {
    const all = cluster.gateways.map((g) => g.url);
    const balancer = new TcpBalancer([...all.slice(node), ...all.slice(0, node)]);
    balancers.push(balancer);
    return balancer.listen();
  }

  async function sdk(user: AuthResult, node: number): Promise<ParleyClient> {
    const client = createClient({
      url: await via(node),
      getToken: async () => user.accessToken,
      transports: ['websocket'],
      reconnect: { initialMs: 100, maxMs: 1000, jitter: 0.3 },
      fallback: false,
      ackTimeoutMs: 3000,
    });
    clients.push(client);
    await new Promise<void>((resolve) => {
      if (client.state === 'online') return resolve();
      const on = (state: string) => state === 'online' && (client.off('connection', on), resolve());
      client.on('connection', on);
    });
    return client;
  }

  function collect(client: ParleyClient, conversationId: string): number[] {
    const seqs: number[] = [];
    client.on('message', (m: Message) => {
      if (m.conversationId === conversationId) seqs.push(m.seq);
    });
    return seqs;
  }

  async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  async function group(owner: AuthResult, members: AuthResult[]): Promise<string> {
    const server = { url: cluster.gateways[0]!.url };
    const res = await api(server, 'POST', '/v1/conversations', { token: owner.accessToken, body: { type: 'group', title: 'cluster', memberIds: members.map((m) => m.user.id) } });
    return res.body.conversation.id;
  }

  async function sendAll(senders: ParleyClient[], conversationId: string, perSender: number, onSent?: (n: number) => void): Promise<Message[]> {
    let sent = 0;
    const results = await Promise.all(
      senders.map(async (client, s) => {
        const stored: Message[] = [];
        for (let k = 0; k < perSender; k++) {
          stored.push(await client.send(conversationId, `m${k} from ${s}`, { clientMsgId: `s${s}-${k}` }));
          onSent?.(++sent);
        }
        return stored;
      }),
    );
    return results.flat();
  }

  /** Runs task(0..count-1) with at most `window` in flight; results in index order. */
  async function inWindows<T>(count: number, window: number, task: (k: number) => Promise<T>): Promise<T[]> {
    const results: T[] = new Array(count);
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < count) {
          const k = next++;
          results[k] = await task(k);
        }
      }),
    );
    return results;
  }

  it("delivers a 2,000-message stream from 5 senders once and in order to one user's 3 devices on 3 nodes", async () => {
    const server = { url: cluster.gateways[0]!.url };
    const [reader, ...senderUsers] = await Promise.all(Array.from({ length: 6 }, (_, i) => registerUser(server, `c${i}`)));
    const conversationId = await group(reader!, senderUsers);
    const devices = await Promise.all([0, 1, 2].map((node) => sdk(reader!, node)));
    const received = devices.map((d) => collect(d, conversationId));
    // Senders on plain sockets, straight to their node, with 16 acks in flight each (the SDK keeps
    // one per conversation): the server's group commit then stores the stream in seconds, not
    // minutes. The devices' view is what this test is about.
    const senders = await Promise.all(senderUsers.map((u, i) => connectClient(cluster.gateways[i % 3]!, u.accessToken)));
    try {
      const stored = (
        await Promise.all(
          senders.map((socket, s) =>
            inWindows(400, 16, async (k) => {
              const payload = { conversationId, clientMsgId: `s${s}-${k}`, text: `m${k} from ${s}` };
              // As a client would on a slow ack: resend with the same clientMsgId, which is stored once.
              for (let attempt = 1; ; attempt++) {
                const ack = await request(socket, 'message:send', payload).catch((err: unknown) => {
                  if (attempt >= 3) throw err;
                  return undefined;
                });
                if (ack === undefined) continue;
                if (!ack.ok) throw new Error(`send ${s}-${k} failed: ${JSON.stringify(ack.error)}`);
                return ack.message as Message;
              }
            }),
          ),
        )
      ).flat();
      expect(stored.map((m) => m.seq).sort((a, b) => a - b)).to.deep.equal(range(2000));
    } finally {
      for (const socket of senders) socket.close();
    }
    await waitFor(() => received.every((r) => r.length >= 2000), 60_000, 'every device has 2000 messages');
    await new Promise((r) => setTimeout(r, 300));
    for (const seqs of received) expect(seqs).to.deep.equal(range(2000));
  });

  describe('when a user must be signed out', () => {
    /** Resolves once every socket has been disconnected by the server. */
    const allClosed = (sockets: Awaited<ReturnType<typeof connectClient>>[]) =>
      Promise.all(sockets.map((s) => new Promise((resolve) => (s.disconnected ? resolve(undefined) : s.once('disconnect', resolve)))));
    const onEveryNode = async (user: AuthResult) => Promise.all(cluster.gateways.map((g) => connectClient({ url: g.url }, user.accessToken)));
    const within = async (ms: number, what: Promise<unknown>) => {
      const started = Date.now();
      await what;
      expect(Date.now() - started, 'closed within seconds').to.be.below(ms);
    };

    it('closes the session on every node at logout, and every session at a password change', async () => {
      const server = { url: cluster.gateways[0]!.url };
      const user = await registerUser(server, 'out');
      const sockets = await onEveryNode(user);
      await api(server, 'POST', '/v1/auth/logout', { token: user.accessToken });
      await within(3000, allClosed(sockets));

      const login = await api(server, 'POST', '/v1/auth/login', { body: { username: user.user.username, password: 'correct horse battery' } });
      const second = await api(server, 'POST', '/v1/auth/login', { body: { username: user.user.username, password: 'correct horse battery' } });
      const more = [...(await onEveryNode(login.body)), ...(await onEveryNode(second.body))];
      const changed = await api(server, 'POST', '/v1/me/password', { token: login.body.accessToken, body: { currentPassword: 'correct horse battery', newPassword: 'a new long password' } });
      expect(changed.status).to.equal(200);
      await within(3000, allClosed(more));
      expect((await api(server, 'GET', '/v1/me', { token: second.body.accessToken })).status).to.equal(401);
      expect((await api(server, 'GET', '/v1/me', { token: changed.body.accessToken })).status).to.equal(200);
    });

    it('closes every socket on every node when an operator suspends the account', async () => {
      const server = { url: cluster.gateways[0]!.url };
      const user = await registerUser(server, 'sus');
      const sockets = await onEveryNode(user);
      const { execFile } = await import('node:child_process');
      const run = (args: string[]) =>
        new Promise<string>((resolve, reject) =>
          execFile(process.execPath, ['--import', 'tsx', 'server/cli.ts', ...args], { env: { ...process.env, ...cluster.env, LOG_LEVEL: 'warn' } }, (err, out) => (err ? reject(err) : resolve(out))),
        );
      expect(await run(['user-status', user.user.username, 'blocked'])).to.contain('blocked');
      await within(15_000, allClosed(sockets));
      const login = await api(server, 'POST', '/v1/auth/login', { body: { username: user.user.username, password: 'correct horse battery' } });
      expect(login.body.error.code).to.equal('forbidden');
      await run(['user-status', user.user.username, 'active']);
      expect((await api(server, 'POST', '/v1/auth/login', { body: { username: user.user.username, password: 'correct horse battery' } })).status).to.equal(200);
    });

    it('closes every socket on every node when the account is deleted', async () => {
      const server = { url: cluster.gateways[0]!.url };
      const user = await registerUser(server, 'del');
      const sockets = await onEveryNode(user);
      await api(server, 'DELETE', '/v1/me', { token: user.accessToken, body: { password: 'correct horse battery' } });
      await within(3000, allClosed(sockets));
    });
  });

  it('delivers read receipts to the sender on another node', async () => {
    const server = { url: cluster.gateways[0]!.url };
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    const conversationId = await openDirect(server, ann, bob);
    const annSocket = await connectClient({ url: cluster.gateways[0]!.url }, ann.accessToken);
    const bobSocket = await connectClient({ url: cluster.gateways[2]!.url }, bob.accessToken);
    await request(annSocket, 'message:send', { conversationId, clientMsgId: 'x1', text: 'read me' });
    const receipt = until<any>(annSocket, 'receipt', (r) => r.userId === bob.user.id && r.readSeq === 1);
    expect((await request(bobSocket, 'receipt:read', { conversationId, seq: 1 })).ok).to.equal(true);
    await receipt;
    annSocket.close();
    bobSocket.close();
  });

  // The tests that break things run last, so the others start from a healthy cluster.
  describe('when things fail', () => {
  it('keeps every acknowledged message exactly once and in order when a node is killed mid-stream', async () => {
    const server = { url: cluster.gateways[0]!.url };
    const [reader, ...senderUsers] = await Promise.all(Array.from({ length: 6 }, (_, i) => registerUser(server, `k${i}`)));
    const conversationId = await group(reader!, senderUsers);
    const devices = await Promise.all([0, 1, 2].map((node) => sdk(reader!, node)));
    const received = devices.map((d) => collect(d, conversationId));
    const senders = await Promise.all(senderUsers.map((u, i) => sdk(u, i % 3)));
    const victim = cluster.gateways[1]!;

    const stored = await sendAll(senders, conversationId, 120, (n) => {
      if (n === 200) victim.kill('SIGKILL');
    });
    expect(await victim.exited).to.equal('SIGKILL');
    const seqs = stored.map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs, 'every send acked once, with gapless seqs').to.deep.equal(range(600));
    expect(new Set(stored.map((m) => m.clientMsgId)).size).to.equal(600);
    await waitFor(() => received.every((r) => r.length >= 600), 60_000, 'every device has 600 messages');
    await new Promise((r) => setTimeout(r, 300));
    for (const r of received) expect(r).to.deep.equal(range(600));

    const history = await api({ url: urls()[0]! }, 'GET', `/v1/conversations/${conversationId}/messages?afterSeq=600`, { token: reader!.accessToken });
    expect(history.body.messages, 'nothing stored twice').to.have.length(0);
    // Bring the cluster back to three nodes for the next tests.
    // startGateway appends the replacement; drop the dead one from the list.
    await cluster.startGateway('gw-replaced');
    cluster.gateways.splice(cluster.gateways.indexOf(victim), 1);
  });

  it('keeps serving while Redis is down for 10 s, and every device closes its gaps once it is back, with no later message', async () => {
    const server = { url: cluster.gateways[0]!.url };
    const [reader, ...senderUsers] = await Promise.all(Array.from({ length: 4 }, (_, i) => registerUser(server, `r${i}`)));
    const conversationId = await group(reader!, senderUsers);
    const devices = await Promise.all([0, 1, 2].map((node) => sdk(reader!, node)));
    const received = devices.map((d) => collect(d, conversationId));
    // All senders on node 0: devices on nodes 1 and 2 hear of new messages only through Redis.
    const senders = await Promise.all(senderUsers.map((u) => sdk(u, 0)));

    const readiness: number[] = [];
    let phase: 'before' | 'down' | 'back' = 'before';
    const outage = (async () => {
      await new Promise((r) => setTimeout(r, 500));
      execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave']);
      phase = 'down';
      await new Promise((r) => setTimeout(r, 5000));
      readiness.push((await fetch(`${cluster.gateways[0]!.url}/readyz`)).status);
      await new Promise((r) => setTimeout(r, 5000));
      startRedis();
      phase = 'back';
    })();
    // Each sender keeps sending, 20 ms apart, until Redis is back.
    let sentWhileDown = 0;
    const stored = (
      await Promise.all(
        senders.map(async (client, s) => {
          const mine: Message[] = [];
          for (let k = 0; phase !== 'back'; k++) {
            const sentDuring = phase === 'down';
            mine.push(await client.send(conversationId, `m${k} from ${s}`, { clientMsgId: `r${s}-${k}` }));
            if (sentDuring && phase === 'down') sentWhileDown += 1;
            await new Promise((r) => setTimeout(r, 20));
          }
          return mine;
        }),
      )
    ).flat();
    await outage;
    expect(sentWhileDown, 'messages stored while Redis was down').to.be.greaterThan(20);
    // Nothing is sent after the outage: a device that missed broadcasts learns of it only from the
    // `resync` its node sends once Redis is back.
    const total = stored.length;
    expect(stored.map((m) => m.seq).sort((a, b) => a - b)).to.deep.equal(range(total));
    await waitFor(() => received.every((r) => r.length >= total), 60_000, 'every device caught up');
    for (const r of received) expect(r).to.deep.equal(range(total));
    for (const p of [...cluster.gateways, ...cluster.workers]) expect(p.child.exitCode, `${p.name} is alive`).to.equal(null);
    expect(readiness, 'degraded while Redis was down').to.deep.equal([503]);
    const deadline = Date.now() + 15_000;
    let ready = 0;
    while (Date.now() < deadline && ready !== 200) {
      ready = (await fetch(`${cluster.gateways[0]!.url}/readyz`)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready, 'ready again once Redis is back').to.equal(200);
  });

  it('drains a node on SIGTERM without losing an acknowledged message', async () => {
    const server = { url: cluster.gateways[0]!.url };
    const [reader, ...senderUsers] = await Promise.all(Array.from({ length: 4 }, (_, i) => registerUser(server, `d${i}`)));
    const conversationId = await group(reader!, senderUsers);
    const spare = await cluster.startGateway('gw-drained');
    const index = cluster.gateways.indexOf(spare);
    const devices = await Promise.all([0, index].map((node) => sdk(reader!, node)));
    const received = devices.map((d) => collect(d, conversationId));
    const senders = await Promise.all(senderUsers.map(() => undefined).map((_, i) => sdk(senderUsers[i]!, i === 0 ? index : i)));

    const stored = await sendAll(senders, conversationId, 150, (n) => {
      if (n === 150) spare.kill('SIGTERM');
    });
    expect(await spare.exited).to.equal(0);
    expect(stored.map((m) => m.seq).sort((a, b) => a - b)).to.deep.equal(range(450));
    await waitFor(() => received.every((r) => r.length >= 450), 60_000, 'devices caught up');
    for (const r of received) expect(r).to.deep.equal(range(450));
    cluster.gateways.splice(index, 1);
  });
  });
});

function startRedis(): void {
  execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no', '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log']);
}

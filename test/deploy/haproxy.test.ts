import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { expect } from 'chai';
import { connect } from 'socket.io-client';
import { type Cluster, startCluster } from '../support/cluster.js';
import { api, eventually, openDirect, registerUser, request } from '../support/server.js';

/**
 * The shipped deploy/haproxy.cfg, started for real (scripts/haproxy.sh installs HAProxy) in front of two
 * gateway processes: REST, WebSocket and long-polling (sticky by cookie) through it, and failover when
 * a gateway dies.
 */
describe('deploy/haproxy.cfg in front of two gateway processes', function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let haproxy: ChildProcess;
  let lb: { url: string };

  before(async () => {
    cluster = await startCluster({ gateways: 2, workers: 0, env: { TRUST_PROXY_HOPS: '1' } });
    const port = await freePort();
    haproxy = spawn('haproxy', ['-db', '-f', 'deploy/haproxy.cfg'], {
      env: { ...process.env, PARLEY_LB_BIND: `127.0.0.1:${port}`, PARLEY_GW1: hostPort(cluster.gateways[0]!.url), PARLEY_GW2: hostPort(cluster.gateways[1]!.url) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let errors = '';
    haproxy.stderr!.on('data', (d) => (errors += String(d)));
    lb = { url: `http://127.0.0.1:${port}` };
    // Both servers pass their health checks (rise 2 × inter 1 s) before traffic is sent.
    await eventually(async () => {
      expect(haproxy.exitCode, errors).to.equal(null);
      expect((await fetch(`${lb.url}/readyz`)).status).to.equal(200);
    }, 20_000, 200);
  });
  after(async () => {
    haproxy?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('carries REST, a WebSocket and a long-polling session (kept on one node by its cookie) between two users', async () => {
    const [ann, bob] = await Promise.all([registerUser(lb, 'lbann'), registerUser(lb, 'lbbob')]);
    const conversationId = await openDirect(lb, ann, bob);
    const viaWebSocket = connect(lb.url, { auth: { token: ann.accessToken }, transports: ['websocket'], reconnection: false, forceNew: true });
    // withCredentials: socket.io-client keeps the LB's cookie in Node, as a browser would.
    const viaPolling = connect(lb.url, { auth: { token: bob.accessToken }, transports: ['polling'], withCredentials: true, reconnection: false, forceNew: true });
    try {
      await Promise.all([viaWebSocket, viaPolling].map((s) => new Promise((resolve, reject) => (s.once('connect', () => resolve(undefined)), s.once('connect_error', reject)))));
      const received = new Promise<{ text: string }>((resolve) => viaPolling.on('message:new', resolve));
      const sent = await request(viaWebSocket as never, 'message:send', { conversationId, clientMsgId: 'lb-1', text: 'through haproxy' });
      expect(sent.ok).to.equal(true);
      expect((await received).text).to.equal('through haproxy');
      // Many polling round trips later the session still lives: every request reached its node.
      for (let i = 0; i < 5; i++) expect((await request(viaPolling as never, 'sync', { limit: 1 })).ok).to.equal(true);
    } finally {
      viaWebSocket.close();
      viaPolling.close();
    }
  });

  it('stops routing to a gateway that died and serves every new client from the other', async () => {
    const victim = cluster.gateways[0]!;
    victim.kill('SIGKILL');
    await victim.exited;
    const user = await eventually(() => registerUser(lb, 'after'), 10_000, 200);
    for (let i = 0; i < 5; i++) {
      const s = connect(lb.url, { auth: { token: user.accessToken }, transports: ['websocket'], reconnection: false, forceNew: true });
      await new Promise((resolve, reject) => (s.once('connect', () => resolve(undefined)), s.once('connect_error', reject)));
      s.close();
    }
    expect((await api(lb, 'GET', '/v1/me', { token: user.accessToken })).status).to.equal(200);
  });
});

function hostPort(url: string): string {
  return new URL(url).host;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

import { expect } from 'chai';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { api, type ClientSocket, connectClient, eventually, openDirect, registerUser, request, startServer, type TestServer } from '../support/server.js';

describe('Prometheus metrics at GET /metrics (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;
  const sockets: ClientSocket[] = [];
  const connect = async (user: AuthResult) => {
    const socket = await connectClient(server, user.accessToken);
    sockets.push(socket);
    return socket;
  };

  before(async () => {
    server = await startServer({ env: { MESSAGES_PER_SECOND: '2' } });
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  after(async () => {
    await server.stop();
  });

  async function scrape(): Promise<Metrics> {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).to.equal(200);
    return new Metrics(await res.text(), res.headers.get('content-type') ?? '');
  }

  /** A pair of fresh users in a direct conversation: each test has its own send budget. */
  async function pair(): Promise<{ ann: AuthResult; bob: AuthResult; conversationId: string }> {
    const [ann, bob] = await Promise.all([registerUser(server, 'ann'), registerUser(server, 'bob')]);
    return { ann, bob, conversationId: await openDirect(server, ann, bob) };
  }

  it('answers in the Prometheus text format, with process metrics and every work queue depth', async () => {
    const metrics = await scrape();
    expect(metrics.contentType).to.match(/^text\/plain/);
    expect(metrics.has('parley_process_cpu_user_seconds_total')).to.equal(true);
    expect(metrics.has('parley_nodejs_eventloop_lag_seconds')).to.equal(true);
    for (const queue of ['delivery', 'receipts', 'presence', 'notify.high', 'notify.normal', 'notify.low']) {
      expect(metrics.has('parley_queue_depth', { queue }), queue).to.equal(true);
    }
  });

  it('counts connected sockets, events in and out, ack latency and store calls', async () => {
    const { ann, bob, conversationId } = await pair();
    const before = await scrape();
    const annSocket = await connect(ann);
    await connect(bob);
    for (const clientMsgId of ['m1', 'm2']) {
      const ack = await request(annSocket, 'message:send', { conversationId, clientMsgId, text: 'secret words' });
      expect(ack.ok).to.equal(true);
    }
    const after = await scrape();

    expect(after.value('parley_sockets_connected') - before.value('parley_sockets_connected')).to.equal(2);
    expect(after.delta(before, 'parley_socket_events_received_total', { event: 'message:send' })).to.equal(2);
    expect(after.delta(before, 'parley_socket_ack_duration_seconds_count', { event: 'message:send' })).to.equal(2);
    expect(after.value('parley_socket_ack_duration_seconds_sum', { event: 'message:send' })).to.be.greaterThan(0);
    expect(after.delta(before, 'parley_socket_events_sent_total', { event: 'message:new' })).to.be.at.least(2);
    expect(after.delta(before, 'parley_store_call_duration_seconds_count', { op: 'appendMessages' })).to.be.at.least(1);
    expect(after.delta(before, 'parley_store_call_duration_seconds_count')).to.be.greaterThan(after.delta(before, 'parley_store_call_duration_seconds_count', { op: 'appendMessages' }));
    // Bounded labels only: no ids, tokens or message text.
    for (const secret of [ann.user.id, conversationId, ann.accessToken, 'secret words']) expect(after.text).not.to.include(secret);

    for (const s of sockets.splice(0)) s.close();
    await eventually(async () => expect((await scrape()).value('parley_sockets_connected')).to.equal(before.value('parley_sockets_connected')));
  });

  it('counts error answers by code, for socket acks and HTTP responses', async () => {
    const { ann, conversationId } = await pair();
    const socket = await connect(ann);
    const before = await scrape();

    const invalid = await request(socket, 'message:send', { conversationId, clientMsgId: 'bad', text: 42 });
    expect(invalid.error.code).to.equal('invalid_payload');
    const restInvalid = await api(server, 'POST', `/v1/conversations/${conversationId}/messages`, { token: ann.accessToken, body: { text: 42 } });
    expect(restInvalid.status).to.equal(400);
    const missing = await api(server, 'GET', '/v1/no-such-route');
    expect(missing.status).to.equal(404);
    const acks = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((clientMsgId) => request(socket, 'message:send', { conversationId, clientMsgId, text: 'fast' })));
    const refused = acks.filter((a) => !a.ok && a.error.code === 'rate_limited').length;
    expect(refused).to.be.at.least(1);
    const after = await scrape();

    expect(after.delta(before, 'parley_errors_total', { code: 'invalid_payload', transport: 'socket' })).to.equal(1);
    expect(after.delta(before, 'parley_errors_total', { code: 'invalid_payload', transport: 'http' })).to.equal(1);
    expect(after.delta(before, 'parley_errors_total', { code: 'not_found', transport: 'http' })).to.equal(1);
    expect(after.delta(before, 'parley_errors_total', { code: 'rate_limited', transport: 'socket' })).to.equal(refused);
    expect(after.delta(before, 'parley_rate_limited_total', { transport: 'socket' })).to.equal(refused);
    expect(after.delta(before, 'parley_socket_ack_duration_seconds_count', { event: 'message:send' })).to.equal(5);
  });

  it('counts the jobs the workers process, by queue', async () => {
    const { ann, bob, conversationId } = await pair();
    const annSocket = await connect(ann);
    const sent = await request(annSocket, 'message:send', { conversationId, clientMsgId: 'j1', text: 'read me' });
    const before = await scrape();
    const bobSocket = await connect(bob);
    expect((await request(bobSocket, 'receipt:read', { conversationId, seq: sent.message.seq })).ok).to.equal(true);

    await eventually(async () => expect((await scrape()).delta(before, 'parley_jobs_processed_total', { queue: 'receipts' })).to.be.at.least(1));
  });
});

describe('GET /metrics with METRICS_TOKEN set', function () {
  this.timeout(60_000);
  let server: TestServer;
  const token = 'scrape-token-0123456789';

  before(async () => {
    server = await startServer({ store: 'memory', env: { METRICS_TOKEN: token } });
  });
  after(async () => {
    await server.stop();
  });

  it('answers a scrape with the bearer token, and 401 unauthorized without it or with another', async () => {
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).to.equal(200);
    expect(await ok.text()).to.include('parley_sockets_connected');
    for (const headers of [{}, { authorization: `Bearer ${token}x` }, { authorization: token }] as Record<string, string>[]) {
      const refused = await fetch(`${server.url}/metrics`, { headers });
      expect(refused.status, JSON.stringify(headers)).to.equal(401);
      expect(((await refused.json()) as { error: { code: string } }).error.code).to.equal('unauthorized');
    }
    expect((await fetch(`${server.url}/healthz`)).status, 'health checks stay open').to.equal(200);
  });
});

/** A scrape, parsed simply: `name{label="value",…} number` lines; comments skipped. */
class Metrics {
  private readonly samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];

  constructor(
    readonly text: string,
    readonly contentType: string,
  ) {
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
      this.samples.push({ name: match[1]!, labels, value: Number(match[3]) });
    }
  }

  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.matching(name, labels).length > 0;
  }

  /** The sum of the series of `name` that carry `labels` (0 when there is none yet). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((sum, s) => sum + s.value, 0);
  }

  delta(earlier: Metrics, name: string, labels: Record<string, string> = {}): number {
    return this.value(name, labels) - earlier.value(name, labels);
  }

  private matching(name: string, labels: Record<string, string>) {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }
}

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createClient, type AuthResult, type Message, type ParleyClient } from '../../client-sdk/src/index.js';
import { domainEvent } from '../../server/events/index.js';
import { RabbitQueue } from '../../server/queue/index.js';
import { MongoStore } from '../../server/store/index.js';
import { type Cluster, startCluster } from '../support/cluster.js';
import { api, connectClient, eventually, openDirect, registerUser, until } from '../support/server.js';

const run = promisify(execFile);

/**
 * Durable work with real RabbitMQ and real OS processes: a broker restart mid-traffic, a worker killed
 * between its write and its ack, a poison job, a duplicated domain event.
 */
describe('durable work through RabbitMQ (real processes)', function () {
  this.timeout(180_000);
  let cluster: Cluster;
  let store: MongoStore;
  let queue: RabbitQueue;
  const clients: ParleyClient[] = [];

  before(async () => {
    // One gateway and no worker yet: each test decides who consumes.
    cluster = await startCluster({ gateways: 2, workers: 0, env: { PUSH_COALESCE_MS: '0' } });
    store = new MongoStore(cluster.env.MONGODB_URI!);
    await store.init();
    queue = new RabbitQueue(cluster.env.AMQP_URL!, { prefix: cluster.env.KEY_PREFIX, retryBaseMs: 200, maxAttempts: 3 });
    await queue.init();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await queue?.close();
    await store?.close();
    await cluster?.stop();
  });

  const server = () => ({ url: cluster.gateways[0]!.url });
  async function sdk(user: AuthResult, url: string): Promise<ParleyClient> {
    const client = createClient({ url, getToken: async () => user.accessToken, transports: ['websocket'], fallback: false, reconnect: { initialMs: 100, maxMs: 1000 } });
    clients.push(client);
    await client.ready();
    return client;
  }
  const offlineNotifications = async (userId: string) =>
    (await store.listNotifications(userId, { unreadOnly: false, limit: 1000 })).filter((n) => n.type === 'message.offline');

  it('finishes every stored message’s follow-up exactly once in effect across a broker restart', async () => {
    if (cluster.workers.length === 0) await cluster.startWorker();
    const [sender, reader, offline] = await Promise.all([registerUser(server(), 'snd'), registerUser(server(), 'rdr'), registerUser(server(), 'off')]);
    const created = await api(server(), 'POST', '/v1/conversations', { token: sender.accessToken, body: { type: 'group', title: 'restart', memberIds: [reader.user.id, offline.user.id] } });
    const conversationId = created.body.conversation.id;
    const sending = await sdk(sender, cluster.gateways[0]!.url);
    const reading = await sdk(reader, cluster.gateways[1]!.url);
    reading.on('message', (m) => reading.markRead(m.conversationId, m.seq));

    const readiness: number[] = [];
    const readyz = async () => (await fetch(`${cluster.gateways[0]!.url}/readyz`)).status;
    const outage = (async () => {
      await new Promise((r) => setTimeout(r, 800));
      await run('rabbitmqctl', ['stop_app']);
      await new Promise((r) => setTimeout(r, 1500));
      readiness.push(await readyz());
      await new Promise((r) => setTimeout(r, 1500));
      await run('rabbitmqctl', ['start_app']);
      await run('rabbitmqctl', ['await_startup']);
    })();
    const sent: Message[] = [];
    for (let i = 0; i < 60; i++) {
      sent.push(await sending.send(conversationId, `during the restart ${i}`));
      await new Promise((r) => setTimeout(r, 80));
    }
    await outage;
    // Every send was acked: storing does not wait for RabbitMQ.
    expect(sent.map((m) => m.seq)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i + 1));

    await eventually(async () => {
      expect(await store.listPendingFollowUps(new Date(), 1000), 'outbox drained').to.have.length(0);
      const notified = await offlineNotifications(offline.user.id);
      expect(notified.map((n) => n.data['seq']).sort((a, b) => Number(a) - Number(b)), 'one offline notification per message').to.deep.equal(sent.map((m) => m.seq));
      const [cursor] = await store.getUserCursors(reader.user.id, [conversationId]);
      expect(cursor?.readSeq, 'the reader’s receipts arrived').to.equal(60);
    }, 60_000, 250);
    for (const p of [...cluster.gateways, ...cluster.workers]) expect(p.child.exitCode, `${p.name} survived`).to.equal(null);
    expect(readiness, 'not ready while RabbitMQ was down').to.deep.equal([503]);
    await eventually(async () => expect(await readyz(), 'ready again').to.equal(200), 15_000, 200);
  });

  it('lets a redelivered job change nothing more after a worker died between its write and its ack', async () => {
    for (const w of cluster.workers.splice(0)) {
      w.kill('SIGKILL');
      await w.exited;
    }
    const [sender, offline] = await Promise.all([registerUser(server(), 'snd'), registerUser(server(), 'off')]);
    const conversationId = await openDirect(server(), sender, offline);
    const crasher = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-after-write-worker.ts'], { env: { ...process.env, ...cluster.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    crasher.stdout.on('data', (d) => (out += String(d)));
    await eventually(() => expect(out).to.contain('consuming'), 20_000);

    await api(server(), 'POST', `/v1/conversations/${conversationId}/messages`, { token: sender.accessToken, body: { clientMsgId: 'crash-1', text: 'handle me twice' } });
    const died = await new Promise((resolve) => crasher.once('exit', (_code, signal) => resolve(signal)));
    expect(died).to.equal('SIGKILL');
    expect(out, 'the event was handed to the notification pipeline').to.match(/wrote delivery:\S+ notified/);

    // Every worker, the notification pipeline's included: the redelivered job and the event both run.
    await cluster.startWorker('wk-after-crash');
    await eventually(async () => expect(await offlineNotifications(offline.user.id)).to.have.length(1), 20_000);
    await eventually(async () => expect(await queue.depth('delivery')).to.equal(0), 20_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await offlineNotifications(offline.user.id), 'the redelivered job added nothing').to.have.length(1);
  });

  it('dead-letters a malformed job after the configured tries instead of looping or dropping it', async () => {
    await cluster.startWorker('wk-receipts', ['receipts']);
    await queue.publish('receipts', { id: 'poison-1', type: 'receipt.read', payload: { conversationId: 'x' } });
    let dead: Awaited<ReturnType<RabbitQueue['drainDeadLetters']>> = [];
    await eventually(async () => {
      dead = [...dead, ...(await queue.drainDeadLetters('receipts'))];
      expect(dead.map((d) => d.job.id)).to.include('poison-1');
    }, 30_000, 200);
    const poison = dead.find((d) => d.job.id === 'poison-1')!;
    expect(poison.job.attempt).to.equal(Number(cluster.env.QUEUE_MAX_ATTEMPTS));
    expect(poison.reason).to.contain('payload misses');
  });

  it('gives a domain event delivered twice one effect', async () => {
    await cluster.startWorker('wk-cleanup', ['account-cleanup']);
    const [gone, member] = await Promise.all([registerUser(server(), 'gone'), registerUser(server(), 'mem')]);
    const created = await api(server(), 'POST', '/v1/conversations', { token: member.accessToken, body: { type: 'group', title: 'twice', memberIds: [gone.user.id] } });
    const socket = await connectClient({ url: cluster.gateways[1]!.url }, member.accessToken);
    const updates: unknown[] = [];
    socket.on('conversation:updated', (c) => c.id === created.body.conversation.id && updates.push(c));

    const event = domainEvent('user.deleted', `user.deleted:${gone.user.id}`, 'test', { userId: gone.user.id });
    const first = until<{ id: string }>(socket, 'conversation:updated', (c) => c.id === created.body.conversation.id);
    await queue.publishEvent(event);
    await first;
    await queue.publishEvent(event);
    await eventually(async () => expect(await queue.depth('events.account-cleanup')).to.equal(0), 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(updates, 'the second delivery was recognised and ignored').to.have.length(1);
    expect(await store.isClaimed(`event:account-cleanup:${event.eventId}`)).to.equal(true);
    socket.close();
  });
});

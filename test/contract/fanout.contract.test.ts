import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer as createHttpServer } from 'node:http';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, Notification, ServerToClientEvents } from '../../client-sdk/src/index.js';
import { sessionRoom, userRoom, type Realtime } from '../../server/chat/index.js';
import { createRedisAdapter, EmitterRealtime, type FanoutMode, type RedisFanout } from '../../server/cluster/index.js';
import type { ParleyServer, SocketData } from '../../server/gateway/socket-gateway.js';
import { SocketIoRealtime } from '../../server/gateway/socket-realtime.js';
import { failOnUnhandledRejections, freePort, usePrivateRedis } from '../support/redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** What a test client says about itself in its handshake; the tiny connection handler trusts it. */
interface TestAuth {
  userId: string;
  sessionId: string;
  rooms: string[];
}

describe('createRedisAdapter', function () {
  this.timeout(20_000);
  failOnUnhandledRejections();

  it('picks sharded pub/sub in auto mode when the server has it (Redis >= 7), classic otherwise', async () => {
    const fanout = await createRedisAdapter(REDIS_URL, { mode: 'auto', prefix: testPrefix() });
    try {
      expect(fanout.mode).to.equal((await redisMajorVersion()) >= 7 ? 'sharded' : 'classic');
    } finally {
      await fanout.close();
    }
  });

  it('fails when Redis cannot be reached, leaving no client behind to reconnect', async () => {
    const port = await freePort();
    let failure: unknown;
    await createRedisAdapter(`redis://127.0.0.1:${port}`, { mode: 'auto' }).catch((err: unknown) => (failure = err));
    expect(failure).to.be.instanceOf(Error);

    // A client left reconnecting would find this listener within its 2 s backoff.
    let connections = 0;
    const listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    listener.listen(port, '127.0.0.1');
    await once(listener, 'listening');
    await sleep(2_500);
    listener.close();
    expect(connections).to.equal(0);
  });

  describe('when Redis goes away under a classic cluster', () => {
    const server = usePrivateRedis();

    it('keeps the node alive through broadcasts that cannot be published, and delivers again once Redis is back', async () => {
      const cluster = await Cluster.start('classic', server.current.url);
      try {
        const x = await cluster.client(0, { userId: newId('x') });
        const realtime = new SocketIoRealtime(cluster.nodes[0]!.io);
        await server.current.kill();
        // ioredis rejects this publish after two reconnect attempts; unhandled, that would crash the
        // process. The socket on this node still gets the event: delivery there is local.
        realtime.toUsers([x.userId], 'notification:new', notification('during-outage'));
        await sleep(1_000);
        expect(x.count('during-outage')).to.equal(1);

        await server.current.restart();
        const y = await cluster.client(1, { userId: newId('y') });
        await waitFor(
          () => {
            realtime.toUsers([y.userId], 'notification:new', notification('after-outage'));
            return y.count('after-outage') > 0;
          },
          5_000,
          'a broadcast from node 0 reaching node 1 again',
        );
      } finally {
        await cluster.stop();
      }
    });
  });
});

describe('EmitterRealtime', function () {
  failOnUnhandledRejections();

  it('keeps the process alive when it cannot publish', async () => {
    const realtime = new EmitterRealtime(`redis://127.0.0.1:${await freePort()}`, { prefix: testPrefix() });
    realtime.toUsers(['nobody'], 'notification:new', notification('lost'));
    realtime.disconnectUser('nobody');
    // Both publishes fail within two reconnect attempts, and must not reject unhandled.
    await sleep(1_000);
    await realtime.close();
  });
});

describeCluster('classic');
describeCluster('sharded');

function describeCluster(mode: FanoutMode): void {
  describe(`a ${mode} cluster of two nodes`, function () {
    this.timeout(20_000);
    failOnUnhandledRejections();
    let cluster: Cluster;

    before(async function () {
      if (mode === 'sharded' && (await redisMajorVersion()) < 7) this.skip();
      cluster = await Cluster.start(mode, REDIS_URL);
    });

    after(() => cluster?.stop());
    afterEach(() => cluster?.disconnectClients());

    describeRealtime('SocketIoRealtime on node 0', () => new SocketIoRealtime(cluster.nodes[0]!.io), () => cluster);

    it("finds a room's sockets on both nodes (a request answered by every node)", async () => {
      const x = newId('x');
      await cluster.client(0, { userId: x });
      await cluster.client(1, { userId: x });
      const sockets = await cluster.nodes[0]!.io.in(userRoom(x)).fetchSockets();
      expect(sockets).to.have.length(2);
    });

    it('drops the echoes of its own broadcasts unread, and still delivers them to the other node', async () => {
      const ownHeard = countOwnMessagesDecoded(mode, cluster.nodes[0]!.io);
      const [x0, x1] = [await cluster.client(0, { userId: newId('x') }), await cluster.client(1, { userId: newId('x') })];
      const [from0, from1] = [new SocketIoRealtime(cluster.nodes[0]!.io), new SocketIoRealtime(cluster.nodes[1]!.io)];
      // To users on both nodes, as a chat message goes to its sender's and recipient's rooms: the classic
      // adapter publishes a one-room broadcast on that room's channel, which a node without the room
      // skips anyway.
      for (let i = 0; i < 5; i++) from0.toUsers([x0.userId, x1.userId], 'notification:new', notification(`from-0-${i}`));
      // Node 0's publishes have passed through Redis once x1 has the marker; node 0 has read every
      // message Redis sent it before node 1's marker once x0 has that.
      await settle(from0, [x1]);
      await settle(from1, [x0]);
      for (const x of [x0, x1]) expect([0, 1, 2, 3, 4].map((i) => x.count(`from-0-${i}`))).to.deep.equal([1, 1, 1, 1, 1]);
      expect(ownHeard()).to.equal(0);
    });

    if (mode === 'classic') {
      describeRealtime(
        'EmitterRealtime from outside the cluster',
        () => new EmitterRealtime(REDIS_URL, { prefix: cluster.prefix }),
        () => cluster,
      );
    } else {
      it('is not reached by EmitterRealtime, which only speaks to the classic adapter', async () => {
        const emitter = new EmitterRealtime(REDIS_URL, { prefix: cluster.prefix });
        try {
          const x = await cluster.client(1, { userId: newId('x') });
          emitter.toUsers([x.userId], 'notification:new', notification('from-emitter'));
          await settle(new SocketIoRealtime(cluster.nodes[0]!.io), [x]);
          // The emitter's publish is on another connection: give it time to arrive, were it heard.
          await sleep(200);
          expect(x.count('from-emitter')).to.equal(0);
        } finally {
          await emitter.close();
        }
      });
    }
  });
}

/** The Realtime port's promises, over a cluster: every method reaches the right sockets on both nodes. */
function describeRealtime(name: string, makeRealtime: () => Realtime & { close?(): Promise<void> }, getCluster: () => Cluster): void {
  describe(name, () => {
    let realtime: Realtime & { close?(): Promise<void> };
    let cluster: Cluster;
    /** User x has a socket on each node (two sessions); user y one on node 1, watching x's presence room. */
    let x0: TestClient;
    let x1: TestClient;
    let y1: TestClient;

    before(() => {
      realtime = makeRealtime();
      cluster = getCluster();
    });

    after(async () => {
      await realtime.close?.();
    });

    beforeEach(async () => {
      const x = newId('x');
      x0 = await cluster.client(0, { userId: x });
      x1 = await cluster.client(1, { userId: x });
      y1 = await cluster.client(1, { userId: newId('y'), rooms: [`presence:${x}`] });
      await settle(realtime, [x0, x1, y1]);
    });

    it("delivers an event for a user to each of their sockets on both nodes, exactly once, and to nobody else", async () => {
      realtime.toUsers([x0.userId], 'notification:new', notification('for-x'));
      await settle(realtime, [x0, x1, y1]);
      expect([x0.count('for-x'), x1.count('for-x'), y1.count('for-x')]).to.deep.equal([1, 1, 0]);
    });

    it('delivers an event for several users once to each socket', async () => {
      realtime.toUsers([x0.userId, y1.userId], 'notification:new', notification('for-both'));
      await settle(realtime, [x0, x1, y1]);
      expect([x0.count('for-both'), x1.count('for-both'), y1.count('for-both')]).to.deep.equal([1, 1, 1]);
    });

    it('delivers volatile events to connected sockets', async () => {
      realtime.toUsersVolatile([x0.userId], 'typing', { conversationId: 'volatile', userId: y1.userId, state: 'start' });
      await settle(realtime, [x0, x1, y1]);
      expect([x0.count('volatile'), x1.count('volatile'), y1.count('volatile')]).to.deep.equal([1, 1, 0]);
    });

    it('delivers to a room, and no longer to users made to leave it', async () => {
      const room = `presence:${x0.userId}`;
      realtime.toRoom(room, 'notification:new', notification('in-room'));
      await settle(realtime, [x0, x1, y1]);
      expect([x0.count('in-room'), x1.count('in-room'), y1.count('in-room')]).to.deep.equal([0, 0, 1]);

      realtime.leaveRoom([y1.userId], room);
      await waitFor(() => !cluster.nodes[1]!.io.of('/').adapter.rooms.has(room), 2_000, 'y to leave the room on node 1');
      realtime.toRoom(room, 'notification:new', notification('after-leaving'));
      await settle(realtime, [x0, x1, y1]);
      expect(y1.count('after-leaving')).to.equal(0);
    });

    it("closes one session's sockets, wherever they are", async () => {
      realtime.disconnectSession(x1.sessionId);
      expect(await x1.disconnected()).to.equal('io server disconnect');
      await settle(realtime, [x0, y1]);
      expect([x0.connected, y1.connected]).to.deep.equal([true, true]);
    });

    it("closes every socket of a user on both nodes, and only theirs", async () => {
      realtime.disconnectUser(x0.userId);
      expect(await Promise.all([x0.disconnected(), x1.disconnected()])).to.deep.equal(['io server disconnect', 'io server disconnect']);
      await settle(realtime, [y1]);
      expect(y1.connected).to.equal(true);
    });
  });
}

// ---- the cluster under test ----

interface ClusterNode {
  readonly io: ParleyServer;
  readonly url: string;
  readonly fanout: RedisFanout;
}

/** Two Socket.IO servers on port 0 joined through the Redis adapter, with a key prefix of their own. */
class Cluster {
  private readonly clients: TestClient[] = [];

  private constructor(
    readonly prefix: string,
    readonly nodes: readonly ClusterNode[],
  ) {}

  static async start(mode: FanoutMode, redisUrl: string): Promise<Cluster> {
    const prefix = testPrefix();
    const nodes = await Promise.all([startNode(mode, redisUrl, prefix), startNode(mode, redisUrl, prefix)]);
    return new Cluster(prefix, nodes);
  }

  async client(node: number, auth: Partial<TestAuth> & { userId: string }): Promise<TestClient> {
    const full: TestAuth = { sessionId: newId('session'), rooms: [], ...auth };
    const client = await TestClient.connect(this.nodes[node]!.url, full);
    this.clients.push(client);
    return client;
  }

  disconnectClients(): void {
    this.clients.splice(0).forEach((client) => client.close());
  }

  async stop(): Promise<void> {
    this.disconnectClients();
    for (const node of this.nodes) {
      await node.io.close();
      await node.fanout.close();
    }
  }
}

async function startNode(mode: FanoutMode, redisUrl: string, prefix: string): Promise<ClusterNode> {
  const fanout = await createRedisAdapter(redisUrl, { mode, prefix });
  expect(fanout.mode).to.equal(mode);
  const http = createHttpServer();
  const io: ParleyServer = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(http);
  io.adapter(fanout.adapter);
  io.on('connection', (socket) => {
    const auth = socket.handshake.auth as TestAuth;
    void socket.join([userRoom(auth.userId), sessionRoom(auth.sessionId), ...auth.rooms]);
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { io, fanout, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** A socket.io-client socket that records each event it receives by its tag (a notification id, a typing conversation). */
class TestClient {
  private readonly received: string[] = [];

  private constructor(
    private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>,
    private readonly auth: TestAuth,
  ) {
    socket.on('notification:new', (n) => this.received.push(n.id));
    socket.on('typing', (t) => this.received.push(t.conversationId));
  }

  static async connect(url: string, auth: TestAuth): Promise<TestClient> {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = connect(url, { auth: { ...auth }, transports: ['websocket'], reconnection: false, forceNew: true });
    const client = new TestClient(socket, auth);
    await waitWithDeadline(new Promise((resolve) => socket.once('connect', () => resolve(undefined))), 5_000, 'the socket to connect');
    return client;
  }

  get userId(): string {
    return this.auth.userId;
  }

  get sessionId(): string {
    return this.auth.sessionId;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  count(tag: string): number {
    return this.received.filter((received) => received === tag).length;
  }

  /** Resolves with the reason, as socket.io-client gives it. */
  async disconnected(): Promise<string> {
    if (!this.socket.connected) throw new Error('the socket was already closed');
    return waitWithDeadline(new Promise<string>((resolve) => this.socket.once('disconnect', resolve)), 5_000, 'the socket to be closed');
  }

  close(): void {
    this.socket.disconnect();
  }
}

/**
 * How many of its own broadcasts node `io`'s adapter has decoded since this call, spying where each
 * adapter hands a decoded message on: the classic one's parser, the sharded one's `onMessage`.
 */
function countOwnMessagesDecoded(mode: FanoutMode, io: ParleyServer): () => number {
  const adapter = io.of('/').adapter as unknown as {
    uid: string;
    parser: { encode(data: unknown): unknown; decode(msg: unknown): unknown };
    onMessage(message: { uid?: string }, offset?: string): void;
  };
  let own = 0;
  if (mode === 'classic') {
    const parser = adapter.parser;
    adapter.parser = {
      encode: (data) => parser.encode(data),
      decode: (msg) => {
        const decoded = parser.decode(msg);
        if (Array.isArray(decoded) && decoded[0] === adapter.uid) own++;
        return decoded;
      },
    };
  } else {
    const onMessage = adapter.onMessage.bind(adapter);
    adapter.onMessage = (message, offset) => {
      if (message.uid === adapter.uid) own++;
      onMessage(message, offset);
    };
  }
  return () => own;
}

/**
 * Sends each client a marker through `realtime` and waits until all have it. Redis delivers one
 * connection's publishes to a subscriber in order, so anything sent through `realtime` before has
 * arrived by then: counts taken after this are final.
 */
async function settle(realtime: Realtime, clients: readonly TestClient[]): Promise<void> {
  const marker = newId('marker');
  await waitFor(
    () => {
      // Repeated until heard: right after a connection, a node may still be subscribing to the new rooms.
      for (const client of clients) {
        if (client.count(marker) === 0) realtime.toUsers([client.userId], 'notification:new', notification(marker));
      }
      return clients.every((client) => client.count(marker) > 0);
    },
    5_000,
    'every client to get the marker',
  );
}

// ---- helpers ----

function notification(id: string): Notification {
  return { id, type: 'test', data: {}, read: false, createdAt: new Date().toISOString() };
}

function testPrefix(): string {
  return `test-${randomUUID()}`;
}

function newId(kind: string): string {
  return `${kind}-${randomUUID()}`;
}

/** Polls until `condition` holds (every 50 ms), failing after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function waitWithDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const timeout = sleep(timeoutMs, undefined, { ref: false }).then(() => {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  });
  return Promise.race([promise, timeout]);
}

async function redisMajorVersion(): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info('server');
    return Number(/redis_version:(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

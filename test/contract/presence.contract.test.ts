import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { MemoryPresence, RedisPresence, type Presence } from '../../server/presence/index.js';
import { failOnUnhandledRejections, startSlowLink, usePrivateRedis } from '../support/redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

interface PresenceFixture {
  readonly presence: Presence;
  close(): Promise<void>;
}

describePresenceContract('MemoryPresence', () => {
  const presence = new MemoryPresence();
  return { presence, close: () => presence.close() };
});

describePresenceContract('RedisPresence', () => {
  const prefix = testPrefix();
  const presence = new RedisPresence(REDIS_URL, { prefix });
  return {
    presence,
    async close() {
      await presence.close();
      await deleteKeys(REDIS_URL, prefix);
    },
  };
});

/** The behaviour every Presence driver owes its callers, as documented in server/presence/presence.ts. */
function describePresenceContract(name: string, makePresence: () => PresenceFixture): void {
  describe(`${name} (presence contract)`, function () {
    failOnUnhandledRejections();
    let fixture: PresenceFixture;
    let presence: Presence;

    before(async () => {
      fixture = makePresence();
      presence = fixture.presence;
      await Promise.all([presence.init(), presence.init()]);
      await presence.init();
    });

    after(() => fixture.close());

    it('answers a ping', async () => {
      await presence.ping();
    });

    it("reports a user's first socket as bringing them online, and the next ones as not", async () => {
      const user = newId('user');
      expect(await presence.add(user, newId('socket'))).to.equal(true);
      expect(await presence.add(user, newId('socket'))).to.equal(false);
      expect(await presence.online([user])).to.deep.equal(new Set([user]));
    });

    it("reports only the removal of a user's last socket as taking them offline", async () => {
      const user = newId('user');
      const [phone, laptop] = [newId('socket'), newId('socket')];
      await presence.add(user, phone);
      await presence.add(user, laptop);

      expect(await presence.remove(user, phone)).to.equal(false);
      expect(await presence.online([user])).to.deep.equal(new Set([user]));
      expect(await presence.remove(user, laptop)).to.equal(true);
      expect(await presence.online([user])).to.deep.equal(new Set());
    });

    it('counts a socket added twice once', async () => {
      const user = newId('user');
      const socket = newId('socket');
      expect(await presence.add(user, socket)).to.equal(true);
      expect(await presence.add(user, socket)).to.equal(false);
      expect(await presence.remove(user, socket)).to.equal(true);
    });

    it('reports nothing when a socket it does not hold is removed, or removed again', async () => {
      const user = newId('user');
      const socket = newId('socket');
      expect(await presence.remove(user, socket)).to.equal(false);
      await presence.add(user, socket);
      expect(await presence.remove(user, socket)).to.equal(true);
      expect(await presence.remove(user, socket)).to.equal(false);
    });

    it('tells which of several users are online', async () => {
      const [ann, bob, cid] = [newId('ann'), newId('bob'), newId('cid')];
      await presence.add(ann, newId('socket'));
      const bobSocket = newId('socket');
      await presence.add(bob, bobSocket);
      await presence.remove(bob, bobSocket);

      expect(await presence.online([ann, bob, cid])).to.deep.equal(new Set([ann]));
      expect(await presence.online([])).to.deep.equal(new Set());
    });

    it('answers lookups made together each about exactly its own users', async () => {
      const [ann, bob, cid] = [newId('ann'), newId('bob'), newId('cid')];
      await presence.add(ann, newId('socket'));
      await presence.add(cid, newId('socket'));

      const answers = await Promise.all([presence.online([ann]), presence.online([bob, cid]), presence.online([bob]), presence.online([cid, ann, bob])]);
      expect(answers).to.deep.equal([new Set([ann]), new Set([cid]), new Set(), new Set([cid, ann])]);
    });

    it("counts a user's live sockets", async () => {
      const [user, nobody] = [newId('user'), newId('nobody')];
      const first = newId('socket');
      await presence.add(user, first);
      await presence.add(user, newId('socket'));
      await presence.add(user, first);
      expect(await presence.socketCount(user)).to.equal(2);
      await presence.remove(user, first);
      expect(await presence.socketCount(user)).to.equal(1);
      expect(await presence.socketCount(nobody)).to.equal(0);
    });

    it('forgets every socket of a user, saying whether they were online', async () => {
      const [user, other] = [newId('user'), newId('other')];
      const socket = newId('socket');
      await presence.add(user, socket);
      await presence.add(user, newId('socket'));
      await presence.add(other, newId('socket'));

      expect(await presence.forget(user)).to.equal(true);
      expect(await presence.online([user, other])).to.deep.equal(new Set([other]));
      expect(await presence.remove(user, socket)).to.equal(false);
      expect(await presence.forget(user)).to.equal(false);
    });
  });
}

describe('RedisPresence lookups', function () {
  failOnUnhandledRejections();
  let prefix: string;
  let client: Redis;
  /** The node under test, on `client`, whose commands MONITOR shows. */
  let here: RedisPresence;
  let elsewhere: RedisPresence;
  let monitor: Redis;

  beforeEach(async () => {
    prefix = testPrefix();
    client = new Redis(REDIS_URL);
    [here, elsewhere] = [new RedisPresence(client, { prefix }), new RedisPresence(REDIS_URL, { prefix })];
    monitor = await new Redis(REDIS_URL).monitor();
    await Promise.all([here.init(), elsewhere.init()]);
  });

  afterEach(async () => {
    monitor.disconnect();
    await Promise.all([here.close(), elsewhere.close()]);
    client.disconnect();
    await deleteKeys(REDIS_URL, prefix);
  });

  /** The Lua scripts (presence lookups) the node under test sends while `act` runs. */
  async function scriptsSentDuring<T>(act: () => Promise<T>): Promise<{ result: T; scripts: string[][] }> {
    const address = /addr=(\S+)/.exec(String(await client.client('INFO')))?.[1];
    const commands: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === address) commands.push(args);
    });
    const result = await act();
    // MONITOR reports on its own connection: once it shows the marker, it has shown what came before.
    const marker = newId('marker');
    await client.echo(marker);
    await waitFor(() => commands.some((args) => args.includes(marker)), 5_000, 'the marker in MONITOR');
    monitor.removeAllListeners('monitor');
    return { result, scripts: commands.filter(([name]) => /^eval/i.test(name ?? '')) };
  }

  const asksAbout = (script: readonly string[], userId: string) => script.some((arg) => arg.endsWith(userId));

  it('asks Redis once for all the lookups of a few milliseconds, in one event-loop turn or several', async () => {
    const [ann, bob, cid] = [newId('ann'), newId('bob'), newId('cid')];
    await elsewhere.add(ann, newId('socket'));
    await elsewhere.add(cid, newId('socket'));

    const { result, scripts } = await scriptsSentDuring(async () => {
      const first = here.online([ann]);
      await new Promise((resolve) => setImmediate(resolve));
      const second = here.online([bob, cid]);
      await new Promise((resolve) => setImmediate(resolve));
      return Promise.all([first, second, here.online([cid, ann, bob])]);
    });

    expect(result).to.deep.equal([new Set([ann]), new Set([cid]), new Set([cid, ann])]);
    expect(scripts, JSON.stringify(scripts)).to.have.length(1);
    for (const user of [ann, bob, cid]) expect(asksAbout(scripts[0]!, user), `${user} in the lookup`).to.equal(true);
  });

  it('answers about users with a socket on this node without asking Redis', async () => {
    const [ann, bob, cid] = [newId('ann'), newId('bob'), newId('cid')];
    await here.add(ann, newId('socket'));
    await here.add(bob, newId('socket'));
    await elsewhere.add(cid, newId('socket'));

    const { result, scripts } = await scriptsSentDuring(async () => [await here.online([ann, bob]), await here.online([ann, cid])]);

    expect(result).to.deep.equal([new Set([ann, bob]), new Set([ann, cid])]);
    expect(scripts, JSON.stringify(scripts)).to.have.length(1);
    expect(asksAbout(scripts[0]!, cid), "the other node's user asked about").to.equal(true);
    expect(asksAbout(scripts[0]!, ann), 'the local user not asked about').to.equal(false);
  });
});

describe('RedisPresence across nodes', function () {
  this.timeout(20_000);
  failOnUnhandledRejections();
  /** Short, so a dead node is noticed quickly; heartbeats run every 120 ms, sweeps every 30–90 ms. */
  const TTL = 600;
  let prefix: string;
  let nodes: RedisPresence[];

  beforeEach(() => {
    prefix = testPrefix();
    nodes = [];
  });

  afterEach(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await deleteKeys(REDIS_URL, prefix);
  });

  /** A gateway node on this test's prefix, recording the users its onExpired reports. */
  async function startNode(nodeId: string, url = REDIS_URL, ttlMs = TTL): Promise<{ node: RedisPresence; expired: string[] }> {
    const node = new RedisPresence(url, { nodeId: `${nodeId}-${randomUUID()}`, ttlMs, prefix });
    nodes.push(node);
    const expired: string[] = [];
    node.onExpired((userIds) => expired.push(...userIds));
    await node.init();
    return { node, expired };
  }

  it('keeps a user online while any node holds one of their sockets', async () => {
    const [{ node: a }, { node: b }, { node: observer }] = await Promise.all([startNode('a'), startNode('b'), startNode('observer')]);
    const user = newId('user');
    const [onA, onB] = [newId('socket'), newId('socket')];

    expect(await a.add(user, onA)).to.equal(true);
    expect(await b.add(user, onB)).to.equal(false);
    expect(await a.remove(user, onA)).to.equal(false);
    expect(await observer.online([user])).to.deep.equal(new Set([user]));
    expect(await observer.socketCount(user), 'the socket on b, seen from another node').to.equal(1);
    expect(await b.remove(user, onB)).to.equal(true);
    expect(await observer.online([user])).to.deep.equal(new Set());
  });

  it("keeps a live node's users online long past the TTL", async () => {
    const [{ node }, { node: observer, expired }] = await Promise.all([startNode('a'), startNode('observer')]);
    const user = newId('user');
    await node.add(user, newId('socket'));

    const until = Date.now() + 3 * TTL;
    while (Date.now() < until) {
      expect(await observer.online([user])).to.deep.equal(new Set([user]));
      await sleep(50);
    }
    expect(expired).to.deep.equal([]);
  });

  it('keeps the users of a node whose every call takes half a TTL online', async () => {
    // Its lease must start when Redis writes it, not when the node last read Redis's clock: with a
    // round trip of half a TTL the latter lapses between heartbeats, and the observer sweeps it.
    const ttl = 1_500;
    const link = await startSlowLink(REDIS_URL, ttl / 2);
    try {
      const [{ node: slow, expired: slowExpired }, { node: observer, expired }] = await Promise.all([startNode('slow', link.url, ttl), startNode('observer', REDIS_URL, ttl)]);
      const user = newId('user');
      await slow.add(user, newId('socket'));

      const until = Date.now() + 3 * ttl;
      while (Date.now() < until) {
        expect(await observer.online([user])).to.deep.equal(new Set([user]));
        await sleep(50);
      }
      expect([...expired, ...slowExpired]).to.deep.equal([]);
    } finally {
      await Promise.all(nodes.map((node) => node.close()));
      nodes = [];
      await link.close();
    }
  });

  it("takes a node's users offline at once when it closes, and nobody reports them later", async () => {
    const [{ node }, { node: observer, expired }] = await Promise.all([startNode('a'), startNode('observer')]);
    const user = newId('user');
    await node.add(user, newId('socket'));

    await node.close();
    expect(await observer.online([user])).to.deep.equal(new Set());
    await sleep(2 * TTL);
    expect(expired).to.deep.equal([]);
  });

  describe('when a node dies without closing (kill -9)', () => {
    it('has exactly one surviving node report its users offline within the TTL, but not users with a socket elsewhere', async () => {
      const survivors = await Promise.all([startNode('a'), startNode('b')]);
      const { node: doomed } = await startNode('doomed');
      const [ann, bob, cid] = [newId('ann'), newId('bob'), newId('cid')];
      await doomed.add(ann, newId('socket'));
      await doomed.add(ann, newId('socket'));
      await doomed.add(bob, newId('socket'));
      await doomed.add(cid, newId('socket'));
      await survivors[0].node.add(cid, newId('socket'));

      const diedAt = Date.now();
      doomed.crash();
      const reported = () => survivors.flatMap(({ expired }) => expired);
      // Within 0.85 TTL by design (a lease of 0.7 TTL, then a sweep within 0.15), which leaves 90 ms for lag.
      await waitFor(() => reported().length >= 2, 2 * TTL, 'the dead node swept');
      expect(Date.now() - diedAt).to.be.below(TTL);

      // Give every survivor a few more sweeps to report anything twice.
      await sleep(TTL);
      expect(reported().sort()).to.deep.equal([ann, bob].sort());
      expect(await survivors[1].node.online([ann, bob, cid])).to.deep.equal(new Set([cid]));
    });

    it('reports a socket added after the dead node\'s last heartbeat, though its own entry outlives the node\'s', async () => {
      const { node: survivor, expired } = await startNode('a');
      const client = new Redis(REDIS_URL);
      try {
        const doomed = new RedisPresence(client, { nodeId: `doomed-${randomUUID()}`, ttlMs: TTL, prefix });
        nodes.push(doomed);
        await doomed.init();
        // crash() stops the heartbeat but keeps a shared client: the add below lands after the last
        // heartbeat, so this socket's entry expires half a TTL after the node's.
        doomed.crash();
        await sleep(TTL / 2);
        const user = newId('user');
        await doomed.add(user, newId('socket'));

        await waitFor(() => expired.length >= 1, 3 * TTL, 'the dead node swept');
        expect(expired).to.deep.equal([user]);
        expect(await survivor.online([user])).to.deep.equal(new Set());
      } finally {
        await Promise.all(nodes.map((node) => node.close()));
        nodes = [];
        client.disconnect();
      }
    });

    it('is swept on time even when every call of the only survivor is slower than a heartbeat interval', async () => {
      // The survivor's verdict must not hang on its own latency or event-loop lag: a slow node is a
      // live one, and Redis, not the survivor, tells whether Redis itself was stalled. With a TTL of
      // 1.5 s a heartbeat is due every 300 ms; each answer takes 412, so Redis still hears from the
      // survivor well within the 525 ms that would mean an outage. Its sweep (4 round trips) ends
      // ~1.7 s after the dead node's lease (1,050 ms) expires.
      const ttl = 1_500;
      const link = await startSlowLink(REDIS_URL, 0.275 * ttl);
      try {
        const survivor = await startNode('slow', link.url, ttl);
        const { node: doomed } = await startNode('doomed', REDIS_URL, ttl);
        const user = newId('user');
        await doomed.add(user, newId('socket'));

        const diedAt = Date.now();
        doomed.crash();
        await waitFor(() => survivor.expired.length >= 1, 4 * ttl, 'the dead node swept by the slow survivor');
        expect(Date.now() - diedAt).to.be.below(4 * ttl);
        expect(survivor.expired).to.deep.equal([user]);
      } finally {
        await Promise.all(nodes.map((node) => node.close()));
        nodes = [];
        await link.close();
      }
    });

    it('does not sweep a node that adds a socket after its lease expired, until that socket expires too', async () => {
      // A node resuming from a long pause may serve a connection before its next heartbeat renews
      // its entry. Sweeping it in between would report that connected user offline.
      const client = new Redis(REDIS_URL);
      try {
        const paused = new RedisPresence(client, { nodeId: `paused-${randomUUID()}`, ttlMs: TTL, prefix });
        nodes.push(paused);
        await paused.init();
        const [ann, bob] = [newId('ann'), newId('bob')];
        await paused.add(ann, newId('socket'));
        paused.crash(); // no more heartbeats; the shared client still serves add()
        const leaseEnd = Number(await client.zscore(`${prefix}:presence:nodes`, paused.nodeId));
        await sleep(Math.max(0, leaseEnd - Date.now()) + 20);
        expect(await paused.add(bob, newId('socket'))).to.equal(true);

        // White box, so that the survivor judges at once rather than after a lease of its own: Redis
        // has served presence without a break for a long time.
        const [seconds] = await client.time();
        const now = Number(seconds) * 1000;
        await client.hset(`${prefix}:presence:clock`, 'last', now + TTL, 'since', now - 10 * TTL);
        const { node: survivor, expired } = await startNode('survivor');
        await sleep(TTL / 3); // several sweeps
        expect(expired, 'nobody reported while bob is connected').to.deep.equal([]);
        expect(await survivor.online([bob])).to.deep.equal(new Set([bob]));

        // The node never heartbeats again, so once bob's socket expires it is dead after all.
        await waitFor(() => expired.length >= 2, 2 * TTL, 'the node swept');
        expect(expired.sort()).to.deep.equal([ann, bob].sort());
      } finally {
        await Promise.all(nodes.map((node) => node.close()));
        nodes = [];
        client.disconnect();
      }
    });

    it('reports a user whose last sockets were on two dead nodes once', async () => {
      const survivors = await Promise.all([startNode('a'), startNode('b')]);
      const doomed = await Promise.all([startNode('doomed-1'), startNode('doomed-2')]);
      const user = newId('user');
      await doomed[0].node.add(user, newId('socket'));
      await doomed[1].node.add(user, newId('socket'));

      doomed.forEach(({ node }) => node.crash());
      const reported = () => survivors.flatMap(({ expired }) => expired);
      await waitFor(() => reported().length >= 1, 3 * TTL, 'both dead nodes swept');
      await sleep(TTL);
      expect(reported()).to.deep.equal([user]);
      expect(await survivors[0].node.online([user])).to.deep.equal(new Set());
    });
  });

  describe('when Redis loses its data or restarts', () => {
    const server = usePrivateRedis();

    it('registers the sockets again within one heartbeat after a FLUSHDB', async () => {
      const [{ node }, { node: observer }] = await Promise.all([startNode('a', server.current.url), startNode('observer', server.current.url)]);
      const user = newId('user');
      await node.add(user, newId('socket'));

      await server.current.admin.flushdb();
      expect(await observer.online([user])).to.deep.equal(new Set());
      const flushedAt = Date.now();
      await waitFor(async () => (await observer.online([user])).has(user), TTL, 'the user back online');
      expect(Date.now() - flushedAt).to.be.below(TTL / 5 + 200);
    });

    it('rejects calls while Redis is down, keeps running, and registers every local socket once it is back', async () => {
      const [{ node }, { node: observer }] = await Promise.all([startNode('a', server.current.url), startNode('observer', server.current.url)]);
      const [ann, bob] = [newId('ann'), newId('bob')];
      await node.add(ann, newId('socket'));

      await server.current.kill();
      let failure: unknown;
      await node.add(bob, newId('socket')).catch((err: unknown) => (failure = err));
      expect(failure).to.be.instanceOf(Error);
      // Several heartbeats and sweeps fail meanwhile, and must not reject unhandled.
      await sleep(TTL);

      await server.current.restart();
      await waitFor(async () => (await observer.online([ann, bob])).size === 2, 5_000, 'both users back online');
    });

    it('does not take live nodes for dead after Redis stalls for longer than the TTL', async () => {
      const [a, b] = await Promise.all([startNode('a', server.current.url), startNode('b', server.current.url)]);
      const [ann, bob] = [newId('ann'), newId('bob')];
      await a.node.add(ann, newId('socket'));
      await b.node.add(bob, newId('socket'));
      // Until both have been up for a TTL, neither judges the other anyway.
      await sleep(TTL);

      server.current.pause();
      await sleep(2 * TTL);
      server.current.resume();
      // Every entry has expired now; both nodes sweep several times before this ends.
      await sleep(2 * TTL);

      expect([...a.expired, ...b.expired]).to.deep.equal([]);
      expect(await a.node.online([ann, bob])).to.deep.equal(new Set([ann, bob]));
    });
  });
});

// ---- helpers ----

function testPrefix(): string {
  return `test-${randomUUID()}`;
}

function newId(kind: string): string {
  return `${kind}-${randomUUID()}`;
}

/** Polls until `condition` holds, failing after `timeoutMs`. */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Presence, PresenceOptions } from './presence.js';

export interface RedisPresenceOptions extends Partial<PresenceOptions> {
  readonly logger?: Logger;
}

const DEFAULT_TTL_MS = 30_000;
const DEFAULT_PREFIX = 'parley';
/** Users per sweep script and per `online` script: keeps each script short, so Redis is never blocked long. */
const BATCH = 500;
/** Dead nodes looked at per sweep round; more wait for the next round. */
const NODES_PER_SWEEP = 20;

/** For a client we create from a URL. */
const OWNED_CLIENT: RedisOptions = {
  lazyConnect: true,
  // While Redis is down a call fails after two reconnect attempts instead of queueing: the caller decides.
  maxRetriesPerRequest: 2,
  connectTimeout: 5_000,
  commandTimeout: 5_000,
  // Never give up: the heartbeat re-registers everything once Redis is back.
  retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
};

/**
 * The timing, as fractions of the TTL. A node heartbeats every BEAT and its entries live LEASE after
 * each heartbeat, so one that dies right after a heartbeat stops counting a LEASE later and is swept
 * within one SWEEP·1.5 after that: within 0.85 TTL in all. A live node whose heartbeats are late by
 * up to LEASE - BEAT (half a TTL) keeps its users. A failed heartbeat is retried after BEAT_RETRY.
 * Redis counts as continuously up unless it hears from no node for GAP (see `continuity`); that must
 * be longer than BEAT, and an outage that short must not outlast the LEASE of the last heartbeat
 * before it, with BEAT_RETRY and a reconnect to spare: BEAT + GAP + BEAT_RETRY < LEASE.
 */
const LEASE = 0.7;
const BEAT = 0.2;
const BEAT_RETRY = 0.05;
const SWEEP = 0.1;
const GAP = 0.35;

/**
 * Every script reads the clock from Redis rather than from its caller, so nodes whose clocks disagree
 * still agree on what has expired, and an entry's lease starts when Redis writes it, not when its
 * sender asked. Times are milliseconds; an entry scored `t` is live while now < t.
 */
const CLOCK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * Whether Redis has served presence without a break, judged in Redis's own time so that no node's
 * event-loop lag counts. Every heartbeat and every sweep runs it. The clock key is a hash of `last`
 * (the last such call) and `since` (the start of the current unbroken run). No call for longer than
 * gapMs means Redis was down or stalled, or lost its data, and that run starts again now. Sets the Lua
 * local `since`.
 */
function continuity(clockKey: string, gapMs: string): string {
  return `
local last = tonumber(redis.call('HGET', ${clockKey}, 'last'))
local since = tonumber(redis.call('HGET', ${clockKey}, 'since'))
if last == nil or since == nil or now - last > tonumber(${gapMs}) then since = now end
redis.call('HSET', ${clockKey}, 'last', now, 'since', since)
`;
}

/**
 * KEYS: nodes registry, clock, node's users, then the user key of each local user. ARGV: nodeId,
 * leaseMs, gapMs, '1' to force a full write, then per user: userId, socket count, that many members.
 *
 * Renews the node's registry entry and its sockets. Normally only sockets still in Redis (XX): one
 * removed or forgotten meanwhile stays gone. If the node's entry is missing or expired (Redis lost its
 * data, or the node stalled past its lease and may have been swept) or `force` says a call failed, it
 * writes every socket and the node's user set back: one script, so a sweeper sees all of it or none.
 * Returns 1 after a full write.
 */
const HEARTBEAT_SCRIPT = `${CLOCK}${continuity('KEYS[2]', 'ARGV[3]')}
local registered = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
local full = ARGV[4] == '1' or registered == nil or registered <= now
local expiry = now + tonumber(ARGV[2])
local a = 5
for i = 4, #KEYS do
  local userId, count = ARGV[a], tonumber(ARGV[a + 1])
  for j = a + 2, a + 1 + count do
    if full then redis.call('ZADD', KEYS[i], expiry, ARGV[j]) else redis.call('ZADD', KEYS[i], 'XX', expiry, ARGV[j]) end
  end
  if full then redis.call('SADD', KEYS[3], userId) end
  a = a + 2 + count
end
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
if full then return 1 end
return 0`;

/**
 * KEYS: user's sockets, node's users. ARGV: member, leaseMs, userId. Returns 1 if the user had no live
 * socket before. Expired members are pruned first: they belong to dead nodes or to a stalled node, and
 * either way the user counts as offline (as `online` says), so the sweeper has nothing left to report.
 */
const ADD_SCRIPT = `${CLOCK}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
if before == 0 then return 1 end
return 0`;

/**
 * KEYS: user's sockets, node's users. ARGV: member, userId, '1' if it was the user's last socket on
 * this node. Returns 1 if this removed the user's last live socket. Removing a socket that is not there
 * (already removed, or forgotten) reports nothing, so a user goes offline once.
 */
const REMOVE_SCRIPT = `${CLOCK}
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('SREM', KEYS[2], ARGV[2]) end
if removed == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0`;

/** KEYS: user's sockets. Returns 1 if the user had a live socket. */
const FORGET_SCRIPT = `${CLOCK}
local live = redis.call('ZCOUNT', KEYS[1], string.format('(%d', now), '+inf')
redis.call('DEL', KEYS[1])
if live > 0 then return 1 end
return 0`;

/** KEYS: users' sockets. Returns each user's count of live sockets. */
const ONLINE_SCRIPT = `${CLOCK}
local from = string.format('(%d', now)
local counts = {}
for i, key in ipairs(KEYS) do counts[i] = redis.call('ZCOUNT', key, from, '+inf') end
return counts`;

/**
 * KEYS: nodes registry, clock. ARGV: limit, gapMs, leaseMs. Returns the nodes whose lease has expired,
 * but none until Redis has served presence without a break for a whole lease: after an outage or a
 * stall every entry has expired at once, and the live nodes need a heartbeat's time to renew theirs.
 */
const EXPIRED_NODES_SCRIPT = `${CLOCK}${continuity('KEYS[2]', 'ARGV[2]')}
if now - since < tonumber(ARGV[3]) then return {} end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))`;

/**
 * KEYS: nodes registry, then users' sockets. ARGV: the dead node's id, leaseMs, then the userId of each
 * key. Returns { 1, users left with no member at all } after sweeping, or { 0 } if the node is alive
 * after all: its entry was renewed, or one of these sockets was added after the entry expired and is
 * still live (the node resumed from a long pause and its heartbeat is on its way; sweeping now would
 * report a connected user offline).
 *
 * Otherwise removes all of the node's members, expired or not (a socket added after its last heartbeat
 * expires later than the node, but is just as dead). "No member", not "no live member": a user whose
 * last sockets were on two dead nodes is then reported by the sweep of the second one only, so once.
 */
const SWEEP_USERS_SCRIPT = `${CLOCK}
local node = ARGV[1]
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], node))
if expiry == nil or expiry > now then return { 0 } end
local resumed = expiry + tonumber(ARGV[2])
local mine = node .. '|'
local members = {}
for i = 2, #KEYS do
  members[i] = {}
  local scored = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  for j = 1, #scored, 2 do
    if string.sub(scored[j], 1, #mine) == mine then
      local score = tonumber(scored[j + 1])
      if score >= resumed and score > now then return { 0 } end
      table.insert(members[i], scored[j])
    end
  end
end
local gone = { 1 }
for i = 2, #KEYS do
  if #members[i] > 0 then
    redis.call('ZREM', KEYS[i], unpack(members[i]))
    if redis.call('ZCARD', KEYS[i]) == 0 then gone[#gone + 1] = ARGV[i + 1] end
  end
end
return gone`;

/**
 * KEYS: nodes registry, node's users. ARGV: nodeId. Deletes a swept node's keys unless it heartbeated
 * again meanwhile (a long pause, not a death): then its keys are its own again. Returns 1 if deleted.
 */
const RETIRE_NODE_SCRIPT = `${CLOCK}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1`;

/**
 * How long `online` calls gather before their shared lookup is sent. Its callers (a group commit's
 * follow-up deciding who gets an offline push, a presence query) can wait this long; a script per
 * event-loop turn was a Redis round trip per message whenever messages came one per turn.
 */
const LOOKUP_WINDOW_MS = 5;

/** The users asked about within one lookup window, and the one answer those calls share. */
interface PendingLookup {
  /** Grows until the lookup is sent at the end of the window. */
  readonly userIds: Set<string>;
  readonly online: Promise<Set<string>>;
}

/** The scripts above, as `defineCommand` adds them to the client (namespaced: the client may be shared). */
interface PresenceScripts {
  parleyPresenceHeartbeat(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<number>;
  parleyPresenceAdd(userKey: string, nodeUsersKey: string, member: string, leaseMs: number, userId: string): Promise<number>;
  parleyPresenceRemove(userKey: string, nodeUsersKey: string, member: string, userId: string, lastOnNode: '0' | '1'): Promise<number>;
  parleyPresenceForget(userKey: string): Promise<number>;
  parleyPresenceOnline(keyCount: number, ...userKeys: string[]): Promise<number[]>;
  parleyPresenceExpiredNodes(nodesKey: string, clockKey: string, limit: number, gapMs: number, leaseMs: number): Promise<string[]>;
  parleyPresenceSweepUsers(keyCount: number, ...keysThenArgs: (string | number)[]): Promise<[0] | [1, ...string[]]>;
  parleyPresenceRetireNode(nodesKey: string, nodeUsersKey: string, nodeId: string): Promise<number>;
}

function defineScripts(redis: Redis): Redis & PresenceScripts {
  const define = (name: keyof PresenceScripts, lua: string, numberOfKeys?: number): void => {
    redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  };
  define('parleyPresenceHeartbeat', HEARTBEAT_SCRIPT);
  define('parleyPresenceAdd', ADD_SCRIPT, 2);
  define('parleyPresenceRemove', REMOVE_SCRIPT, 2);
  define('parleyPresenceForget', FORGET_SCRIPT, 1);
  define('parleyPresenceOnline', ONLINE_SCRIPT);
  define('parleyPresenceExpiredNodes', EXPIRED_NODES_SCRIPT, 2);
  define('parleyPresenceSweepUsers', SWEEP_USERS_SCRIPT);
  define('parleyPresenceRetireNode', RETIRE_NODE_SCRIPT, 2);
  return redis as Redis & PresenceScripts;
}

type State = 'idle' | 'running' | 'crashed' | 'closed';

/**
 * The Redis driver, shared by every gateway node.
 *
 * Keys (under `<prefix>:presence:`): `user:<userId>`, a sorted set of the user's sockets as
 * `<nodeId>|<socketId>` scored by expiry; `node:<nodeId>`, the set of users with a socket on that node
 * (how a sweeper finds a dead node's users); `nodes`, a sorted set of node ids scored by expiry; `clock`,
 * when Redis last served presence and since when without a break. Every
 * read and write that decides an online/offline transition is one Lua script, so racing nodes agree.
 *
 * Every fifth of a TTL each node renews its own sockets and its registry entry for 0.7 TTL, in one
 * script (see LEASE and the other fractions above it). If its entry is missing or expired (Redis lost
 * its data, or the node was swept during a long pause) or a call failed since the last heartbeat, the
 * script writes all its sockets back instead, so a Redis restart heals within a heartbeat. Every tenth
 * of a TTL (jittered) each node also looks for nodes whose entry expired and, holding a per-node lock,
 * removes their sockets and reports the users left with none: a dead node's users go offline within
 * 0.85 TTL. Nobody is judged until Redis has served the nodes' calls without a break for a lease (see
 * `continuity`), so a Redis outage or stall, which expires every entry at once, does not make the first
 * node back sweep all the live ones; and since that is judged in Redis's time, a sweeper's own
 * event-loop lag neither delays nor hastens a verdict.
 *
 * Time is Redis's (TIME inside the scripts), so needs Redis >= 5. Not for Redis Cluster: the scripts
 * touch keys of several users and nodes.
 *
 * @example
 * const presence = new RedisPresence('redis://127.0.0.1:6379', { nodeId: 'gw-1', logger });
 * presence.onExpired((userIds) => announceOffline(userIds));
 * await presence.init();
 */
export class RedisPresence implements Presence {
  readonly driver = 'redis' as const;
  readonly nodeId: string;
  private readonly ttlMs: number;
  private readonly prefix: string;
  private readonly redis: Redis & PresenceScripts;
  private readonly ownsClient: boolean;
  private readonly log: Logger | undefined;
  private readonly expiredListeners = new Set<(userIds: readonly string[]) => void>();
  /** This node's sockets, userId → socket ids: what the heartbeat keeps alive and restores. */
  private readonly local = new Map<string, Set<string>>();

  // Mutable on purpose: the lifecycle, the timers and what the last calls to Redis taught us.
  private state: State = 'idle';
  private starting: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private sweeping: Promise<void> | undefined;
  /** A call failed since the last full heartbeat, so Redis may lack some of our sockets. */
  private fullSyncDue = true;
  private outageLogged = false;
  /** The lookup `online` calls join until it is sent. */
  private pendingLookup: PendingLookup | undefined;

  constructor(redis: string | Redis, options: RedisPresenceOptions = {}) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    if (this.nodeId.includes('|')) throw new RangeError(`presence nodeId must not contain "|": ${this.nodeId}`);
    if (!(this.ttlMs >= 30)) throw new RangeError(`presence ttlMs must be at least 30, got ${this.ttlMs}`);
    this.log = options.logger?.child({ module: 'presence', nodeId: this.nodeId });
    this.ownsClient = typeof redis === 'string';
    const client = typeof redis === 'string' ? new Redis(redis, OWNED_CLIENT) : redis;
    // Without an 'error' listener, ioredis's connection errors would crash the process.
    client.on('error', this.onClientError);
    client.on('ready', this.onClientReady);
    this.redis = defineScripts(client);
  }

  init(): Promise<void> {
    this.starting ??= this.start().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  async close(): Promise<void> {
    const previous = this.state;
    if (previous === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    // An init still under way sees 'closed' and starts no timers; its registration is undone below.
    const registered = this.starting !== undefined && previous !== 'crashed';
    await Promise.allSettled([this.starting, this.beating, this.sweeping]);
    if (registered) {
      await this.unregister().catch((err: unknown) => this.log?.warn({ err }, 'could not remove this node from presence on close'));
    }
    this.local.clear();
    await this.release();
  }

  /**
   * For fault tests only: stops heartbeating and sweeping without removing anything, as `kill -9` would,
   * and drops an owned connection. The other nodes then see this node die. `close()` still releases it.
   */
  crash(): void {
    this.state = 'crashed';
    this.stopTimers();
    if (this.ownsClient) this.redis.disconnect();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async add(userId: string, socketId: string): Promise<boolean> {
    // Recorded before Redis answers, so the heartbeat restores the socket if this call fails.
    const sockets = this.local.get(userId) ?? new Set<string>();
    sockets.add(socketId);
    this.local.set(userId, sockets);
    try {
      const wasOffline = await this.redis.parleyPresenceAdd(this.userKey(userId), this.nodeUsersKey(this.nodeId), this.member(socketId), this.leaseMs(), userId);
      return wasOffline === 1;
    } catch (err) {
      this.fullSyncDue = true;
      throw err;
    }
  }

  async remove(userId: string, socketId: string): Promise<boolean> {
    // Forgotten before Redis is asked, so a heartbeat built meanwhile cannot write the socket back.
    const sockets = this.local.get(userId);
    sockets?.delete(socketId);
    const lastOnNode = !sockets || sockets.size === 0;
    if (lastOnNode) this.local.delete(userId);
    const wasLast = await this.redis.parleyPresenceRemove(
      this.userKey(userId),
      this.nodeUsersKey(this.nodeId),
      this.member(socketId),
      userId,
      lastOnNode ? '1' : '0',
    );
    return wasLast === 1;
  }

  /**
   * A user with a socket on this node is online for as long as this node runs, so Redis is asked only
   * about the others: a conversation whose members are all here costs no round trip. The calls of a few
   * milliseconds (LOOKUP_WINDOW_MS) share one lookup: every group commit's follow-up asks about its
   * conversation's members, and a script per commit was 0.42 of the 1.42 Redis commands per message
   * crossing nodes (docs/benchmarks.md); at a moderate rate, a commit per event-loop turn, a script per
   * turn was one per message. Each caller still gets an answer read after its call, about exactly the
   * users it asked for.
   */
  async online(userIds: readonly string[]): Promise<Set<string>> {
    const here: string[] = [];
    const elsewhere: string[] = [];
    for (const userId of userIds) {
      if (this.local.has(userId)) here.push(userId);
      else elsewhere.push(userId);
    }
    if (elsewhere.length === 0) return new Set(here);
    const lookup = (this.pendingLookup ??= this.lookupSoon());
    for (const userId of elsewhere) lookup.userIds.add(userId);
    const online = await lookup.online;
    return new Set([...here, ...elsewhere.filter((userId) => online.has(userId))]);
  }

  private lookupSoon(): PendingLookup {
    const userIds = new Set<string>();
    const online = new Promise<void>((resolve) => setTimeout(resolve, LOOKUP_WINDOW_MS)).then(() => {
      this.pendingLookup = undefined;
      return this.lookOnline([...userIds]);
    });
    return { userIds, online };
  }

  private async lookOnline(userIds: readonly string[]): Promise<Set<string>> {
    const online = new Set<string>();
    for (let i = 0; i < userIds.length; i += BATCH) {
      const batch = userIds.slice(i, i + BATCH);
      const counts = await this.redis.parleyPresenceOnline(batch.length, ...batch.map((userId) => this.userKey(userId)));
      batch.forEach((userId, j) => {
        if ((counts[j] ?? 0) > 0) online.add(userId);
      });
    }
    return online;
  }

  async socketCount(userId: string): Promise<number> {
    const [count] = await this.redis.parleyPresenceOnline(1, this.userKey(userId));
    return count ?? 0;
  }

  async forget(userId: string): Promise<boolean> {
    // Forgotten here too, as in remove(): online() answers from this map, and a full heartbeat (after a
    // failed call) would write its sockets back.
    this.local.delete(userId);
    return (await this.redis.parleyPresenceForget(this.userKey(userId))) === 1;
  }

  onExpired(listener: (userIds: readonly string[]) => void): void {
    this.expiredListeners.add(listener);
  }

  // ---- lifecycle ----

  private async start(): Promise<void> {
    const startedAt = performance.now();
    await this.heartbeat();
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.scheduleBeat(startedAt);
    this.scheduleSweep();
    this.log?.info({ ttlMs: this.ttlMs, prefix: this.prefix }, 'presence ready');
  }

  private stopTimers(): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.sweepTimer);
  }

  private async release(): Promise<void> {
    this.redis.off('error', this.onClientError);
    this.redis.off('ready', this.onClientReady);
    if (!this.ownsClient) return;
    // Keep listening for errors until the connection is gone: a late one would otherwise crash.
    this.redis.on('error', () => {});
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }

  /** A clean shutdown: this node's users go offline now rather than when its heartbeat expires. */
  private async unregister(): Promise<void> {
    const batch = this.redis.pipeline();
    for (const [userId, sockets] of this.local) {
      batch.zrem(this.userKey(userId), ...[...sockets].map((socketId) => this.member(socketId)));
    }
    batch.del(this.nodeUsersKey(this.nodeId));
    batch.zrem(this.nodesKey(), this.nodeId);
    throwFirstError(await batch.exec());
  }

  private readonly onClientError = (err: Error): void => {
    // ioredis reports every failed reconnect attempt; one warning per outage is enough.
    if (this.outageLogged) return;
    this.outageLogged = true;
    this.log?.warn({ err: err.message }, 'redis connection lost, reconnecting');
  };

  private readonly onClientReady = (): void => {
    if (this.outageLogged) this.log?.info('redis connection back');
    this.outageLogged = false;
  };

  // ---- heartbeat ----

  /**
   * The next heartbeat a fifth of a TTL after the last one started, or right after it ends if it took
   * longer (a slow Redis): never two at once, and never a gap longer than the slow call itself. One
   * that failed is retried sooner, so a short Redis outage does not outlast this node's lease.
   */
  private scheduleBeat(lastStartedAt: number, failed = false): void {
    const interval = this.ttlMs * (failed ? BEAT_RETRY : BEAT);
    const delay = Math.max(0, lastStartedAt + interval - performance.now());
    this.heartbeatTimer = setTimeout(() => {
      const startedAt = performance.now();
      let beatFailed = false;
      this.beating = this.heartbeat()
        .catch((err: unknown) => {
          beatFailed = true;
          this.log?.warn({ err: errorMessage(err) }, 'presence heartbeat failed, will retry');
        })
        .finally(() => {
          this.beating = undefined;
          if (this.state === 'running') this.scheduleBeat(startedAt, beatFailed);
        });
    }, delay).unref();
  }

  /**
   * One script renews every local socket; its arguments are built synchronously from the live map, so
   * a remove() called from here on reaches Redis after it and cannot be undone by it.
   */
  private async heartbeat(): Promise<void> {
    const keys = [this.nodesKey(), this.clockKey(), this.nodeUsersKey(this.nodeId)];
    const args: (string | number)[] = [this.nodeId, this.leaseMs(), this.gapMs(), this.fullSyncDue ? '1' : '0'];
    for (const [userId, sockets] of this.local) {
      keys.push(this.userKey(userId));
      args.push(userId, sockets.size);
      for (const socketId of sockets) args.push(this.member(socketId));
    }
    this.fullSyncDue = false;
    try {
      const full = await this.redis.parleyPresenceHeartbeat(keys.length, ...keys, ...args);
      if (full === 1) this.log?.debug({ users: this.local.size }, 'presence fully re-registered');
    } catch (err) {
      this.fullSyncDue = true;
      throw err;
    }
  }

  // ---- sweeper ----

  private scheduleSweep(): void {
    // Jittered, so the nodes' sweeps spread out instead of all racing for the same lock.
    const delay = this.ttlMs * SWEEP * (0.5 + Math.random());
    this.sweepTimer = setTimeout(() => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.log?.warn({ err: errorMessage(err) }, 'presence sweep failed, will retry'))
        .finally(() => {
          this.sweeping = undefined;
          if (this.state === 'running') this.scheduleSweep();
        });
    }, delay).unref();
  }

  private async sweep(): Promise<void> {
    const expired = await this.redis.parleyPresenceExpiredNodes(this.nodesKey(), this.clockKey(), NODES_PER_SWEEP, this.gapMs(), this.leaseMs());
    for (const nodeId of expired) {
      if (this.state !== 'running') return;
      // Our own entry expires only if our heartbeats fail; our next good one renews it.
      if (nodeId !== this.nodeId) await this.sweepNode(nodeId);
    }
  }

  /** How long a heartbeat keeps this node's entries live. */
  private leaseMs(): number {
    return Math.round(this.ttlMs * LEASE);
  }

  /** A break in the nodes' calls longer than this means Redis was down or stalled (see `continuity`). */
  private gapMs(): number {
    return Math.round(this.ttlMs * GAP);
  }

  private async sweepNode(nodeId: string): Promise<void> {
    const locked = await this.redis.set(this.sweepLockKey(nodeId), this.nodeId, 'PX', this.ttlMs, 'NX');
    if (locked !== 'OK') return;
    let cursor = '0';
    let wentOffline = 0;
    do {
      const [next, userIds] = await this.redis.sscan(this.nodeUsersKey(nodeId), cursor, 'COUNT', BATCH);
      cursor = next;
      if (userIds.length === 0) continue;
      const [swept, ...gone] = await this.sweepUsers(nodeId, userIds);
      if (swept === 0) {
        this.log?.info({ node: nodeId, wentOffline }, 'a node taken for dead is alive again, sweep stopped');
        return;
      }
      wentOffline += gone.length;
      // Reported batch by batch: these users are already gone from Redis, so a later failure must not
      // swallow them (nobody else will report them).
      if (gone.length > 0) this.notifyExpired(gone);
    } while (cursor !== '0');
    const retired = await this.redis.parleyPresenceRetireNode(this.nodesKey(), this.nodeUsersKey(nodeId), nodeId);
    this.log?.info({ deadNode: nodeId, wentOffline, retired: retired === 1 }, 'swept a node that stopped heartbeating');
  }

  private sweepUsers(nodeId: string, userIds: readonly string[]): Promise<[0] | [1, ...string[]]> {
    const keys = userIds.map((userId) => this.userKey(userId));
    return this.redis.parleyPresenceSweepUsers(keys.length + 1, this.nodesKey(), ...keys, nodeId, this.leaseMs(), ...userIds);
  }

  private notifyExpired(userIds: readonly string[]): void {
    for (const listener of this.expiredListeners) {
      try {
        listener(userIds);
      } catch (err) {
        this.log?.error({ err }, 'presence onExpired listener threw');
      }
    }
  }

  // ---- keys ----

  private member(socketId: string): string {
    return `${this.nodeId}|${socketId}`;
  }

  private userKey(userId: string): string {
    return `${this.prefix}:presence:user:${userId}`;
  }

  private nodeUsersKey(nodeId: string): string {
    return `${this.prefix}:presence:node:${nodeId}`;
  }

  private nodesKey(): string {
    return `${this.prefix}:presence:nodes`;
  }

  private clockKey(): string {
    return `${this.prefix}:presence:clock`;
  }

  private sweepLockKey(nodeId: string): string {
    return `${this.prefix}:presence:sweep:${nodeId}`;
  }
}

/** A pipeline or transaction resolves even when some of its commands failed; those count as failures. */
function throwFirstError(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('redis transaction aborted');
  const failed = results.find(([err]) => err !== null);
  if (failed?.[0]) throw failed[0];
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

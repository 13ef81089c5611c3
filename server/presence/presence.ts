/**
 * The presence port: which users have a live socket on a live gateway node. Two drivers implement it,
 * `RedisPresence` (shared by every node, with heartbeats and a TTL) and `MemoryPresence` (one node);
 * `test/contract/presence.contract.test.ts` holds both to the same behaviour.
 *
 * A user is online while at least one of their sockets is registered on a node whose heartbeat is
 * fresh. A node that dies (kill -9) stops heartbeating; within one TTL some other node
 * sweeps it and reports the users who thereby went offline, each exactly once across all nodes.
 */
export interface Presence {
  readonly driver: 'memory' | 'redis';
  /** Connects and starts this node's heartbeat and sweeper; idempotent. */
  init(): Promise<void>;
  /** Stops the timers and removes this node's sockets (a clean shutdown), then disconnects. */
  close(): Promise<void>;
  /** Rejects when the backing server is unreachable (readiness). */
  ping(): Promise<void>;

  /** Registers a live socket of `userId` on this node. Resolves true if the user was offline before. */
  add(userId: string, socketId: string): Promise<boolean>;
  /** Unregisters it. Resolves true if that was the user's last live socket on any node. */
  remove(userId: string, socketId: string): Promise<boolean>;
  /** Which of `userIds` are online now. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  /** How many live sockets the user has, on every node (the per-user connection cap). */
  socketCount(userId: string): Promise<number>;
  /** Removes every socket of the user on every node (account deletion); true if they were online. */
  forget(userId: string): Promise<boolean>;
  /**
   * Called with the users that went offline because the node holding their last socket stopped
   * heartbeating. Across all nodes sharing the backing server, each such user is reported once.
   */
  onExpired(listener: (userIds: readonly string[]) => void): void;
}

export interface PresenceOptions {
  /** This node's id, unique per process (default: random). */
  readonly nodeId: string;
  /** A dead node's users go offline within this (default 30 000 ms; heartbeat every TTL/5, entries live 0.7 TTL). */
  readonly ttlMs: number;
  /** Key prefix, so tests do not collide (default 'parley'). */
  readonly prefix: string;
}

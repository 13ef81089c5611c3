import type { ServerToClientEvents } from '../../client-sdk/src/index.js';

/**
 * How services reach sockets: by user, on every node. The gateway implements it with its Socket.IO
 * server (through the Redis adapter when clustered); worker processes will implement it with the Redis
 * emitter. Services never see a socket.
 */
export interface Realtime {
  toUsers<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** Like `toUsers`, but dropped for sockets that cannot take it right now (typing: stale is worthless). */
  toUsersVolatile<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** To every socket in a room, e.g. `presence:<userId>`. */
  toRoom<E extends keyof ServerToClientEvents>(room: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** Makes every socket of these users leave a room, on every node (e.g. a presence room after a block). */
  leaveRoom(userIds: readonly string[], room: string): void;
  /** Closes every socket of a session (logout) on every node. */
  disconnectSession(sessionId: string): void;
  /** Closes every socket of a user on every node. */
  disconnectUser(userId: string): void;
}

/** A Realtime that reaches nobody: for services run without sockets (benchmarks of one service, tests). */
export const silentRealtime: Realtime = {
  toUsers: () => undefined,
  toUsersVolatile: () => undefined,
  toRoom: () => undefined,
  leaveRoom: () => undefined,
  disconnectSession: () => undefined,
  disconnectUser: () => undefined,
};

export const userRoom = (userId: string) => `user:${userId}`;
export const sessionRoom = (sessionId: string) => `session:${sessionId}`;

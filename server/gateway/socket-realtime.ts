import type { ServerToClientEvents } from '../../client-sdk/src/index.js';
import { sessionRoom, userRoom, type Realtime } from '../chat/index.js';
import type { ParleyServer } from './socket-gateway.js';

/** `Realtime` over the gateway's own Socket.IO server: reaches every node through its adapter. */
export class SocketIoRealtime implements Realtime {
  constructor(private readonly io: ParleyServer) {}

  toUsers<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    if (userIds.length === 0) return;
    this.io.to(userIds.map(userRoom)).emit(event, ...args);
  }

  toUsersVolatile<E extends keyof ServerToClientEvents>(userIds: readonly string[], event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    if (userIds.length === 0) return;
    this.io.to(userIds.map(userRoom)).volatile.emit(event, ...args);
  }

  toRoom<E extends keyof ServerToClientEvents>(room: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    this.io.to(room).emit(event, ...args);
  }

  leaveRoom(userIds: readonly string[], room: string): void {
    if (userIds.length === 0) return;
    this.io.in(userIds.map(userRoom)).socketsLeave(room);
  }

  disconnectSession(sessionId: string): void {
    this.io.in(sessionRoom(sessionId)).disconnectSockets(true);
  }

  disconnectUser(userId: string): void {
    this.io.in(userRoom(userId)).disconnectSockets(true);
  }
}

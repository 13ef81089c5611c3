import type { Presence } from './presence.js';

/**
 * The single-node driver: this process is the only node, so presence is just the sockets it holds.
 * Nothing can die without taking this map with it, so `onExpired` never fires.
 *
 * @example
 * const presence = new MemoryPresence();
 * await presence.init();
 * if (await presence.add(userId, socket.id)) announceOnline(userId);
 */
export class MemoryPresence implements Presence {
  readonly driver = 'memory' as const;
  /** userId → its socket ids; a user with no sockets has no entry, so `has` means online. */
  private readonly sockets = new Map<string, Set<string>>();

  async init(): Promise<void> {}

  async close(): Promise<void> {
    this.sockets.clear();
  }

  async ping(): Promise<void> {}

  async add(userId: string, socketId: string): Promise<boolean> {
    const sockets = this.sockets.get(userId);
    if (sockets) {
      sockets.add(socketId);
      return false;
    }
    this.sockets.set(userId, new Set([socketId]));
    return true;
  }

  async remove(userId: string, socketId: string): Promise<boolean> {
    const sockets = this.sockets.get(userId);
    if (!sockets?.delete(socketId)) return false;
    if (sockets.size > 0) return false;
    this.sockets.delete(userId);
    return true;
  }

  async socketCount(userId: string): Promise<number> {
    return this.sockets.get(userId)?.size ?? 0;
  }

  async online(userIds: readonly string[]): Promise<Set<string>> {
    return new Set(userIds.filter((userId) => this.sockets.has(userId)));
  }

  async forget(userId: string): Promise<boolean> {
    return this.sockets.delete(userId);
  }

  onExpired(_listener: (userIds: readonly string[]) => void): void {
    // One node: there is no other node whose death could take a user offline.
  }
}

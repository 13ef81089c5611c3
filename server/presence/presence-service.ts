import type { Presence as PresenceView } from '../../client-sdk/src/index.js';
import { QUEUES } from '../chat/follow-up.js';
import type { Realtime } from '../chat/realtime.js';
import type { Logger } from '../logger.js';
import type { Queue } from '../queue/index.js';
import type { Store, UserRecord } from '../store/index.js';
import type { Presence } from './presence.js';

/** A last-seen write for the presence worker. */
export interface LastSeenJob {
  readonly userId: string;
  readonly lastSeenAt: string;
}

export const presenceRoom = (userId: string) => `presence:${userId}`;

/** How long an offline broadcast waits for the user's settings before assuming the private choice. */
const SETTINGS_WAIT_MS = 1000;

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/**
 * Online and last seen. Sockets register with the presence driver (shared through Redis when
 * clustered); the first socket makes a user online, the last one (or its node's death) offline. Changes
 * go to the room `presence:<userId>`, which only sockets allowed to see that user have joined: users who
 * share a conversation with them and have not blocked each other. Last seen is written through the
 * presence queue, so it lands in MongoDB even if Redis forgets everything.
 */
export class PresenceService {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly presence: Presence,
    private readonly realtime: Realtime,
    private readonly queue: Queue,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'presence' });
    presence.onExpired((userIds) => {
      for (const userId of userIds) void this.wentOffline(userId, new Date());
    });
  }

  async connected(userId: string, socketId: string): Promise<void> {
    try {
      if (await this.presence.add(userId, socketId)) this.broadcast({ userId, online: true, lastSeenAt: null });
    } catch (err) {
      // Presence is best-effort while Redis is down; the heartbeat re-registers the socket once it is back.
      this.log.warn({ err, userId }, 'presence add failed');
    }
  }

  async disconnected(userId: string, socketId: string): Promise<void> {
    try {
      if (await this.presence.remove(userId, socketId)) await this.wentOffline(userId, new Date());
    } catch (err) {
      this.log.warn({ err, userId }, 'presence remove failed');
    }
  }

  /**
   * The current presence of those of `userIds` the viewer may see; the rest are left out. The viewer's
   * sockets should then join the returned users' presence rooms.
   */
  async visible(viewerId: string, userIds: readonly string[]): Promise<{ presence: PresenceView[]; allowed: string[] }> {
    const allowed = await this.allowedToSee(viewerId, userIds);
    const [users, online] = await Promise.all([this.store.getUsers(allowed), this.presence.online(allowed).catch(() => new Set<string>())]);
    const presence = users.map((u) => this.view(u, online.has(u.id)));
    return { presence, allowed: presence.map((p) => p.userId) };
  }

  /** Users of `candidates` that share a conversation with `viewerId`, neither having blocked the other. */
  async allowedToSee(viewerId: string, candidates: readonly string[]): Promise<string[]> {
    const wanted = new Set(candidates.filter((id) => id !== viewerId));
    if (wanted.size === 0) return [];
    const [viewer] = await this.store.getUsers([viewerId]);
    if (!viewer) return [];
    const shared = new Set<string>();
    for (const c of await this.store.listConversations(viewerId, 10_000)) {
      for (const m of c.members) if (wanted.has(m.userId)) shared.add(m.userId);
    }
    const others = await this.store.getUsers([...shared]);
    return others.filter((u) => u.status === 'active' && !u.blockedUserIds.includes(viewerId) && !viewer.blockedUserIds.includes(u.id)).map((u) => u.id);
  }

  private async wentOffline(userId: string, at: Date): Promise<void> {
    // Watchers should hear "offline" promptly even when the store is slow: past a short wait the
    // settings count as unknown, and unknown shows no last seen (the private choice).
    const user = await Promise.race([this.store.getUser(userId).catch(() => null), delay(SETTINGS_WAIT_MS, undefined)]);
    const showLastSeen = user !== undefined && user !== null && !user.settings.hideLastSeen;
    this.broadcast({ userId, online: false, lastSeenAt: showLastSeen ? at.toISOString() : null });
    try {
      await this.queue.publish<LastSeenJob>(QUEUES.presence, {
        id: `last-seen:${userId}:${at.getTime()}`,
        type: 'presence.last-seen',
        payload: { userId, lastSeenAt: at.toISOString() },
      });
    } catch (err) {
      // Losing one last-seen write only makes "last seen" older; the next disconnect writes again.
      this.log.warn({ err, userId }, 'last-seen write not queued');
    }
  }

  private broadcast(view: PresenceView): void {
    this.realtime.toRoom(presenceRoom(view.userId), 'presence', view);
  }

  private view(user: UserRecord, online: boolean): PresenceView {
    const lastSeenAt = online || user.settings.hideLastSeen || !user.lastSeenAt ? null : user.lastSeenAt.toISOString();
    return { userId: user.id, online, lastSeenAt };
  }
}

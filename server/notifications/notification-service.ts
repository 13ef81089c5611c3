import type { Notification } from '../../client-sdk/src/index.js';
import type { Realtime } from '../chat/realtime.js';
import type { NewNotification, NotificationRecord, Store } from '../store/index.js';

export interface InboxPage {
  readonly notifications: Notification[];
  readonly unreadCount: number;
}

/**
 * The in-app channel: a stored inbox per user, a live `notification:new` on every device, and an
 * unread count. Creating is idempotent by dedupe key, so redelivered jobs notify once.
 */
export class NotificationService {
  constructor(
    private readonly store: Store,
    private readonly realtime: Realtime,
  ) {}

  async notify(input: NewNotification): Promise<Notification> {
    const record = await this.store.createNotification(input);
    const wire = toWireNotification(record);
    this.realtime.toUsers([input.userId], 'notification:new', wire);
    return wire;
  }

  async inbox(userId: string, query: { unreadOnly: boolean; limit: number; beforeId?: string | undefined }): Promise<InboxPage> {
    const [records, unreadCount] = await Promise.all([this.store.listNotifications(userId, query), this.store.countUnreadNotifications(userId)]);
    return { notifications: records.map(toWireNotification), unreadCount };
  }

  async markRead(userId: string, ids: readonly string[] | undefined): Promise<number> {
    await this.store.markNotificationsRead(userId, ids);
    return this.store.countUnreadNotifications(userId);
  }
}

export function toWireNotification(n: NotificationRecord): Notification {
  const wire: Notification = { id: n.id, type: n.type, data: { ...n.data }, read: n.read, createdAt: n.createdAt.toISOString() };
  if (n.title !== null) wire.title = n.title;
  if (n.body !== null) wire.body = n.body;
  return wire;
}

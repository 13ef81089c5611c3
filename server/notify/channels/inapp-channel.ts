import type { NotificationService } from '../../notifications/index.js';
import type { AttemptRecord } from '../notify-store.js';
import type { ChannelAdapter } from './channel.js';

/**
 * The in-app channel: the stored inbox, a live `notification:new` on every device and the unread
 * count, all through `NotificationService.notify`. The dedupe key is the attempt id, so a redelivered
 * job stores and shows one notification.
 */
export class InAppChannel implements ChannelAdapter {
  readonly channel = 'inapp' as const;
  readonly configured = true;

  constructor(private readonly notifications: NotificationService) {}

  async send(attempt: AttemptRecord): Promise<void> {
    await this.notifications.notify({
      userId: attempt.userId,
      type: attempt.eventType,
      title: attempt.message.title,
      body: attempt.message.body,
      data: { ...attempt.message.data, eventId: attempt.eventId, occurrenceId: attempt.occurrenceId },
      dedupeKey: `notify:${attempt.id}`,
    });
  }
}

import type { AuthService } from '../auth/index.js';
import type { CacheInvalidation } from '../cluster/index.js';
import { domainEvent, handleOnce } from '../events/index.js';
import type { Logger } from '../logger.js';
import type { Presence } from '../presence/index.js';
import type { DomainEvent, Queue } from '../queue/index.js';
import { ParleyError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Realtime } from '../chat/realtime.js';
import { toWireConversation } from '../chat/wire.js';

/**
 * Account deletion. The request publishes `user.deleted` first (confirmed), then marks the account
 * deleted, revokes its sessions and closes its sockets everywhere; the cleanup consumer then removes the
 * user from every conversation, nulls the sender of their messages, deletes their notifications and
 * clears their presence. Every step is idempotent and the consumer does the durable ones again, so a
 * crash anywhere, or the event delivered twice, ends in the same state.
 */
export class AccountService {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly auth: AuthService,
    private readonly queue: Queue,
    private readonly realtime: Realtime,
    private readonly producer: string,
    private readonly invalidation: CacheInvalidation,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'accounts' });
  }

  async deleteAccount(userId: string, password: string): Promise<void> {
    await this.auth.checkPassword(userId, password);
    // Published before anything changes: when RabbitMQ is down the request fails and can be retried.
    await this.queue.publishEvent(domainEvent('user.deleted', `user.deleted:${userId}`, this.producer, { userId }));
    await this.markDeleted(userId);
    this.log.info({ userId }, 'account deleted');
  }

  /**
   * An operator suspends (`blocked`) or restores (`active`) an account. Suspension revokes every
   * session and closes the user's sockets on every node; the user cannot log in until restored.
   */
  async setStatus(username: string, status: 'active' | 'blocked'): Promise<string> {
    const user = await this.store.findUserByUsername(username);
    if (!user || user.status === 'deleted') throw new ParleyError('not_found', `no user ${username}`);
    await this.store.updateUser(user.id, { status });
    if (status === 'blocked') {
      await this.store.revokeUserSessions(user.id, new Date());
      this.realtime.disconnectUser(user.id);
    }
    this.log.warn({ userId: user.id, status }, 'account status changed by an operator');
    return user.id;
  }

  private async markDeleted(userId: string): Promise<void> {
    const now = new Date();
    await this.store.updateUser(userId, { status: 'deleted' });
    await this.store.revokeUserSessions(userId, now);
    this.realtime.disconnectUser(userId);
  }

  /** Returns the consumer of `user.deleted` that finishes the cascade. */
  cleanupConsumer(presence: Presence, consumer = 'account-cleanup'): (event: DomainEvent) => Promise<void> {
    return (event) =>
      handleOnce(this.store, consumer, event, async () => {
        const userId = String(event.data['userId'] ?? '');
        if (!userId) return;
        await this.markDeleted(userId);
        const left = await this.store.removeUserFromAllConversations(userId);
        for (const conversationId of left) this.invalidation.publish('conversation', conversationId);
        await this.store.anonymiseMessagesOf(userId);
        await this.store.deleteNotificationsOf(userId);
        await presence.forget(userId);
        for (const conversationId of left) {
          const conversation = await this.store.getConversation(conversationId);
          if (!conversation) continue;
          const view = toWireConversation(conversation, undefined);
          this.realtime.toUsers(conversation.members.map((m) => m.userId), 'conversation:updated', view);
        }
        this.log.info({ userId, conversations: left.length }, 'account cleanup done');
      });
  }
}

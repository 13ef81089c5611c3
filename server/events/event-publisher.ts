import type { Logger } from '../logger.js';
import type { Queue } from '../queue/index.js';
import { domainEvent, type DomainEventType } from './domain-events.js';

/**
 * Publishes informational domain events (user.created, user.updated, message.withdrawn, …) for other
 * services. The request that caused one has already succeeded, so a publish that fails is logged, not
 * thrown; events whose loss would lose work (message.sent, user.deleted) go through the outbox or are
 * published before the change instead.
 */
export class EventPublisher {
  private readonly log: Logger;

  constructor(
    private readonly queue: Queue,
    private readonly producer: string,
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'events' });
  }

  async publish(type: DomainEventType, eventId: string, data: Record<string, unknown>): Promise<void> {
    try {
      await this.queue.publishEvent(domainEvent(type, eventId, this.producer, data));
    } catch (err) {
      this.log.warn({ err, type, eventId }, 'domain event not published');
    }
  }
}

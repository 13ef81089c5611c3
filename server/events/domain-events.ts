import type { DomainEvent } from '../queue/index.js';
import type { Store } from '../store/index.js';

/** The domain events Parley publishes; docs/events.md is the catalogue with payloads. */
export type DomainEventType =
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'message.sent'
  | 'message.read'
  | 'message.withdrawn'
  | 'message.scheduled.delivered'
  | 'notification.sent';

/**
 * An event with a deterministic id when the caller has one (e.g. `message.sent:<messageId>`), so a
 * republished event is recognisably the same event and consumers can ignore the repeat.
 */
export function domainEvent(type: DomainEventType, eventId: string, producer: string, data: Record<string, unknown>): DomainEvent {
  return { eventId, type, occurredAt: new Date().toISOString(), producer, data };
}

/**
 * Runs `effect` for an event unless this consumer handled the event before. The id is recorded after
 * the effect, so a crash in between replays the effect: effects must be idempotent, and this makes
 * the common repeat (a redelivery after success) free.
 */
export async function handleOnce(store: Store, consumer: string, event: DomainEvent, effect: () => Promise<void>): Promise<void> {
  const key = `event:${consumer}:${event.eventId}`;
  if (await store.isClaimed(key)) return;
  await effect();
  await store.claim(key);
}

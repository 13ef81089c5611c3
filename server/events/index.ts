export { domainEvent, handleOnce } from './domain-events.js';
export type { DomainEventType } from './domain-events.js';
export { EventPublisher } from './event-publisher.js';

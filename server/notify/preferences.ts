import type { EventTypeRegistry } from './event-types.js';
import type { Channel, NotifyProfile } from './notify-store.js';

/**
 * Whether a user gets an event type on a channel: their own choice if they made one, else the event
 * type's default. A channel the type has no template for is always off.
 */
export function isChannelEnabled(registry: EventTypeRegistry, profile: NotifyProfile, eventType: string, channel: Channel): boolean {
  if (!registry.channelsOf(eventType).includes(channel)) return false;
  const choice = profile.preferences.find((p) => p.eventType === eventType && p.channel === channel);
  return choice ? choice.enabled : registry.defaultFor(eventType, channel);
}

/** Every event type with every channel it can use, on or off for this user (the REST view). */
export function effectivePreferences(registry: EventTypeRegistry, profile: NotifyProfile): Record<string, Partial<Record<Channel, boolean>>> {
  const result: Record<string, Partial<Record<Channel, boolean>>> = {};
  for (const eventType of registry.names()) {
    const channels: Partial<Record<Channel, boolean>> = {};
    for (const channel of registry.channelsOf(eventType)) channels[channel] = isChannelEnabled(registry, profile, eventType, channel);
    result[eventType] = channels;
  }
  return result;
}

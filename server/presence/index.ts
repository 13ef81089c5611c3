export type * from './presence.js';
export { MemoryPresence } from './memory-presence.js';
export { RedisPresence } from './redis-presence.js';
export { PresenceService, presenceRoom } from './presence-service.js';
export type { LastSeenJob } from './presence-service.js';

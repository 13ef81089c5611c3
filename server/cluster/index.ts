export { type CacheChange, type CachedKind, type CacheInvalidation, type CacheListener, cacheLifetimeMs, MemoryCacheInvalidation, RedisCacheInvalidation } from './cache-invalidation.js';
export { EmitterRealtime, type EmitterRealtimeOptions } from './emitter-realtime.js';
export { createRedisAdapter, type FanoutMode, type RedisAdapterOptions, type RedisFanout } from './redis-fanout.js';

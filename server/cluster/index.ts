export { EmitterRealtime, type EmitterRealtimeOptions } from './emitter-realtime.js';
export { createRedisAdapter, type FanoutMode, type RedisAdapterOptions, type RedisFanout } from './redis-fanout.js';

export type * from './store.js';
export { directKeyFor } from './store.js';
export { MemoryStore } from './memory-store.js';
export { MongoStore } from './mongo-store.js';
export { DUPLICATE_KEY, ensureIndexes, findByIds, isDuplicateKey, writeErrorsOf } from './mongo-support.js';

import { randomUUID } from 'node:crypto';
import mongoose from 'mongoose';

/** The MongoDB-protocol server the integration tests use: FerretDB here, MongoDB anywhere else. */
export const TEST_MONGODB_BASE = process.env.PARLEY_TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

/**
 * A URI naming a database no other test uses (FerretDB allows [a-z0-9_] names up to 63 chars). Each
 * client's pool is kept small: FerretDB v1 can deadlock once its PostgreSQL pool (80) is exhausted, and
 * a test may run several Parley processes at once.
 */
export function freshDatabaseUri(): string {
  return `${TEST_MONGODB_BASE}/t_${randomUUID().replaceAll('-', '').slice(0, 24)}?maxPoolSize=8`;
}

export async function dropDatabase(uri: string): Promise<void> {
  const conn = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5000 }).asPromise();
  try {
    await conn.dropDatabase();
  } finally {
    await conn.close();
  }
}

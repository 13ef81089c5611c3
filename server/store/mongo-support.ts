import type mongoose from 'mongoose';

/*
 * What every Mongo driver here (the chat store, the notify store) needs to stay correct and alive on both
 * MongoDB and FerretDB v1. Rules the drivers follow besides these helpers:
 *
 * - Every update command carries ONE statement (no bulkWrite of several updates). FerretDB v1.24.2 leaks
 *   a PostgreSQL connection for each multi-statement update command (measured: 10 five-statement
 *   commands left 4 connections checked out forever); once its pool is gone, every request waits.
 * - Nothing that must hold between processes rests on a conditional update: FerretDB v1 applies updates
 *   as read-modify-write. Unique inserts are atomic on both servers.
 */

export const DUPLICATE_KEY = 11000;

/** Above this many ids one $in query beats that many point lookups, even on FerretDB. */
const POINT_LOOKUP_LIMIT = 32;

/**
 * Creates the model's indexes that do not exist yet; returns how many. Listing first matters on
 * FerretDB v1: its createIndexes takes a server-wide write lock even when every index exists, and a
 * process starting while others are busy must not queue every request of the server behind that lock.
 */
export async function ensureIndexes(model: mongoose.Model<unknown>): Promise<number> {
  const existing = await model.collection.indexes().catch(() => []);
  const have = new Set(existing.map((index) => JSON.stringify(index.key)));
  const missing = model.schema.indexes().filter(([fields]) => !have.has(JSON.stringify(fields)));
  if (missing.length === 0) return 0;
  await model.createIndexes();
  return missing.length;
}

/**
 * Documents by _id. MongoDB answers an $in from the _id index either way; FerretDB v1 uses no index for
 * reads and runs $in as a full scan (measured: 130 ms on 3,000 documents, against 4 ms per point lookup,
 * which it does push down), so small sets are fetched as parallel point lookups.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function findByIds<T>(model: mongoose.Model<any>, ids: readonly string[]): Promise<T[]> {
  if (ids.length === 0) return [];
  if (ids.length > POINT_LOOKUP_LIMIT) return model.find({ _id: { $in: [...ids] } }).lean<T[]>();
  const docs = await Promise.all([...new Set(ids)].map((id) => model.findById(id).lean<T>()));
  return docs.filter((d): d is NonNullable<typeof d> => d !== null) as T[];
}

/** True when every write of a failed command was refused as a duplicate key. */
export function isDuplicateKey(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const writeErrors = writeErrorsOf(err);
  if (writeErrors.length > 0) return writeErrors.every((w) => w.code === DUPLICATE_KEY);
  return (err as { code?: unknown }).code === DUPLICATE_KEY;
}

/** The driver reports one write error as an object and several as an array. */
export function writeErrorsOf(err: object): { code?: unknown; index?: unknown }[] {
  const writeErrors = (err as { writeErrors?: unknown }).writeErrors;
  if (writeErrors === undefined || writeErrors === null) return [];
  return (Array.isArray(writeErrors) ? writeErrors : [writeErrors]) as { code?: unknown; index?: unknown }[];
}

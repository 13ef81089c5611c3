import mongoose, { type Connection } from 'mongoose';
import type { Logger } from '../logger.js';
import { ParleyError } from '../errors.js';
import { DUPLICATE_KEY, ensureIndexes, findByIds, isDuplicateKey, writeErrorsOf } from '../store/index.js';
import {
  bindNotifyModels,
  rawCollection,
  type AttemptDoc,
  type EventDoc,
  type IdempotencyDoc,
  type NotifyModels,
  type OccurrenceDoc,
  type ProfileDoc,
  type PushSubscriptionDoc,
  type ScheduleDoc,
  type ServiceKeyDoc,
} from './mongo-notify-models.js';
import {
  mergePreferences,
  type AttemptChange,
  type AttemptQuery,
  type AttemptRecord,
  type DeferredRecord,
  type EventRecord,
  type IdempotencyRecord,
  type NewAttempt,
  type NewDeferred,
  type NewEvent,
  type NewOccurrence,
  type NewPushSubscription,
  type NewSchedule,
  type NewServiceKey,
  type NotifyProfile,
  type NotifyStore,
  type OccurrenceRecord,
  type ProfilePatch,
  type PushSubscriptionRecord,
  type ScheduleQuery,
  type ScheduleRecord,
  type ServiceKeyRecord,
} from './notify-store.js';

export interface MongoNotifyStoreOptions {
  readonly logger?: Logger;
}


/**
 * The notify store on MongoDB (mongoose), run against FerretDB v1 in tests, so it uses no
 * transactions and trusts no conditional update between processes. It owns its connection.
 *
 * What must happen once rests on unique inserts: `claim`, `claimOccurrence`, idempotency keys and
 * `notify_cancellations`. The last one exists because FerretDB v1 writes an updated document back
 * whole: a scheduler advancing a schedule while an operator cancels it could write `active` back over
 * `cancelled`. The cancellation marker is never updated, and every read of a schedule consults it.
 *
 * @example
 * const notifyStore = new MongoNotifyStore('mongodb://127.0.0.1:27017/parley', { logger });
 * await notifyStore.init();
 */
export class MongoNotifyStore implements NotifyStore {
  readonly driver = 'mongodb' as const;
  private readonly conn: Connection;
  private readonly models: NotifyModels;
  private readonly log: Logger | undefined;
  private opening: Promise<void> | undefined;

  constructor(
    private readonly uri: string,
    options: MongoNotifyStoreOptions = {},
  ) {
    this.conn = mongoose.createConnection();
    this.models = bindNotifyModels(this.conn);
    this.log = options.logger?.child({ module: 'mongo-notify-store' });
  }

  init(): Promise<void> {
    this.opening ??= this.open().catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    await this.conn.openUri(this.uri, { serverSelectionTimeoutMS: 5000 });
    let created = 0;
    for (const model of Object.values(this.models) as mongoose.Model<unknown>[]) created += await ensureIndexes(model);
    this.log?.info({ db: this.conn.name, indexesCreated: created }, 'mongo notify store ready');
  }

  async close(): Promise<void> {
    this.opening = undefined;
    await this.conn.close();
  }

  async ping(): Promise<void> {
    const db = this.conn.db;
    if (!db || this.conn.readyState !== mongoose.ConnectionStates.connected) {
      throw new ParleyError('unavailable', 'the notify store is not connected');
    }
    await db.admin().ping();
  }

  async claim(key: string): Promise<boolean> {
    return insertUnique(rawCollection(this.models.claims), { _id: key, createdAt: new Date() });
  }

  // ---- service keys ----

  async createServiceKey(input: NewServiceKey): Promise<ServiceKeyRecord> {
    const doc: ServiceKeyDoc = { _id: input.id, name: input.name, scopes: [...input.scopes], secretHash: input.secretHash, createdAt: new Date(), revokedAt: null };
    if (!(await insertUnique(rawCollection(this.models.serviceKeys), doc))) throw new ParleyError('conflict', `service key ${input.id} exists`);
    return toServiceKey(doc);
  }

  async getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    const doc = await this.models.serviceKeys.findById(id).lean<ServiceKeyDoc>();
    return doc ? toServiceKey(doc) : null;
  }

  async listServiceKeys(): Promise<ServiceKeyRecord[]> {
    const docs = await this.models.serviceKeys.find({}).sort({ createdAt: 1, _id: 1 }).lean<ServiceKeyDoc[]>();
    return docs.map(toServiceKey);
  }

  async revokeServiceKey(id: string, at: Date): Promise<ServiceKeyRecord | null> {
    await this.models.serviceKeys.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at } });
    return this.getServiceKey(id);
  }

  // ---- events ----

  async createEvent(input: NewEvent): Promise<EventRecord> {
    const doc: EventDoc = {
      _id: input.id,
      type: input.type,
      priority: input.priority,
      priorityClass: input.priorityClass,
      createdDt: input.createdDt,
      userIds: [...input.userIds],
      contentIds: [...input.contentIds],
      data: structuredClone({ ...input.data }),
      serviceKeyId: input.serviceKeyId,
      idempotencyKey: input.idempotencyKey,
      receivedAt: new Date(),
    };
    if (!(await insertUnique(rawCollection(this.models.events), doc))) throw new ParleyError('conflict', `event ${input.id} exists`);
    return toEvent(doc);
  }

  async getEvent(id: string): Promise<EventRecord | null> {
    const doc = await this.models.events.findById(id).lean<EventDoc>();
    return doc ? toEvent(doc) : null;
  }

  async deleteEvent(id: string): Promise<void> {
    await this.models.events.deleteOne({ _id: id });
  }

  async putIdempotencyKey(record: Omit<IdempotencyRecord, 'createdAt'>): Promise<IdempotencyRecord> {
    const doc: IdempotencyDoc = { _id: record.key, eventId: record.eventId, requestHash: record.requestHash, createdAt: new Date() };
    if (await insertUnique(rawCollection(this.models.idempotency), doc)) return toIdempotency(doc);
    const existing = await this.models.idempotency.findById(record.key).lean<IdempotencyDoc>();
    if (!existing) throw new ParleyError('internal', `idempotency key ${record.key} vanished`);
    return toIdempotency(existing);
  }

  // ---- schedules ----

  async createSchedule(input: NewSchedule): Promise<ScheduleRecord> {
    const doc: ScheduleDoc = {
      _id: input.id,
      eventId: input.eventId,
      eventType: input.eventType,
      priorityClass: input.priorityClass,
      kind: input.kind,
      cron: input.cron,
      timeZone: input.timeZone,
      startAt: input.startAt,
      endAt: input.endAt,
      nextRunAt: input.nextRunAt,
      lastRunAt: null,
      status: input.nextRunAt ? 'active' : 'finished',
      createdAt: new Date(),
      cancelledAt: null,
    };
    if (await insertUnique(rawCollection(this.models.schedules), doc)) return toSchedule(doc);
    const existing = await this.getSchedule(input.id);
    if (!existing) throw new ParleyError('internal', `schedule ${input.id} vanished`);
    return existing;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | null> {
    const doc = await this.models.schedules.findById(id).lean<ScheduleDoc>();
    if (!doc) return null;
    const [checked] = await this.applyCancellations([doc]);
    return checked ? toSchedule(checked) : null;
  }

  async listSchedules(query: ScheduleQuery): Promise<ScheduleRecord[]> {
    if (query.limit <= 0) return [];
    const filter: Record<string, unknown> = {};
    if (query.status !== undefined) filter.status = query.status;
    if (query.beforeId !== undefined) filter._id = { $lt: query.beforeId };
    const docs = await this.models.schedules.find(filter).sort({ _id: -1 }).limit(query.limit).lean<ScheduleDoc[]>();
    // A document that reads active may have been cancelled by its marker (see the class comment).
    const checked = await this.applyCancellations(docs);
    return checked.filter((doc) => query.status === undefined || doc.status === query.status).map(toSchedule);
  }

  async listDueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    const docs = await this.models.schedules
      .find({ status: 'active', nextRunAt: { $lte: now } })
      .sort({ nextRunAt: 1 })
      .limit(limit)
      .lean<ScheduleDoc[]>();
    const checked = await this.applyCancellations(docs);
    return checked.filter((doc) => doc.status === 'active').map(toSchedule);
  }

  async advanceSchedule(id: string, change: { nextRunAt: Date | null; lastRunAt: Date | null }): Promise<void> {
    const set: Record<string, unknown> = { nextRunAt: change.nextRunAt, status: change.nextRunAt ? 'active' : 'finished' };
    if (change.lastRunAt) set.lastRunAt = change.lastRunAt;
    await this.models.schedules.updateOne({ _id: id, status: 'active' }, { $set: set });
  }

  async cancelSchedule(id: string, at: Date): Promise<ScheduleRecord | null> {
    const exists = await this.models.schedules.exists({ _id: id });
    if (!exists) return null;
    // The marker first: from here on no scheduler fires it, whatever the document says.
    await insertUnique(rawCollection(this.models.cancellations), { _id: id, at });
    return this.getSchedule(id);
  }

  /**
   * Reads each schedule's cancellation marker (point lookups) and makes the document say cancelled
   * where one exists, repairing a stored document that a racing advance wrote back as active.
   */
  private async applyCancellations(docs: readonly ScheduleDoc[]): Promise<ScheduleDoc[]> {
    const open = docs.filter((doc) => doc.status !== 'cancelled');
    const markers = await findByIds<{ _id: string; at: Date }>(this.models.cancellations, open.map((doc) => doc._id));
    const cancelledAt = new Map(markers.map((m) => [m._id, m.at]));
    return Promise.all(
      docs.map(async (doc) => {
        const at = cancelledAt.get(doc._id);
        if (!at) return doc;
        const cancelled: ScheduleDoc = { ...doc, status: 'cancelled', nextRunAt: null, cancelledAt: at };
        await this.models.schedules.updateOne({ _id: doc._id }, { $set: { status: 'cancelled', nextRunAt: null, cancelledAt: at } });
        return cancelled;
      }),
    );
  }

  // ---- occurrences ----

  async claimOccurrence(input: NewOccurrence): Promise<boolean> {
    const claimedAt = new Date();
    const doc: OccurrenceDoc = { _id: input.id, eventId: input.eventId, dueAt: input.dueAt, status: 'claimed', claimedAt, deliveries: 0 };
    if (!(await insertUnique(rawCollection(this.models.occurrences), doc))) return false;
    await insertUnique(rawCollection(this.models.pending), { _id: input.id, claimedAt });
    return true;
  }

  async getOccurrence(id: string): Promise<OccurrenceRecord | null> {
    const doc = await this.models.occurrences.findById(id).lean<OccurrenceDoc>();
    return doc ? toOccurrence(doc) : null;
  }

  async listOccurrences(eventId: string, limit: number): Promise<OccurrenceRecord[]> {
    const docs = await this.models.occurrences.find({ eventId }).sort({ dueAt: 1 }).limit(limit).lean<OccurrenceDoc[]>();
    return docs.map(toOccurrence);
  }

  async markOccurrence(id: string, status: 'queued' | 'expanded', deliveries?: number): Promise<void> {
    const set: Record<string, unknown> = { status };
    if (deliveries !== undefined) set.deliveries = deliveries;
    // Forward only: a late "queued" from a repaired publish must not undo "expanded".
    const filter: Record<string, unknown> = status === 'queued' ? { _id: id, status: 'claimed' } : { _id: id };
    await this.models.occurrences.updateOne(filter, { $set: set });
    await this.models.pending.deleteOne({ _id: id });
  }

  async listPendingOccurrences(olderThan: Date, limit: number): Promise<OccurrenceRecord[]> {
    const pending = await this.models.pending.find({ claimedAt: { $lt: olderThan } }).sort({ claimedAt: 1 }).limit(limit).lean<{ _id: string }[]>();
    const docs = await findByIds<OccurrenceDoc>(this.models.occurrences, pending.map((p) => p._id));
    return docs.filter((doc) => doc.status === 'claimed').map(toOccurrence);
  }

  // ---- attempts ----

  async createAttempts(inputs: readonly NewAttempt[]): Promise<{ attempt: AttemptRecord; created: boolean }[]> {
    if (inputs.length === 0) return [];
    const now = new Date();
    const docs: AttemptDoc[] = inputs.map((input) => ({
      _id: input.id,
      eventId: input.eventId,
      occurrenceId: input.occurrenceId,
      eventType: input.eventType,
      userId: input.userId,
      channel: input.channel,
      target: input.target,
      priorityClass: input.priorityClass,
      message: structuredClone(input.message),
      status: input.status,
      attempts: 0,
      lastError: input.error ?? null,
      notBefore: null,
      history: [{ status: input.status, attempt: 0, at: now, error: input.error ?? null }],
      createdAt: now,
      updatedAt: now,
    }));
    const duplicates = new Set<number>();
    try {
      await rawCollection(this.models.attempts).insertMany(docs, { ordered: false });
    } catch (err) {
      const indexes = duplicateIndexes(err);
      if (!indexes) throw err;
      for (const index of indexes) duplicates.add(index);
    }
    const existing = await findByIds<AttemptDoc>(this.models.attempts, [...duplicates].map((i) => docs[i]!._id));
    const byId = new Map(existing.map((doc) => [doc._id, doc]));
    return docs.map((doc, index) => {
      if (!duplicates.has(index)) return { attempt: toAttempt(doc), created: true };
      const stored = byId.get(doc._id);
      if (!stored) throw new ParleyError('internal', `attempt ${doc._id} vanished`);
      return { attempt: toAttempt(stored), created: false };
    });
  }

  async getAttempt(id: string): Promise<AttemptRecord | null> {
    const doc = await this.models.attempts.findById(id).lean<AttemptDoc>();
    return doc ? toAttempt(doc) : null;
  }

  async listAttempts(query: AttemptQuery): Promise<AttemptRecord[]> {
    if (query.limit <= 0) return [];
    const filter: Record<string, unknown> = {};
    if (query.eventId !== undefined) filter.eventId = query.eventId;
    if (query.occurrenceId !== undefined) filter.occurrenceId = query.occurrenceId;
    if (query.userId !== undefined) filter.userId = query.userId;
    const docs = await this.models.attempts.find(filter).sort({ createdAt: 1, _id: 1 }).limit(query.limit).lean<AttemptDoc[]>();
    return docs.map(toAttempt);
  }

  async recordAttempt(id: string, change: AttemptChange): Promise<AttemptRecord | null> {
    const now = new Date();
    const set: Record<string, unknown> = { status: change.status, updatedAt: now };
    if (change.error !== undefined) set.lastError = change.error;
    if (change.notBefore !== undefined) set.notBefore = change.notBefore;
    const doc = await this.models.attempts
      .findOneAndUpdate(
        { _id: id },
        {
          $set: set,
          $max: { attempts: change.attempt },
          $push: { history: { status: change.status, attempt: change.attempt, at: now, error: change.error ?? null } },
        },
        { returnDocument: 'after' },
      )
      .lean<AttemptDoc>();
    return doc ? toAttempt(doc) : null;
  }

  // ---- deferred deliveries ----

  async deferDelivery(input: NewDeferred): Promise<void> {
    await insertUnique(rawCollection(this.models.deferred), { _id: input.id, attemptId: input.attemptId, queue: input.queue, notBefore: input.notBefore, createdAt: new Date() });
  }

  async listDueDeferred(now: Date, limit: number): Promise<DeferredRecord[]> {
    const docs = await this.models.deferred
      .find({ notBefore: { $lte: now } })
      .sort({ notBefore: 1 })
      .limit(limit)
      .lean<{ _id: string; attemptId: string; queue: string; notBefore: Date; createdAt: Date }[]>();
    return docs.map((doc) => ({ id: doc._id, attemptId: doc.attemptId, queue: doc.queue, notBefore: doc.notBefore, createdAt: doc.createdAt }));
  }

  async deleteDeferred(id: string): Promise<void> {
    await this.models.deferred.deleteOne({ _id: id });
  }

  // ---- profiles and push subscriptions ----

  async getProfile(userId: string): Promise<NotifyProfile | null> {
    const doc = await this.models.profiles.findById(userId).lean<ProfileDoc>();
    return doc ? toProfile(doc) : null;
  }

  async getProfiles(userIds: readonly string[]): Promise<NotifyProfile[]> {
    const docs = await findByIds<ProfileDoc>(this.models.profiles, userIds);
    const byId = new Map(docs.map((doc) => [doc._id, toProfile(doc)]));
    return userIds.flatMap((id) => byId.get(id) ?? []);
  }

  /**
   * Read, merge, write back. Two processes updating one user's profile in the same instant keep the
   * last write (FerretDB could not do better with operators either); it takes one user editing their
   * settings on two devices at once.
   */
  async updateProfile(userId: string, patch: ProfilePatch): Promise<NotifyProfile> {
    const current = await this.models.profiles.findById(userId).lean<ProfileDoc>();
    const set: Record<string, unknown> = { updatedAt: new Date() };
    if (patch.phone !== undefined) set.phone = patch.phone;
    if (patch.locale !== undefined) set.locale = patch.locale;
    if (patch.timeZone !== undefined) set.timeZone = patch.timeZone;
    if (patch.quietHours !== undefined) set.quietHours = patch.quietHours ? { start: patch.quietHours.start, end: patch.quietHours.end } : null;
    if (patch.preferences !== undefined) set.preferences = mergePreferences(current?.preferences ?? [], patch.preferences).map((p) => ({ ...p }));
    const doc = await this.models.profiles
      .findOneAndUpdate({ _id: userId }, { $set: set }, { upsert: true, returnDocument: 'after', setDefaultsOnInsert: true })
      .lean<ProfileDoc>();
    if (!doc) throw new ParleyError('internal', `profile ${userId} was not written`);
    return toProfile(doc);
  }

  async deleteUserData(userId: string): Promise<void> {
    await this.models.profiles.deleteOne({ _id: userId });
    await this.models.pushSubscriptions.deleteMany({ userId });
  }

  async putPushSubscription(input: NewPushSubscription): Promise<PushSubscriptionRecord> {
    const existing = await this.models.pushSubscriptions.findById(input.id).lean<PushSubscriptionDoc>();
    const doc: PushSubscriptionDoc = {
      _id: input.id,
      userId: input.userId,
      endpoint: input.endpoint,
      keys: { p256dh: input.keys.p256dh, auth: input.keys.auth },
      expirationTime: input.expirationTime,
      createdAt: existing?.createdAt ?? new Date(),
    };
    await rawCollection(this.models.pushSubscriptions).replaceOne({ _id: input.id }, doc, { upsert: true });
    return toPushSubscription(doc);
  }

  async getPushSubscription(id: string): Promise<PushSubscriptionRecord | null> {
    const doc = await this.models.pushSubscriptions.findById(id).lean<PushSubscriptionDoc>();
    return doc ? toPushSubscription(doc) : null;
  }

  async listPushSubscriptions(userId: string): Promise<PushSubscriptionRecord[]> {
    const docs = await this.models.pushSubscriptions.find({ userId }).sort({ createdAt: 1, _id: 1 }).lean<PushSubscriptionDoc[]>();
    return docs.map(toPushSubscription);
  }

  async removePushSubscription(id: string, userId?: string): Promise<boolean> {
    const filter: Record<string, unknown> = { _id: id };
    if (userId !== undefined) filter.userId = userId;
    const { deletedCount } = await this.models.pushSubscriptions.deleteOne(filter);
    return deletedCount > 0;
  }
}

/** Inserts unless the _id exists; true when this call inserted it. */
async function insertUnique<T extends { _id: string }>(collection: mongoose.mongo.Collection<T>, doc: T): Promise<boolean> {
  try {
    await collection.insertOne(doc as mongoose.mongo.OptionalUnlessRequiredId<T>);
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/** The indexes of an unordered insert's writes refused as duplicates; undefined when anything else failed. */
function duplicateIndexes(err: unknown): number[] | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const writeErrors = writeErrorsOf(err);
  if (writeErrors.length === 0 || !writeErrors.every((w) => w.code === DUPLICATE_KEY && typeof w.index === 'number')) return undefined;
  return writeErrors.map((w) => w.index as number);
}

function toServiceKey(doc: ServiceKeyDoc): ServiceKeyRecord {
  return { id: doc._id, name: doc.name, scopes: [...doc.scopes], secretHash: doc.secretHash, createdAt: doc.createdAt, revokedAt: doc.revokedAt ?? null };
}

function toEvent(doc: EventDoc): EventRecord {
  return {
    id: doc._id,
    type: doc.type,
    priority: doc.priority,
    priorityClass: doc.priorityClass,
    createdDt: doc.createdDt ?? null,
    userIds: [...doc.userIds],
    contentIds: [...doc.contentIds],
    data: doc.data ?? {},
    serviceKeyId: doc.serviceKeyId,
    idempotencyKey: doc.idempotencyKey ?? null,
    receivedAt: doc.receivedAt,
  };
}

function toIdempotency(doc: IdempotencyDoc): IdempotencyRecord {
  return { key: doc._id, eventId: doc.eventId, requestHash: doc.requestHash, createdAt: doc.createdAt };
}

function toSchedule(doc: ScheduleDoc): ScheduleRecord {
  return {
    id: doc._id,
    eventId: doc.eventId,
    eventType: doc.eventType,
    priorityClass: doc.priorityClass,
    kind: doc.kind,
    cron: doc.cron ?? null,
    timeZone: doc.timeZone,
    startAt: doc.startAt ?? null,
    endAt: doc.endAt ?? null,
    nextRunAt: doc.nextRunAt ?? null,
    lastRunAt: doc.lastRunAt ?? null,
    status: doc.status,
    createdAt: doc.createdAt,
    cancelledAt: doc.cancelledAt ?? null,
  };
}

function toOccurrence(doc: OccurrenceDoc): OccurrenceRecord {
  return { id: doc._id, eventId: doc.eventId, dueAt: doc.dueAt, status: doc.status, claimedAt: doc.claimedAt, deliveries: doc.deliveries ?? 0 };
}

function toAttempt(doc: AttemptDoc): AttemptRecord {
  return {
    id: doc._id,
    eventId: doc.eventId,
    occurrenceId: doc.occurrenceId,
    eventType: doc.eventType,
    userId: doc.userId,
    channel: doc.channel,
    target: doc.target,
    priorityClass: doc.priorityClass,
    message: {
      title: doc.message.title ?? null,
      body: doc.message.body,
      html: doc.message.html ?? null,
      url: doc.message.url ?? null,
      data: doc.message.data ?? {},
    },
    status: doc.status,
    attempts: doc.attempts ?? 0,
    lastError: doc.lastError ?? null,
    notBefore: doc.notBefore ?? null,
    history: (doc.history ?? []).map((h) => ({ status: h.status, attempt: h.attempt, at: new Date(h.at), error: h.error ?? null })),
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
  };
}

function toProfile(doc: ProfileDoc): NotifyProfile {
  return {
    userId: doc._id,
    phone: doc.phone ?? null,
    locale: doc.locale ?? null,
    timeZone: doc.timeZone ?? null,
    quietHours: doc.quietHours ? { start: doc.quietHours.start, end: doc.quietHours.end } : null,
    preferences: (doc.preferences ?? []).map((p) => ({ eventType: p.eventType, channel: p.channel, enabled: p.enabled })),
    updatedAt: doc.updatedAt ?? null,
  };
}

function toPushSubscription(doc: PushSubscriptionDoc): PushSubscriptionRecord {
  return {
    id: doc._id,
    userId: doc.userId,
    endpoint: doc.endpoint,
    keys: { p256dh: doc.keys.p256dh, auth: doc.keys.auth },
    expirationTime: doc.expirationTime ?? null,
    createdAt: doc.createdAt,
  };
}

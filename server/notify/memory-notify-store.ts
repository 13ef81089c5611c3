import { ParleyError } from '../errors.js';
import {
  emptyProfile,
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

/**
 * The embedded-mode notify store: everything in maps, gone with the process. Records are stored and
 * handed out as frozen copies, so a caller can never change what another reads.
 *
 * @example
 * const notifyStore = new MemoryNotifyStore();
 * await notifyStore.init();
 */
export class MemoryNotifyStore implements NotifyStore {
  readonly driver = 'memory' as const;
  private readonly claims = new Set<string>();
  private readonly serviceKeys = new Map<string, ServiceKeyRecord>();
  private readonly events = new Map<string, EventRecord>();
  private readonly idempotency = new Map<string, IdempotencyRecord>();
  private readonly schedules = new Map<string, ScheduleRecord>();
  private readonly occurrences = new Map<string, OccurrenceRecord>();
  private readonly attempts = new Map<string, AttemptRecord>();
  private readonly deferred = new Map<string, DeferredRecord>();
  private readonly profiles = new Map<string, NotifyProfile>();
  private readonly subscriptions = new Map<string, PushSubscriptionRecord>();
  private closed = false;

  async init(): Promise<void> {
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  async ping(): Promise<void> {
    if (this.closed) throw new ParleyError('unavailable', 'the notify store is closed');
  }

  async claim(key: string): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.add(key);
    return true;
  }

  // ---- service keys ----

  async createServiceKey(input: NewServiceKey): Promise<ServiceKeyRecord> {
    if (this.serviceKeys.has(input.id)) throw new ParleyError('conflict', `service key ${input.id} exists`);
    const record = freeze<ServiceKeyRecord>({ ...input, scopes: [...input.scopes], createdAt: new Date(), revokedAt: null });
    this.serviceKeys.set(record.id, record);
    return record;
  }

  async getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    return this.serviceKeys.get(id) ?? null;
  }

  async listServiceKeys(): Promise<ServiceKeyRecord[]> {
    return [...this.serviceKeys.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async revokeServiceKey(id: string, at: Date): Promise<ServiceKeyRecord | null> {
    const key = this.serviceKeys.get(id);
    if (!key) return null;
    if (key.revokedAt) return key;
    const revoked = freeze<ServiceKeyRecord>({ ...key, revokedAt: at });
    this.serviceKeys.set(id, revoked);
    return revoked;
  }

  // ---- events ----

  async createEvent(input: NewEvent): Promise<EventRecord> {
    if (this.events.has(input.id)) throw new ParleyError('conflict', `event ${input.id} exists`);
    const record = freeze<EventRecord>({
      ...input,
      userIds: [...input.userIds],
      contentIds: [...input.contentIds],
      data: structuredClone({ ...input.data }),
      receivedAt: new Date(),
    });
    this.events.set(record.id, record);
    return record;
  }

  async getEvent(id: string): Promise<EventRecord | null> {
    return this.events.get(id) ?? null;
  }

  async deleteEvent(id: string): Promise<void> {
    this.events.delete(id);
  }

  async putIdempotencyKey(record: Omit<IdempotencyRecord, 'createdAt'>): Promise<IdempotencyRecord> {
    const existing = this.idempotency.get(record.key);
    if (existing) return existing;
    const stored = freeze<IdempotencyRecord>({ ...record, createdAt: new Date() });
    this.idempotency.set(record.key, stored);
    return stored;
  }

  // ---- schedules ----

  async createSchedule(input: NewSchedule): Promise<ScheduleRecord> {
    const existing = this.schedules.get(input.id);
    if (existing) return existing;
    const record = freeze<ScheduleRecord>({
      ...input,
      lastRunAt: null,
      status: input.nextRunAt ? 'active' : 'finished',
      createdAt: new Date(),
      cancelledAt: null,
    });
    this.schedules.set(record.id, record);
    return record;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | null> {
    return this.schedules.get(id) ?? null;
  }

  async listSchedules(query: ScheduleQuery): Promise<ScheduleRecord[]> {
    if (query.limit <= 0) return [];
    return [...this.schedules.values()]
      .filter((s) => query.status === undefined || s.status === query.status)
      .filter((s) => query.beforeId === undefined || s.id < query.beforeId)
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, query.limit);
  }

  async listDueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    return [...this.schedules.values()]
      .filter((s) => s.status === 'active' && s.nextRunAt !== null && s.nextRunAt <= now)
      .sort((a, b) => a.nextRunAt!.getTime() - b.nextRunAt!.getTime())
      .slice(0, limit);
  }

  async advanceSchedule(id: string, change: { nextRunAt: Date | null; lastRunAt: Date | null }): Promise<void> {
    const schedule = this.schedules.get(id);
    if (!schedule || schedule.status !== 'active') return;
    this.schedules.set(
      id,
      freeze<ScheduleRecord>({
        ...schedule,
        nextRunAt: change.nextRunAt,
        lastRunAt: change.lastRunAt ?? schedule.lastRunAt,
        status: change.nextRunAt ? 'active' : 'finished',
      }),
    );
  }

  async cancelSchedule(id: string, at: Date): Promise<ScheduleRecord | null> {
    const schedule = this.schedules.get(id);
    if (!schedule) return null;
    if (schedule.status === 'cancelled') return schedule;
    const cancelled = freeze<ScheduleRecord>({ ...schedule, status: 'cancelled', nextRunAt: null, cancelledAt: at });
    this.schedules.set(id, cancelled);
    return cancelled;
  }

  // ---- occurrences ----

  async claimOccurrence(input: NewOccurrence): Promise<boolean> {
    if (this.occurrences.has(input.id)) return false;
    this.occurrences.set(input.id, freeze<OccurrenceRecord>({ ...input, status: 'claimed', claimedAt: new Date(), deliveries: 0 }));
    return true;
  }

  async getOccurrence(id: string): Promise<OccurrenceRecord | null> {
    return this.occurrences.get(id) ?? null;
  }

  async listOccurrences(eventId: string, limit: number): Promise<OccurrenceRecord[]> {
    return [...this.occurrences.values()]
      .filter((o) => o.eventId === eventId)
      .sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime())
      .slice(0, limit);
  }

  async markOccurrence(id: string, status: 'queued' | 'expanded', deliveries?: number): Promise<void> {
    const occurrence = this.occurrences.get(id);
    if (!occurrence) return;
    // Forward only: a late "queued" from a repaired publish must not undo "expanded".
    if (occurrence.status === 'expanded' && status === 'queued') return;
    this.occurrences.set(id, freeze<OccurrenceRecord>({ ...occurrence, status, deliveries: deliveries ?? occurrence.deliveries }));
  }

  async listPendingOccurrences(olderThan: Date, limit: number): Promise<OccurrenceRecord[]> {
    return [...this.occurrences.values()]
      .filter((o) => o.status === 'claimed' && o.claimedAt < olderThan)
      .sort((a, b) => a.claimedAt.getTime() - b.claimedAt.getTime())
      .slice(0, limit);
  }

  // ---- attempts ----

  async createAttempts(inputs: readonly NewAttempt[]): Promise<{ attempt: AttemptRecord; created: boolean }[]> {
    return inputs.map((input) => {
      const existing = this.attempts.get(input.id);
      if (existing) return { attempt: existing, created: false };
      const now = new Date();
      const { error, ...rest } = input;
      const record = freeze<AttemptRecord>({
        ...rest,
        message: structuredClone(input.message),
        attempts: 0,
        lastError: error ?? null,
        notBefore: null,
        history: [{ status: input.status, attempt: 0, at: now, error: error ?? null }],
        createdAt: now,
        updatedAt: now,
      });
      this.attempts.set(record.id, record);
      return { attempt: record, created: true };
    });
  }

  async getAttempt(id: string): Promise<AttemptRecord | null> {
    return this.attempts.get(id) ?? null;
  }

  async listAttempts(query: AttemptQuery): Promise<AttemptRecord[]> {
    if (query.limit <= 0) return [];
    return [...this.attempts.values()]
      .filter((a) => query.eventId === undefined || a.eventId === query.eventId)
      .filter((a) => query.occurrenceId === undefined || a.occurrenceId === query.occurrenceId)
      .filter((a) => query.userId === undefined || a.userId === query.userId)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id))
      .slice(0, query.limit);
  }

  async recordAttempt(id: string, change: AttemptChange): Promise<AttemptRecord | null> {
    const attempt = this.attempts.get(id);
    if (!attempt) return null;
    const now = new Date();
    const updated = freeze<AttemptRecord>({
      ...attempt,
      status: change.status,
      attempts: Math.max(attempt.attempts, change.attempt),
      lastError: change.error !== undefined ? change.error : attempt.lastError,
      notBefore: change.notBefore !== undefined ? change.notBefore : attempt.notBefore,
      history: [...attempt.history, { status: change.status, attempt: change.attempt, at: now, error: change.error ?? null }],
      updatedAt: now,
    });
    this.attempts.set(id, updated);
    return updated;
  }

  // ---- deferred deliveries ----

  async deferDelivery(input: NewDeferred): Promise<void> {
    if (this.deferred.has(input.id)) return;
    this.deferred.set(input.id, freeze<DeferredRecord>({ ...input, createdAt: new Date() }));
  }

  async listDueDeferred(now: Date, limit: number): Promise<DeferredRecord[]> {
    return [...this.deferred.values()]
      .filter((d) => d.notBefore <= now)
      .sort((a, b) => a.notBefore.getTime() - b.notBefore.getTime())
      .slice(0, limit);
  }

  async deleteDeferred(id: string): Promise<void> {
    this.deferred.delete(id);
  }

  // ---- profiles and push subscriptions ----

  async getProfile(userId: string): Promise<NotifyProfile | null> {
    return this.profiles.get(userId) ?? null;
  }

  async getProfiles(userIds: readonly string[]): Promise<NotifyProfile[]> {
    return userIds.flatMap((id) => this.profiles.get(id) ?? []);
  }

  async updateProfile(userId: string, patch: ProfilePatch): Promise<NotifyProfile> {
    const current = this.profiles.get(userId) ?? emptyProfile(userId);
    const updated = freeze<NotifyProfile>({
      userId,
      phone: patch.phone !== undefined ? patch.phone : current.phone,
      locale: patch.locale !== undefined ? patch.locale : current.locale,
      timeZone: patch.timeZone !== undefined ? patch.timeZone : current.timeZone,
      quietHours: patch.quietHours !== undefined ? (patch.quietHours ? { ...patch.quietHours } : null) : current.quietHours,
      preferences: mergePreferences(current.preferences, patch.preferences),
      updatedAt: new Date(),
    });
    this.profiles.set(userId, updated);
    return updated;
  }

  async deleteUserData(userId: string): Promise<void> {
    this.profiles.delete(userId);
    for (const [id, sub] of this.subscriptions) if (sub.userId === userId) this.subscriptions.delete(id);
  }

  async putPushSubscription(input: NewPushSubscription): Promise<PushSubscriptionRecord> {
    const existing = this.subscriptions.get(input.id);
    const record = freeze<PushSubscriptionRecord>({ ...input, keys: { ...input.keys }, createdAt: existing?.createdAt ?? new Date() });
    this.subscriptions.set(input.id, record);
    return record;
  }

  async getPushSubscription(id: string): Promise<PushSubscriptionRecord | null> {
    return this.subscriptions.get(id) ?? null;
  }

  async listPushSubscriptions(userId: string): Promise<PushSubscriptionRecord[]> {
    return [...this.subscriptions.values()]
      .filter((s) => s.userId === userId)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  }

  async removePushSubscription(id: string, userId?: string): Promise<boolean> {
    const sub = this.subscriptions.get(id);
    if (!sub || (userId !== undefined && sub.userId !== userId)) return false;
    return this.subscriptions.delete(id);
  }
}

/** Deep-freezes a fresh record, so no caller can change what the store holds. */
function freeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || value instanceof Date) return value;
  for (const key of Object.keys(value as object)) freeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}

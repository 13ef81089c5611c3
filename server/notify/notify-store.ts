import type { PriorityClass } from './priority.js';

/**
 * The notification pipeline's storage port: service keys, events and their idempotency keys,
 * schedules and their occurrences, channel attempts, deferred deliveries and each user's notification
 * profile (phone, locale, time zone, quiet hours, preferences, push subscriptions). Two drivers,
 * `MemoryNotifyStore` and `MongoNotifyStore` (collections prefixed `notify_`), held to one contract by
 * `test/notify/notify-store.contract.test.ts`. Records are plain immutable objects.
 *
 * As in the main store, nothing between processes relies on an atomic conditional update: FerretDB v1
 * applies updates as read-modify-write. Whatever must happen once rests on unique inserts (`claim`,
 * `claimOccurrence`, idempotency keys, cancellations), and records that two processes may update
 * (schedules) are written so that a lost update costs a repeat of harmless work, never a second send.
 */

export const CHANNELS = ['inapp', 'email', 'sms', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

export const SERVICE_KEY_SCOPES = ['events:write', 'events:read', 'schedules:read', 'schedules:write'] as const;
export type ServiceKeyScope = (typeof SERVICE_KEY_SCOPES)[number];

export interface ServiceKeyRecord {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly ServiceKeyScope[];
  /** SHA-256 (hex) of the key's random secret; the secret itself is shown once and never stored. */
  readonly secretHash: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface NewServiceKey {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly ServiceKeyScope[];
  readonly secretHash: string;
}

export interface EventRecord {
  readonly id: string;
  readonly type: string;
  /** 1 (most urgent) … 10, as given or derived from a class name. */
  readonly priority: number;
  readonly priorityClass: PriorityClass;
  /** `created_dt` as the producer gave it; null when absent. */
  readonly createdDt: Date | null;
  readonly userIds: readonly string[];
  readonly contentIds: readonly string[];
  readonly data: Readonly<Record<string, unknown>>;
  /** The service key that posted it. */
  readonly serviceKeyId: string;
  readonly idempotencyKey: string | null;
  readonly receivedAt: Date;
}

export type NewEvent = Omit<EventRecord, 'receivedAt'>;

/** What a repeated `Idempotency-Key` answers with, and what it must match. */
export interface IdempotencyRecord {
  /** `<service key id>:<Idempotency-Key>`: keys are per producer. */
  readonly key: string;
  readonly eventId: string;
  /** SHA-256 of the request body: the same key with another body is a conflict. */
  readonly requestHash: string;
  readonly createdAt: Date;
}

export type ScheduleStatus = 'active' | 'finished' | 'cancelled';

/** When an event is sent: once (now or at `start_dt`) or at every cron occurrence. Its id is the event's. */
export interface ScheduleRecord {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  /** The event's class: which queue its occurrences go to. */
  readonly priorityClass: PriorityClass;
  readonly kind: 'once' | 'cron';
  readonly cron: string | null;
  readonly timeZone: string;
  readonly startAt: Date | null;
  readonly endAt: Date | null;
  /** The next occurrence to send; null once finished or cancelled. */
  readonly nextRunAt: Date | null;
  readonly lastRunAt: Date | null;
  readonly status: ScheduleStatus;
  readonly createdAt: Date;
  readonly cancelledAt: Date | null;
}

export type NewSchedule = Omit<ScheduleRecord, 'lastRunAt' | 'status' | 'createdAt' | 'cancelledAt'>;

export interface ScheduleQuery {
  readonly status?: ScheduleStatus | undefined;
  readonly limit: number;
  /** Schedules with an id below this one (keyset paging, newest first). */
  readonly beforeId?: string | undefined;
}

export type OccurrenceStatus = 'claimed' | 'queued' | 'expanded';

/** One send of an event: `<eventId>@<ISO time>`, claimed by exactly one scheduler. */
export interface OccurrenceRecord {
  readonly id: string;
  readonly eventId: string;
  readonly dueAt: Date;
  readonly status: OccurrenceStatus;
  readonly claimedAt: Date;
  /** How many recipients × channels it expanded into (0 until expanded). */
  readonly deliveries: number;
}

export interface NewOccurrence {
  readonly id: string;
  readonly eventId: string;
  readonly dueAt: Date;
}

/**
 * - `queued`: a job is on its class queue; `deferred`: waiting for the end of quiet hours (`notBefore`);
 * - `retrying`: the last try failed, the next one is scheduled with backoff;
 * - `sent`: the channel's provider took it; `dead`: the last try failed (or retrying cannot help) and
 *   the job is in the dead-letter queue; `failed`: final, not dead-lettered (the push subscription is
 *   gone); `skipped`: wanted but impossible (no email address, no phone, channel not configured).
 */
export type AttemptStatus = 'queued' | 'deferred' | 'retrying' | 'sent' | 'dead' | 'failed' | 'skipped';

export const FINAL_ATTEMPT_STATUSES: ReadonlySet<AttemptStatus> = new Set(['sent', 'dead', 'failed', 'skipped']);

export interface AttemptEvent {
  readonly status: AttemptStatus;
  /** Which try this was about: 0 before the first, 1 for the first try, … */
  readonly attempt: number;
  readonly at: Date;
  readonly error: string | null;
}

/** A message rendered for one channel and recipient. */
export interface RenderedMessage {
  readonly title: string | null;
  readonly body: string;
  /** Email only. */
  readonly html: string | null;
  /** Push: where a click leads. */
  readonly url: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** One channel delivery to one recipient for one occurrence, with its whole history. */
export interface AttemptRecord {
  /** `<occurrenceId>:<userId>:<channel>` (push: `…:push:<subscriptionId>`), so a re-expansion finds it. */
  readonly id: string;
  readonly eventId: string;
  readonly occurrenceId: string;
  readonly eventType: string;
  readonly userId: string;
  readonly channel: Channel;
  /** The address used: the user id (in-app), an email address, a phone number or a push subscription id. */
  readonly target: string;
  readonly priorityClass: PriorityClass;
  readonly message: RenderedMessage;
  readonly status: AttemptStatus;
  /** Tries made so far. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly notBefore: Date | null;
  readonly history: readonly AttemptEvent[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface NewAttempt {
  readonly id: string;
  readonly eventId: string;
  readonly occurrenceId: string;
  readonly eventType: string;
  readonly userId: string;
  readonly channel: Channel;
  readonly target: string;
  readonly priorityClass: PriorityClass;
  readonly message: RenderedMessage;
  /** `queued`, or `skipped` with `error` saying why. */
  readonly status: 'queued' | 'skipped';
  readonly error?: string | null;
}

export interface AttemptChange {
  readonly status: AttemptStatus;
  /** The try this is about (stored as `attempts` when larger than the count so far). */
  readonly attempt: number;
  readonly error?: string | null;
  readonly notBefore?: Date | null;
}

export interface AttemptQuery {
  readonly eventId?: string;
  readonly occurrenceId?: string;
  readonly userId?: string;
  readonly limit: number;
}

/** A delivery held back until `notBefore` (quiet hours), then published to `queue` as `attemptId`. */
export interface DeferredRecord {
  /** `<attemptId>#<n>`: one per deferral, so the scheduler releases each once. */
  readonly id: string;
  readonly attemptId: string;
  readonly queue: string;
  readonly notBefore: Date;
  readonly createdAt: Date;
}

export type NewDeferred = Omit<DeferredRecord, 'createdAt'>;

export interface QuietHours {
  /** Local time `HH:MM` in the user's time zone; a window may cross midnight (22:00–07:00). */
  readonly start: string;
  readonly end: string;
}

export interface PreferenceRecord {
  readonly eventType: string;
  readonly channel: Channel;
  readonly enabled: boolean;
}

export interface NotifyProfile {
  readonly userId: string;
  /** E.164, e.g. +33612345678. */
  readonly phone: string | null;
  /** BCP 47, e.g. fr or pt-BR. */
  readonly locale: string | null;
  /** IANA, e.g. Europe/Paris. */
  readonly timeZone: string | null;
  readonly quietHours: QuietHours | null;
  /** Only the choices the user made; the event type's defaults apply to the rest. */
  readonly preferences: readonly PreferenceRecord[];
  readonly updatedAt: Date | null;
}

export interface ProfilePatch {
  readonly phone?: string | null;
  readonly locale?: string | null;
  readonly timeZone?: string | null;
  readonly quietHours?: QuietHours | null;
  /** `enabled: null` forgets the choice, so the default applies again. */
  readonly preferences?: readonly { readonly eventType: string; readonly channel: Channel; readonly enabled: boolean | null }[];
}

export interface PushSubscriptionRecord {
  /** Derived from the endpoint, so registering the same device again updates it. */
  readonly id: string;
  readonly userId: string;
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  readonly expirationTime: Date | null;
  readonly createdAt: Date;
}

export interface NewPushSubscription {
  readonly id: string;
  readonly userId: string;
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
  readonly expirationTime: Date | null;
}

export interface NotifyStore {
  readonly driver: 'memory' | 'mongodb';
  /** Connects and creates missing indexes; idempotent. */
  init(): Promise<void>;
  close(): Promise<void>;
  ping(): Promise<void>;

  /** True for the first caller ever of `key`, in any process (unique insert). */
  claim(key: string): Promise<boolean>;

  createServiceKey(input: NewServiceKey): Promise<ServiceKeyRecord>;
  getServiceKey(id: string): Promise<ServiceKeyRecord | null>;
  listServiceKeys(): Promise<ServiceKeyRecord[]>;
  /** Sets revokedAt unless already revoked; returns the key, or null when there is none. */
  revokeServiceKey(id: string, at: Date): Promise<ServiceKeyRecord | null>;

  createEvent(input: NewEvent): Promise<EventRecord>;
  getEvent(id: string): Promise<EventRecord | null>;
  deleteEvent(id: string): Promise<void>;
  /**
   * Records the idempotency key unless it exists; returns the first record ever stored for the key
   * (the caller's own when it was first), in any process.
   */
  putIdempotencyKey(record: Omit<IdempotencyRecord, 'createdAt'>): Promise<IdempotencyRecord>;

  /** Stores the schedule unless one with its id exists; returns the stored one. */
  createSchedule(input: NewSchedule): Promise<ScheduleRecord>;
  /** A cancelled schedule reads as cancelled even if another process rewrote it meanwhile. */
  getSchedule(id: string): Promise<ScheduleRecord | null>;
  /** Newest first. */
  listSchedules(query: ScheduleQuery): Promise<ScheduleRecord[]>;
  /** Active schedules with nextRunAt ≤ now, earliest first; never a cancelled one. */
  listDueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]>;
  /**
   * Moves an active schedule on: `nextRunAt` null finishes it. Two schedulers may both advance one
   * schedule; they write the same values, and a cancelled schedule stays cancelled.
   */
  advanceSchedule(id: string, change: { nextRunAt: Date | null; lastRunAt: Date | null }): Promise<void>;
  /** Cancels for good (a unique insert records it first); returns the schedule, or null when none. */
  cancelSchedule(id: string, at: Date): Promise<ScheduleRecord | null>;

  /**
   * Claims an occurrence: true for exactly one caller across processes. The claim also leaves a
   * pending marker until `markOccurrence(id, 'queued')`, so a crash in between can be found and repaired.
   */
  claimOccurrence(input: NewOccurrence): Promise<boolean>;
  getOccurrence(id: string): Promise<OccurrenceRecord | null>;
  /** Occurrences of an event, oldest first. */
  listOccurrences(eventId: string, limit: number): Promise<OccurrenceRecord[]>;
  markOccurrence(id: string, status: 'queued' | 'expanded', deliveries?: number): Promise<void>;
  /** Occurrences claimed before `olderThan` and still not queued (the publisher crashed or the broker was down). */
  listPendingOccurrences(olderThan: Date, limit: number): Promise<OccurrenceRecord[]>;

  /** Inserts the attempts that do not exist yet; returns each stored attempt and whether it was new. */
  createAttempts(inputs: readonly NewAttempt[]): Promise<{ attempt: AttemptRecord; created: boolean }[]>;
  getAttempt(id: string): Promise<AttemptRecord | null>;
  /** Oldest first. */
  listAttempts(query: AttemptQuery): Promise<AttemptRecord[]>;
  /** Sets the status and appends to the history; returns the updated attempt or null when none. */
  recordAttempt(id: string, change: AttemptChange): Promise<AttemptRecord | null>;

  /** Stores a deferral unless its id exists. */
  deferDelivery(input: NewDeferred): Promise<void>;
  /** Deferrals due at `now`, earliest first. */
  listDueDeferred(now: Date, limit: number): Promise<DeferredRecord[]>;
  deleteDeferred(id: string): Promise<void>;

  getProfile(userId: string): Promise<NotifyProfile | null>;
  /** Profiles of those users that have one, in the order asked. */
  getProfiles(userIds: readonly string[]): Promise<NotifyProfile[]>;
  /** Creates or updates; preference choices are merged by (eventType, channel). */
  updateProfile(userId: string, patch: ProfilePatch): Promise<NotifyProfile>;
  /** Account deletion: the profile and every push subscription of the user. */
  deleteUserData(userId: string): Promise<void>;

  /** Registers or re-registers (same id: the same endpoint) a device, possibly for another user now. */
  putPushSubscription(input: NewPushSubscription): Promise<PushSubscriptionRecord>;
  getPushSubscription(id: string): Promise<PushSubscriptionRecord | null>;
  listPushSubscriptions(userId: string): Promise<PushSubscriptionRecord[]>;
  /** Removes it (only the given user's, when `userId` is given); true when something was removed. */
  removePushSubscription(id: string, userId?: string): Promise<boolean>;
}

/** The profile of a user who never set one. */
export function emptyProfile(userId: string): NotifyProfile {
  return { userId, phone: null, locale: null, timeZone: null, quietHours: null, preferences: [], updatedAt: null };
}

/** Merges preference changes into the stored choices; `enabled: null` removes a choice. */
export function mergePreferences(current: readonly PreferenceRecord[], changes: ProfilePatch['preferences']): PreferenceRecord[] {
  const merged = new Map(current.map((p) => [`${p.eventType}\u0000${p.channel}`, p]));
  for (const change of changes ?? []) {
    const key = `${change.eventType}\u0000${change.channel}`;
    if (change.enabled === null) merged.delete(key);
    else merged.set(key, { eventType: change.eventType, channel: change.channel, enabled: change.enabled });
  }
  return [...merged.values()].sort((a, b) => (a.eventType === b.eventType ? a.channel.localeCompare(b.channel) : a.eventType.localeCompare(b.eventType)));
}

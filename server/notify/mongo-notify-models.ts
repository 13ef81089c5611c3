import { Schema, type Connection, type Model, type mongo } from 'mongoose';
import type {
  AttemptEvent,
  AttemptStatus,
  Channel,
  OccurrenceStatus,
  PreferenceRecord,
  QuietHours,
  RenderedMessage,
  ScheduleStatus,
  ServiceKeyScope,
} from './notify-store.js';
import type { PriorityClass } from './priority.js';

/*
 * Document shapes of MongoNotifyStore, every collection prefixed `notify_`. `_id`s are strings. As in
 * the main store, indexes are created by `init()` (only the missing ones), never by autoIndex.
 */

export interface ClaimDoc {
  _id: string;
  createdAt: Date;
}

export interface ServiceKeyDoc {
  _id: string;
  name: string;
  scopes: ServiceKeyScope[];
  secretHash: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface EventDoc {
  _id: string;
  type: string;
  priority: number;
  priorityClass: PriorityClass;
  createdDt: Date | null;
  userIds: string[];
  contentIds: string[];
  data: Record<string, unknown>;
  serviceKeyId: string;
  idempotencyKey: string | null;
  receivedAt: Date;
}

export interface IdempotencyDoc {
  _id: string;
  eventId: string;
  requestHash: string;
  createdAt: Date;
}

export interface ScheduleDoc {
  _id: string;
  eventId: string;
  eventType: string;
  priorityClass: PriorityClass;
  kind: 'once' | 'cron';
  cron: string | null;
  timeZone: string;
  startAt: Date | null;
  endAt: Date | null;
  nextRunAt: Date | null;
  lastRunAt: Date | null;
  status: ScheduleStatus;
  createdAt: Date;
  cancelledAt: Date | null;
}

/** Written once by a cancellation and never updated: the authority on "cancelled" between processes. */
export interface CancellationDoc {
  _id: string;
  at: Date;
}

export interface OccurrenceDoc {
  _id: string;
  eventId: string;
  dueAt: Date;
  status: OccurrenceStatus;
  claimedAt: Date;
  deliveries: number;
}

/** An occurrence claimed and not yet queued; a small collection, so the repair sweep never scans history. */
export interface PendingDoc {
  _id: string;
  claimedAt: Date;
}

export interface AttemptDoc {
  _id: string;
  eventId: string;
  occurrenceId: string;
  eventType: string;
  userId: string;
  channel: Channel;
  target: string;
  priorityClass: PriorityClass;
  message: RenderedMessage;
  status: AttemptStatus;
  attempts: number;
  lastError: string | null;
  notBefore: Date | null;
  history: AttemptEvent[];
  createdAt: Date;
  updatedAt: Date;
}

export interface DeferredDoc {
  _id: string;
  attemptId: string;
  queue: string;
  notBefore: Date;
  createdAt: Date;
}

export interface ProfileDoc {
  /** The user id. */
  _id: string;
  phone: string | null;
  locale: string | null;
  timeZone: string | null;
  quietHours: QuietHours | null;
  /** An array, not a map: event type names contain dots, which MongoDB field names must not. */
  preferences: PreferenceRecord[];
  updatedAt: Date | null;
}

export interface PushSubscriptionDoc {
  _id: string;
  userId: string;
  endpoint: string;
  keys: { p256dh: string; auth: string };
  expirationTime: Date | null;
  createdAt: Date;
}

const options = { versionKey: false, minimize: false, autoIndex: false, autoCreate: false } as const;
const mixed = Schema.Types.Mixed;

const claimSchema = new Schema<ClaimDoc>({ _id: { type: String, required: true }, createdAt: { type: Date, required: true } }, options);

const serviceKeySchema = new Schema<ServiceKeyDoc>(
  {
    _id: { type: String, required: true },
    name: { type: String, required: true },
    scopes: { type: [String], default: [] },
    secretHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
    revokedAt: { type: Date, default: null },
  },
  options,
);

const eventSchema = new Schema<EventDoc>(
  {
    _id: { type: String, required: true },
    type: { type: String, required: true },
    priority: { type: Number, required: true },
    priorityClass: { type: String, required: true },
    createdDt: { type: Date, default: null },
    userIds: { type: [String], default: [] },
    contentIds: { type: [String], default: [] },
    data: { type: mixed, default: {} },
    serviceKeyId: { type: String, required: true },
    idempotencyKey: { type: String, default: null },
    receivedAt: { type: Date, required: true },
  },
  options,
);

const idempotencySchema = new Schema<IdempotencyDoc>(
  {
    _id: { type: String, required: true },
    eventId: { type: String, required: true },
    requestHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  options,
);

const scheduleSchema = new Schema<ScheduleDoc>(
  {
    _id: { type: String, required: true },
    eventId: { type: String, required: true },
    eventType: { type: String, required: true },
    priorityClass: { type: String, required: true },
    kind: { type: String, required: true },
    cron: { type: String, default: null },
    timeZone: { type: String, required: true },
    startAt: { type: Date, default: null },
    endAt: { type: Date, default: null },
    nextRunAt: { type: Date, default: null },
    lastRunAt: { type: Date, default: null },
    status: { type: String, required: true },
    createdAt: { type: Date, required: true },
    cancelledAt: { type: Date, default: null },
  },
  options,
);
scheduleSchema.index({ status: 1, nextRunAt: 1 });

const cancellationSchema = new Schema<CancellationDoc>({ _id: { type: String, required: true }, at: { type: Date, required: true } }, options);

const occurrenceSchema = new Schema<OccurrenceDoc>(
  {
    _id: { type: String, required: true },
    eventId: { type: String, required: true },
    dueAt: { type: Date, required: true },
    status: { type: String, required: true },
    claimedAt: { type: Date, required: true },
    deliveries: { type: Number, default: 0 },
  },
  options,
);
occurrenceSchema.index({ eventId: 1, dueAt: 1 });

const pendingSchema = new Schema<PendingDoc>({ _id: { type: String, required: true }, claimedAt: { type: Date, required: true } }, options);

const attemptSchema = new Schema<AttemptDoc>(
  {
    _id: { type: String, required: true },
    eventId: { type: String, required: true },
    occurrenceId: { type: String, required: true },
    eventType: { type: String, required: true },
    userId: { type: String, required: true },
    channel: { type: String, required: true },
    target: { type: String, required: true },
    priorityClass: { type: String, required: true },
    message: { type: mixed, required: true },
    status: { type: String, required: true },
    attempts: { type: Number, default: 0 },
    lastError: { type: String, default: null },
    notBefore: { type: Date, default: null },
    history: { type: mixed, default: [] },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  options,
);
attemptSchema.index({ eventId: 1, createdAt: 1 });
attemptSchema.index({ occurrenceId: 1 });
attemptSchema.index({ userId: 1, createdAt: 1 });

const deferredSchema = new Schema<DeferredDoc>(
  {
    _id: { type: String, required: true },
    attemptId: { type: String, required: true },
    queue: { type: String, required: true },
    notBefore: { type: Date, required: true },
    createdAt: { type: Date, required: true },
  },
  options,
);
deferredSchema.index({ notBefore: 1 });

const profileSchema = new Schema<ProfileDoc>(
  {
    _id: { type: String, required: true },
    phone: { type: String, default: null },
    locale: { type: String, default: null },
    timeZone: { type: String, default: null },
    quietHours: { type: mixed, default: null },
    preferences: { type: mixed, default: [] },
    updatedAt: { type: Date, default: null },
  },
  options,
);

const pushSubscriptionSchema = new Schema<PushSubscriptionDoc>(
  {
    _id: { type: String, required: true },
    userId: { type: String, required: true },
    endpoint: { type: String, required: true },
    keys: { type: mixed, required: true },
    expirationTime: { type: Date, default: null },
    createdAt: { type: Date, required: true },
  },
  options,
);
pushSubscriptionSchema.index({ userId: 1 });

export interface NotifyModels {
  readonly claims: Model<ClaimDoc>;
  readonly serviceKeys: Model<ServiceKeyDoc>;
  readonly events: Model<EventDoc>;
  readonly idempotency: Model<IdempotencyDoc>;
  readonly schedules: Model<ScheduleDoc>;
  readonly cancellations: Model<CancellationDoc>;
  readonly occurrences: Model<OccurrenceDoc>;
  readonly pending: Model<PendingDoc>;
  readonly attempts: Model<AttemptDoc>;
  readonly deferred: Model<DeferredDoc>;
  readonly profiles: Model<ProfileDoc>;
  readonly pushSubscriptions: Model<PushSubscriptionDoc>;
}

export function bindNotifyModels(conn: Connection): NotifyModels {
  return {
    claims: conn.model<ClaimDoc>('NotifyClaim', claimSchema, 'notify_claims'),
    serviceKeys: conn.model<ServiceKeyDoc>('NotifyServiceKey', serviceKeySchema, 'notify_service_keys'),
    events: conn.model<EventDoc>('NotifyEvent', eventSchema, 'notify_events'),
    idempotency: conn.model<IdempotencyDoc>('NotifyIdempotency', idempotencySchema, 'notify_idempotency'),
    schedules: conn.model<ScheduleDoc>('NotifySchedule', scheduleSchema, 'notify_schedules'),
    cancellations: conn.model<CancellationDoc>('NotifyCancellation', cancellationSchema, 'notify_cancellations'),
    occurrences: conn.model<OccurrenceDoc>('NotifyOccurrence', occurrenceSchema, 'notify_occurrences'),
    pending: conn.model<PendingDoc>('NotifyPending', pendingSchema, 'notify_pending'),
    attempts: conn.model<AttemptDoc>('NotifyAttempt', attemptSchema, 'notify_attempts'),
    deferred: conn.model<DeferredDoc>('NotifyDeferred', deferredSchema, 'notify_deferred'),
    profiles: conn.model<ProfileDoc>('NotifyProfile', profileSchema, 'notify_profiles'),
    pushSubscriptions: conn.model<PushSubscriptionDoc>('NotifyPushSubscription', pushSubscriptionSchema, 'notify_push_subscriptions'),
  };
}

/** The driver collection typed with our string-keyed documents (see rawCollection in the main store). */
export function rawCollection<T extends { _id: string }>(model: Model<T>): mongo.Collection<T> {
  return model.collection as unknown as mongo.Collection<T>;
}

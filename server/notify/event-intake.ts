import { createHash } from 'node:crypto';
import { ParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { newId } from '../store/ids.js';
import type { Store } from '../store/index.js';
import type { EventTypeRegistry } from './event-types.js';
import type { NotifyStore, NewSchedule, ScheduleRecord } from './notify-store.js';
import type { NotifyScheduler } from './notify-scheduler.js';
import type { EventBody } from './notify-schemas.js';
import { DEFAULT_PRIORITY, priorityClassOf, priorityOfClass, type PriorityClass } from './priority.js';
import { cronProblem, cronTimeAtOrAfter } from './schedule-times.js';

export interface SubmitOptions {
  /** The service key that posted the event. */
  readonly serviceKeyId: string;
  readonly idempotencyKey?: string | undefined;
  /** The raw request body, whose hash a repeated Idempotency-Key must match. */
  readonly rawBody?: string | undefined;
}

export interface SubmitResult {
  readonly eventId: string;
  /** True when an earlier request with the same Idempotency-Key answered this. */
  readonly replayed: boolean;
}

/**
 * The front of the pipeline, behind `POST /v1/events` (and usable in process by Parley's own
 * producers): checks what the schema cannot (the event type is registered, every recipient exists, the
 * time zone fits the cron), stores the event and its schedule, and fires the first occurrence at once
 * when it is due. Everything that can refuse an event runs before anything is stored or queued.
 *
 * With an Idempotency-Key, the event is stored first and the key second (a unique insert): a request
 * that loses the race deletes its own event and answers with the winner's id, and a repeat after a
 * crash finishes what the first request left undone (its schedule), so a key has one effect.
 */
export class EventIntake {
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      readonly store: Store;
      readonly notifyStore: NotifyStore;
      readonly registry: EventTypeRegistry;
      readonly scheduler: NotifyScheduler;
      readonly defaultTimeZone: string;
    },
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'notify-intake' });
  }

  async submit(body: EventBody, options: SubmitOptions): Promise<SubmitResult> {
    const { notifyStore, registry } = this.deps;
    if (!registry.get(body.event_type)) {
      throw new ParleyError('not_found', `unknown event type ${body.event_type}`, { eventType: body.event_type, known: registry.names() });
    }
    const userIds = [...new Set(body.payload.user)];
    await this.requireUsers(body.payload.user);
    const now = new Date();
    const priority = typeof body.priority === 'number' ? body.priority : body.priority ? priorityOfClass(body.priority) : DEFAULT_PRIORITY;
    const priorityClass: PriorityClass = typeof body.priority === 'string' ? body.priority : priorityClassOf(priority);
    const eventId = newId();
    const schedule = this.scheduleFor(eventId, body, priorityClass, now);

    await notifyStore.createEvent({
      id: eventId,
      type: body.event_type,
      priority,
      priorityClass,
      createdDt: body.created_dt ? new Date(body.created_dt) : null,
      userIds,
      contentIds: [...new Set(body.payload.content ?? [])],
      data: body.payload.data ?? {},
      serviceKeyId: options.serviceKeyId,
      idempotencyKey: options.idempotencyKey ?? null,
    });
    if (options.idempotencyKey !== undefined) {
      const requestHash = createHash('sha256').update(options.rawBody ?? JSON.stringify(body)).digest('hex');
      const first = await notifyStore.putIdempotencyKey({ key: `${options.serviceKeyId}:${options.idempotencyKey}`, eventId, requestHash });
      if (first.eventId !== eventId) {
        await notifyStore.deleteEvent(eventId);
        if (first.requestHash !== requestHash) {
          throw new ParleyError('conflict', 'this Idempotency-Key was used with another request body', { idempotencyKey: options.idempotencyKey });
        }
        // The first request may have died before storing its schedule; the same body gives the same one.
        await notifyStore.createSchedule({ ...schedule, id: first.eventId, eventId: first.eventId });
        return { eventId: first.eventId, replayed: true };
      }
    }
    const stored = await notifyStore.createSchedule(schedule);
    await this.fireIfDue(stored, now);
    this.log.info({ eventId, eventType: body.event_type, recipients: userIds.length, priorityClass, kind: schedule.kind }, 'event accepted');
    return { eventId, replayed: false };
  }

  /** Unknown or deleted recipients refuse the whole event, naming each one's field. */
  private async requireUsers(userIds: readonly string[]): Promise<void> {
    const found = await this.deps.store.getUsers([...new Set(userIds)]);
    const known = new Set(found.filter((u) => u.status !== 'deleted').map((u) => u.id));
    const unknown = userIds.map((id, index) => ({ id, index })).filter(({ id }) => !known.has(id));
    if (unknown.length === 0) return;
    throw new ParleyError('invalid_payload', `${unknown.length} unknown user(s); nothing was queued`, {
      fields: unknown.map(({ index }) => `payload.user.${index}`),
      unknownUsers: [...new Set(unknown.map(({ id }) => id))],
    });
  }

  private scheduleFor(eventId: string, body: EventBody, priorityClass: PriorityClass, now: Date): NewSchedule {
    const timeZone = body.timezone ?? this.deps.defaultTimeZone;
    const startAt = body.start_dt ? new Date(body.start_dt) : null;
    const endAt = body.end_dt ? new Date(body.end_dt) : null;
    const common = { id: eventId, eventId, eventType: body.event_type, priorityClass, timeZone, startAt, endAt };
    if (!body.schedule) return { ...common, kind: 'once', cron: null, nextRunAt: startAt ?? now };
    const problem = cronProblem(body.schedule, timeZone);
    if (problem) throw new ParleyError('invalid_payload', `schedule: ${problem}`, { fields: ['schedule'] });
    const from = startAt && startAt > now ? startAt : now;
    const nextRunAt = cronTimeAtOrAfter(body.schedule, timeZone, from, endAt);
    if (!nextRunAt) throw new ParleyError('invalid_payload', 'schedule: no occurrence before end_dt', { fields: ['schedule', 'end_dt'] });
    return { ...common, kind: 'cron', cron: body.schedule.trim(), nextRunAt };
  }

  /**
   * Sends a due one-off at once instead of waiting for the next scheduler tick. The event is stored by
   * now, so a failure here is not the caller's: the scheduler (or the pending repair) sends it later.
   */
  private async fireIfDue(schedule: ScheduleRecord, now: Date): Promise<void> {
    if (schedule.kind !== 'once' || !schedule.nextRunAt || schedule.nextRunAt > now) return;
    try {
      await this.deps.scheduler.runDue(schedule, now);
    } catch (err) {
      this.log.warn({ eventId: schedule.eventId, err: err instanceof Error ? err.message : String(err) }, 'event stored but not fired yet; the scheduler will');
    }
  }
}

import type { Logger } from '../logger.js';
import type { NotifyConfig } from './notify-config.js';
import { NotifyPublisher, occurrenceId } from './notify-jobs.js';
import type { NotifyStore, ScheduleRecord } from './notify-store.js';
import { cronTimeAtOrAfter, nextCronTime } from './schedule-times.js';

/** Schedules, pending occurrences and deferrals looked at per tick; the rest waits for the next tick. */
const BATCH = 100;
/** Occurrences one schedule may fire in one tick (an every-second cron after a slow tick catches up). */
const MAX_RUNS_PER_TICK = 20;

export interface TickReport {
  readonly fired: number;
  readonly skipped: number;
  readonly repaired: number;
  readonly released: number;
}

/**
 * Turns schedules into occurrences at their time, exactly once per occurrence however many schedulers
 * run: each occurrence is claimed by a unique insert (`claimOccurrence`) before its expand job is
 * published, and only the claimant publishes. Also:
 *
 * - repairs occurrences claimed but never queued (a crash, or RabbitMQ down at that moment) once they
 *   are `pendingGraceMs` old, at most once per grace window across schedulers;
 * - releases deliveries deferred by quiet hours when their time comes, the same way.
 *
 * A cron occurrence more than `misfireMs` late (every scheduler was down) is skipped rather than sent
 * late; a one-off (`start_dt`, or "now") is always sent, however late.
 */
export class NotifyScheduler {
  private readonly log: Logger;
  private readonly publisher: NotifyPublisher;

  constructor(
    private readonly notifyStore: NotifyStore,
    publisher: NotifyPublisher,
    private readonly config: NotifyConfig['workers'],
    logger: Logger,
  ) {
    this.publisher = publisher;
    this.log = logger.child({ module: 'notify-scheduler' });
  }

  async tick(now = new Date()): Promise<TickReport> {
    let fired = 0;
    let skipped = 0;
    for (const schedule of await this.notifyStore.listDueSchedules(now, BATCH)) {
      const result = await this.runDue(schedule, now);
      fired += result.fired;
      skipped += result.skipped;
    }
    const repaired = await this.repairPending(now);
    const released = await this.releaseDeferred(now);
    return { fired, skipped, repaired, released };
  }

  /**
   * Fires every occurrence of `schedule` due at `now` and moves the schedule on. Two schedulers doing
   * this at once both claim, one wins each occurrence, and both write the same next run.
   */
  async runDue(schedule: ScheduleRecord, now: Date): Promise<{ fired: number; skipped: number }> {
    let fired = 0;
    let skipped = 0;
    let lastRunAt: Date | null = null;
    let dueAt = schedule.nextRunAt;
    for (let run = 0; dueAt && dueAt <= now && run < MAX_RUNS_PER_TICK; run++) {
      if (schedule.kind === 'cron' && now.getTime() - dueAt.getTime() > this.config.misfireMs) {
        const resumeAt = cronTimeAtOrAfter(schedule.cron!, schedule.timeZone, new Date(now.getTime() - this.config.misfireMs), schedule.endAt);
        this.log.warn({ scheduleId: schedule.id, missedFrom: dueAt, resumeAt }, 'schedule misfired; skipping late occurrences');
        skipped++;
        dueAt = resumeAt;
        continue;
      }
      if (await this.fire(schedule, dueAt)) fired++;
      lastRunAt = dueAt;
      dueAt = schedule.kind === 'cron' ? nextCronTime(schedule.cron!, schedule.timeZone, dueAt, schedule.endAt) : null;
    }
    // One write for the whole catch-up. A crash before it makes the next tick claim the same
    // occurrences again, which the unique claims turn into no-ops.
    await this.notifyStore.advanceSchedule(schedule.id, { nextRunAt: dueAt, lastRunAt });
    return { fired, skipped };
  }

  /**
   * Claims one occurrence and, if this call won it, publishes its expand job. Returns whether it won.
   * A publish that fails leaves the occurrence pending; `repairPending` publishes it later.
   */
  async fire(schedule: ScheduleRecord, dueAt: Date): Promise<boolean> {
    const id = occurrenceId(schedule.eventId, dueAt);
    if (!(await this.notifyStore.claimOccurrence({ id, eventId: schedule.eventId, dueAt }))) return false;
    try {
      await this.publisher.expand(schedule.priorityClass, { occurrenceId: id, eventId: schedule.eventId });
      await this.notifyStore.markOccurrence(id, 'queued');
    } catch (err) {
      this.log.warn({ occurrenceId: id, err: err instanceof Error ? err.message : String(err) }, 'occurrence claimed but not queued; it will be repaired');
    }
    return true;
  }

  private async repairPending(now: Date): Promise<number> {
    const grace = this.config.pendingGraceMs;
    const pending = await this.notifyStore.listPendingOccurrences(new Date(now.getTime() - grace), BATCH);
    let repaired = 0;
    for (const occurrence of pending) {
      // One repair per occurrence and grace window across schedulers; a repair that fails too gets another window.
      if (!(await this.notifyStore.claim(`repair:${occurrence.id}:${Math.floor(now.getTime() / grace)}`))) continue;
      const schedule = await this.notifyStore.getSchedule(occurrence.eventId);
      if (!schedule) continue;
      try {
        await this.publisher.expand(schedule.priorityClass, { occurrenceId: occurrence.id, eventId: occurrence.eventId });
        await this.notifyStore.markOccurrence(occurrence.id, 'queued');
        repaired++;
        this.log.info({ occurrenceId: occurrence.id }, 'pending occurrence queued');
      } catch (err) {
        this.log.warn({ occurrenceId: occurrence.id, err: err instanceof Error ? err.message : String(err) }, 'pending occurrence still not queued');
      }
    }
    return repaired;
  }

  private async releaseDeferred(now: Date): Promise<number> {
    const grace = this.config.pendingGraceMs;
    let released = 0;
    for (const deferred of await this.notifyStore.listDueDeferred(now, BATCH)) {
      // As for repairs: one release per deferral and grace window, so a crash between publish and delete repeats it later.
      if (!(await this.notifyStore.claim(`release:${deferred.id}:${Math.floor(now.getTime() / grace)}`))) continue;
      try {
        await this.publisher.deliver(deferred.queue, deferred.attemptId, deferred.id);
        await this.notifyStore.deleteDeferred(deferred.id);
        released++;
      } catch (err) {
        this.log.warn({ deferredId: deferred.id, err: err instanceof Error ? err.message : String(err) }, 'deferred delivery not released yet');
      }
    }
    return released;
  }
}

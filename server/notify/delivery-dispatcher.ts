import type { Logger } from '../logger.js';
import { UnrecoverableJobError } from '../queue/index.js';
import { asChannelError, type ChannelAdapter } from './channels/channel.js';
import type { NotifyConfig } from './notify-config.js';
import type { DeliverJob } from './notify-jobs.js';
import { FINAL_ATTEMPT_STATUSES, type AttemptRecord, type Channel, type NotifyStore } from './notify-store.js';
import { classQueue } from './priority.js';
import { quietState } from './schedule-times.js';

export type DeliveryOutcome = 'sent' | 'deferred' | 'failed' | 'duplicate';

/**
 * The deliver step: one try of one channel delivery, recorded in the attempt's history whatever
 * happens. Quiet hours (in the user's time zone) defer normal and low deliveries until they end; high
 * ones go through, and so does the in-app inbox, which makes no sound. A failed try is recorded as
 * `retrying` and rethrown, so the queue retries it with exponential backoff; the last try, or one that
 * retrying cannot help, is recorded as `dead` and dead-lettered.
 */
export class DeliveryDispatcher {
  private readonly log: Logger;

  constructor(
    private readonly deps: {
      readonly notifyStore: NotifyStore;
      readonly channels: ReadonlyMap<Channel, ChannelAdapter>;
      readonly config: NotifyConfig;
    },
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'notify-dispatcher' });
  }

  /** `queueAttempt` is the queue's delivery count of this job (1 on the first try). */
  async deliver(job: DeliverJob, queueAttempt: number, now = new Date()): Promise<DeliveryOutcome> {
    const { notifyStore, channels, config } = this.deps;
    const attempt = await notifyStore.getAttempt(job.attemptId);
    if (!attempt) throw new UnrecoverableJobError(`no attempt ${job.attemptId}`);
    // A repeat of a delivery that already ended (a redelivered or republished job) does nothing.
    if (FINAL_ATTEMPT_STATUSES.has(attempt.status)) return 'duplicate';
    // Deferred already, and a deferral will release it: this is a copy of the job that deferred it.
    if (attempt.status === 'deferred' && !job.release && attempt.notBefore && attempt.notBefore > now) return 'deferred';
    if (await this.deferForQuietHours(attempt, now)) return 'deferred';

    const adapter = channels.get(attempt.channel);
    const tryNumber = attempt.attempts + 1;
    try {
      if (!adapter) throw new Error(`no adapter for ${attempt.channel}`);
      await adapter.send(attempt);
    } catch (err) {
      const failure = asChannelError(err);
      if (failure.failure === 'gone') {
        await notifyStore.recordAttempt(attempt.id, { status: 'failed', attempt: tryNumber, error: failure.message });
        return 'failed';
      }
      const last = failure.failure === 'permanent' || queueAttempt >= config.workers.maxAttempts;
      await notifyStore.recordAttempt(attempt.id, { status: last ? 'dead' : 'retrying', attempt: tryNumber, error: failure.message });
      if (last) {
        this.log.warn({ attemptId: attempt.id, channel: attempt.channel, tries: tryNumber, err: failure.message }, 'delivery dead-lettered');
        throw new UnrecoverableJobError(failure.message);
      }
      throw failure;
    }
    await notifyStore.recordAttempt(attempt.id, { status: 'sent', attempt: tryNumber, error: null });
    return 'sent';
  }

  private async deferForQuietHours(attempt: AttemptRecord, now: Date): Promise<boolean> {
    if (attempt.priorityClass === 'high' || attempt.channel === 'inapp') return false;
    const profile = await this.deps.notifyStore.getProfile(attempt.userId);
    if (!profile?.quietHours) return false;
    const quiet = quietState(profile.quietHours, profile.timeZone ?? this.deps.config.defaults.timeZone, now);
    if (!quiet.active || !quiet.endsAt) return false;
    const deferrals = attempt.history.filter((h) => h.status === 'deferred').length;
    await this.deps.notifyStore.deferDelivery({
      id: `${attempt.id}#${deferrals + 1}`,
      attemptId: attempt.id,
      queue: classQueue(attempt.priorityClass),
      notBefore: quiet.endsAt,
    });
    await this.deps.notifyStore.recordAttempt(attempt.id, { status: 'deferred', attempt: attempt.attempts, notBefore: quiet.endsAt });
    this.log.debug({ attemptId: attempt.id, until: quiet.endsAt }, 'delivery deferred for quiet hours');
    return true;
  }
}

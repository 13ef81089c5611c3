import type { Logger } from '../logger.js';
import type { Store } from '../store/index.js';

export interface RetentionPolicy {
  /** Messages of direct conversations older than this many days are deleted (0: kept forever). */
  readonly directMessageDays: number;
  /** The same for groups. */
  readonly groupMessageDays: number;
  /** Records of handled domain events (`event:*` claims) older than this many days are deleted. */
  readonly eventRecordDays: number;
}

export interface RetentionReport {
  readonly directMessages: number;
  readonly groupMessages: number;
  readonly sessions: number;
  readonly eventRecords: number;
}

const DAY_MS = 86_400_000;
/** Messages deleted per store call; a sweep repeats until a call deletes fewer. */
const BATCH = 500;

/**
 * The `retention` worker's pass: deletes old messages per conversation type (each conversation keeps
 * its newest message), sessions that expired or were revoked, and old records of handled domain
 * events. A job rather than TTL indexes, so it runs the same on MongoDB and FerretDB; safe to run in
 * several processes at once (each deletion is idempotent).
 *
 * @example
 * const report = await new Retention(store, { directMessageDays: 365, groupMessageDays: 90, eventRecordDays: 30 }, logger).run();
 */
export class Retention {
  constructor(
    private readonly store: Store,
    private readonly policy: RetentionPolicy,
    private readonly logger: Logger,
  ) {}

  async run(now = new Date()): Promise<RetentionReport> {
    const report: RetentionReport = {
      directMessages: await this.sweepMessages('direct', this.policy.directMessageDays, now),
      groupMessages: await this.sweepMessages('group', this.policy.groupMessageDays, now),
      sessions: await this.store.deleteSessionsEndedBefore(now),
      eventRecords: await this.store.deleteClaimsBefore('event:', new Date(now.getTime() - this.policy.eventRecordDays * DAY_MS)),
    };
    if (Object.values(report).some((n) => n > 0)) this.logger.info({ module: 'retention', ...report }, 'retention pass deleted old data');
    return report;
  }

  private async sweepMessages(type: 'direct' | 'group', days: number, now: Date): Promise<number> {
    if (days <= 0) return 0;
    const before = new Date(now.getTime() - days * DAY_MS);
    let total = 0;
    for (let deleted = BATCH; deleted === BATCH; total += deleted) {
      deleted = await this.store.deleteMessagesBefore(type, before, BATCH);
    }
    return total;
  }
}

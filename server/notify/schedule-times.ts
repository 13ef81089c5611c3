import { CronExpressionParser } from 'cron-parser';
import type { QuietHours } from './notify-store.js';

/**
 * Time arithmetic of the pipeline, all delegated to cron-parser so that time zones and daylight-saving
 * shifts are handled in one place: cron occurrences in a time zone, and quiet hours (a daily window in
 * the user's time zone, expressed as two daily cron times).
 */

const ALIASES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly', '@minutely', '@secondly', '@weekdays', '@weekends']);

/**
 * Why `expression` is not a usable cron expression, or undefined when it is: five fields (minute hour
 * day-of-month month day-of-week), six with seconds first, or an alias such as `@daily`. cron-parser
 * alone accepts `* * *` and the empty string, which are almost certainly mistakes.
 */
export function cronProblem(expression: string, timeZone: string): string | undefined {
  const trimmed = expression.trim();
  const fields = trimmed.split(/\s+/);
  if (!ALIASES.has(trimmed) && fields.length !== 5 && fields.length !== 6) {
    return 'must have 5 fields (minute hour day month weekday), 6 with seconds first, or be an alias such as @daily';
  }
  try {
    const parsed = CronExpressionParser.parse(trimmed, { tz: timeZone, strict: false });
    if (!parsed.hasNext()) return 'never occurs';
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** The first occurrence strictly after `after`; null when there is none before `endAt`. */
export function nextCronTime(expression: string, timeZone: string, after: Date, endAt: Date | null = null): Date | null {
  const parsed = CronExpressionParser.parse(expression.trim(), { tz: timeZone, currentDate: after });
  if (!parsed.hasNext()) return null;
  const next = parsed.next().toDate();
  if (endAt && next > endAt) return null;
  return next;
}

/** The first occurrence at or after `at`. */
export function cronTimeAtOrAfter(expression: string, timeZone: string, at: Date, endAt: Date | null = null): Date | null {
  return nextCronTime(expression, timeZone, new Date(at.getTime() - 1), endAt);
}

export interface QuietState {
  readonly active: boolean;
  /** When the current quiet window ends (only when active). */
  readonly endsAt: Date | null;
}

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function isClockTime(value: string): boolean {
  return HH_MM.test(value);
}

/**
 * Whether `now` falls in the user's quiet hours, and when they end. The window is `[start, end)` in
 * local time and may cross midnight (22:00–07:00); start = end means no quiet hours. Computed as "the
 * latest daily start came after the latest daily end", which holds across midnight and DST changes.
 *
 * @example
 * quietState({ start: '22:00', end: '07:00' }, 'Europe/Paris', new Date('2026-01-01T23:30:00+01:00'));
 * // { active: true, endsAt: 2026-01-02T06:00:00.000Z }
 */
export function quietState(quiet: QuietHours, timeZone: string, now: Date): QuietState {
  if (quiet.start === quiet.end) return { active: false, endsAt: null };
  const start = dailyCron(quiet.start);
  const end = dailyCron(quiet.end);
  // prev() is strictly before its current date; one millisecond on makes the boundary itself count.
  const probe = new Date(now.getTime() + 1);
  const lastStart = CronExpressionParser.parse(start, { tz: timeZone, currentDate: probe }).prev().toDate();
  const lastEnd = CronExpressionParser.parse(end, { tz: timeZone, currentDate: probe }).prev().toDate();
  if (lastStart <= lastEnd) return { active: false, endsAt: null };
  return { active: true, endsAt: CronExpressionParser.parse(end, { tz: timeZone, currentDate: now }).next().toDate() };
}

function dailyCron(clock: string): string {
  const match = HH_MM.exec(clock);
  if (!match) throw new RangeError(`not a HH:MM time: ${clock}`);
  return `${Number(match[2])} ${Number(match[1])} * * *`;
}

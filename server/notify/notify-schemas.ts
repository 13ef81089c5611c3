import { z } from 'zod';
import { AT_LEAST_ONE_KEY } from '../gateway/schemas.js';
import { ID_PATTERN } from '../store/ids.js';
import type { EventTypeRegistry } from './event-types.js';
import { isTimeZone, type NotifyConfig } from './notify-config.js';
import { CHANNELS, type ScheduleStatus } from './notify-store.js';
import { MAX_PRIORITY, MIN_PRIORITY, PRIORITY_CLASSES } from './priority.js';
import { cronProblem, isClockTime } from './schedule-times.js';

/**
 * The notify routes' edge schemas, for `parsePayload` (server/gateway/schemas.ts): strict objects,
 * `details.fields` naming each bad field, `payload_too_large` for size limits.
 */
export function createNotifySchemas(config: NotifyConfig, registry: EventTypeRegistry) {
  const id = z.string().regex(ID_PATTERN, 'must be a 24-character hex id');
  const dateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with Z or an offset' });
  const timeZone = z.string().max(64).refine(isTimeZone, 'must be an IANA time zone such as Europe/Paris');
  const contentId = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:\/-]+$/, 'letters, digits and _ . : / - only');
  const limitCount = (max: number, what: string) => (value: readonly unknown[], ctx: z.RefinementCtx) => {
    if (value.length > max) tooLarge(ctx, `at most ${max} ${what}`);
  };
  const data = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const json = JSON.stringify(value);
    if (Buffer.byteLength(json) > config.events.maxDataBytes) tooLarge(ctx, `larger than ${config.events.maxDataBytes} bytes of JSON`);
    if (/"[$][^"]*":|"[^"]*\.[^"]*":/.test(json)) ctx.addIssue({ code: 'custom', message: 'keys must not start with $ or contain .' });
  });

  const event = z
    .object({
      event_type: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'lower-case letters, digits and _ . -, at most 64'),
      created_dt: dateTime.nullable().optional(),
      schedule: z
        .string()
        .max(128)
        .superRefine((value, ctx) => {
          // The syntax does not depend on the time zone; the zone is checked on its own field.
          const problem = cronProblem(value, 'UTC');
          if (problem) ctx.addIssue({ code: 'custom', message: `not a cron expression: ${problem}` });
        })
        .nullable()
        .optional(),
      timezone: timeZone.nullable().optional(),
      start_dt: dateTime.nullable().optional(),
      end_dt: dateTime.nullable().optional(),
      priority: z
        .union([z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY), z.enum(PRIORITY_CLASSES)], {
          message: `must be an integer ${MIN_PRIORITY}–${MAX_PRIORITY} or one of ${PRIORITY_CLASSES.join(', ')}`,
        })
        .optional(),
      payload: z
        .object({
          user: z.array(id).min(1, 'name at least one user').superRefine(limitCount(config.events.maxRecipients, 'users')),
          content: z.array(contentId).superRefine(limitCount(config.events.maxContent, 'content ids')).optional(),
          data: data.optional(),
        })
        .strict(),
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.start_dt && value.end_dt && Date.parse(value.end_dt) <= Date.parse(value.start_dt)) {
        ctx.addIssue({ code: 'custom', path: ['end_dt'], message: 'must be after start_dt' });
      }
      if (value.end_dt && !value.schedule) ctx.addIssue({ code: 'custom', path: ['end_dt'], message: 'only applies to a schedule' });
    });

  const channelChoices = z
    .object(Object.fromEntries(CHANNELS.map((c) => [c, z.boolean().nullable().optional()])) as Record<(typeof CHANNELS)[number], z.ZodOptional<z.ZodNullable<z.ZodBoolean>>>)
    .strict();

  const quietHours = z
    .object({
      start: z.string().refine(isClockTime, 'must be HH:MM (24 h)'),
      end: z.string().refine(isClockTime, 'must be HH:MM (24 h)'),
    })
    .strict();

  const base64url = (bytes: number, what: string) =>
    z
      .string()
      .max(200)
      .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be URL-safe base64')
      .refine((v) => Buffer.from(v, 'base64url').length === bytes, `must be ${what} (${bytes} bytes)`);

  return {
    idParam: z.object({ id }).strict(),
    subscriptionParam: z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'must be a subscription id') }).strict(),
    idempotencyKey: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters').optional(),
    event,
    schedulesQuery: z
      .object({
        status: z.enum(['active', 'finished', 'cancelled'] satisfies ScheduleStatus[]).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        before: id.optional(),
      })
      .strict(),
    attemptsQuery: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(200) }).strict(),
    profilePatch: z
      .object({
        phone: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number such as +33612345678').nullable().optional(),
        locale: z.string().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 tag such as fr or pt-BR').nullable().optional(),
        timeZone: timeZone.nullable().optional(),
        quietHours: quietHours.nullable().optional(),
      })
      .strict()
      .refine((v) => Object.keys(v).length > 0, 'name at least one of phone, locale, timeZone, quietHours')
      .meta(AT_LEAST_ONE_KEY),
    preferencesPatch: z
      .record(z.string(), channelChoices)
      .superRefine((value, ctx) => {
        for (const [eventType, choices] of Object.entries(value)) {
          if (!registry.get(eventType)) {
            ctx.addIssue({ code: 'custom', path: [eventType], message: `unknown event type; known: ${registry.names().join(', ')}` });
            continue;
          }
          const usable = registry.channelsOf(eventType);
          for (const channel of Object.keys(choices)) {
            if (!usable.includes(channel as (typeof CHANNELS)[number])) ctx.addIssue({ code: 'custom', path: [eventType, channel], message: `${eventType} has no ${channel} template` });
          }
        }
      })
      .refine((v) => Object.keys(v).length > 0, 'name at least one event type')
      .meta(AT_LEAST_ONE_KEY),
    pushSubscription: z
      .object({
        endpoint: z
          .string()
          .max(2048)
          .url()
          .refine((v) => v.startsWith('https://'), 'must be an https URL'),
        expirationTime: z.number().int().min(0).nullable().optional(),
        keys: z.object({ p256dh: base64url(65, 'an uncompressed P-256 public key'), auth: base64url(16, 'the auth secret') }).strict(),
      })
      .strict(),
  };
}

export type NotifySchemas = ReturnType<typeof createNotifySchemas>;
export type EventBody = z.infer<NotifySchemas['event']>;

/** Marks an issue as a size limit, which `parsePayload` answers with `payload_too_large`. */
function tooLarge(ctx: z.RefinementCtx, message: string): void {
  ctx.addIssue({ code: 'custom', message, params: { parley: 'payload_too_large' } });
}

import { z } from 'zod';

/**
 * The notification pipeline's settings. `server/config.ts` (the only reader of `process.env`) merges
 * `notifyEnvSchema` into its own schema and calls `toNotifyConfig` on the parsed values; everything in
 * `server/notify/` takes the resulting `NotifyConfig`. Every default is documented here and in
 * docs/notifications.md.
 */
export interface NotifyConfig {
  email: {
    /** SMTP_URL: e.g. `smtp://user:pass@smtp.example.com:587`; unset = the email channel is off. */
    smtpUrl: string | undefined;
    /** SMTP_FROM: the From header (default `Parley <no-reply@parley.invalid>`). */
    from: string;
    /** SMTP_TIMEOUT_MS: connection, greeting and socket timeout of one send (default 10000). */
    timeoutMs: number;
  };
  sms: {
    /** SMS_URL: the provider's HTTP endpoint, called with POST; unset = the SMS channel is off. */
    url: string | undefined;
    /** SMS_AUTH_HEADER: one header sent with every request, as `Name: value` (default none). */
    authHeader: { name: string; value: string } | undefined;
    /**
     * SMS_BODY_TEMPLATE: the request body with `{{to}}`, `{{text}}`, `{{from}}` and `{{id}}` filled in,
     * JSON-escaped (default `{"to":"{{to}}","text":"{{text}}"}`).
     */
    bodyTemplate: string;
    /** SMS_CONTENT_TYPE: the body's content type (default application/json). */
    contentType: string;
    /** SMS_FROM: sender id or number for `{{from}}` (default empty). */
    from: string;
    /** SMS_TIMEOUT_MS (default 5000). */
    timeoutMs: number;
  };
  push: {
    /** VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY: from `parley notify vapid-keys`; unset = push is off. */
    vapid: { publicKey: string; privateKey: string; subject: string } | undefined;
    /** PUSH_TTL_SECONDS: how long the push service keeps an undelivered message (default 86400). */
    ttlSeconds: number;
    /** PUSH_TIMEOUT_MS (default 10000). */
    timeoutMs: number;
  };
  content: {
    /** CONTENT_RESOLVER_URL: `GET <url>/<contentId>` answers the content's JSON; unset = raw ids. */
    resolverUrl: string | undefined;
    /** CONTENT_RESOLVER_TIMEOUT_MS: after this the raw id is used instead (default 2000). */
    timeoutMs: number;
  };
  events: {
    /** EVENTS_MAX_RECIPIENTS: largest `payload.user` (default 1000); more is `payload_too_large`. */
    maxRecipients: number;
    /** EVENTS_MAX_CONTENT: largest `payload.content` (default 50). */
    maxContent: number;
    /** EVENTS_MAX_DATA_BYTES: JSON bytes of `payload.data` (default 4096). */
    maxDataBytes: number;
    /** EVENTS_BODY_LIMIT_BYTES: largest `POST /v1/events` body (default 262144). */
    bodyLimitBytes: number;
  };
  workers: {
    /** NOTIFY_CONCURRENCY_HIGH / _NORMAL / _LOW: jobs in flight per class and process (16 / 8 / 4). */
    concurrency: { high: number; normal: number; low: number };
    /** NOTIFY_MAX_ATTEMPTS: tries of one channel delivery before it is dead-lettered (default 5). */
    maxAttempts: number;
    /** NOTIFY_SCHEDULER_INTERVAL_MS: how often due schedules and deferred deliveries are looked for (default 1000). */
    schedulerIntervalMs: number;
    /** NOTIFY_MISFIRE_MS: a cron occurrence later than this is skipped, not sent (default 60000). */
    misfireMs: number;
    /** NOTIFY_PENDING_GRACE_MS: an occurrence claimed but not queued for this long is queued again (default 30000). */
    pendingGraceMs: number;
  };
  defaults: {
    /** NOTIFY_DEFAULT_LOCALE: templates for users without a locale (default en). */
    locale: string;
    /** NOTIFY_DEFAULT_TIMEZONE: quiet hours of users without a time zone (default UTC). */
    timeZone: string;
  };
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const url = (schemes: readonly string[]) =>
  z
    .string()
    .url()
    .refine((v) => schemes.some((s) => v.startsWith(`${s}:`)), { message: `must start with ${schemes.join(' or ')}:` });
const timeZone = z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Paris');

/**
 * The environment variables of the notification pipeline, for `server/config.ts` to merge into its
 * schema (`envSchema.extend(notifyEnvSchema.shape)`). Empty strings are removed before parsing there.
 */
export const notifyEnvSchema = z.object({
  SMTP_URL: url(['smtp', 'smtps']).optional(),
  SMTP_FROM: z.string().min(3).default('Parley <no-reply@parley.invalid>'),
  SMTP_TIMEOUT_MS: int(100).default(10_000),
  SMS_URL: url(['http', 'https']).optional(),
  SMS_AUTH_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+:\s*\S.*$/, 'must be "Header-Name: value"')
    .optional(),
  SMS_BODY_TEMPLATE: z.string().min(1).default('{"to":"{{to}}","text":"{{text}}"}'),
  SMS_CONTENT_TYPE: z.string().min(1).default('application/json'),
  SMS_FROM: z.string().default(''),
  SMS_TIMEOUT_MS: int(100).default(5000),
  VAPID_PUBLIC_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{87}$/, 'must be the URL-safe base64 public key from `parley notify vapid-keys`')
    .optional(),
  VAPID_PRIVATE_KEY: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'must be the URL-safe base64 private key from `parley notify vapid-keys`')
    .optional(),
  VAPID_SUBJECT: z
    .string()
    .refine((v) => v.startsWith('mailto:') || v.startsWith('https://'), 'must be a mailto: or https: URL')
    .default('mailto:admin@parley.invalid'),
  PUSH_TTL_SECONDS: int(0, 2_419_200).default(86_400),
  PUSH_TIMEOUT_MS: int(100).default(10_000),
  CONTENT_RESOLVER_URL: url(['http', 'https']).optional(),
  CONTENT_RESOLVER_TIMEOUT_MS: int(10).default(2000),
  EVENTS_MAX_RECIPIENTS: int(1, 100_000).default(1000),
  EVENTS_MAX_CONTENT: int(0, 1000).default(50),
  EVENTS_MAX_DATA_BYTES: int(0).default(4096),
  EVENTS_BODY_LIMIT_BYTES: int(1024).default(262_144),
  NOTIFY_CONCURRENCY_HIGH: int(1, 1000).default(16),
  NOTIFY_CONCURRENCY_NORMAL: int(1, 1000).default(8),
  NOTIFY_CONCURRENCY_LOW: int(1, 1000).default(4),
  NOTIFY_MAX_ATTEMPTS: int(1, 50).default(5),
  NOTIFY_SCHEDULER_INTERVAL_MS: int(50).default(1000),
  NOTIFY_MISFIRE_MS: int(1000).default(60_000),
  NOTIFY_PENDING_GRACE_MS: int(1000).default(30_000),
  NOTIFY_DEFAULT_LOCALE: z.string().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/).default('en'),
  NOTIFY_DEFAULT_TIMEZONE: timeZone.default('UTC'),
});

export type NotifyEnv = z.infer<typeof notifyEnvSchema>;

/** A setting that is valid alone but not together with another; the message names the variables. */
export class NotifyConfigError extends Error {
  override name = 'NotifyConfigError';
}

/**
 * Turns the parsed variables into `NotifyConfig`. Throws `NotifyConfigError` (message
 * `invalid configuration: VAR: …`) for combinations the schema cannot see one field at a time.
 *
 * @example
 * const notify = toNotifyConfig(notifyEnvSchema.parse({ SMTP_URL: 'smtp://127.0.0.1:2525' }));
 */
export function toNotifyConfig(e: NotifyEnv): NotifyConfig {
  if (Boolean(e.VAPID_PUBLIC_KEY) !== Boolean(e.VAPID_PRIVATE_KEY)) {
    throw new NotifyConfigError('invalid configuration: VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: set both or neither');
  }
  return {
    email: { smtpUrl: e.SMTP_URL, from: e.SMTP_FROM, timeoutMs: e.SMTP_TIMEOUT_MS },
    sms: {
      url: e.SMS_URL,
      authHeader: e.SMS_AUTH_HEADER ? splitHeader(e.SMS_AUTH_HEADER) : undefined,
      bodyTemplate: e.SMS_BODY_TEMPLATE,
      contentType: e.SMS_CONTENT_TYPE,
      from: e.SMS_FROM,
      timeoutMs: e.SMS_TIMEOUT_MS,
    },
    push: {
      vapid:
        e.VAPID_PUBLIC_KEY && e.VAPID_PRIVATE_KEY
          ? { publicKey: e.VAPID_PUBLIC_KEY, privateKey: e.VAPID_PRIVATE_KEY, subject: e.VAPID_SUBJECT }
          : undefined,
      ttlSeconds: e.PUSH_TTL_SECONDS,
      timeoutMs: e.PUSH_TIMEOUT_MS,
    },
    content: { resolverUrl: e.CONTENT_RESOLVER_URL?.replace(/\/+$/, ''), timeoutMs: e.CONTENT_RESOLVER_TIMEOUT_MS },
    events: {
      maxRecipients: e.EVENTS_MAX_RECIPIENTS,
      maxContent: e.EVENTS_MAX_CONTENT,
      maxDataBytes: e.EVENTS_MAX_DATA_BYTES,
      bodyLimitBytes: e.EVENTS_BODY_LIMIT_BYTES,
    },
    workers: {
      concurrency: { high: e.NOTIFY_CONCURRENCY_HIGH, normal: e.NOTIFY_CONCURRENCY_NORMAL, low: e.NOTIFY_CONCURRENCY_LOW },
      maxAttempts: e.NOTIFY_MAX_ATTEMPTS,
      schedulerIntervalMs: e.NOTIFY_SCHEDULER_INTERVAL_MS,
      misfireMs: e.NOTIFY_MISFIRE_MS,
      pendingGraceMs: e.NOTIFY_PENDING_GRACE_MS,
    },
    defaults: { locale: e.NOTIFY_DEFAULT_LOCALE, timeZone: e.NOTIFY_DEFAULT_TIMEZONE },
  };
}

/**
 * The configuration from a plain variable map, for tests and tools that do not go through
 * `server/config.ts`. Empty strings count as unset, as there.
 */
export function notifyConfigFrom(env: Record<string, string | undefined>): NotifyConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = notifyEnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new NotifyConfigError(`invalid configuration: ${problems}`);
  }
  return toNotifyConfig(parsed.data);
}

export function isTimeZone(value: string): boolean {
  if (value.length === 0 || value.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

function splitHeader(raw: string): { name: string; value: string } {
  const colon = raw.indexOf(':');
  return { name: raw.slice(0, colon).trim(), value: raw.slice(colon + 1).trim() };
}

import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NotifyConfigError, notifyEnvSchema, toNotifyConfig, type NotifyConfig } from './notify/notify-config.js';

/**
 * Every setting Parley reads, with its default. This is the only module that reads `process.env`;
 * the README's configuration table is generated from the same names.
 */
export interface ParleyConfig {
  /** PORT: HTTP and Socket.IO port (default 3000; 0 picks a free one). */
  port: number;
  /** HOST: interface to bind (default 0.0.0.0). */
  host: string;
  /** LOG_LEVEL: pino level (default info). */
  logLevel: string;
  /** MONGODB_URI: MongoDB store; unset = in-memory store. */
  mongodbUri: string | undefined;
  /** REDIS_URL: Redis for fan-out and presence; unset = single node, in memory. */
  redisUrl: string | undefined;
  /** AMQP_URL: RabbitMQ; unset = in-process queues. */
  amqpUrl: string | undefined;
  /** NODE_ID: this process's id in presence and logs (default: random). */
  nodeId: string;
  cluster: {
    /** REDIS_ADAPTER: auto (sharded pub/sub on Redis >= 7, else classic), sharded or classic (default auto). */
    adapter: 'auto' | 'sharded' | 'classic';
    /** PRESENCE_TTL_MS: a dead node's users go offline within this (default 30000). */
    presenceTtlMs: number;
    /** TYPING_TTL_MS: a typing indicator stops by itself after this without a new start (default 5000). */
    typingTtlMs: number;
    /** TYPING_THROTTLE_MS: at most one typing start per user and conversation per this (default 1000). */
    typingThrottleMs: number;
    /** DRAIN_TIMEOUT_MS: how long SIGTERM waits for in-flight acks before closing (default 10000). */
    drainTimeoutMs: number;
    /** KEY_PREFIX: prefix of every Redis key and RabbitMQ name (default parley). */
    keyPrefix: string;
  };
  queues: {
    /** QUEUE_TYPE: classic or quorum (default classic). */
    queueType: 'classic' | 'quorum';
    /** QUEUE_MAX_ATTEMPTS: deliveries before a job is dead-lettered (default 5). */
    maxAttempts: number;
    /** QUEUE_RETRY_BASE_MS: first retry delay, doubling each time (default 1000). */
    retryBaseMs: number;
    /** OUTBOX_INTERVAL_MS: how often the reconciler republishes follow-up work that was not confirmed (default 5000). */
    outboxIntervalMs: number;
    /** SCHEDULER_INTERVAL_MS: how often due scheduled messages are looked for (default 1000). */
    schedulerIntervalMs: number;
    /** PUSH_COALESCE_MS: at most one offline notification per conversation and user per this (default 60000). */
    pushCoalesceMs: number;
  };
  retention: {
    /** RETENTION_DIRECT_DAYS: delete direct messages older than this (default 0: keep forever). */
    directMessageDays: number;
    /** RETENTION_GROUP_DAYS: delete group messages older than this (default 0: keep forever). */
    groupMessageDays: number;
    /** RETENTION_EVENT_RECORD_DAYS: forget handled domain events after this (default 30). */
    eventRecordDays: number;
    /** RETENTION_INTERVAL_MS: how often the retention worker runs (default 3600000, hourly). */
    intervalMs: number;
  };
  /** Notifications: SMTP_*, SMS_*, VAPID_*, PUSH_*, CONTENT_RESOLVER_*, EVENTS_*, NOTIFY_* (docs/notifications.md). */
  notify: NotifyConfig;
  auth: {
    /** JWT_SECRET: HMAC key for access tokens; required once any real driver is set (min 32 chars). */
    jwtSecret: string;
    /** True when JWT_SECRET was not given and a random per-process key is used (embedded only). */
    jwtSecretGenerated: boolean;
    /** JWT_ISSUER (default parley). */
    jwtIssuer: string;
    /** JWT_AUDIENCE (default parley-api). */
    jwtAudience: string;
    /** ACCESS_TOKEN_TTL_SECONDS (default 900). */
    accessTokenTtlSeconds: number;
    /** REFRESH_TOKEN_TTL_SECONDS (default 2592000, 30 days). */
    refreshTokenTtlSeconds: number;
    /** BCRYPT_COST (default 12, at least 10). */
    bcryptCost: number;
    /** JWT_KID: the `kid` header of tokens signed with JWT_SECRET (default k1). */
    jwtKid: string;
    /**
     * JWT_PREVIOUS_KEYS: `kid:secret,…`, keys that still verify tokens but sign none: during a rotation,
     * the old JWT_KID and JWT_SECRET, until the last token they signed has expired (default none).
     */
    jwtPreviousKeys: readonly { readonly kid: string; readonly secret: string }[];
  };
  security: {
    /**
     * ALLOWED_ORIGINS: browser origins allowed besides the server's own, comma-separated
     * (`https://chat.example.com`), or `*` for any (default none: same origin only). Requests without
     * an Origin header (apps, backends) are not affected.
     */
    allowedOrigins: readonly string[] | '*';
    /** IP_REQUESTS_PER_SECOND: REST requests and socket handshakes per client IP, across nodes (default 50). */
    ipRequestsPerSecond: number;
    /** MAX_CONNECTIONS_PER_USER: live sockets per user across the cluster (default 20). */
    maxConnectionsPerUser: number;
    /** LOGIN_FAILURES_PER_USERNAME: failed logins per username and IP per 15 minutes before a 15-minute block (default 5). */
    loginFailuresPerUsername: number;
    /** LOGIN_FAILURES_PER_IP: failed logins per IP per hour before an hour's block (default 100). */
    loginFailuresPerIp: number;
    /** TRUST_PROXY_HOPS: proxies in front whose X-Forwarded-For names the client's IP (default 0: none). */
    trustProxyHops: number;
    /** SOCKET_EVENTS_PER_SECOND: events per socket per second; a socket that floods past it is closed (default 100). */
    socketEventsPerSecond: number;
    /** METRICS_TOKEN: if set, GET /metrics needs `Authorization: Bearer <it>` (default unset: open). */
    metricsToken: string | undefined;
  };
  limits: {
    /** MAX_TEXT_LENGTH: characters per message (default 4000). */
    maxTextLength: number;
    /** MAX_META_BYTES: JSON bytes of a message's `meta` (default 4096). */
    maxMetaBytes: number;
    /** SOCKET_MAX_BUFFER_BYTES: Socket.IO maxHttpBufferSize (default 65536). */
    socketMaxBufferBytes: number;
    /** HTTP_BODY_LIMIT_BYTES: largest REST body (default 65536). */
    httpBodyLimitBytes: number;
    /** MESSAGES_PER_SECOND: sends per user per second, socket and REST together (default 20). */
    messagesPerSecond: number;
    /** MAX_GROUP_MEMBERS (default 500). */
    maxGroupMembers: number;
    /** MAX_PAGE_SIZE: largest `limit` for history and sync (default 200). */
    maxPageSize: number;
  };
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const optionalUrl = (schemes: string[]) =>
  z
    .string()
    .url()
    .refine((v) => schemes.some((s) => v.startsWith(`${s}:`)), { message: `must start with ${schemes.join(' or ')}:` })
    .optional();

const envSchema = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MONGODB_URI: optionalUrl(['mongodb', 'mongodb+srv']),
  REDIS_URL: optionalUrl(['redis', 'rediss']),
  AMQP_URL: optionalUrl(['amqp', 'amqps']),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).default('parley'),
  JWT_AUDIENCE: z.string().min(1).default('parley-api'),
  ACCESS_TOKEN_TTL_SECONDS: int(10).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(60).default(30 * 24 * 3600),
  BCRYPT_COST: int(10, 15).default(12),
  JWT_KID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').default('k1'),
  JWT_PREVIOUS_KEYS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      const keys = value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
        const at = entry.indexOf(':');
        return { kid: entry.slice(0, at), secret: entry.slice(at + 1) };
      });
      for (const key of keys) {
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key.kid) || key.secret.length < 32) {
          ctx.addIssue({ code: 'custom', message: 'must be kid:secret pairs, comma-separated, each secret at least 32 characters' });
          return z.NEVER;
        }
      }
      return keys;
    }),
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((value, ctx): readonly string[] | '*' => {
      if (value.trim() === '*') return '*';
      const origins = value.split(',').map((o) => o.trim()).filter(Boolean);
      for (const origin of origins) {
        if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
          ctx.addIssue({ code: 'custom', message: `${origin} is not an origin like https://chat.example.com` });
          return z.NEVER;
        }
      }
      return origins;
    }),
  IP_REQUESTS_PER_SECOND: int(1).default(50),
  MAX_CONNECTIONS_PER_USER: int(1).default(20),
  LOGIN_FAILURES_PER_USERNAME: int(1).default(5),
  LOGIN_FAILURES_PER_IP: int(1).default(100),
  TRUST_PROXY_HOPS: int(0, 10).default(0),
  SOCKET_EVENTS_PER_SECOND: int(1).default(100),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  MAX_TEXT_LENGTH: int(1).default(4000),
  MAX_META_BYTES: int(0).default(4096),
  SOCKET_MAX_BUFFER_BYTES: int(1024).default(65536),
  HTTP_BODY_LIMIT_BYTES: int(1024).default(65536),
  MESSAGES_PER_SECOND: int(1).default(20),
  MAX_GROUP_MEMBERS: int(2).default(500),
  MAX_PAGE_SIZE: int(1, 1000).default(200),
  NODE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  REDIS_ADAPTER: z.enum(['auto', 'sharded', 'classic']).default('auto'),
  PRESENCE_TTL_MS: int(300).default(30_000),
  TYPING_TTL_MS: int(100).default(5000),
  TYPING_THROTTLE_MS: int(0).default(1000),
  DRAIN_TIMEOUT_MS: int(0).default(10_000),
  KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('parley'),
  QUEUE_TYPE: z.enum(['classic', 'quorum']).default('classic'),
  QUEUE_MAX_ATTEMPTS: int(1, 50).default(5),
  QUEUE_RETRY_BASE_MS: int(10).default(1000),
  OUTBOX_INTERVAL_MS: int(100).default(5000),
  SCHEDULER_INTERVAL_MS: int(50).default(1000),
  PUSH_COALESCE_MS: int(0).default(60_000),
  RETENTION_DIRECT_DAYS: int(0).default(0),
  RETENTION_GROUP_DAYS: int(0).default(0),
  RETENTION_EVENT_RECORD_DAYS: int(1).default(30),
  RETENTION_INTERVAL_MS: int(1000).default(3_600_000),
}).extend(notifyEnvSchema.shape);

/** Raised at start-up; the message names every offending variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and validates the configuration. Empty strings count as unset, so `MONGODB_URI=` means embedded.
 *
 * @example
 * const config = loadConfig({ PORT: '0', MONGODB_URI: 'mongodb://127.0.0.1:27017/parley' });
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): ParleyConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const anyRealDriver = Boolean(e.MONGODB_URI || e.REDIS_URL || e.AMQP_URL);
  if (anyRealDriver && !e.JWT_SECRET) {
    // Several processes must verify each other's tokens, so a random per-process key would break them.
    throw new ConfigError('invalid configuration: JWT_SECRET: required when MONGODB_URI, REDIS_URL or AMQP_URL is set');
  }
  let notify: NotifyConfig;
  try {
    notify = toNotifyConfig(e);
  } catch (err) {
    if (err instanceof NotifyConfigError) throw new ConfigError(err.message);
    throw err;
  }
  return {
    notify,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    mongodbUri: e.MONGODB_URI,
    redisUrl: e.REDIS_URL,
    amqpUrl: e.AMQP_URL,
    nodeId: e.NODE_ID ?? `node-${randomBytes(4).toString('hex')}`,
    cluster: {
      adapter: e.REDIS_ADAPTER,
      presenceTtlMs: e.PRESENCE_TTL_MS,
      typingTtlMs: e.TYPING_TTL_MS,
      typingThrottleMs: e.TYPING_THROTTLE_MS,
      drainTimeoutMs: e.DRAIN_TIMEOUT_MS,
      keyPrefix: e.KEY_PREFIX,
    },
    queues: {
      queueType: e.QUEUE_TYPE,
      maxAttempts: e.QUEUE_MAX_ATTEMPTS,
      retryBaseMs: e.QUEUE_RETRY_BASE_MS,
      outboxIntervalMs: e.OUTBOX_INTERVAL_MS,
      schedulerIntervalMs: e.SCHEDULER_INTERVAL_MS,
      pushCoalesceMs: e.PUSH_COALESCE_MS,
    },
    retention: {
      directMessageDays: e.RETENTION_DIRECT_DAYS,
      groupMessageDays: e.RETENTION_GROUP_DAYS,
      eventRecordDays: e.RETENTION_EVENT_RECORD_DAYS,
      intervalMs: e.RETENTION_INTERVAL_MS,
    },
    auth: {
      jwtSecret: e.JWT_SECRET ?? randomBytes(32).toString('hex'),
      jwtSecretGenerated: !e.JWT_SECRET,
      jwtIssuer: e.JWT_ISSUER,
      jwtAudience: e.JWT_AUDIENCE,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      bcryptCost: e.BCRYPT_COST,
      jwtKid: e.JWT_KID,
      jwtPreviousKeys: e.JWT_PREVIOUS_KEYS,
    },
    security: {
      allowedOrigins: e.ALLOWED_ORIGINS,
      ipRequestsPerSecond: e.IP_REQUESTS_PER_SECOND,
      maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
      loginFailuresPerUsername: e.LOGIN_FAILURES_PER_USERNAME,
      loginFailuresPerIp: e.LOGIN_FAILURES_PER_IP,
      trustProxyHops: e.TRUST_PROXY_HOPS,
      socketEventsPerSecond: e.SOCKET_EVENTS_PER_SECOND,
      metricsToken: e.METRICS_TOKEN,
    },
    limits: {
      maxTextLength: e.MAX_TEXT_LENGTH,
      maxMetaBytes: e.MAX_META_BYTES,
      socketMaxBufferBytes: e.SOCKET_MAX_BUFFER_BYTES,
      httpBodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
      messagesPerSecond: e.MESSAGES_PER_SECOND,
      maxGroupMembers: e.MAX_GROUP_MEMBERS,
      maxPageSize: e.MAX_PAGE_SIZE,
    },
  };
}

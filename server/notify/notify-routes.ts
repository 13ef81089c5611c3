import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ParleyError } from '../errors.js';
import { parsePayload } from '../gateway/schemas.js';
import type { EventIntake } from './event-intake.js';
import type { EventTypeRegistry } from './event-types.js';
import type { NotifyConfig } from './notify-config.js';
import type { NotifySchemas } from './notify-schemas.js';
import { emptyProfile, type NotifyProfile, type NotifyStore, type PushSubscriptionRecord, type ServiceKeyScope } from './notify-store.js';
import { effectivePreferences } from './preferences.js';
import type { ServiceKeys } from './service-keys.js';

/** How the host app turns a user's access token into a user (AuthService.authenticate in Parley). */
export type Authenticate = (accessToken: string | undefined) => Promise<{ readonly userId: string }>;

export interface NotifyRouteDeps {
  readonly config: NotifyConfig;
  readonly notifyStore: NotifyStore;
  readonly registry: EventTypeRegistry;
  readonly intake: EventIntake;
  readonly serviceKeys: ServiceKeys;
  readonly schemas: NotifySchemas;
}

/**
 * The notification routes (docs/notifications.md):
 *
 * - for other backends, with a service key: `POST /v1/events`, `GET /v1/events/:id`,
 *   `GET /v1/events/:id/attempts`, `GET /v1/schedules`, `DELETE /v1/schedules/:id`;
 * - for users, with their access token: `GET|PATCH /v1/notify/profile`, `GET|PATCH
 *   /v1/notify/preferences`, `GET /v1/notify/push/vapid-public-key`, `GET|POST
 *   /v1/notify/push/subscriptions`, `DELETE /v1/notify/push/subscriptions/:id`.
 *
 * Errors are thrown as ParleyError and answered by the host's error handler.
 */
export function registerNotifyRoutes(app: FastifyInstance, deps: NotifyRouteDeps, authenticate: Authenticate): void {
  const { config, notifyStore, registry, intake, serviceKeys, schemas: s } = deps;
  const service = (req: FastifyRequest, scope: ServiceKeyScope) => serviceKeys.verify(serviceKeyOf(req), scope);
  const user = (req: FastifyRequest) => authenticate(bearerToken(req));

  // ---- other backends ----

  app.post('/v1/events', { bodyLimit: config.events.bodyLimitBytes }, async (req, reply) => {
    const key = await service(req, 'events:write');
    const idempotencyKey = parsePayload(s.idempotencyKey, headerValue(req, 'idempotency-key'));
    const body = parsePayload(s.event, req.body);
    const result = await intake.submit(body, { serviceKeyId: key.id, idempotencyKey, rawBody: JSON.stringify(req.body) });
    if (result.replayed) void reply.header('idempotent-replayed', 'true');
    return reply.status(202).send({ eventId: result.eventId });
  });
  app.get('/v1/events/:id', async (req) => {
    await service(req, 'events:read');
    const { id } = parsePayload(s.idParam, req.params);
    const [event, schedule, occurrences] = await Promise.all([notifyStore.getEvent(id), notifyStore.getSchedule(id), notifyStore.listOccurrences(id, 100)]);
    if (!event) throw new ParleyError('not_found', `no event ${id}`, { eventId: id });
    return { event, schedule, occurrences };
  });
  app.get('/v1/events/:id/attempts', async (req) => {
    await service(req, 'events:read');
    const { id } = parsePayload(s.idParam, req.params);
    const { limit } = parsePayload(s.attemptsQuery, req.query);
    if (!(await notifyStore.getEvent(id))) throw new ParleyError('not_found', `no event ${id}`, { eventId: id });
    return { attempts: await notifyStore.listAttempts({ eventId: id, limit }) };
  });
  app.get('/v1/schedules', async (req) => {
    await service(req, 'schedules:read');
    const q = parsePayload(s.schedulesQuery, req.query);
    return { schedules: await notifyStore.listSchedules({ status: q.status, limit: q.limit, beforeId: q.before }) };
  });
  app.delete('/v1/schedules/:id', async (req) => {
    await service(req, 'schedules:write');
    const { id } = parsePayload(s.idParam, req.params);
    const schedule = await notifyStore.cancelSchedule(id, new Date());
    if (!schedule) throw new ParleyError('not_found', `no schedule ${id}`, { scheduleId: id });
    return { schedule };
  });

  // ---- users ----

  const profileOf = async (userId: string): Promise<NotifyProfile> => (await notifyStore.getProfile(userId)) ?? emptyProfile(userId);
  const preferencesView = (profile: NotifyProfile) => ({
    preferences: effectivePreferences(registry, profile),
    eventTypes: registry.names().map((name) => ({ name, description: registry.get(name)!.description, channels: registry.channelsOf(name) })),
  });

  app.get('/v1/notify/profile', async (req) => ({ profile: toWireProfile(await profileOf((await user(req)).userId)) }));
  app.patch('/v1/notify/profile', async (req) => {
    const { userId } = await user(req);
    const patch = parsePayload(s.profilePatch, req.body);
    return { profile: toWireProfile(await notifyStore.updateProfile(userId, patch)) };
  });
  app.get('/v1/notify/preferences', async (req) => preferencesView(await profileOf((await user(req)).userId)));
  app.patch('/v1/notify/preferences', async (req) => {
    const { userId } = await user(req);
    const body = parsePayload(s.preferencesPatch, req.body);
    const changes = Object.entries(body).flatMap(([eventType, choices]) =>
      Object.entries(choices)
        .filter(([, enabled]) => enabled !== undefined)
        .map(([channel, enabled]) => ({ eventType, channel: channel as keyof typeof choices, enabled: enabled ?? null })),
    );
    return preferencesView(await notifyStore.updateProfile(userId, { preferences: changes }));
  });

  app.get('/v1/notify/push/vapid-public-key', async () => {
    if (!config.push.vapid) throw new ParleyError('not_found', 'push is not configured on this server');
    return { publicKey: config.push.vapid.publicKey };
  });
  app.get('/v1/notify/push/subscriptions', async (req) => {
    const { userId } = await user(req);
    return { subscriptions: (await notifyStore.listPushSubscriptions(userId)).map(toWireSubscription) };
  });
  app.post('/v1/notify/push/subscriptions', async (req, reply) => {
    const { userId } = await user(req);
    const body = parsePayload(s.pushSubscription, req.body);
    const subscription = await notifyStore.putPushSubscription({
      id: subscriptionId(body.endpoint),
      userId,
      endpoint: body.endpoint,
      keys: body.keys,
      expirationTime: typeof body.expirationTime === 'number' ? new Date(body.expirationTime) : null,
    });
    return reply.status(201).send({ subscription: toWireSubscription(subscription) });
  });
  app.delete('/v1/notify/push/subscriptions/:id', async (req) => {
    const { userId } = await user(req);
    const { id } = parsePayload(s.subscriptionParam, req.params);
    if (!(await notifyStore.removePushSubscription(id, userId))) throw new ParleyError('not_found', `no push subscription ${id}`, { subscriptionId: id });
    return {};
  });
}

/** Derived from the endpoint, so a device registering again (or for another account) keeps one record. */
export function subscriptionId(endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('hex').slice(0, 32);
}

function toWireProfile(profile: NotifyProfile) {
  return { phone: profile.phone, locale: profile.locale, timeZone: profile.timeZone, quietHours: profile.quietHours, updatedAt: profile.updatedAt };
}

function toWireSubscription(sub: PushSubscriptionRecord) {
  return { id: sub.id, endpoint: sub.endpoint, expirationTime: sub.expirationTime, createdAt: sub.createdAt };
}

function headerValue(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `X-Service-Key: <key>`, or `Authorization: Bearer <key>`. */
function serviceKeyOf(req: FastifyRequest): string | undefined {
  const explicit = headerValue(req, 'x-service-key');
  if (explicit) return explicit.trim();
  return bearerToken(req);
}

function bearerToken(req: FastifyRequest): string | undefined {
  const header = headerValue(req, 'authorization');
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
  if (!match) throw new ParleyError('unauthorized', 'Authorization must be "Bearer <token>"');
  return match[1];
}

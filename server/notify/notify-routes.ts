import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ParleyError } from '../errors.js';
import { type Auth, noAuth, registerRoutes, route } from '../gateway/openapi.js';
import type { EventIntake } from './event-intake.js';
import type { EventTypeRegistry } from './event-types.js';
import type { NotifyConfig } from './notify-config.js';
import type { NotifySchemas } from './notify-schemas.js';
import { emptyProfile, type NotifyProfile, type NotifyStore, type PushSubscriptionRecord, type ServiceKeyRecord, type ServiceKeyScope } from './notify-store.js';
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
 * The notification routes (docs/notifications.md), declared as a route table (server/gateway/openapi.ts)
 * so they are documented at `GET /openapi.json` with the REST API:
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
  registerRoutes(app, notifyRoutes(deps, authenticate));
}

function notifyRoutes(deps: NotifyRouteDeps, authenticate: Authenticate) {
  const { config, notifyStore, registry, intake, serviceKeys, schemas: s } = deps;
  const service = (scope: ServiceKeyScope): Auth<ServiceKeyRecord> => ({ scheme: 'serviceKey', scopes: [scope], verify: (req) => serviceKeys.verify(serviceKeyOf(req), scope) });
  const user: Auth<{ readonly userId: string }> = { scheme: 'bearer', verify: (req) => authenticate(bearerToken(req)) };
  const profileOf = async (userId: string): Promise<NotifyProfile> => (await notifyStore.getProfile(userId)) ?? emptyProfile(userId);
  const preferencesView = (profile: NotifyProfile) => ({
    preferences: effectivePreferences(registry, profile),
    eventTypes: registry.names().map((name) => ({ name, description: registry.get(name)!.description, channels: registry.channelsOf(name) })),
  });

  return [
    // ---- other backends ----
    route({
      method: 'POST', path: '/v1/events', tag: 'events', summary: 'Submit an event (or a schedule, with schedule) to notify users',
      auth: service('events:write'), headers: { 'idempotency-key': s.idempotencyKey }, body: s.event, bodyLimit: config.events.bodyLimitBytes,
      status: 202, response: '`{ eventId }` (header `Idempotent-Replayed: true` for a replay)', errors: ['forbidden', 'conflict'],
      handler: async ({ caller, headers, body }, req, reply) => {
        const result = await intake.submit(body, { serviceKeyId: caller.id, idempotencyKey: headers['idempotency-key'], rawBody: JSON.stringify(req.body) });
        if (result.replayed) void reply.header('idempotent-replayed', 'true');
        return { eventId: result.eventId };
      },
    }),
    route({
      method: 'GET', path: '/v1/events/:id', tag: 'events', summary: 'An event, its schedule and its latest occurrences',
      auth: service('events:read'), params: s.idParam, status: 200, response: '`{ event, schedule, occurrences }`', errors: ['forbidden', 'not_found'],
      handler: async ({ params: { id } }) => {
        const [event, schedule, occurrences] = await Promise.all([notifyStore.getEvent(id), notifyStore.getSchedule(id), notifyStore.listOccurrences(id, 100)]);
        if (!event) throw new ParleyError('not_found', `no event ${id}`, { eventId: id });
        return { event, schedule, occurrences };
      },
    }),
    route({
      method: 'GET', path: '/v1/events/:id/attempts', tag: 'events', summary: "An event's delivery attempts",
      auth: service('events:read'), params: s.idParam, query: s.attemptsQuery, status: 200, response: '`{ attempts }`', errors: ['forbidden', 'not_found'],
      handler: async ({ params: { id }, query }) => {
        if (!(await notifyStore.getEvent(id))) throw new ParleyError('not_found', `no event ${id}`, { eventId: id });
        return { attempts: await notifyStore.listAttempts({ eventId: id, limit: query.limit }) };
      },
    }),
    route({
      method: 'GET', path: '/v1/schedules', tag: 'events', summary: 'Schedules, newest first',
      auth: service('schedules:read'), query: s.schedulesQuery, status: 200, response: '`{ schedules }`', errors: ['forbidden'],
      handler: async ({ query }) => ({ schedules: await notifyStore.listSchedules({ status: query.status, limit: query.limit, beforeId: query.before }) }),
    }),
    route({
      method: 'DELETE', path: '/v1/schedules/:id', tag: 'events', summary: 'Cancel a schedule',
      auth: service('schedules:write'), params: s.idParam, status: 200, response: '`{ schedule }`', errors: ['forbidden', 'not_found'],
      handler: async ({ params: { id } }) => {
        const schedule = await notifyStore.cancelSchedule(id, new Date());
        if (!schedule) throw new ParleyError('not_found', `no schedule ${id}`, { scheduleId: id });
        return { schedule };
      },
    }),

    // ---- users ----
    route({
      method: 'GET', path: '/v1/notify/profile', tag: 'notify', summary: 'Your phone, locale, time zone and quiet hours',
      auth: user, status: 200, response: '`{ profile }`',
      handler: async ({ caller }) => ({ profile: toWireProfile(await profileOf(caller.userId)) }),
    }),
    route({
      method: 'PATCH', path: '/v1/notify/profile', tag: 'notify', summary: 'Change your notification profile (at least one field; null clears)',
      auth: user, body: s.profilePatch, status: 200, response: '`{ profile }`',
      handler: async ({ caller, body }) => ({ profile: toWireProfile(await notifyStore.updateProfile(caller.userId, body)) }),
    }),
    route({
      method: 'GET', path: '/v1/notify/preferences', tag: 'notify', summary: 'Your channel choices per event type, and the event types',
      auth: user, status: 200, response: '`{ preferences, eventTypes }`',
      handler: async ({ caller }) => preferencesView(await profileOf(caller.userId)),
    }),
    route({
      method: 'PATCH', path: '/v1/notify/preferences', tag: 'notify', summary: 'Turn channels on or off per event type (null: back to the default)',
      auth: user, body: s.preferencesPatch, status: 200, response: '`{ preferences, eventTypes }`',
      handler: async ({ caller, body }) => {
        const changes = Object.entries(body).flatMap(([eventType, choices]) =>
          Object.entries(choices)
            .filter(([, enabled]) => enabled !== undefined)
            .map(([channel, enabled]) => ({ eventType, channel: channel as keyof typeof choices, enabled: enabled ?? null })),
        );
        return preferencesView(await notifyStore.updateProfile(caller.userId, { preferences: changes }));
      },
    }),
    route({
      method: 'GET', path: '/v1/notify/push/vapid-public-key', tag: 'notify', summary: "The server's VAPID public key, for PushManager.subscribe",
      auth: noAuth, status: 200, response: '`{ publicKey }`', errors: ['not_found'],
      handler: async () => {
        if (!config.push.vapid) throw new ParleyError('not_found', 'push is not configured on this server');
        return { publicKey: config.push.vapid.publicKey };
      },
    }),
    route({
      method: 'GET', path: '/v1/notify/push/subscriptions', tag: 'notify', summary: 'Your Web Push subscriptions',
      auth: user, status: 200, response: '`{ subscriptions }`',
      handler: async ({ caller }) => ({ subscriptions: (await notifyStore.listPushSubscriptions(caller.userId)).map(toWireSubscription) }),
    }),
    route({
      method: 'POST', path: '/v1/notify/push/subscriptions', tag: 'notify', summary: "Register a browser's Web Push subscription (again: the same record)",
      auth: user, body: s.pushSubscription, status: 201, response: '`{ subscription }`',
      handler: async ({ caller, body }) => {
        const subscription = await notifyStore.putPushSubscription({
          id: subscriptionId(body.endpoint),
          userId: caller.userId,
          endpoint: body.endpoint,
          keys: body.keys,
          expirationTime: typeof body.expirationTime === 'number' ? new Date(body.expirationTime) : null,
        });
        return { subscription: toWireSubscription(subscription) };
      },
    }),
    route({
      method: 'DELETE', path: '/v1/notify/push/subscriptions/:id', tag: 'notify', summary: 'Remove one of your Web Push subscriptions',
      auth: user, params: s.subscriptionParam, status: 200, response: '`{}`', errors: ['not_found'],
      handler: async ({ caller, params: { id } }) => {
        if (!(await notifyStore.removePushSubscription(id, caller.userId))) throw new ParleyError('not_found', `no push subscription ${id}`, { subscriptionId: id });
        return {};
      },
    }),
  ];
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

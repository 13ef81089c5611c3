import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccountService } from '../accounts/index.js';
import type { AuthContext, AuthService } from '../auth/index.js';
import type { ConversationService, MessageService } from '../chat/index.js';
import { ParleyError } from '../errors.js';
import type { NotificationService } from '../notifications/index.js';
import type { UserService } from '../users/index.js';
import { type Auth, noAuth, registerApiReference, registerRoutes, route } from './openapi.js';
import type { Schemas } from './schemas.js';

export interface RestDeps {
  readonly auth: AuthService;
  readonly users: UserService;
  readonly conversations: ConversationService;
  readonly messages: MessageService;
  readonly notifications: NotificationService;
  readonly accounts: AccountService;
  /** Each real driver's readiness check, by port name. */
  readonly readiness: Readonly<Record<string, () => Promise<void>>>;
  readonly schemas: Schemas;
}

/**
 * The REST API under `/v1` (see docs/protocol.md), plus `/healthz` and `/readyz`, declared as one route
 * table (server/gateway/openapi.ts) that both registers the routes and documents them at
 * `GET /openapi.json` and `GET /docs`. Success answers carry the data object; failures
 * `{ error: { code, message, details? } }` with the catalog's status.
 */
export function registerRestApi(app: FastifyInstance, deps: RestDeps): void {
  registerApiReference(app);
  registerRoutes(app, restRoutes(deps));
}

function restRoutes(deps: RestDeps) {
  const { auth, users, conversations, messages, notifications, accounts, schemas: s } = deps;
  const bearer: Auth<AuthContext> = { scheme: 'bearer', verify: (req) => auth.authenticate(bearerToken(req)) };

  return [
    route({
      method: 'GET', path: '/healthz', tag: 'health', summary: 'The process is up',
      auth: noAuth, status: 200, response: '`{ ok: true }`',
      handler: async () => ({ ok: true }),
    }),
    route({
      method: 'GET', path: '/readyz', tag: 'health', summary: 'Every driver answers (503 unavailable, with details.checks, if not)',
      auth: noAuth, status: 200, response: '`{ ok: true, checks: { store: "ok", … } }`', errors: ['unavailable'],
      handler: async (_input, _req, reply) => {
        const checks = await Promise.all(Object.entries(deps.readiness).map(async ([port, ping]) => [port, await stateOf(ping)] as const));
        const status = Object.fromEntries(checks);
        const down = checks.filter(([, state]) => state === 'down').map(([port]) => port);
        if (down.length === 0) return { ok: true, checks: status };
        return reply.status(503).send({ error: { code: 'unavailable', message: `degraded: ${down.join(', ')} unreachable`, details: { checks: status } } });
      },
    }),

    route({
      method: 'POST', path: '/v1/auth/register', tag: 'auth', summary: 'Create an account and a session',
      auth: noAuth, body: s.register, status: 201, response: '`{ user, accessToken, refreshToken }`', errors: ['conflict'],
      handler: async ({ body }) => auth.register(body),
    }),
    route({
      method: 'POST', path: '/v1/auth/login', tag: 'auth', summary: 'Open a session',
      auth: noAuth, body: s.login, status: 200, response: '`{ user, accessToken, refreshToken }`', errors: ['unauthorized', 'forbidden', 'rate_limited'],
      // The client's IP keys the brute-force throttle (TRUST_PROXY_HOPS decides which address that is).
      handler: async ({ body }, req) => auth.login(body, req.ip),
    }),
    route({
      method: 'POST', path: '/v1/auth/refresh', tag: 'auth', summary: 'Trade a refresh token for a new pair',
      auth: noAuth, body: s.refresh, status: 200, response: '`{ user, accessToken, refreshToken }`', errors: ['unauthorized'],
      handler: async ({ body }) => auth.refresh(body.refreshToken),
    }),
    route({
      method: 'POST', path: '/v1/auth/logout', tag: 'auth', summary: 'Close this session',
      auth: bearer, status: 200, response: '`{}`',
      handler: async ({ caller }) => {
        await auth.logout(caller);
        return {};
      },
    }),

    route({
      method: 'GET', path: '/v1/me', tag: 'me', summary: 'Your own user, with email and settings',
      auth: bearer, status: 200, response: '`{ user }`',
      handler: async ({ caller }) => ({ user: await users.me(caller.userId) }),
    }),
    route({
      method: 'PATCH', path: '/v1/me', tag: 'me', summary: 'Change displayName, email or settings (at least one)',
      auth: bearer, body: s.patchMe, status: 200, response: '`{ user }`',
      handler: async ({ caller, body }) => ({ user: await users.update(caller.userId, body) }),
    }),
    route({
      method: 'POST', path: '/v1/me/password', tag: 'me', summary: 'Change your password: every session is revoked, a new one opened',
      auth: bearer, body: s.changePassword, status: 200, response: '`{ user, accessToken, refreshToken }`',
      handler: async ({ caller, body }) => auth.changePassword(caller, body.currentPassword, body.newPassword),
    }),
    route({
      method: 'DELETE', path: '/v1/me', tag: 'me', summary: 'Delete your account for good (takes a JSON body)',
      auth: bearer, body: s.deleteMe, status: 200, response: '`{}`', errors: ['unavailable'],
      handler: async ({ caller, body }) => {
        await accounts.deleteAccount(caller.userId, body.password);
        return {};
      },
    }),
    route({
      method: 'GET', path: '/v1/users/:id', tag: 'users', summary: 'A user (no email, no settings)',
      auth: bearer, params: s.params.id, status: 200, response: '`{ user }`', errors: ['not_found'],
      handler: async ({ params }) => ({ user: await users.get(params.id) }),
    }),
    route({
      method: 'POST', path: '/v1/users/:id/block', tag: 'users', summary: 'Block a user (idempotent)',
      auth: bearer, params: s.params.id, status: 200, response: '`{}`', errors: ['not_found'],
      handler: async ({ caller, params }) => {
        await users.block(caller.userId, params.id);
        return {};
      },
    }),
    route({
      method: 'DELETE', path: '/v1/users/:id/block', tag: 'users', summary: 'Unblock a user (idempotent)',
      auth: bearer, params: s.params.id, status: 200, response: '`{}`',
      handler: async ({ caller, params }) => {
        await users.unblock(caller.userId, params.id);
        return {};
      },
    }),

    route({
      method: 'POST', path: '/v1/conversations', tag: 'conversations', summary: 'Open a direct conversation (the existing one if any) or create a group',
      auth: bearer, body: s.createConversation, status: 201, response: '`{ conversation }`', errors: ['not_found', 'blocked'],
      handler: async ({ caller, body }) => {
        const conversation =
          body.type === 'direct' ? await conversations.openDirect(caller.userId, body.userId) : await conversations.createGroup(caller.userId, body.title, body.memberIds);
        return { conversation };
      },
    }),
    route({
      method: 'GET', path: '/v1/conversations', tag: 'conversations', summary: 'Your conversations, newest activity first',
      auth: bearer, query: s.listQuery, status: 200, response: '`{ conversations }`',
      handler: async ({ caller, query }) => ({ conversations: await conversations.list(caller.userId, query.limit) }),
    }),
    route({
      method: 'GET', path: '/v1/conversations/:id', tag: 'conversations', summary: 'A conversation you are a member of',
      auth: bearer, params: s.params.id, status: 200, response: '`{ conversation }`', errors: ['forbidden', 'not_found'],
      handler: async ({ caller, params }) => ({ conversation: await conversations.get(caller.userId, params.id) }),
    }),
    route({
      method: 'POST', path: '/v1/conversations/:id/members', tag: 'conversations', summary: 'Add members to a group (owner or admin)',
      auth: bearer, params: s.params.id, body: s.addMembers, status: 200, response: '`{ conversation }`', errors: ['forbidden', 'not_found'],
      handler: async ({ caller, params, body }) => ({ conversation: await conversations.addMembers(caller.userId, params.id, body.userIds) }),
    }),
    route({
      method: 'DELETE', path: '/v1/conversations/:id/members/:userId', tag: 'conversations', summary: 'Remove a member from a group, or leave it',
      auth: bearer, params: s.params.member, status: 200, response: '`{}`', errors: ['forbidden', 'not_found'],
      handler: async ({ caller, params }) => {
        await conversations.removeMember(caller.userId, params.id, params.userId);
        return {};
      },
    }),

    route({
      method: 'GET', path: '/v1/conversations/:id/messages', tag: 'messages', summary: 'A page of history, ascending by seq',
      auth: bearer, params: s.params.id, query: s.historyQuery, status: 200, response: '`{ messages, hasMore }`', errors: ['forbidden', 'not_found'],
      handler: async ({ caller, params, query }) => messages.history(caller.userId, params.id, query),
    }),
    route({
      method: 'POST', path: '/v1/conversations/:id/messages', tag: 'messages', summary: 'Send a message, or schedule it with deliverAt (idempotent by clientMsgId)',
      auth: bearer, params: s.params.id, body: s.restSend, status: 201, response: '`{ message }`', errors: ['forbidden', 'blocked', 'not_found', 'rate_limited', 'unavailable'],
      handler: async ({ caller, params, body }) => ({ message: await messages.send(caller.userId, { conversationId: params.id, ...body }) }),
    }),
    route({
      method: 'POST', path: '/v1/conversations/:id/read', tag: 'messages', summary: 'Mark the conversation read up to seq',
      auth: bearer, params: s.params.id, body: s.restRead, status: 200, response: '`{}`', errors: ['forbidden', 'not_found', 'unavailable'],
      handler: async ({ caller, params, body }) => {
        await messages.receipt(caller.userId, params.id, 'read', body.seq);
        return {};
      },
    }),
    route({
      method: 'DELETE', path: '/v1/scheduled-messages/:id', tag: 'messages', summary: 'Withdraw a scheduled message before it is delivered',
      auth: bearer, params: s.params.id, status: 200, response: '`{}`', errors: ['forbidden', 'not_found', 'conflict'],
      handler: async ({ caller, params }) => {
        await messages.withdraw(caller.userId, params.id);
        return {};
      },
    }),
    route({
      method: 'PATCH', path: '/v1/messages/:id', tag: 'messages', summary: 'Edit your message',
      auth: bearer, params: s.params.id, body: s.editBody, status: 200, response: '`{ message }`', errors: ['forbidden', 'not_found', 'conflict'],
      handler: async ({ caller, params, body }) => ({ message: await messages.edit(caller.userId, params.id, body.text) }),
    }),
    route({
      method: 'DELETE', path: '/v1/messages/:id', tag: 'messages', summary: 'Delete a message for you, or for everyone (sender only)',
      auth: bearer, params: s.params.id, query: s.deleteQuery, status: 200, response: '`{}`', errors: ['forbidden', 'not_found'],
      handler: async ({ caller, params, query }) => {
        await messages.delete(caller.userId, params.id, query.scope);
        return {};
      },
    }),

    route({
      method: 'GET', path: '/v1/notifications', tag: 'notifications', summary: 'Your inbox, newest first',
      auth: bearer, query: s.notificationsQuery, status: 200, response: '`{ notifications, unreadCount }`',
      handler: async ({ caller, query }) => notifications.inbox(caller.userId, { unreadOnly: query.unread === 'true', limit: query.limit, beforeId: query.before }),
    }),
    route({
      method: 'POST', path: '/v1/notifications/read', tag: 'notifications', summary: 'Mark the named notifications read, or all of them (no ids, or no body)',
      auth: bearer, body: s.notificationsRead, status: 200, response: '`{ unreadCount }`',
      handler: async ({ caller, body }) => ({ unreadCount: await notifications.markRead(caller.userId, body?.ids) }),
    }),
  ];
}

async function stateOf(ping: () => Promise<void>): Promise<'ok' | 'down'> {
  try {
    await withTimeout(ping(), 2000);
    return 'ok';
  } catch {
    return 'down';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
  if (!match) throw new ParleyError('unauthorized', 'Authorization must be "Bearer <access token>"');
  return match[1];
}

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccountService } from '../accounts/index.js';
import type { AuthContext, AuthService } from '../auth/index.js';
import type { ConversationService, MessageService } from '../chat/index.js';
import { ParleyError } from '../errors.js';
import type { NotificationService } from '../notifications/index.js';
import type { UserService } from '../users/index.js';
import { parsePayload, type Schemas } from './schemas.js';

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
 * The REST API under `/v1` (see docs/protocol.md), plus `/healthz` and `/readyz`. Success answers carry
 * the data object; failures `{ error: { code, message, details? } }` with the catalog's status.
 */
export function registerRestApi(app: FastifyInstance, deps: RestDeps): void {
  const { auth, users, conversations, messages, notifications, accounts, schemas: s } = deps;
  const caller = (req: FastifyRequest): Promise<AuthContext> => auth.authenticate(bearerToken(req));
  const idParam = (req: FastifyRequest) => parsePayload(s.params.id, req.params).id;

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const checks = await Promise.all(
      Object.entries(deps.readiness).map(async ([port, ping]) => {
        try {
          await withTimeout(ping(), 2000);
          return [port, 'ok'] as const;
        } catch {
          return [port, 'down'] as const;
        }
      }),
    );
    const status = Object.fromEntries(checks);
    const down = checks.filter(([, state]) => state === 'down').map(([port]) => port);
    if (down.length === 0) return { ok: true, checks: status };
    return reply.status(503).send({ error: { code: 'unavailable', message: `degraded: ${down.join(', ')} unreachable`, details: { checks: status } } });
  });

  app.post('/v1/auth/register', async (req, reply) => reply.status(201).send(await auth.register(parsePayload(s.register, req.body))));
  app.post('/v1/auth/login', async (req) => auth.login(parsePayload(s.login, req.body)));
  app.post('/v1/auth/refresh', async (req) => auth.refresh(parsePayload(s.refresh, req.body).refreshToken));
  app.post('/v1/auth/logout', async (req) => {
    await auth.logout(await caller(req));
    return {};
  });

  app.get('/v1/me', async (req) => ({ user: await users.me((await caller(req)).userId) }));
  app.patch('/v1/me', async (req) => {
    const ctx = await caller(req);
    return { user: await users.update(ctx.userId, parsePayload(s.patchMe, req.body)) };
  });
  app.post('/v1/me/password', async (req) => {
    const ctx = await caller(req);
    const body = parsePayload(s.changePassword, req.body);
    return auth.changePassword(ctx, body.currentPassword, body.newPassword);
  });
  app.delete('/v1/me', async (req) => {
    const ctx = await caller(req);
    await accounts.deleteAccount(ctx.userId, parsePayload(s.deleteMe, req.body).password);
    return {};
  });
  app.get('/v1/users/:id', async (req) => {
    await caller(req);
    return { user: await users.get(idParam(req)) };
  });
  app.post('/v1/users/:id/block', async (req) => {
    const ctx = await caller(req);
    await users.block(ctx.userId, idParam(req));
    return {};
  });
  app.delete('/v1/users/:id/block', async (req) => {
    const ctx = await caller(req);
    await users.unblock(ctx.userId, idParam(req));
    return {};
  });

  app.post('/v1/conversations', async (req, reply) => {
    const ctx = await caller(req);
    const body = parsePayload(s.createConversation, req.body);
    const conversation =
      body.type === 'direct' ? await conversations.openDirect(ctx.userId, body.userId) : await conversations.createGroup(ctx.userId, body.title, body.memberIds);
    return reply.status(201).send({ conversation });
  });
  app.get('/v1/conversations', async (req) => {
    const ctx = await caller(req);
    const { limit } = parsePayload(s.listQuery, req.query);
    return { conversations: await conversations.list(ctx.userId, limit) };
  });
  app.get('/v1/conversations/:id', async (req) => {
    const ctx = await caller(req);
    return { conversation: await conversations.get(ctx.userId, idParam(req)) };
  });
  app.post('/v1/conversations/:id/members', async (req) => {
    const ctx = await caller(req);
    const { userIds } = parsePayload(s.addMembers, req.body);
    return { conversation: await conversations.addMembers(ctx.userId, idParam(req), userIds) };
  });
  app.delete('/v1/conversations/:id/members/:userId', async (req) => {
    const ctx = await caller(req);
    const { id, userId } = parsePayload(s.params.member, req.params);
    await conversations.removeMember(ctx.userId, id, userId);
    return {};
  });

  app.get('/v1/conversations/:id/messages', async (req) => {
    const ctx = await caller(req);
    return messages.history(ctx.userId, idParam(req), parsePayload(s.historyQuery, req.query));
  });
  app.post('/v1/conversations/:id/messages', async (req, reply) => {
    const ctx = await caller(req);
    const body = parsePayload(s.restSend, req.body);
    const message = await messages.send(ctx.userId, { conversationId: idParam(req), ...body });
    return reply.status(201).send({ message });
  });
  app.post('/v1/conversations/:id/read', async (req) => {
    const ctx = await caller(req);
    await messages.receipt(ctx.userId, idParam(req), 'read', parsePayload(s.restRead, req.body).seq);
    return {};
  });
  app.delete('/v1/scheduled-messages/:id', async (req) => {
    const ctx = await caller(req);
    await messages.withdraw(ctx.userId, idParam(req));
    return {};
  });
  app.get('/v1/notifications', async (req) => {
    const ctx = await caller(req);
    const q = parsePayload(s.notificationsQuery, req.query);
    return notifications.inbox(ctx.userId, { unreadOnly: q.unread === 'true', limit: q.limit, beforeId: q.before });
  });
  app.post('/v1/notifications/read', async (req) => {
    const ctx = await caller(req);
    const { ids } = parsePayload(s.notificationsRead, req.body ?? {});
    return { unreadCount: await notifications.markRead(ctx.userId, ids) };
  });
  app.patch('/v1/messages/:id', async (req) => {
    const ctx = await caller(req);
    return { message: await messages.edit(ctx.userId, idParam(req), parsePayload(s.editBody, req.body).text) };
  });
  app.delete('/v1/messages/:id', async (req) => {
    const ctx = await caller(req);
    await messages.delete(ctx.userId, idParam(req), parsePayload(s.deleteQuery, req.query).scope);
    return {};
  });
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

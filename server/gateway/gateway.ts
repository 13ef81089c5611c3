import type { IncomingMessage } from 'node:http';
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { Server, type Socket } from 'socket.io';
import type { ParleyConfig } from '../config.js';
import { ParleyError, toParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Presence } from '../presence/index.js';
import type { Limiter, OriginPolicy } from '../security/index.js';
import { CorkedWebSocketServer, writableUntilBackedUp } from './corked-ws-engine.js';
import { jsonParser } from './json-parser.js';
import { registerRestApi, type RestDeps } from './rest-api.js';
import { attachSocketGateway, handshakeRefusal, type ParleyServer, type SocketDeps, type SocketGateway } from './socket-gateway.js';
import { newTraceId, withTrace } from '../tracing.js';

export interface Gateway {
  readonly http: FastifyInstance;
  readonly io: ParleyServer;
}

/** Who may talk to the gateway at all, checked before any route or socket handler runs. */
export interface GatewayGuard {
  readonly allowOrigin: OriginPolicy;
  /** REST requests and Socket.IO handshake requests per client IP. */
  readonly perIp: Limiter;
  /** Proxies in front of the gateway whose X-Forwarded-For to trust (0: use the peer address). */
  readonly trustProxyHops: number;
  /** Told the code of each Socket.IO request refused here (for the errors metric). */
  readonly onSocketRefused?: (code: 'forbidden' | 'rate_limited') => void;
}

/** Load balancers probe these from a few addresses, often: never rate-limited. */
const UNLIMITED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The web process's front: one HTTP server carrying the REST API and Socket.IO. */
export function createGateway(limits: ParleyConfig['limits'], logger: Logger, guard: GatewayGuard = OPEN): Gateway {
  const http = Fastify({
    loggerInstance: logger.child({ module: 'http' }) as FastifyBaseLogger,
    bodyLimit: limits.httpBodyLimitBytes,
    // req.ip: the address `trustProxyHops` proxies back in X-Forwarded-For, as clientIp() below.
    trustProxy: (_address: string, hop: number) => hop < guard.trustProxyHops,
    // The request id is the trace id of everything the request does (server/tracing.ts).
    genReqId: () => newTraceId(),
  });
  http.addHook('onRequest', (_req, _reply, done) => withTrace(_req.id, done));
  // CORS headers for the allowed origins; a request from any other browser origin is refused outright
  // (not merely left without headers), so no route runs for it.
  void http.register(cors, {
    delegator: (req, done) => done(null, { origin: guard.allowOrigin(req.headers.origin, req.headers.host), credentials: false, maxAge: 600 }),
  });
  http.addHook('onRequest', async (req) => {
    if (!guard.allowOrigin(req.headers.origin, req.headers.host)) {
      throw new ParleyError('forbidden', `origin ${req.headers.origin} is not allowed`, { origin: req.headers.origin });
    }
    if (!UNLIMITED_PATHS.has(req.url.split('?')[0]!)) await guard.perIp.consume(req.ip);
  });
  http.setErrorHandler((err: FastifyError, req, reply) => {
    const error = fromFastifyError(err, limits.httpBodyLimitBytes);
    if (error.code === 'internal') req.log.error({ err, reqId: req.id }, 'request failed');
    void reply.status(error.status).send({ error: error.toWire() });
  });
  http.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });
  const io: ParleyServer = new Server(http.server, {
    maxHttpBufferSize: limits.socketMaxBufferBytes,
    wsEngine: CorkedWebSocketServer,
    parser: jsonParser,
    // Parley syncs by seq after a reconnect; Socket.IO's own recovery would only duplicate that.
    connectionStateRecovery: undefined,
    // Every engine.io request (the handshake, each polling request): origin, then the IP's budget.
    allowRequest: (req, done) => {
      if (!guard.allowOrigin(req.headers.origin, req.headers.host)) {
        guard.onSocketRefused?.('forbidden');
        return done('origin not allowed', false);
      }
      guard.perIp.consume(clientIp(req, guard.trustProxyHops)).then(
        () => done(null, true),
        () => {
          guard.onSocketRefused?.('rate_limited');
          done('too many requests from this address', false);
        },
      );
    },
  });
  writableUntilBackedUp(io.engine);
  return { http, io };
}

export interface SocketGuard {
  readonly presence: Pick<Presence, 'socketCount'>;
  readonly maxConnectionsPerUser: number;
  /** Events one socket may send per second; past that they are refused, and a socket that keeps on is closed. */
  readonly socketEventsPerSecond: number;
}

export function wireGateway(gateway: Gateway, rest: RestDeps, socket: SocketDeps, guard?: SocketGuard): SocketGateway {
  registerRestApi(gateway.http, rest);
  const sockets = attachSocketGateway(gateway.io, socket);
  if (guard) {
    // After the authenticating middleware: counts the user's live sockets on every node.
    gateway.io.use(
      (s, next) =>
        void capConnections(guard, s.data.userId).then(
          () => next(),
          (err: unknown) => {
            socket.metrics.errorAnswered('socket', toParleyError(err).code);
            next(handshakeRefusal(err));
          },
        ),
    );
    gateway.io.on('connection', (s) => throttleEvents(s, guard.socketEventsPerSecond));
  }
  return sockets;
}

/**
 * A per-socket event budget, checked before any handler: an event over budget is answered
 * `rate_limited` (if it asked for an ack) and dropped. A socket that goes on sending a second's
 * worth of refused events is a flood, not a burst: it is disconnected.
 */
function throttleEvents(socket: Socket, perSecond: number): void {
  let windowStart = Date.now();
  let spent = 0;
  let refused = 0;
  socket.use((packet, next) => {
    const now = Date.now();
    if (now - windowStart >= 1_000) {
      windowStart = now;
      spent = 0;
    }
    if (++spent <= perSecond) return next();
    const ack = packet.at(-1);
    const error = new ParleyError('rate_limited', `more than ${perSecond} events per second on this socket`, { retryAfterMs: 1_000 - (now - windowStart) });
    if (typeof ack === 'function') (ack as (answer: unknown) => void)({ ok: false, error: error.toWire() });
    if (++refused > perSecond) socket.disconnect(true);
  });
}

async function capConnections(cap: SocketGuard, userId: string): Promise<void> {
  const count = await cap.presence.socketCount(userId);
  if (count >= cap.maxConnectionsPerUser) {
    throw new ParleyError('rate_limited', `at most ${cap.maxConnectionsPerUser} connections per user; close one first`, { limit: cap.maxConnectionsPerUser });
  }
}


/** The client's address: the peer, or the entry `hops` proxies back in X-Forwarded-For. */
function clientIp(req: IncomingMessage, hops: number): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  if (hops <= 0) return peer;
  const forwarded = String(req.headers['x-forwarded-for'] ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  return forwarded[forwarded.length - hops] ?? forwarded[0] ?? peer;
}

/** No origin or rate checks: for tools and tests that build a bare gateway. */
const OPEN: GatewayGuard = {
  allowOrigin: () => true,
  perIp: { consume: async () => undefined, reset: async () => undefined, waitFor: async () => 0 },
  trustProxyHops: 0,
};

function fromFastifyError(err: FastifyError, bodyLimit: number): ParleyError {
  if (err instanceof ParleyError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ParleyError('payload_too_large', `the body is larger than ${bodyLimit} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ParleyError('invalid_payload', 'the body must be application/json', { fields: ['(body)'] });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ParleyError('invalid_payload', 'the body is empty or its length is wrong', { fields: ['(body)'] });
  }
  if (err.statusCode === 400) return new ParleyError('invalid_payload', 'the body is not valid JSON', { fields: ['(body)'] });
  return toParleyError(err);
}

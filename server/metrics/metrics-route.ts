import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ERROR_CODES, ParleyError } from '../errors.js';
import type { Metrics } from './metrics.js';

/**
 * Serves `GET /metrics` (Prometheus text format) and counts every HTTP error answer into
 * `parley_errors_total{transport="http"}`, by the catalog code in its body (`{ error: { code } }`), or
 * `http_<status>` when the body carries none. Register it on the root instance, so the hook sees every
 * route, the 404 handler and the error handler. With `token`, a scrape must send
 * `Authorization: Bearer <token>`; others get 401 `unauthorized`.
 *
 * @example
 * registerMetricsRoute(gateway.http, metrics, process.env.METRICS_TOKEN);
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics, token?: string): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode >= 400) metrics.errorAnswered('http', errorCodeOf(reply.statusCode, payload));
    return payload;
  });
  app.get('/metrics', async (req, reply) => {
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      throw new ParleyError('unauthorized', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    return reply.type(metrics.contentType).send(await metrics.exposition());
  });
}

/** Compared in constant time, so the token cannot be guessed byte by byte from response times. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function errorCodeOf(status: number, payload: unknown): string {
  const code = typeof payload === 'string' ? codeInBody(payload) : undefined;
  // Only catalog codes become label values: a body can say anything, the label set must stay bounded.
  return code !== undefined && Object.hasOwn(ERROR_CODES, code) ? code : `http_${status}`;
}

function codeInBody(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    const error = (parsed as { error?: { code?: unknown } } | null)?.error;
    return typeof error?.code === 'string' ? error.code : undefined;
  } catch {
    return undefined;
  }
}

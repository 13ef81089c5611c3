import type { FastifyInstance } from 'fastify';
import { ERROR_CODES } from '../errors.js';
import type { Metrics } from './metrics.js';

/**
 * Serves `GET /metrics` (Prometheus text format) and counts every HTTP error answer into
 * `parley_errors_total{transport="http"}`, by the catalog code in its body (`{ error: { code } }`), or
 * `http_<status>` when the body carries none. Register it on the root instance, so the hook sees every
 * route, the 404 handler and the error handler.
 *
 * @example
 * registerMetricsRoute(gateway.http, metrics);
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    if (reply.statusCode >= 400) metrics.errorAnswered('http', errorCodeOf(reply.statusCode, payload));
    return payload;
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.exposition()));
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

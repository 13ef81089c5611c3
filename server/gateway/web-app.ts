import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface WebAppOptions {
  /** The build output of `scripts/build-web.mjs`: `index.html` plus `assets/`. */
  distDir: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

// esbuild's `[name]-[hash]`: such a file never changes, so browsers may keep it for a year.
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z0-9]+$/;
// What a Host header may look like before it goes into the CSP (no `;`, spaces or quotes to inject).
const SAFE_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Serves the built web app from `distDir`: `GET /` is `index.html` (revalidated on every load, so a deploy
 * shows at once), `GET /assets/*` the bundles (content-hashed names, cached for a year). Every answer
 * carries a Content-Security-Policy that allows only this origin and its Socket.IO connection, and no
 * framing, plus nosniff and no-referrer. Registers nothing else, so the REST API's routes and JSON 404s
 * are untouched.
 *
 * @example
 * registerWebApp(gateway.http, { distDir: fileURLToPath(new URL('../web/dist', import.meta.url)) });
 */
export function registerWebApp(app: FastifyInstance, options: WebAppOptions): void {
  const root = resolve(options.distDir);
  const assetsDir = resolve(root, 'assets');
  const log = app.log.child({ module: 'web-app' });

  app.get('/', async (req, reply) => {
    const body = await readFile(resolve(root, 'index.html')).catch(() => undefined);
    if (!body) {
      log.warn({ distDir: root }, 'web app requested but not built');
      return reply.status(503).send({ error: { code: 'unavailable', message: 'the web app is not built (npm run build:web)' } });
    }
    return sendFile(req, reply, body, 'text/html; charset=utf-8', 'no-cache');
  });

  app.get('/assets/*', async (req, reply) => {
    const name = (req.params as Record<string, string | undefined>)['*'] ?? '';
    const type = CONTENT_TYPES[extname(name)];
    const file = resolve(assetsDir, name);
    // Refuse traversal (`..`, encoded or not), dotfiles and anything we would not build.
    if (!type || !file.startsWith(assetsDir + sep) || name.split('/').some((part) => part.startsWith('.'))) return reply.callNotFound();
    const body = await readFile(file).catch(() => undefined);
    if (!body) return reply.callNotFound();
    return sendFile(req, reply, body, type, HASHED_NAME.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache');
  });
}

function sendFile(req: FastifyRequest, reply: FastifyReply, body: Buffer, type: string, cacheControl: string): FastifyReply {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  void reply.headers({ ...securityHeaders(req.headers.host), 'cache-control': cacheControl, etag });
  if (req.headers['if-none-match'] === etag) return reply.status(304).send();
  return reply.type(type).send(body);
}

function securityHeaders(host: string | undefined): Record<string, string> {
  // 'self' covers ws:/wss: to this origin in CSP Level 3 browsers; the explicit pair is for older ones.
  const socket = host && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${socket}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  };
}

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { parsePayload } from './schemas.js';

/**
 * The documented route table. Each HTTP route is declared once, as a {@link RouteSpec}: method, path,
 * auth, the zod schemas that validate its path, query, headers and body, and its success status.
 * {@link registerRoutes} turns specs into fastify routes that authenticate, then validate with those very
 * schemas (the order of docs/protocol.md §2: token → path, query, body), then call the handler; the
 * OpenAPI 3.1 document is generated from the same specs with `z.toJSONSchema`, so the reference cannot
 * drift from what the server accepts.
 *
 * {@link registerApiReference} serves that document at `GET /openapi.json` and Swagger UI at `GET /docs`.
 * It collects specs with an `onRoute` hook, so it must be called before any route table is registered.
 *
 * @example
 * registerApiReference(app);
 * registerRoutes(app, [
 *   route({ method: 'GET', path: '/v1/users/:id', summary: 'A user', tag: 'users', auth: bearer,
 *     params: s.params.id, status: 200, response: '`{ user }`',
 *     handler: async ({ params }) => ({ user: await users.get(params.id) }) }),
 * ]);
 */

export type AuthScheme = 'bearer' | 'serviceKey' | 'none';

/** How a route finds its caller; `verify` throws `unauthorized` (or `forbidden`) to refuse. */
export interface Auth<C> {
  readonly scheme: AuthScheme;
  /** The service-key scopes the route needs, listed in the document. */
  readonly scopes?: readonly string[];
  verify(req: FastifyRequest): Promise<C>;
}

export const noAuth: Auth<undefined> = { scheme: 'none', verify: async () => undefined };

type Schema = z.ZodType | undefined;
type HeaderSchemas = Readonly<Record<string, z.ZodType>>;
type Parsed<S extends Schema> = S extends z.ZodType ? z.output<S> : undefined;

/** What a handler gets: the authenticated caller and the validated inputs. */
export interface RouteInput<C, P extends Schema, Q extends Schema, H extends HeaderSchemas, B extends Schema> {
  readonly caller: C;
  readonly params: Parsed<P>;
  readonly query: Parsed<Q>;
  readonly headers: { readonly [K in keyof H]: z.output<H[K]> };
  readonly body: Parsed<B>;
}

export interface RouteSpec<C = unknown, P extends Schema = undefined, Q extends Schema = undefined, H extends HeaderSchemas = {}, B extends Schema = undefined> {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Fastify syntax: `/v1/users/:id`. */
  readonly path: string;
  readonly summary: string;
  /** Groups operations in the document (one word: `auth`, `messages`, `events`…). */
  readonly tag: string;
  readonly auth: Auth<C>;
  readonly params?: P;
  readonly query?: Q;
  /** Request headers by lower-case name, each value checked on its own. */
  readonly headers?: H;
  /** A body schema that accepts `undefined` makes the body optional. */
  readonly body?: B;
  readonly status: number;
  /** What a success answers, in a few words: ``{ user }``. */
  readonly response: string;
  /** Codes the operation itself may answer, beyond the edge's own (`invalid_payload`, `unauthorized`…). */
  readonly errors?: readonly ErrorCode[];
  readonly bodyLimit?: number;
  handler(input: RouteInput<C, P, Q, H, B>, req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

// The table mixes routes of every shape; `route()` checks each one before it is erased to this.
export type AnyRoute = RouteSpec<any, any, any, any, any>;

/** Identity, for type inference: the handler's `input` is typed from the spec's auth and schemas. */
export function route<C, P extends Schema = undefined, Q extends Schema = undefined, H extends HeaderSchemas = {}, B extends Schema = undefined>(spec: RouteSpec<C, P, Q, H, B>): AnyRoute {
  return spec;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The spec a route was registered from, which the OpenAPI document is built from. */
    openapi?: AnyRoute;
  }
}

/** Registers each spec as a fastify route (see the module comment for what the route does). */
export function registerRoutes(app: FastifyInstance, routes: readonly AnyRoute[]): void {
  for (const spec of routes) {
    app.route({
      method: spec.method,
      url: spec.path,
      bodyLimit: spec.bodyLimit,
      config: { openapi: spec },
      handler: async (req, reply) => {
        const caller = await spec.auth.verify(req);
        const params = spec.params ? parsePayload(spec.params, req.params) : undefined;
        const query = spec.query ? parsePayload(spec.query, req.query) : undefined;
        const headers = Object.fromEntries(Object.entries<z.ZodType>(spec.headers ?? {}).map(([name, schema]) => [name, parsePayload(schema, headerValue(req, name))]));
        const body = spec.body ? parsePayload(spec.body, req.body) : undefined;
        const result = await spec.handler({ caller, params, query, headers, body }, req, reply);
        if (reply.sent) return reply;
        return reply.status(spec.status).send(result);
      },
    });
  }
}

/**
 * Serves `GET /openapi.json` (the OpenAPI 3.1 document of every route registered by
 * {@link registerRoutes} from now on) and `GET /docs` (Swagger UI reading it). The document is built
 * when the server boots, after every route table is registered.
 */
export function registerApiReference(app: FastifyInstance): void {
  const specs = new Set<AnyRoute>();
  let built = false;
  app.addHook('onRoute', (options) => {
    const spec = options.config?.openapi;
    if (!spec) return;
    // A spec arriving later would be served but missing from the reference: refuse it instead.
    if (built) throw new Error(`${spec.method} ${spec.path} was registered after the OpenAPI document was built`);
    specs.add(spec);
  });

  // Plugins load at boot, after the synchronous registrations of the composition root.
  app.register(async (docs) => {
    built = true;
    const document = buildOpenApiDocument([...specs]);
    docs.addHook('onSend', async (_req, reply) => {
      void reply.headers(DOCS_SECURITY_HEADERS);
    });
    docs.get('/openapi.json', async () => document);
    await docs.register(swagger, { mode: 'static', specification: { document: document as never } });
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true }, validatorUrl: null as never });
  });
}

// Swagger UI loads only its own files from this origin, and the document and "Try it out" calls go here
// too. It applies a few inline styles, hence 'unsafe-inline' for styles only: scripts stay 'self'.
const DOCS_SECURITY_HEADERS = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const ERROR_BODY = z
  .object({
    error: z
      .object({
        code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe('stable; branch on it'),
        message: z.string().describe('for humans; may change'),
        details: z.record(z.string(), z.unknown()).optional().describe('e.g. `fields` for invalid_payload, `retryAfterMs` for rate_limited'),
      })
      .strict(),
  })
  .strict();

/** The OpenAPI 3.1 document of `routes`. */
export function buildOpenApiDocument(routes: readonly AnyRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of routes) {
    const path = spec.path.replace(/:(\w+)/g, '{$1}');
    paths[path] = { ...paths[path], [spec.method.toLowerCase()]: operationOf(spec) };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Parley REST API', version: 'v1', description: 'Errors: `{ error: { code, message, details? } }` (docs/protocol.md §2). Realtime events go over Socket.IO (§4).' },
    paths,
    components: {
      schemas: { Error: jsonSchemaOf(ERROR_BODY) },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A user access token, from /v1/auth/login or /v1/auth/register.' },
        serviceKey: { type: 'apiKey', in: 'header', name: 'X-Service-Key', description: 'A backend service key (`parley notify service-key create`); `Authorization: Bearer <key>` works too.' },
      },
    },
  };
}

function operationOf(spec: AnyRoute): Record<string, unknown> {
  const parameters = [...parametersOf('path', spec.params), ...parametersOf('query', spec.query), ...headerParametersOf(spec.headers)];
  const operation: Record<string, unknown> = {
    operationId: `${spec.method.toLowerCase()}${spec.path.replace(/[/:]+(\w)/g, (_, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
    summary: spec.summary,
    tags: [spec.tag],
    security: spec.auth.scheme === 'none' ? [] : [{ [spec.auth.scheme]: [...(spec.auth.scopes ?? [])] }],
    responses: { [spec.status]: { description: spec.response }, ...errorResponsesOf(spec) },
  };
  if (parameters.length > 0) operation.parameters = parameters;
  if (spec.body) {
    operation.requestBody = {
      required: !spec.body.safeParse(undefined).success,
      content: { 'application/json': { schema: jsonSchemaOf(spec.body) } },
    };
  }
  return operation;
}

function parametersOf(where: 'path' | 'query', schema: z.ZodType | undefined): object[] {
  if (!schema) return [];
  const json = jsonSchemaOf(schema) as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

function headerParametersOf(headers: HeaderSchemas | undefined): object[] {
  return Object.entries(headers ?? {}).map(([name, schema]) => ({
    name,
    in: 'header',
    required: !schema.safeParse(undefined).success,
    schema: jsonSchemaOf(schema),
  }));
}

/** One response per status the route can answer, naming the catalog codes behind it. */
function errorResponsesOf(spec: AnyRoute): Record<string, object> {
  const codes = new Set<ErrorCode>(spec.errors);
  if (spec.auth.scheme !== 'none') codes.add('unauthorized');
  if (spec.params || spec.query || spec.headers || spec.body) codes.add('invalid_payload');
  if (spec.body) codes.add('payload_too_large');
  codes.add('internal');
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_CODES[code].status, [...(byStatus.get(ERROR_CODES[code].status) ?? []), code]);
  const error = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };
  return Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, list]) => [status, { description: list.join(', '), content: error }]));
}

// What a client sends (`io: 'input'`: before defaults and transforms); refinements that JSON Schema cannot
// say (bcrypt's 72 bytes, size limits) stay the server's, and `unrepresentable: 'any'` keeps going past them.
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return json;
}

function headerValue(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

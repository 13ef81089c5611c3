import diagnostics from 'node:diagnostics_channel';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import type { AuthResult } from '../../client-sdk/src/index.js';
import { api, registerUser, startServer, type TestServer } from '../support/server.js';

type Operation = { security?: Array<Record<string, string[]>>; parameters?: Array<{ name: string; in: string; schema: { pattern?: string } }>; requestBody?: { required: boolean; content: Record<string, { schema: object }> } };
type Document = { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object>; securitySchemes: Record<string, object> } };

// Served next to the API but not part of it: the web app, the reference itself, Prometheus' scrape.
const NOT_API = /^(\/|\/assets\/\*|\/openapi\.json|\/docs(\/.*)?|\/metrics)$/;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('the API reference (GET /openapi.json, GET /docs)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let ann: AuthResult;
  let serviceKey: string;
  let document: Document;
  // What fastify itself registers, seen from the moment the instance exists, not what our table says.
  const registered = new Set<string>();

  before(async () => {
    const channel = diagnostics.channel('fastify.initialization');
    const watchRoutes = (message: unknown) => {
      (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) registered.add(`${method.toLowerCase()} ${route.url}`);
      });
    };
    channel.subscribe(watchRoutes);
    try {
      server = await startServer();
    } finally {
      channel.unsubscribe(watchRoutes);
    }
    ann = await registerUser(server, 'ann');
    serviceKey = (await server.parley.notify.cli.createServiceKey('openapi-test', ['events:write', 'events:read', 'schedules:read', 'schedules:write'])).key;
    const res = await api<Document>(server, 'GET', '/openapi.json');
    expect(res.status).to.equal(200);
    document = res.body;
  });
  after(async () => {
    await server?.stop();
  });

  function operations(): Array<{ method: string; path: string; operation: Operation }> {
    return Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, operation]) => ({ method, path, operation })),
    );
  }

  it('is an OpenAPI 3.1 document with the error body and both security schemes', () => {
    expect(document.openapi).to.match(/^3\.1\.\d+$/);
    expect(document.info.title).to.be.a('string').and.not.be.empty;
    expect(document.info.version).to.be.a('string').and.not.be.empty;
    expect(document.components.schemas).to.have.property('Error');
    expect(document.components.securitySchemes).to.have.keys(['bearer', 'serviceKey']);
    expect(document.paths['/v1/conversations/{id}/messages']).to.have.keys(['get', 'post']);
  });

  it('documents every route the server registers, and no other', () => {
    const served = [...registered].filter((route) => !route.startsWith('head ') && !route.startsWith('options ') && !NOT_API.test(route.split(' ')[1]!));
    const documented = operations().map(({ method, path }) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
    expect(served).to.include('post /v1/events');
    expect(documented.sort()).to.deep.equal(served.sort());
  });

  it('names a security scheme on exactly the routes that refuse a request without credentials', async () => {
    for (const { method, path, operation } of operations()) {
      if (path === '/readyz') continue; // answers 503 while a driver is down, credentials or not
      const res = await api(server, method.toUpperCase(), concretePath(path, operation));
      const secured = (operation.security ?? []).length > 0;
      expect(res.status === 401, `${method} ${path}: answered ${res.status}, security ${JSON.stringify(operation.security)}`).to.equal(secured);
    }
  });

  it('documents each request body so that it refuses what the server refuses', async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const withBody = operations().filter(({ operation }) => operation.requestBody);
    expect(withBody.length).to.be.greaterThan(10);
    for (const { method, path, operation } of withBody) {
      const schema = operation.requestBody!.content['application/json']!.schema;
      for (const sample of [{}, { unexpected: 1 }]) {
        const res = await api(server, method.toUpperCase(), concretePath(path, operation), { body: sample, headers: credentialsFor(operation) });
        const what = `${method} ${path} with ${JSON.stringify(sample)}: server ${res.status} ${JSON.stringify(res.body?.error?.details ?? {})}`;
        expect(res.status, what).to.be.oneOf([200, 201, 202, 400]);
        expect(ajv.validate(schema, sample), what).to.equal(res.status !== 400);
        if (res.status === 400 && Object.keys(sample).length === 0) {
          const missing = (res.body.error.details.fields as string[]).filter((field) => field !== '(root)');
          expect(requiredFields(schema), what).to.include.members(missing);
        }
      }
    }
  });

  it('serves Swagger UI at /docs under a Content-Security-Policy that lets it load', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("script-src 'self'").and.include("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).to.include('swagger-ui');
    expect(html).not.to.match(/<script>|<script [^>]*>[^<\s]/); // no inline script, which script-src 'self' would block
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).to.have.length.greaterThan(0);
    for (const src of scripts) {
      const url = new URL(src, `${server.url}/docs`);
      const script = await fetch(url);
      expect(url.origin).to.equal(new URL(server.url).origin);
      expect(script.status, src).to.equal(200);
      expect(await script.text(), src).not.to.be.empty;
    }
    const spec = await api(server, 'GET', '/docs/json');
    expect(spec.body).to.deep.equal(document);
  });

  function credentialsFor(operation: Operation): Record<string, string> {
    const scheme = Object.keys(operation.security?.[0] ?? {})[0];
    if (scheme === 'bearer') return { authorization: `Bearer ${ann.accessToken}` };
    if (scheme === 'serviceKey') return { 'x-service-key': serviceKey };
    return {};
  }
});

/** The path with each parameter replaced by a well-formed id that names nothing. */
function concretePath(path: string, operation: Operation): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const pattern = operation.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema.pattern;
    const candidates = ['0123456789abcdef01234567', '0123456789abcdef0123456789abcdef'];
    return candidates.find((id) => !pattern || new RegExp(pattern).test(id)) ?? candidates[0]!;
  });
}

/** Every field a body schema requires, in any of its alternatives. */
function requiredFields(schema: { required?: string[]; oneOf?: object[]; anyOf?: object[] }): string[] {
  const alternatives = [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])] as Array<typeof schema>;
  return [...(schema.required ?? []), ...alternatives.flatMap(requiredFields)];
}

import { randomUUID } from 'node:crypto';
import { io as connect, type Socket } from 'socket.io-client';
import type { AuthResult, ClientToServerEvents, ServerToClientEvents } from '../../client-sdk/src/index.js';
import { createParley, type Parley } from '../../server/app.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { dropDatabase, freshDatabaseUri } from './mongo.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';

/**
 * What every test server shares: a known key, cheap bcrypt, and limits no test client reaches by
 * accident (every one comes from 127.0.0.1; test/integration/abuse.test.ts sets its own limits).
 */
export const TEST_ENV: Readonly<Record<string, string>> = {
  BCRYPT_COST: '10',
  JWT_SECRET: TEST_JWT_SECRET,
  MESSAGES_PER_SECOND: '10000',
  IP_REQUESTS_PER_SECOND: '100000',
  SOCKET_EVENTS_PER_SECOND: '100000',
};

export interface TestServer {
  readonly url: string;
  readonly parley: Parley;
  readonly mongodbUri: string | undefined;
  stop(): Promise<void>;
}

/**
 * A real Parley on port 0 with its own fresh database on the test MongoDB server (FerretDB here).
 * `env` overrides settings, e.g. `{ MESSAGES_PER_SECOND: '1000' }`; `{ store: 'memory' }` skips MongoDB.
 */
export async function startServer(options: { env?: Record<string, string>; store?: 'mongodb' | 'memory' } = {}): Promise<TestServer> {
  const mongodbUri = options.store === 'memory' ? undefined : freshDatabaseUri();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    ...TEST_ENV,
    ...(mongodbUri ? { MONGODB_URI: mongodbUri } : {}),
    ...options.env,
  });
  const parley = createParley(config, { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent') });
  const url = await parley.start();
  return {
    url,
    parley,
    mongodbUri,
    async stop() {
      await parley.stop();
      if (mongodbUri) await dropDatabase(mongodbUri);
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
}

/** JSON over HTTP, as any REST client would send it. */
export async function api<T = any>(server: { url: string }, method: string, path: string, options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function registerUser(server: { url: string }, name = 'u'): Promise<AuthResult> {
  const username = `${name}_${randomUUID().slice(0, 8)}`;
  const res = await api<AuthResult>(server, 'POST', '/v1/auth/register', { body: { username, password: 'correct horse battery' } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A connected client socket (websocket transport), or the connect_error it got. */
export function connectClient(server: { url: string }, token: string | undefined, options: { transports?: string[] } = {}): Promise<ClientSocket> {
  return new Promise((resolve, reject) => {
    const socket: ClientSocket = connect(server.url, {
      auth: token === undefined ? {} : { token },
      transports: options.transports ?? ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Emits an acknowledged event and resolves with the ack. */
export function request<T = any>(socket: ClientSocket, event: string, payload: unknown): Promise<T> {
  return (socket as any).timeout(10_000).emitWithAck(event, payload);
}

export async function openDirect(server: { url: string }, a: AuthResult, b: AuthResult): Promise<string> {
  const res = await api(server, 'POST', '/v1/conversations', { token: a.accessToken, body: { type: 'direct', userId: b.user.id } });
  if (res.status !== 201) throw new Error(`open direct failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.conversation.id;
}

/** Resolves once `predicate` holds, checking each time `socket` gets `event`; fails after `ms`. */
export function until<T>(socket: ClientSocket, event: keyof ServerToClientEvents, predicate: (payload: T) => boolean, ms = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener as never);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    const listener = (payload: T) => {
      if (!predicate(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener as never);
      resolve(payload);
    };
    socket.on(event, listener as never);
  });
}

/** Retries `check` until it stops throwing, or rethrows its last error after `ms`. */
export async function eventually<T>(check: () => Promise<T> | T, ms = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

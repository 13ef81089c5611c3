import { type AuthResult, type ClientOptions, type ConnectionState, createClient, createTokenSession, type Message, type ParleyClient } from '../../client-sdk/src/index.js';

/**
 * SDK clients for tests: real sessions against a real server, with short retry delays so faults heal in
 * test time. `closeAll` closes every client made since the last call.
 */
export class TestClients {
  readonly #clients: ParleyClient[] = [];

  /** A client for `auth` on `server` (or `options.url`), not yet necessarily online. */
  create(server: { url: string }, auth: AuthResult, options: Partial<ClientOptions> = {}): ParleyClient {
    const url = options.url ?? server.url;
    const session = createTokenSession({ url, accessToken: auth.accessToken, refreshToken: auth.refreshToken });
    const client = createClient({
      url,
      getToken: session.getToken,
      reconnect: { initialMs: 100, maxMs: 500, jitter: 0.5 },
      fallback: { afterFailures: 3, pollIntervalMs: 250 },
      ackTimeoutMs: 3000,
      requestTimeoutMs: 3000,
      receiptDelayMs: 50,
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  /** Like `create`, resolved once the client is online and has its baseline (`ready()`). */
  async online(server: { url: string }, auth: AuthResult, options: Partial<ClientOptions> = {}): Promise<ParleyClient> {
    const client = this.create(server, auth, options);
    await waitFor(() => client.state === 'online', `${auth.user.username} online`);
    await client.ready();
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
  }
}

/** Every `message` event of `client` for one conversation, in arrival order. */
export function collectMessages(client: ParleyClient, conversationId: string): Message[] {
  const seen: Message[] = [];
  client.on('message', (m) => {
    if (m.conversationId === conversationId) seen.push(m);
  });
  return seen;
}

/** Every connection state `client` goes through from now on. */
export function collectStates(client: ParleyClient): ConnectionState[] {
  const states: ConnectionState[] = [];
  client.on('connection', (s) => states.push(s));
  return states;
}

/** Resolves once `predicate()` holds; fails after `ms` naming `what`. */
export async function waitFor(predicate: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await delay(20);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Gives in-flight socket frames and queued client work a moment to land (used before asserting "no more"). */
export function settle(ms = 300): Promise<void> {
  return delay(ms);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

import { expect } from 'chai';
import { type AuthResult, createTokenSession, decodeJwtPayload, type GetTokenOptions, type TokenPair } from '../../client-sdk/src/index.js';
import { TestClients, waitFor } from '../support/sdk.js';
import { api, registerUser, startServer, type TestServer } from '../support/server.js';

describe('SDK tokens', function () {
  this.timeout(30_000);
  const clients = new TestClients();
  afterEach(async () => {
    await clients.closeAll();
  });

  describe('createTokenSession', () => {
    let server: TestServer;
    before(async () => {
      // 10 s access tokens: inside the default 60 s margin, so every one is "about to expire".
      server = await startServer({ store: 'memory', env: { ACCESS_TOKEN_TTL_SECONDS: '10' } });
    });
    after(async () => {
      await server.stop();
    });

    it('refreshes an access token that expires within the margin, and reports the new pair', async () => {
      const auth = await registerUser(server, 'ann');
      const changes: AuthResult[] = [];
      const session = createTokenSession({ url: server.url, accessToken: auth.accessToken, refreshToken: auth.refreshToken, onChange: (r) => changes.push(r) });
      const token = await session.getToken();
      // Within one second the server may sign an identical access token; the refresh token always rotates.
      expect(changes).to.have.length(1);
      expect(changes[0]!.refreshToken).to.not.equal(auth.refreshToken);
      expect(changes[0]!.accessToken).to.equal(token);
      expect(session.tokens.refreshToken).to.equal(changes[0]!.refreshToken);
      expect((await api(server, 'GET', '/v1/me', { token })).status).to.equal(200);
      // The old refresh token was rotated away by the server.
      const stale = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: auth.refreshToken } });
      expect(stale.body.error.code).to.equal('unauthorized');
    });

    it('keeps a token that is not due, and refreshes it when forced', async () => {
      const auth = await registerUser(server, 'ann');
      const session = createTokenSession({ url: server.url, accessToken: auth.accessToken, refreshToken: auth.refreshToken, refreshMarginMs: 1000 });
      expect(await session.getToken()).to.equal(auth.accessToken);
      expect(session.tokens.refreshToken).to.equal(auth.refreshToken);
      const forced = await session.getToken({ forceRefresh: true });
      expect(session.tokens.refreshToken).to.not.equal(auth.refreshToken);
      expect(decodeJwtPayload(forced)?.sub).to.equal(auth.user.id);
    });

    it('shares one refresh among concurrent callers, so the server never sees a reused refresh token', async () => {
      const auth = await registerUser(server, 'ann');
      const changes: AuthResult[] = [];
      const session = createTokenSession({ url: server.url, accessToken: auth.accessToken, refreshToken: auth.refreshToken, onChange: (r) => changes.push(r) });
      const tokens = await Promise.all(Array.from({ length: 5 }, () => session.getToken({ forceRefresh: true })));
      expect(new Set(tokens).size).to.equal(1);
      expect(changes).to.have.length(1);
      // Reuse detection would have revoked the session, and this token with it.
      expect((await api(server, 'GET', '/v1/me', { token: tokens[0] })).status).to.equal(200);
    });
  });

  describe('createTokenSession shared by two tabs (load + lock)', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ store: 'memory', env: { ACCESS_TOKEN_TTL_SECONDS: '10' } });
    });
    after(async () => {
      await server.stop();
    });

    /** What two tabs share: the persisted pair (localStorage) and a lock (navigator.locks). */
    function sharedStore(auth: AuthResult) {
      let pair: TokenPair = { accessToken: auth.accessToken, refreshToken: auth.refreshToken };
      let tail: Promise<unknown> = Promise.resolve();
      let refreshes = 0;
      return {
        options: {
          url: server.url,
          onChange: (next: AuthResult) => {
            refreshes += 1;
            pair = { accessToken: next.accessToken, refreshToken: next.refreshToken };
          },
          load: () => pair,
          lock: <T>(task: () => Promise<T>): Promise<T> => {
            const run = tail.then(task);
            tail = run.catch(() => undefined);
            return run;
          },
        },
        get refreshes() {
          return refreshes;
        },
      };
    }

    it('adopts a pair the other tab already rotated instead of reusing a dead refresh token', async () => {
      const auth = await registerUser(server, 'ann');
      const shared = sharedStore(auth);
      const tabA = createTokenSession({ ...shared.options, accessToken: auth.accessToken, refreshToken: auth.refreshToken });
      const tabB = createTokenSession({ ...shared.options, accessToken: auth.accessToken, refreshToken: auth.refreshToken });
      await tabA.getToken({ forceRefresh: true });
      const token = await tabB.getToken({ forceRefresh: true });
      expect(shared.refreshes).to.equal(1);
      expect(tabB.tokens.refreshToken).to.equal(tabA.tokens.refreshToken);
      // Had tab B presented the rotated refresh token, reuse detection would have revoked the session.
      expect((await api(server, 'GET', '/v1/me', { token })).status).to.equal(200);
    });

    it('refreshes once when both tabs are due at the same moment', async () => {
      const auth = await registerUser(server, 'ann');
      const shared = sharedStore(auth);
      // With an 8 s margin, the 10 s token from registration is due after 2 s, a freshly rotated one is not.
      const tabs = [0, 1, 2].map(() => createTokenSession({ ...shared.options, accessToken: auth.accessToken, refreshToken: auth.refreshToken, refreshMarginMs: 8000 }));
      await new Promise((resolve) => setTimeout(resolve, 2200));
      const tokens = await Promise.all(tabs.map((t) => t.getToken()));
      expect(shared.refreshes).to.equal(1);
      expect(new Set(tabs.map((t) => t.tokens.refreshToken)).size).to.equal(1);
      for (const token of tokens) expect((await api(server, 'GET', '/v1/me', { token })).status).to.equal(200);
    });
  });

  describe('createClient with a token the server refuses', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ store: 'memory' });
    });
    after(async () => {
      await server.stop();
    });

    it('asks getToken for a forced refresh once after the handshake fails with unauthorized, then connects', async () => {
      const auth = await registerUser(server, 'ann');
      const calls: (GetTokenOptions | undefined)[] = [];
      // A stale token until the client insists: what a cache holding a revoked token would do.
      const getToken = async (options?: GetTokenOptions) => {
        calls.push(options);
        return options?.forceRefresh ? auth.accessToken : 'stale.token.value';
      };
      const client = clients.create(server, auth, { getToken });
      await waitFor(() => client.state === 'online', 'online after the forced refresh');
      expect(calls.filter((c) => c?.forceRefresh === true)).to.have.length(1);
      expect(calls[0]?.forceRefresh).to.not.equal(true);
      expect(client.userId).to.equal(auth.user.id);
    });

    it('retries a REST call once with a forced refresh after a 401', async () => {
      const auth = await registerUser(server, 'ann');
      const calls: (GetTokenOptions | undefined)[] = [];
      const getToken = async (options?: GetTokenOptions) => {
        calls.push(options);
        return options?.forceRefresh ? auth.accessToken : 'stale.token.value';
      };
      const client = clients.create(server, auth, { getToken, fallback: false });
      const me = await client.me();
      expect(me.id).to.equal(auth.user.id);
      expect(calls.some((c) => c?.forceRefresh === true)).to.equal(true);
    });
  });
});

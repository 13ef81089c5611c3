import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { api, connectClient, registerUser, startServer, TEST_JWT_SECRET, type TestServer } from '../support/server.js';

describe('accounts and tokens (MongoDB store)', function () {
  this.timeout(60_000);
  let server: TestServer;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  const forged = (claims: { sid: string; exp?: number }, options: jwt.SignOptions = {}, secret = TEST_JWT_SECRET) =>
    jwt.sign(claims, secret, { algorithm: 'HS256', keyid: 'k1', issuer: 'parley', audience: 'parley-api', ...(claims.exp ? {} : { expiresIn: 60 }), ...options });

  async function expectRefused(token: string | undefined) {
    const rest = await api(server, 'GET', '/v1/me', { token });
    expect(rest.status).to.equal(401);
    expect(rest.body.error.code).to.equal('unauthorized');
    const err = await connectClient(server, token).then(
      (s) => {
        s.close();
        return undefined;
      },
      (e: any) => e,
    );
    expect(err, 'handshake must fail').to.not.equal(undefined);
    expect(err.message).to.equal('unauthorized');
    expect(err.data.code).to.equal('unauthorized');
  }

  it('registers, logs in, and reads the profile', async () => {
    const reg = await api(server, 'POST', '/v1/auth/register', { body: { username: 'Zoe_Reg', password: 'long enough pw', displayName: 'Zoe' } });
    expect(reg.status).to.equal(201);
    const login = await api(server, 'POST', '/v1/auth/login', { body: { username: 'zoe_reg', password: 'long enough pw' } });
    expect(login.status).to.equal(200);
    const me = await api(server, 'GET', '/v1/me', { token: login.body.accessToken });
    expect(me.body.user).to.include({ username: 'Zoe_Reg', displayName: 'Zoe' });
    const patched = await api(server, 'PATCH', '/v1/me', { token: login.body.accessToken, body: { displayName: 'Zoë' } });
    expect(patched.body.user.displayName).to.equal('Zoë');
  });

  it('refuses a username taken in another case', async () => {
    await api(server, 'POST', '/v1/auth/register', { body: { username: 'CaseUser', password: 'long enough pw' } });
    const again = await api(server, 'POST', '/v1/auth/register', { body: { username: 'caseuser', password: 'long enough pw' } });
    expect(again.status).to.equal(409);
    expect(again.body.error.code).to.equal('conflict');
  });

  it('refuses passwords over 72 bytes instead of truncating them', async () => {
    const res = await api(server, 'POST', '/v1/auth/register', { body: { username: 'longpw', password: 'é'.repeat(37) } });
    expect(res.status).to.equal(400);
    expect(res.body.error.code).to.equal('invalid_payload');
    expect(res.body.error.details.fields).to.include('password');
  });

  it('refuses a wrong password with unauthorized', async () => {
    const user = await registerUser(server, 'pw');
    const res = await api(server, 'POST', '/v1/auth/login', { body: { username: user.user.username, password: 'not the password' } });
    expect(res.status).to.equal(401);
    expect(res.body.error.code).to.equal('unauthorized');
  });

  describe('when a request carries bad credentials', () => {
    it('refuses no token', async () => {
      await expectRefused(undefined);
    });

    it('refuses an expired token', async () => {
      const user = await registerUser(server);
      const { sid } = jwt.decode(user.accessToken) as { sid: string };
      await expectRefused(forged({ sid, exp: Math.floor(Date.now() / 1000) - 10 }, { subject: user.user.id }));
    });

    it('refuses alg none', async () => {
      const user = await registerUser(server);
      const [, payload] = user.accessToken.split('.');
      const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
      await expectRefused(`${header}.${payload}.`);
    });

    it('refuses a tampered signature', async () => {
      const user = await registerUser(server);
      const other = await registerUser(server);
      const [header, , signature] = user.accessToken.split('.');
      const claims = JSON.parse(Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString());
      const payload = Buffer.from(JSON.stringify({ ...claims, sub: other.user.id })).toString('base64url');
      await expectRefused(`${header}.${payload}.${signature}`);
    });

    it('refuses a token signed with another key', async () => {
      const user = await registerUser(server);
      const { sid } = jwt.decode(user.accessToken) as { sid: string };
      await expectRefused(forged({ sid }, { subject: user.user.id }, 'another-secret-that-is-long-enough-xxxxx'));
    });

    it('refuses HS/RS confusion: a token signed RS256, whatever key it names', async () => {
      const user = await registerUser(server);
      const { sid } = jwt.decode(user.accessToken) as { sid: string };
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await expectRefused(forged({ sid }, { subject: user.user.id, algorithm: 'RS256' }, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string));
    });

    it('refuses a token without a kid, or with a kid it does not know', async () => {
      const user = await registerUser(server);
      const { sid } = jwt.decode(user.accessToken) as { sid: string };
      const withoutKid = jwt.sign({ sid }, TEST_JWT_SECRET, { algorithm: 'HS256', issuer: 'parley', audience: 'parley-api', subject: user.user.id, expiresIn: 60 });
      await expectRefused(withoutKid);
      await expectRefused(forged({ sid }, { subject: user.user.id, keyid: 'k9' }));
    });

    it('refuses the wrong audience', async () => {
      const user = await registerUser(server);
      const { sid } = jwt.decode(user.accessToken) as { sid: string };
      await expectRefused(forged({ sid }, { subject: user.user.id, audience: 'someone-else' }));
    });

    it('refuses an access token after logout', async () => {
      const user = await registerUser(server);
      const socket = await connectClient(server, user.accessToken);
      const closed = new Promise((resolve) => socket.once('disconnect', resolve));
      expect((await api(server, 'POST', '/v1/auth/logout', { token: user.accessToken })).status).to.equal(200);
      await closed;
      await expectRefused(user.accessToken);
    });
  });

  describe('when refresh tokens rotate', () => {
    it('issues a new pair and stops accepting the old refresh token', async () => {
      const user = await registerUser(server);
      const first = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
      expect(first.status).to.equal(200);
      expect(first.body.refreshToken).to.not.equal(user.refreshToken);
      const me = await api(server, 'GET', '/v1/me', { token: first.body.accessToken });
      expect(me.status).to.equal(200);
    });

    it('revokes the whole session and closes its sockets when a rotated refresh token is replayed', async () => {
      const user = await registerUser(server);
      const rotated = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
      const live = await connectClient(server, rotated.body.accessToken);
      const closed = new Promise((resolve) => live.once('disconnect', resolve));
      const replay = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
      expect(replay.status).to.equal(401);
      expect(replay.body.error.code).to.equal('unauthorized');
      // The thief's replay also kills the legitimate holder's newer tokens.
      const next = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: rotated.body.refreshToken } });
      expect(next.body.error.code).to.equal('unauthorized');
      await expectRefused(rotated.body.accessToken);
      await closed;
    });

    it('refuses a malformed refresh token', async () => {
      const res = await api(server, 'POST', '/v1/auth/refresh', { body: { refreshToken: 'not-a-token' } });
      expect(res.body.error.code).to.equal('unauthorized');
    });
  });
});

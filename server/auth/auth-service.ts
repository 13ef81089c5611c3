import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import bcrypt from 'bcrypt';
import jwt from 'jsonwebtoken';
import type { AuthResult } from '../../client-sdk/src/index.js';
import type { LoginThrottle } from '../security/login-throttle.js';
import type { ParleyConfig } from '../config.js';
import { ParleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Realtime } from '../chat/realtime.js';
import type { EventPublisher } from '../events/index.js';
import type { Store, UserRecord } from '../store/index.js';
import { newId } from '../store/ids.js';
import { toWireUser } from '../chat/wire.js';

/** Who is calling, once their access token and session have been checked. */
export interface AuthContext {
  readonly userId: string;
  readonly sessionId: string;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Registration extends Credentials {
  readonly email?: string | undefined;
  readonly displayName?: string | undefined;
}

// The only algorithm accepted: pinning it defeats `alg: none` and HS/RS confusion.
const ALGORITHM = 'HS256' as const;

/**
 * Accounts and tokens: bcrypt passwords, short-lived JWT access tokens bound to a session, and rotating
 * refresh tokens (`<sessionId>.<secret>`, stored as a SHA-256 of the secret). Presenting a refresh
 * secret that was already rotated away is treated as theft: the whole session is revoked.
 */
export class AuthService {
  private readonly log: Logger;
  /** kid → HMAC secret: the signing key and those still accepted during a rotation. */
  private readonly verificationKeys: ReadonlyMap<string, string>;

  constructor(
    private readonly store: Store,
    private readonly config: ParleyConfig['auth'],
    private readonly realtime: Realtime,
    private readonly events: EventPublisher,
    logger: Logger,
    private readonly loginThrottle?: LoginThrottle,
  ) {
    this.log = logger.child({ module: 'auth' });
    this.verificationKeys = new Map([...config.jwtPreviousKeys.map((k) => [k.kid, k.secret] as const), [config.jwtKid, config.jwtSecret]]);
  }

  async register(input: Registration): Promise<AuthResult> {
    const passwordHash = await bcrypt.hash(input.password, this.config.bcryptCost);
    const user = await this.store.createUser({
      username: input.username,
      passwordHash,
      email: input.email ?? null,
      displayName: input.displayName ?? null,
    });
    this.log.info({ userId: user.id }, 'user registered');
    await this.events.publish('user.created', `user.created:${user.id}`, { userId: user.id, username: user.username });
    return this.startSession(user);
  }

  /** `clientIp` keys the brute-force throttle (see LoginThrottle). */
  async login(input: Credentials, clientIp = 'unknown'): Promise<AuthResult> {
    await this.loginThrottle?.check(input.username, clientIp);
    const user = await this.store.findUserByUsername(input.username);
    // Compare against a fixed hash when the user is unknown, so timing does not reveal which usernames exist.
    const ok = await bcrypt.compare(input.password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok || user.status === 'deleted') {
      this.log.warn({ username: input.username, ip: clientIp }, 'login failed');
      await this.loginThrottle?.failed(input.username, clientIp);
      throw new ParleyError('unauthorized', 'wrong username or password');
    }
    if (user.status === 'blocked') throw new ParleyError('forbidden', 'this account is blocked');
    await this.loginThrottle?.succeeded(input.username, clientIp);
    return this.startSession(user);
  }

  async refresh(refreshToken: string): Promise<AuthResult> {
    const { sessionId, secret } = parseRefreshToken(refreshToken);
    const session = await this.store.getSession(sessionId);
    const now = new Date();
    if (!session || session.revokedAt !== null || session.expiresAt <= now) {
      throw new ParleyError('unauthorized', 'refresh token is expired or revoked');
    }
    const presented = sha256(secret);
    if (!safeEqual(presented, session.tokenHash)) {
      await this.revokeReused(session.id, session.userId, now);
    }
    const user = await this.activeUser(session.userId);
    const nextSecret = randomSecret();
    const rotated = await this.store.rotateSession(session.id, presented, sha256(nextSecret), this.refreshExpiry(now), now);
    if (!rotated) {
      // Lost a race with another refresh of the same token: one of the two is a replay.
      await this.revokeReused(session.id, session.userId, now);
    }
    return { user: toWireUser(user, true), accessToken: this.signAccessToken(user.id, session.id), refreshToken: `${session.id}.${nextSecret}` };
  }

  /**
   * Changes the password, ends every session of the user (and closes their sockets on every node), and
   * starts a fresh session for the caller, so only the device that changed it stays signed in.
   */
  async changePassword(ctx: AuthContext, currentPassword: string, newPassword: string): Promise<AuthResult> {
    await this.checkPassword(ctx.userId, currentPassword);
    const passwordHash = await bcrypt.hash(newPassword, this.config.bcryptCost);
    const user = await this.store.updateUser(ctx.userId, { passwordHash });
    if (!user) throw new ParleyError('unauthorized', 'account is not active');
    await this.store.revokeUserSessions(ctx.userId, new Date());
    this.realtime.disconnectUser(ctx.userId);
    this.log.info({ userId: ctx.userId }, 'password changed; every session revoked');
    return this.startSession(user);
  }

  /** Revokes the session and closes its sockets on every node. */
  async logout(ctx: AuthContext): Promise<void> {
    await this.store.revokeSession(ctx.sessionId, new Date());
    this.realtime.disconnectSession(ctx.sessionId);
    this.log.info({ userId: ctx.userId, sessionId: ctx.sessionId }, 'logged out');
  }

  /** A refresh secret was presented twice: whoever holds the session now may be a thief, so end it. */
  private async revokeReused(sessionId: string, userId: string, now: Date): Promise<never> {
    await this.store.revokeSession(sessionId, now);
    this.realtime.disconnectSession(sessionId);
    this.log.warn({ sessionId, userId }, 'refresh token reused: session revoked');
    throw new ParleyError('unauthorized', 'refresh token was already used; the session is revoked');
  }

  /** Checks an access token, its session and its user. Throws `unauthorized` for any failure. */
  async authenticate(accessToken: string | undefined): Promise<AuthContext> {
    if (!accessToken) throw new ParleyError('unauthorized', 'missing access token');
    const claims = this.verifyAccessToken(accessToken);
    const session = await this.store.getSession(claims.sessionId);
    if (!session || session.revokedAt !== null || session.userId !== claims.userId) {
      throw new ParleyError('unauthorized', 'session is revoked');
    }
    await this.activeUser(claims.userId);
    return claims;
  }

  async checkPassword(userId: string, password: string): Promise<void> {
    const user = await this.activeUser(userId);
    if (!(await bcrypt.compare(password, user.passwordHash))) throw new ParleyError('unauthorized', 'wrong password');
  }

  /**
   * The key is chosen by the token's `kid` among the current key and JWT_PREVIOUS_KEYS; a token with
   * no or an unknown `kid` is refused before any signature check.
   */
  private verifyAccessToken(token: string): AuthContext {
    try {
      const kid = jwt.decode(token, { complete: true })?.header.kid;
      const secret = kid === undefined ? undefined : this.verificationKeys.get(kid);
      if (secret === undefined) throw new Error('unknown kid');
      const payload = jwt.verify(token, secret, {
        algorithms: [ALGORITHM],
        issuer: this.config.jwtIssuer,
        audience: this.config.jwtAudience,
      });
      if (typeof payload === 'string' || typeof payload.sub !== 'string' || typeof payload['sid'] !== 'string') {
        throw new Error('claims missing');
      }
      return { userId: payload.sub, sessionId: payload['sid'] };
    } catch (err) {
      const reason = err instanceof jwt.TokenExpiredError ? 'access token expired' : 'access token is invalid';
      throw new ParleyError('unauthorized', reason);
    }
  }

  private async activeUser(userId: string): Promise<UserRecord> {
    const user = await this.store.getUser(userId);
    if (!user || user.status !== 'active') throw new ParleyError('unauthorized', 'account is not active');
    return user;
  }

  private async startSession(user: UserRecord): Promise<AuthResult> {
    const secret = randomSecret();
    const session = await this.store.createSession({
      id: newId(),
      userId: user.id,
      tokenHash: sha256(secret),
      expiresAt: this.refreshExpiry(new Date()),
    });
    return { user: toWireUser(user, true), accessToken: this.signAccessToken(user.id, session.id), refreshToken: `${session.id}.${secret}` };
  }

  private signAccessToken(userId: string, sessionId: string): string {
    return jwt.sign({ sid: sessionId }, this.config.jwtSecret, {
      algorithm: ALGORITHM,
      keyid: this.config.jwtKid,
      subject: userId,
      issuer: this.config.jwtIssuer,
      audience: this.config.jwtAudience,
      expiresIn: this.config.accessTokenTtlSeconds,
    });
  }

  private refreshExpiry(now: Date): Date {
    return new Date(now.getTime() + this.config.refreshTokenTtlSeconds * 1000);
  }
}

const DUMMY_HASH = bcrypt.hashSync('parley-dummy-password', 10);

function parseRefreshToken(token: string): { sessionId: string; secret: string } {
  const [sessionId, secret, ...rest] = token.split('.');
  if (!sessionId || !secret || rest.length > 0) throw new ParleyError('unauthorized', 'refresh token is malformed');
  return { sessionId, secret };
}

function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

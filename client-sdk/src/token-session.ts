import { ParleyClientError } from './errors.js';
import { decodeJwtPayload } from './jwt.js';
import type { AuthResult } from './protocol.js';
import { type FetchFunction, type GetToken, type GetTokenOptions, RestClient } from './rest-client.js';

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
}

export interface TokenSessionOptions extends TokenPair {
  /** Base URL of the Parley server, e.g. `https://chat.example.com`. */
  url: string;
  /** Called after every rotation with the new pair (and user): persist it, the old refresh token is dead. */
  onChange?: (result: AuthResult) => void;
  /** Refresh this long before the access token's `exp` (default 60 s). */
  refreshMarginMs?: number;
  /**
   * The latest pair `onChange` persisted, possibly by another tab or process sharing the session. Read
   * before every refresh: a pair someone else already rotated is adopted instead of presenting a refresh
   * token that is no longer current (which would revoke the session).
   */
  load?: () => TokenPair | undefined;
  /** Runs each refresh under a lock shared with those others, e.g. `navigator.locks.request(name, task)`. */
  lock?: <T>(task: () => Promise<T>) => Promise<T>;
  fetch?: FetchFunction;
}

export interface TokenSession {
  /** Implements `createClient({ getToken })`. */
  readonly getToken: GetToken;
  /** The current pair. */
  readonly tokens: TokenPair;
  /** Rotates the pair now (`POST /v1/auth/refresh`); concurrent calls share one request. */
  refresh(): Promise<TokenPair>;
  /** Ends the session on the server (`POST /v1/auth/logout`); its sockets are disconnected. */
  logout(): Promise<void>;
}

/**
 * Access tokens from a login, refreshed shortly before they expire and whenever the client asks for a
 * forced refresh (e.g. after a handshake refused with `unauthorized`).
 *
 * Only one refresh is ever in flight: Parley treats a refresh token presented twice as stolen and
 * revokes the whole session (docs/protocol.md §6.8). For the same reason, tabs or processes that share
 * one session must coordinate: pass `load` (read what `onChange` persisted) and `lock` (a shared lock).
 *
 * @example
 * const auth = await login({ url, username: 'ann', password: 'correct horse' });
 * const session = createTokenSession({
 *   url,
 *   accessToken: auth.accessToken,
 *   refreshToken: auth.refreshToken,
 *   onChange: (next) => localStorage.setItem('tokens', JSON.stringify(next)),
 *   // Several tabs share the session: adopt each other's rotations, never refresh at the same time.
 *   load: () => JSON.parse(localStorage.getItem('tokens') ?? 'null') ?? undefined,
 *   lock: (task) => navigator.locks.request('parley.refresh', task),
 * });
 * const client = createClient({ url, getToken: session.getToken });
 */
export function createTokenSession(options: TokenSessionOptions): TokenSession {
  const margin = options.refreshMarginMs ?? 60_000;
  const rest = new RestClient({ url: options.url, fetch: options.fetch });
  // Mutable on purpose: the session is the one owner of the current pair.
  let tokens: TokenPair = { accessToken: options.accessToken, refreshToken: options.refreshToken };
  let inflight: Promise<TokenPair> | undefined;
  const isDue = (pair: TokenPair): boolean => {
    const expiresAt = expiryMs(pair.accessToken);
    return expiresAt !== undefined && expiresAt - Date.now() <= margin;
  };

  const rotate = async (forced: boolean): Promise<TokenPair> => {
    const stored = options.load?.();
    if (stored && stored.refreshToken !== tokens.refreshToken) {
      // Someone sharing this session rotated it already: ours is dead, theirs is current.
      tokens = { accessToken: stored.accessToken, refreshToken: stored.refreshToken };
      if (forced || !isDue(tokens)) return tokens;
    }
    const result = await rest.post<AuthResult>('/v1/auth/refresh', { refreshToken: tokens.refreshToken });
    tokens = { accessToken: result.accessToken, refreshToken: result.refreshToken };
    options.onChange?.(result);
    return tokens;
  };

  const refreshWith = (forced: boolean): Promise<TokenPair> => {
    const task = () => rotate(forced);
    inflight ??= (options.lock ? options.lock(task) : task()).finally(() => {
      inflight = undefined;
    });
    return inflight;
  };
  const refresh = (): Promise<TokenPair> => refreshWith(true);

  const getToken = async (opts: GetTokenOptions = {}): Promise<string> => {
    if (inflight) return (await inflight).accessToken;
    const expiresAt = expiryMs(tokens.accessToken);
    const forced = opts.forceRefresh === true;
    if (!forced && !isDue(tokens)) return tokens.accessToken;
    const current = tokens;
    try {
      return (await refreshWith(forced)).accessToken;
    } catch (err) {
      // A network failure is no reason to drop an access token that still works.
      const stillValid = expiresAt !== undefined && expiresAt > Date.now();
      if (err instanceof ParleyClientError && err.code !== 'unauthorized' && stillValid && !forced) return current.accessToken;
      throw err;
    }
  };

  return {
    getToken,
    get tokens() {
      return tokens;
    },
    refresh,
    async logout() {
      const authed = new RestClient({ url: options.url, fetch: options.fetch, getToken: async () => tokens.accessToken });
      await authed.post<object>('/v1/auth/logout');
    },
  };
}

function expiryMs(accessToken: string): number | undefined {
  const exp = decodeJwtPayload(accessToken)?.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

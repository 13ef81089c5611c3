import type { AuthResult } from './protocol.js';
import { type FetchFunction, RestClient } from './rest-client.js';

export interface RegisterOptions {
  url: string;
  username: string;
  password: string;
  email?: string;
  displayName?: string;
  fetch?: FetchFunction;
}

export interface LoginOptions {
  url: string;
  username: string;
  password: string;
  fetch?: FetchFunction;
}

/**
 * Creates an account (`POST /v1/auth/register`) and starts a session.
 *
 * @example
 * const { user, accessToken, refreshToken } = await register({ url, username: 'ann', password: 'correct horse' });
 */
export function register(options: RegisterOptions): Promise<AuthResult> {
  const { url, fetch, ...body } = options;
  return new RestClient({ url, fetch }).post<AuthResult>('/v1/auth/register', body);
}

/**
 * Starts a session for an existing account (`POST /v1/auth/login`).
 *
 * @example
 * const auth = await login({ url, username: 'ann', password: 'correct horse' });
 * const session = createTokenSession({ url, ...auth });
 */
export function login(options: LoginOptions): Promise<AuthResult> {
  const { url, fetch, ...body } = options;
  return new RestClient({ url, fetch }).post<AuthResult>('/v1/auth/login', body);
}

/** The claims the SDK reads from an access token. */
export interface AccessTokenClaims {
  /** The user id. */
  sub?: string;
  /** Expiry, seconds since the epoch. */
  exp?: number;
  [claim: string]: unknown;
}

/**
 * The payload of a JWT, decoded but NOT verified: the client only uses it to schedule refreshes and to
 * know its own user id; the server verifies every token it receives.
 *
 * @example
 * const { sub: userId, exp } = decodeJwtPayload(auth.accessToken) ?? {};
 */
export function decodeJwtPayload(token: string): AccessTokenClaims | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    const payload: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof payload === 'object' && payload !== null ? (payload as AccessTokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

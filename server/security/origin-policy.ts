/**
 * Which browser origins may use the API and open sockets. A request without an `Origin` header is not
 * a browser's cross-site request (mobile apps, backends, curl) and is allowed: its bearer token is what
 * authenticates it. A browser request is allowed from the server's own origin (the bundled web app),
 * from any origin listed in ALLOWED_ORIGINS, or from anywhere when that list is `*`.
 *
 * @example
 * const allowed = originPolicy(['https://chat.example.com']);
 * allowed('https://evil.example', 'api.example.com'); // false
 */
export type OriginPolicy = (origin: string | undefined, host: string | undefined) => boolean;

export function originPolicy(allowedOrigins: readonly string[] | '*'): OriginPolicy {
  if (allowedOrigins === '*') return () => true;
  const allowed = new Set(allowedOrigins.map(normalise));
  return (origin, host) => {
    if (origin === undefined) return true;
    const normalised = normalise(origin);
    if (allowed.has(normalised)) return true;
    return host !== undefined && sameHost(normalised, host);
  };
}

/** `https://Chat.Example.com:443/` → `https://chat.example.com`. Unparseable origins stay as they are. */
function normalise(origin: string): string {
  try {
    const url = new URL(origin);
    return url.origin.toLowerCase();
  } catch {
    return origin.toLowerCase();
  }
}

function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

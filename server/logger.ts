import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The root logger. Modules take a child with their name (`logger.child({ module: 'auth' })`).
 * Tokens, passwords and message text are never logged; `redact` is a safety net, not the policy.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'parley' },
    redact: {
      paths: ['*.password', '*.token', '*.accessToken', '*.refreshToken', '*.text', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}

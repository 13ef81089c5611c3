import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { currentTraceId } from './tracing.js';

export type { Logger };

/**
 * The root logger. Modules take a child with their name (`logger.child({ module: 'auth' })`).
 * Tokens, passwords and message text are never logged; `redact` is a safety net, not the policy.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'parley' },
    // The trace of the socket event, request or job this line belongs to (server/tracing.ts).
    mixin: () => {
      const traceId = currentTraceId();
      return traceId === undefined ? {} : { traceId };
    },
    redact: {
      paths: ['*.password', '*.token', '*.accessToken', '*.refreshToken', '*.text', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

import type { ErrorBody, ErrorCode } from './protocol.js';

/**
 * The server's codes plus three the client raises itself: `network` (the request never got an answer),
 * `timeout` (no ack or response in time) and `closed` (the client was closed first).
 */
export type ClientErrorCode = ErrorCode | 'network' | 'timeout' | 'closed';

// The server's verdict (docs/protocol.md §2): retrying one of these with the same payload cannot help.
const PERMANENT_CODES: ReadonlySet<ClientErrorCode> = new Set<ClientErrorCode>([
  'invalid_payload',
  'forbidden',
  'not_found',
  'blocked',
  'payload_too_large',
  'conflict',
]);

const CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'invalid_payload',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
};

/**
 * Every failure the SDK reports. Branch on `code`, never on `message`.
 *
 * @example
 * try {
 *   await client.send(conversationId, 'hi');
 * } catch (err) {
 *   if (err instanceof ParleyClientError && err.code === 'blocked') showBlockedBanner();
 * }
 */
export class ParleyClientError extends Error {
  override readonly name = 'ParleyClientError';
  readonly code: ClientErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** HTTP status, when the error came from the REST API. */
  readonly status: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: { details?: Record<string, unknown>; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
    this.status = options.status;
  }

  /** True when a retry with the same payload cannot succeed (`invalid_payload`, `forbidden`, …). */
  get permanent(): boolean {
    return PERMANENT_CODES.has(this.code);
  }

  /** `details.retryAfterMs` of a `rate_limited` error, if the server sent one. */
  get retryAfterMs(): number | undefined {
    const value = this.details?.['retryAfterMs'];
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
  }

  /** The error carried by an ack `{ ok: false, error }` or a REST `{ error }` body. */
  static fromBody(body: ErrorBody, status?: number): ParleyClientError {
    return new ParleyClientError(body.code, body.message, { details: body.details, status });
  }

  /** For an HTTP answer whose body is not Parley's error object (e.g. a proxy's 502 page). */
  static fromStatus(status: number, statusText: string): ParleyClientError {
    const code = CODE_BY_STATUS[status] ?? 'unavailable';
    return new ParleyClientError(code, `HTTP ${status} ${statusText}`.trim(), { status });
  }
}

/** Any thrown value as a ParleyClientError (unknown failures count as `network`, which is retryable). */
export function toClientError(err: unknown): ParleyClientError {
  if (err instanceof ParleyClientError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ParleyClientError('network', message, { cause: err });
}

/**
 * The error catalog. Every failure that reaches a client carries one of these codes, the matching HTTP
 * status and whether retrying can help. Tests assert on `code`, never on `message`.
 */
export const ERROR_CODES = {
  invalid_payload: { status: 400, retryable: false },
  unauthorized: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  blocked: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  conflict: { status: 409, retryable: false },
  payload_too_large: { status: 413, retryable: false },
  rate_limited: { status: 429, retryable: true },
  unavailable: { status: 503, retryable: true },
  internal: { status: 500, retryable: true },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error object of the wire envelope: `{ ok: false, error }`. */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * An error with a stable code from the catalog.
 *
 * @example
 * throw new ParleyError('not_found', 'no conversation 65f0…', { conversationId });
 */
export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ParleyError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toWire(): WireError {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Anything thrown below the edge becomes a catalog error; unknown throwables are `internal`. */
export function toParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  if (isStoreUnavailable(err)) return new ParleyError('unavailable', 'the store is unavailable, retry later');
  return new ParleyError('internal', 'internal error');
}

// Mongo driver errors raised while the server is unreachable; surfaced as `unavailable` so clients retry.
function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return /MongoServerSelectionError|MongoNetworkError|MongoNotConnectedError|MongoTopologyClosedError/.test(err.name);
}

import type { AttemptRecord, Channel } from '../notify-store.js';

/**
 * One way of reaching a user. `send` resolves once the provider took the message and throws a
 * `ChannelError` saying whether another try can help. Adapters are stateless apart from connection
 * pools, so one instance serves every consumer of a process.
 */
export interface ChannelAdapter {
  readonly channel: Channel;
  /** Whether the channel is configured in this deployment (SMTP_URL, SMS_URL, VAPID keys …). */
  readonly configured: boolean;
  send(attempt: AttemptRecord): Promise<void>;
  close?(): Promise<void>;
}

/**
 * - `transient`: retry with backoff (a timeout, a 4xx SMTP reply, a 429 or 5xx from a provider);
 * - `permanent`: retrying cannot help (a 5xx SMTP reply, a 4xx from the SMS provider): dead-letter now;
 * - `gone`: the address no longer exists (a push subscription answered 404 or 410): stop, not an incident.
 */
export type ChannelFailure = 'transient' | 'permanent' | 'gone';

export class ChannelError extends Error {
  override name = 'ChannelError';

  constructor(
    readonly failure: ChannelFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Any throwable as a ChannelError; unknown errors are transient (a bug or an outage, both may pass). */
export function asChannelError(err: unknown): ChannelError {
  if (err instanceof ChannelError) return err;
  return new ChannelError('transient', err instanceof Error ? err.message || err.name : String(err));
}

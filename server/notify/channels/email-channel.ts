import nodemailer, { type Transporter } from 'nodemailer';
import type { NotifyConfig } from '../notify-config.js';
import type { AttemptRecord } from '../notify-store.js';
import { ChannelError, type ChannelAdapter } from './channel.js';

/**
 * Email over SMTP with nodemailer, through a small connection pool. SMTP says itself whether a retry
 * can help: a 4xx reply is temporary (greylisting, a full queue), a 5xx reply is final.
 *
 * @example
 * const email = new EmailChannel({ smtpUrl: 'smtp://127.0.0.1:2525', from: 'Parley <no-reply@example.com>', timeoutMs: 10_000 });
 */
export class EmailChannel implements ChannelAdapter {
  readonly channel = 'email' as const;
  readonly configured: boolean;
  private readonly transport: Transporter | undefined;

  constructor(private readonly config: NotifyConfig['email']) {
    this.configured = Boolean(config.smtpUrl);
    this.transport = config.smtpUrl
      ? nodemailer.createTransport({
          ...smtpOptionsFromUrl(config.smtpUrl),
          pool: true,
          maxConnections: 5,
          connectionTimeout: config.timeoutMs,
          greetingTimeout: config.timeoutMs,
          socketTimeout: config.timeoutMs,
        })
      : undefined;
  }

  async send(attempt: AttemptRecord): Promise<void> {
    if (!this.transport) throw new ChannelError('permanent', 'email is not configured (SMTP_URL)');
    try {
      await this.transport.sendMail({
        from: this.config.from,
        to: attempt.target,
        subject: attempt.message.title ?? '',
        text: attempt.message.body,
        ...(attempt.message.html ? { html: attempt.message.html } : {}),
        headers: { 'X-Parley-Event': attempt.eventId, 'X-Parley-Attempt': attempt.id },
      });
    } catch (err) {
      throw classifySmtpError(err);
    }
  }

  async close(): Promise<void> {
    this.transport?.close();
  }
}

function classifySmtpError(err: unknown): ChannelError {
  const responseCode = (err as { responseCode?: unknown }).responseCode;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof responseCode === 'number' && responseCode >= 500) return new ChannelError('permanent', `SMTP ${responseCode}: ${message}`);
  if (typeof responseCode === 'number') return new ChannelError('transient', `SMTP ${responseCode}: ${message}`);
  return new ChannelError('transient', `SMTP: ${message}`);
}

/**
 * nodemailer's options for an `smtp://` or `smtps://` URL. Query parameters are passed on as options
 * (`?ignoreTLS=true`, `?requireTLS=true`), as nodemailer's own URL form allows.
 */
function smtpOptionsFromUrl(raw: string): Record<string, unknown> {
  const url = new URL(raw);
  const secure = url.protocol === 'smtps:';
  const options: Record<string, unknown> = {
    host: url.hostname,
    port: url.port ? Number(url.port) : secure ? 465 : 587,
    secure,
  };
  if (url.username) options.auth = { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) };
  for (const [key, value] of url.searchParams) options[key] = value === 'true' ? true : value === 'false' ? false : value;
  return options;
}

import type { NotifyConfig } from '../notify-config.js';
import type { AttemptRecord } from '../notify-store.js';
import { renderTemplate, type Escape } from '../render-template.js';
import { ChannelError, type ChannelAdapter } from './channel.js';

/**
 * SMS through an HTTP provider, described by configuration rather than code: a URL, one auth header
 * and a body template (`{{to}}`, `{{text}}`, `{{from}}`, `{{id}}`, escaped for the body's content
 * type). A 2xx answer means sent; 408, 425, 429 and 5xx are worth another try; any other 4xx is not.
 *
 * @example
 * // SMS_URL=https://api.provider.example/v1/messages SMS_AUTH_HEADER="Authorization: Bearer abc"
 * // SMS_BODY_TEMPLATE='{"to":"{{to}}","text":"{{text}}","sender":"{{from}}"}'
 */
export class SmsChannel implements ChannelAdapter {
  readonly channel = 'sms' as const;
  readonly configured: boolean;

  constructor(private readonly config: NotifyConfig['sms']) {
    this.configured = Boolean(config.url);
  }

  async send(attempt: AttemptRecord): Promise<void> {
    if (!this.config.url) throw new ChannelError('permanent', 'SMS is not configured (SMS_URL)');
    const body = renderTemplate(
      this.config.bodyTemplate,
      { to: attempt.target, text: attempt.message.body, from: this.config.from, id: attempt.id },
      escapeFor(this.config.contentType),
    );
    const headers: Record<string, string> = { 'content-type': this.config.contentType, 'idempotency-key': attempt.id };
    if (this.config.authHeader) headers[this.config.authHeader.name] = this.config.authHeader.value;
    let res: Response;
    try {
      res = await fetch(this.config.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.config.timeoutMs) });
    } catch (err) {
      throw new ChannelError('transient', `SMS provider unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
    const detail = (await res.text().catch(() => '')).slice(0, 200);
    if (res.ok) return;
    const retryable = res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500;
    throw new ChannelError(retryable ? 'transient' : 'permanent', `SMS provider answered ${res.status}: ${detail}`);
  }
}

function escapeFor(contentType: string): Escape {
  if (/json/i.test(contentType)) return 'json';
  if (/x-www-form-urlencoded/i.test(contentType)) return 'url';
  return 'none';
}

import type { Logger } from '../logger.js';
import type { NotifyConfig } from './notify-config.js';

/** What templates see of one content item: at least its id and a title. */
export interface ResolvedContent {
  readonly id: string;
  readonly title: string;
  readonly [field: string]: unknown;
}

/** Larger answers are ignored: a template needs a title and a few fields, not a document. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Turns content ids into something a template can show, through the configured HTTP resolver:
 * `GET <CONTENT_RESOLVER_URL>/<id>` answering a JSON object. Whatever goes wrong (no resolver, a
 * timeout, an error status, something that is not an object) falls back to `{ id, title: id }`, so a
 * resolver outage degrades the text but never blocks a notification.
 *
 * @example
 * const resolver = new ContentResolver({ resolverUrl: 'http://catalog.internal/content', timeoutMs: 2000 }, logger);
 * const [episode] = await resolver.resolve(['ep-42']);
 */
export class ContentResolver {
  private readonly log: Logger;

  constructor(
    private readonly config: NotifyConfig['content'],
    logger: Logger,
  ) {
    this.log = logger.child({ module: 'content-resolver' });
  }

  async resolve(ids: readonly string[]): Promise<ResolvedContent[]> {
    return Promise.all(ids.map((id) => this.resolveOne(id)));
  }

  private async resolveOne(id: string): Promise<ResolvedContent> {
    const fallback: ResolvedContent = { id, title: id };
    if (!this.config.resolverUrl) return fallback;
    try {
      const res = await fetch(`${this.config.resolverUrl}/${encodeURIComponent(id)}`, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        this.log.warn({ contentId: id, status: res.status }, 'content resolver refused; using the raw id');
        return fallback;
      }
      const length = Number(res.headers.get('content-length') ?? '0');
      if (length > MAX_RESPONSE_BYTES) {
        await res.body?.cancel();
        return fallback;
      }
      const text = await res.text();
      if (text.length > MAX_RESPONSE_BYTES) return fallback;
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fallback;
      const fields = value as Record<string, unknown>;
      const title = typeof fields.title === 'string' && fields.title !== '' ? fields.title : id;
      return { ...fields, id, title };
    } catch (err) {
      this.log.warn({ contentId: id, err: err instanceof Error ? err.message : String(err) }, 'content resolver failed; using the raw id');
      return fallback;
    }
  }
}

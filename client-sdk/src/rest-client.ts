import { ParleyClientError } from './errors.js';
import type { ErrorAnswer } from './sdk-types.js';

/** Options of `getToken`: `forceRefresh` asks for a new access token even if the current one looks valid. */
export interface GetTokenOptions {
  forceRefresh?: boolean;
}

/** Supplies access tokens; called before every handshake and REST call, so keep it cheap. */
export type GetToken = (options?: GetTokenOptions) => Promise<string>;

export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

export interface RestRequest {
  body?: unknown;
  query?: Readonly<Record<string, string | number | undefined>>;
}

/**
 * JSON over HTTP against Parley's `/v1` API. Answers are typed by the caller; failures become
 * ParleyClientError with the server's code. An authenticated call that gets `401` asks `getToken` for a
 * forced refresh and tries once more.
 */
export class RestClient {
  readonly #baseUrl: string;
  readonly #getToken: GetToken | undefined;
  readonly #fetch: FetchFunction;
  readonly #timeoutMs: number;

  constructor(options: { url: string; getToken?: GetToken; fetch?: FetchFunction; timeoutMs?: number }) {
    this.#baseUrl = options.url.replace(/\/+$/, '');
    this.#getToken = options.getToken;
    // Browsers refuse `fetch` called with a `this` other than the window ("Illegal invocation").
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => fetchImpl(input, init);
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  get<T>(path: string, request: RestRequest = {}): Promise<T> {
    return this.request<T>('GET', path, request);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete<T>(path: string, request: RestRequest = {}): Promise<T> {
    return this.request<T>('DELETE', path, request);
  }

  async request<T>(method: string, path: string, request: RestRequest = {}): Promise<T> {
    if (!this.#getToken) return this.#send<T>(method, path, request, undefined);
    const token = await this.#getToken();
    try {
      return await this.#send<T>(method, path, request, token);
    } catch (err) {
      if (!(err instanceof ParleyClientError) || err.code !== 'unauthorized') throw err;
      const fresh = await this.#getToken({ forceRefresh: true });
      return this.#send<T>(method, path, request, fresh);
    }
  }

  async #send<T>(method: string, path: string, request: RestRequest, token: string | undefined): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
    // The server refuses an empty body declared as JSON, so only real bodies get the content type.
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await this.#fetch(this.#baseUrl + path + queryString(request.query), {
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new ParleyClientError(timedOut ? 'timeout' : 'network', `${method} ${path}: ${timedOut ? 'no answer in time' : 'request failed'}`, { cause: err });
    }
    const text = await res.text().catch(() => '');
    const parsed = parseJson(text);
    if (res.ok) return parsed as T;
    const error = (parsed as Partial<ErrorAnswer> | undefined)?.error;
    if (error && typeof error.code === 'string') throw ParleyClientError.fromBody(error, res.status);
    throw ParleyClientError.fromStatus(res.status, res.statusText);
  }
}

function queryString(query: RestRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

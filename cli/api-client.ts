// The CLI's side of the REST API: JSON requests, `{ code, message }` errors turned into one-line
// user errors (exit 1), and any failure to reach the daemon turned into exit 2 (SPEC §7).
import { EXIT_UNREACHABLE, UserError } from './exit.js';

export interface ApiReply<T> {
  status: number;
  body: T;
  /** The `rel="next"` URL of a Link header, resolved against the request URL. */
  next: string | null;
}

/** SPEC §7: `--timeout SECONDS` bounds every call to the daemon; a daemon that never answers is exit 2. */
export const DEFAULT_TIMEOUT_SECONDS = 10;

/** `--timeout` as milliseconds; a user error naming the option when it is not a positive number. */
export function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_TIMEOUT_SECONDS * 1000;
  const n = Number(value);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(value) || !(n > 0) || n > 86_400) {
    throw new UserError(`--timeout ${value}: must be a number of seconds from 0.001 to 86400`);
  }
  return Math.max(1, Math.round(n * 1000));
}

/** The URL of `<...>; rel="next"` in a Link header, or null. */
export function nextLink(header: string | null, base: string): string | null {
  if (header === null) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (m !== null && /;\s*rel="?([^";]*\s)?next(\s[^";]*)?"?\s*(;|$)/i.test(m[2]!)) return new URL(m[1]!, base).href;
  }
  return null;
}

/** The API's `{ code, message }` as one line, or `fallback` for any other body. */
function errorMessage(body: unknown, fallback: string): string {
  const e = body as { code?: unknown; message?: unknown } | null;
  return typeof e === 'object' && e !== null && typeof e.message === 'string' ? `${e.message} (${String(e.code)})` : fallback;
}

function unreachable(url: string, err: unknown): UserError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return new UserError(`cannot reach the midotrace daemon at ${url}: ${why} (is it running? set --api or MIDOTRACE_API)`, EXIT_UNREACHABLE);
}

export class ApiClient {
  readonly base: string;

  constructor(
    base: string,
    private readonly token: string | undefined = process.env.MIDOTRACE_TOKEN,
    private readonly timeoutMs = DEFAULT_TIMEOUT_SECONDS * 1000,
  ) {
    let url: URL;
    try { url = new URL(base); } catch { throw new UserError(`--api ${base}: not a URL like http://127.0.0.1:8181`); }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError(`--api ${base}: must be an http or https URL`);
    this.base = url.href.replace(/\/+$/, '');
  }

  /** `path` is relative to the API base (`/traces?limit=5`) or a full URL from a Link header. */
  async request<T>(method: string, path: string, body?: unknown, binary = false): Promise<ApiReply<T>> {
    const url = /^https?:\/\//.test(path) ? path : this.base + path;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token !== undefined && this.token !== '') headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    let text: string;
    let bytes: Uint8Array | null = null;
    try {
      res = await fetch(url, {
        method, headers, signal: AbortSignal.timeout(this.timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (binary && res.ok) {
        bytes = new Uint8Array(await res.arrayBuffer());
        text = '';
      } else text = await res.text();
    } catch (e) {
      // The timeout covers the whole exchange, body included: a daemon that accepts the connection
      // and then goes silent ends the command too.
      if ((e as { name?: string }).name === 'TimeoutError') {
        throw this.noAnswer();
      }
      throw unreachable(this.base, e);
    }
    if (bytes !== null) return { status: res.status, body: bytes as T, next: null };
    let parsed: unknown = text;
    if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) {
      try { parsed = JSON.parse(text); } catch { /* keep the text; reported below if it was an error */ }
    }
    if (!res.ok) {
      throw new UserError(errorMessage(parsed, `HTTP ${res.status} from ${method} ${url}`));
    }
    return { status: res.status, body: parsed as T, next: nextLink(res.headers.get('link'), url) };
  }

  /** GET of a file (an export): the body's bytes as they are. */
  async bytes(path: string): Promise<Uint8Array> {
    const reply = await this.request<unknown>('GET', path, undefined, true);
    return reply.body as Uint8Array;
  }

  /**
   * Follows an event stream until `signal` aborts: `onText` gets the text as it arrives. Resolves when
   * the daemon ends the stream; a daemon that cannot be reached is exit 2, as for any call. No
   * timeout applies once the stream is open: it has no end.
   */
  async stream(path: string, headers: Record<string, string>, onText: (s: string) => void, signal: AbortSignal): Promise<void> {
    const h: Record<string, string> = { accept: 'text/event-stream', ...headers };
    if (this.token !== undefined && this.token !== '') h.authorization = `Bearer ${this.token}`;
    // The timeout bounds the wait for the response's headers only.
    const opening = new AbortController();
    const timer = setTimeout(() => opening.abort(new DOMException('timeout', 'TimeoutError')), this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.base + path, { headers: h, signal: AbortSignal.any([signal, opening.signal]) });
    } catch (e) {
      if (signal.aborted) return;
      if (opening.signal.aborted) {
        throw this.noAnswer();
      }
      throw unreachable(this.base, e);
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok || res.body === null) {
      const text = await res.text();
      let body: unknown = null;
      try { body = JSON.parse(text); } catch { /* not JSON */ }
      throw new UserError(errorMessage(body, `HTTP ${res.status} from GET ${path}`));
    }
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) onText(decoder.decode(chunk, { stream: true }));
    } catch (e) {
      if (!signal.aborted) throw unreachable(this.base, e);
    }
  }

  private noAnswer(): UserError {
    return new UserError(`no answer from the midotrace daemon at ${this.base} within ${this.timeoutMs / 1000} s (--timeout)`, EXIT_UNREACHABLE);
  }

  get<T>(path: string): Promise<ApiReply<T>> { return this.request<T>('GET', path); }
  post<T>(path: string, body: unknown): Promise<ApiReply<T>> { return this.request<T>('POST', path, body); }
  delete(path: string): Promise<ApiReply<unknown>> { return this.request('DELETE', path); }
}

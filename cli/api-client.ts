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
  async request<T>(method: string, path: string, body?: unknown): Promise<ApiReply<T>> {
    const url = /^https?:\/\//.test(path) ? path : this.base + path;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token !== undefined && this.token !== '') headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method, headers, signal: AbortSignal.timeout(this.timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      text = await res.text();
    } catch (e) {
      // The timeout covers the whole exchange, body included: a daemon that accepts the connection
      // and then goes silent ends the command too.
      if ((e as { name?: string }).name === 'TimeoutError') {
        throw new UserError(`no answer from the midotrace daemon at ${this.base} within ${this.timeoutMs / 1000} s (--timeout)`, EXIT_UNREACHABLE);
      }
      throw unreachable(this.base, e);
    }
    let parsed: unknown = text;
    if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) {
      try { parsed = JSON.parse(text); } catch { /* keep the text; reported below if it was an error */ }
    }
    if (!res.ok) {
      const e = parsed as { code?: unknown; message?: unknown };
      const msg = typeof e === 'object' && e !== null && typeof e.message === 'string'
        ? `${e.message} (${String(e.code)})`
        : `HTTP ${res.status} from ${method} ${url}`;
      throw new UserError(msg);
    }
    return { status: res.status, body: parsed as T, next: nextLink(res.headers.get('link'), url) };
  }

  get<T>(path: string): Promise<ApiReply<T>> { return this.request<T>('GET', path); }
  post<T>(path: string, body: unknown): Promise<ApiReply<T>> { return this.request<T>('POST', path, body); }
  delete(path: string): Promise<ApiReply<unknown>> { return this.request('DELETE', path); }
}

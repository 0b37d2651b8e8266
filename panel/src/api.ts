// The REST API as the panel uses it. Every call answers a closed union: the panel shows
// `{ code, message }` as it came from the server, and a 401 asks for a token instead.
import { apiBase, nextLink } from './links.js';

const TOKEN_KEY = 'midotrace.token';

export type ApiResult<T> =
  | { ok: true; status: number; data: T; next: string | null }
  | { ok: false; status: number; code: string; message: string };

export function getToken(): string | null {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch { /* storage disabled: the token lives until reload */ }
}

type Listener = (message: string) => void;
let onUnauthorized: Listener = () => {};
/** Called whenever the API answers 401, so the app can ask for a token. */
export function whenUnauthorized(l: Listener): void { onUnauthorized = l; }

const base = apiBase(location.pathname);

function authHeaders(accept: string): Record<string, string> {
  const headers: Record<string, string> = { Accept: accept };
  const token = getToken();
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/**
 * An event stream's body, null when the server refused it, or 'unauthorized' on a 401 (the list
 * request of the same view asks for the token; the stream does not ask again).
 */
export async function streamRequest(path: string, lastEventId: string | null, signal: AbortSignal): Promise<ReadableStream<Uint8Array> | null | 'unauthorized'> {
  const headers = authHeaders('text/event-stream');
  if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
  const res = await fetch(base + path, { headers, signal, cache: 'no-store' });
  if (res.status === 401) return 'unauthorized';
  if (!res.ok || res.body === null) return null;
  return res.body;
}

/**
 * Fetches a file with the token (a plain link cannot send it) and hands it to the browser as a
 * download named `filename`; the API's error when it refuses.
 */
export async function download(path: string, filename: string): Promise<ApiResult<null>> {
  let res: Response;
  try {
    res = await fetch(base + path, { headers: authHeaders('*/*') });
  } catch (err) {
    return { ok: false, status: 0, code: 'unreachable', message: `the daemon cannot be reached (${String(err)})` };
  }
  if (!res.ok) {
    let e: { code?: unknown; message?: unknown } = {};
    try { e = JSON.parse(await res.text()) as typeof e; } catch { /* not JSON */ }
    const message = typeof e.message === 'string' ? e.message : res.statusText;
    if (res.status === 401) onUnauthorized(message);
    return { ok: false, status: res.status, code: typeof e.code === 'string' ? e.code : `http_${res.status}`, message };
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { ok: true, status: res.status, data: null, next: null };
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  const headers = authHeaders('application/json');
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  } catch (err) {
    return { ok: false, status: 0, code: 'unreachable', message: `the daemon cannot be reached (${String(err)})` };
  }
  const text = await res.text();
  let json: unknown = null;
  if (text !== '') {
    try { json = JSON.parse(text); } catch { /* shown below as a non-JSON answer */ }
  }
  if (!res.ok) {
    const e = json as { code?: unknown; message?: unknown } | null;
    const message = typeof e?.message === 'string' ? e.message : (text.slice(0, 200) || res.statusText);
    if (res.status === 401) onUnauthorized(message);
    return { ok: false, status: res.status, code: typeof e?.code === 'string' ? e.code : `http_${res.status}`, message };
  }
  return { ok: true, status: res.status, data: json as T, next: nextLink(res.headers.get('Link'), base) };
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown) => call<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
  del: (path: string) => call<null>('DELETE', path),
};

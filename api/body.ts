// Reads a JSON request body with a size limit. Written here rather than taken from a body-parser so
// that every failure is one of our stable codes: whatever bytes arrive, the answer is a clear 4xx.
import type { Context } from 'koa';

export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; code: 'unsupported_media_type' | 'body_too_large' | 'invalid_body'; message: string };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/** `application/json` (or `application/*+json`), optionally with `charset=utf-8`. */
export function checkJsonType(header: string | undefined): string | null {
  if (header === undefined || header === '') return 'Content-Type must be application/json';
  const [type, ...params] = header.split(';');
  if (!JSON_TYPE.test(type!.trim().toLowerCase())) return `Content-Type must be application/json, not ${type!.trim()}`;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k?.trim().toLowerCase() === 'charset' && !/^"?utf-?8"?$/i.test(v?.trim() ?? '')) {
      return `Content-Type charset must be utf-8, not ${v?.trim() ?? ''}`;
    }
  }
  return null;
}

/**
 * Past this many bytes an oversized upload is no longer read to its end: the connection is closed
 * after the 413, and a client still sending may see a reset instead of the answer.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Reads and discards the rest of the request (up to DRAIN_LIMIT_BYTES). Answering while the client is
 * still sending and then closing makes its next write fail with EPIPE before it ever reads the 413;
 * letting the upload finish first means every client reads the answer.
 */
function drain(ctx: Context): Promise<void> {
  const req = ctx.req;
  if (req.complete) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = (): void => {
      req.off('data', onData); req.off('end', done); req.off('error', done); req.off('aborted', done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT_BYTES) { req.pause(); done(); }
    };
    req.on('data', onData); req.on('end', done); req.on('error', done); req.on('aborted', done);
    req.resume();
  });
}

async function tooLarge(ctx: Context, limit: number): Promise<BodyResult> {
  await drain(ctx);
  ctx.set('Connection', 'close');
  return { ok: false, code: 'body_too_large', message: `request body exceeds ${limit} bytes` };
}

function readRaw(ctx: Context, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const req = ctx.req;
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      // Stop listening before resolving: tooLarge() then drains what is left.
      if (size > limit) { cleanup(); req.pause(); resolve(null); return; }
      chunks.push(chunk);
    };
    const onEnd = (): void => { cleanup(); resolve(Buffer.concat(chunks, size)); };
    const onError = (err: Error): void => { cleanup(); reject(err); };
    const onAborted = (): void => { cleanup(); reject(new Error('request aborted')); };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Checks the content type, reads at most `limit` bytes and parses them as JSON. */
export async function readJsonBody(ctx: Context, limit: number): Promise<BodyResult> {
  const typeError = checkJsonType(ctx.get('Content-Type') || undefined);
  if (typeError !== null) {
    ctx.req.resume();
    return { ok: false, code: 'unsupported_media_type', message: typeError };
  }
  const declared = ctx.get('Content-Length');
  if (declared !== '' && Number(declared) > limit) return tooLarge(ctx, limit);
  let raw: Buffer | null;
  try {
    raw = await readRaw(ctx, limit);
  } catch {
    // The client went away mid-body: nobody will read the answer, but it must not count as a 500.
    return { ok: false, code: 'invalid_body', message: 'body: the request was cut short' };
  }
  if (raw === null) return tooLarge(ctx, limit);
  if (raw.length === 0) return { ok: false, code: 'invalid_body', message: 'body: required, a JSON document' };
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, code: 'invalid_body', message: 'body: not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, code: 'invalid_body', message: `body: not valid JSON (${(e as Error).message})` };
  }
}

// Bearer-token auth. With no tokens configured the API is open (the daemon then listens on loopback
// only). Otherwise every call but GET /healthz (and the panel's static files, which hold no data)
// needs a token; changes (POST, PUT, DELETE, including POST /simulations) need an admin token.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { ApiDeps } from './deps.js';
import { fail } from './errors.js';

type Role = ApiDeps['tokens'][number]['role'];

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Paths any client may read without a token. */
export function isPublic(method: string, path: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path === '/healthz' || path === '/' || path === '/ui' || path.startsWith('/ui/');
}

export function authMiddleware(tokens: ApiDeps['tokens']): (ctx: Context, next: Next) => Promise<void> {
  // Compare digests in constant time so a token cannot be guessed byte by byte from timings.
  const known = tokens.map((t) => ({ digest: digest(t.token), role: t.role }));
  const roleOf = (token: string): Role | null => {
    const d = digest(token);
    let role: Role | null = null;
    for (const k of known) if (timingSafeEqual(k.digest, d) && role !== 'admin') role = k.role;
    return role;
  };
  return async (ctx, next) => {
    if (known.length === 0 || isPublic(ctx.method, ctx.path)) return next();
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(ctx.get('Authorization'));
    if (m === null) {
      ctx.set('WWW-Authenticate', 'Bearer realm="midotrace"');
      return fail(ctx, 'unauthorized', 'an Authorization: Bearer <token> header is required');
    }
    const role = roleOf(m[1]!);
    if (role === null) {
      ctx.set('WWW-Authenticate', 'Bearer realm="midotrace", error="invalid_token"');
      return fail(ctx, 'unauthorized', 'unknown token');
    }
    if (role !== 'admin' && !READ_METHODS.has(ctx.method)) {
      return fail(ctx, 'forbidden', `a read token cannot ${ctx.method} ${ctx.path}; an admin token is needed`);
    }
    return next();
  };
}

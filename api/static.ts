// The control panel's static files under /ui/ (when the daemon is given a panel directory). Paths
// are resolved inside the directory only: `..`, encoded slashes and NUL bytes are refused.
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { Context, Next } from 'koa';
import { fail } from './errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

/** The file under `root` that `rel` (the URL path after /ui/) names, or null when it may not be served. */
export function panelFile(root: string, rel: string): string | null {
  let decoded: string;
  try { decoded = decodeURIComponent(rel); } catch { return null; }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const parts = decoded.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  const base = resolve(root);
  const full = resolve(join(base, ...parts));
  return full === base || full.startsWith(base + sep) ? full : null;
}

export function panelMiddleware(root: string): (ctx: Context, next: Next) => Promise<void> {
  return async (ctx, next) => {
    if (ctx.path !== '/ui' && !ctx.path.startsWith('/ui/')) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      return fail(ctx, 'method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}`);
    }
    if (ctx.path === '/ui') { ctx.redirect('/ui/'); return; }
    let file = panelFile(root, ctx.path.slice('/ui/'.length));
    if (file === null) return fail(ctx, 'not_found', `no panel file ${ctx.path}`);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const data = await readFile(file);
      ctx.type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.body = data;
    } catch {
      fail(ctx, 'not_found', `no panel file ${ctx.path}`);
    }
  };
}

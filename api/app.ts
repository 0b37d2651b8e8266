// The REST API (SPEC §6) as a Koa app. It holds no state: everything comes from ApiDeps, so the
// daemon and the tests build it the same way. Every answer is JSON, errors included.
import Koa, { type Context, type Next } from 'koa';
import Router from '@koa/router';
import type { ApiDeps } from './deps.js';
import { authMiddleware } from './auth.js';
import { fail } from './errors.js';
import { storeErrorCode } from '../model/errors.js';
import { panelMiddleware } from './static.js';
import { registerTraceRoutes } from './traces.js';
import { registerConditionRoutes } from './conditions.js';
import { registerSimulationRoutes } from './simulations.js';
import { buildOpenApi } from './openapi.js';
import { NoQuerySchema } from './schemas.js';
import { readQuery } from './query.js';

/** Outermost: unexpected exceptions become a 500 with a hidden message; leftovers become JSON. */
async function errorsAsJson(ctx: Context, next: Next): Promise<void> {
  ctx.set('X-Content-Type-Options', 'nosniff');
  try {
    await next();
  } catch (err) {
    // A store that cannot reach its backend says so with a stable code (model/errors.ts): a 503 the
    // client may retry, not a 500.
    const code = storeErrorCode(err);
    if (code !== undefined) {
      fail(ctx, code, (err as Error).message);
      return;
    }
    ctx.app.emit('error', err, ctx);
    // A half-read request body cannot be answered on a kept-alive connection.
    if (!ctx.req.complete) ctx.set('Connection', 'close');
    fail(ctx, 'internal', String(err));
    return;
  }
  if (ctx.status === 404 && (ctx.body === undefined || ctx.body === null)) {
    fail(ctx, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
  } else if ((ctx.status === 405 || ctx.status === 501) && typeof ctx.body !== 'object') {
    fail(ctx, 'method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow') || 'none'}`);
  }
}

function registerSystemRoutes(router: Router, deps: ApiDeps): void {
  let openapi: string | null = null;
  router.get('/healthz', (ctx) => {
    const h = deps.health();
    ctx.status = h.ok ? 200 : 503;
    ctx.body = h;
  });
  router.get('/datapath', (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    ctx.body = deps.datapath?.() ?? { hostId: deps.hostId, status: 'disabled', ports: [], tunnels: [] };
  });
  router.get('/metrics', async (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    const text = await deps.metrics();
    ctx.type = 'text/plain; version=0.0.4; charset=utf-8';
    ctx.body = text;
  });
  // Someone who types the daemon's address into a browser wants the panel.
  router.get('/', (ctx) => {
    ctx.redirect('/ui/');
  });
  router.get('/topology', (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    const t = deps.topology();
    if (t === null) return fail(ctx, 'backend_unavailable', 'no topology loaded yet');
    ctx.body = { version: t.version, appliedAt: t.appliedAt, topology: t.doc };
  });
  router.get('/openapi.json', (ctx) => {
    openapi ??= JSON.stringify(buildOpenApi());
    ctx.type = 'application/json';
    ctx.body = openapi;
  });
}

/** Times every request for /metrics, labelled by route template so ids do not explode the series. */
function timing(deps: ApiDeps) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const t0 = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? (ctx.path.startsWith('/ui') ? '/ui' : 'unmatched');
      deps.observeRequest!(ctx.method, String(route), ctx.status, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  };
}

export function createApp(deps: ApiDeps): Koa {
  const app = new Koa();
  const router = new Router();
  if (deps.observeRequest) app.use(timing(deps));
  registerSystemRoutes(router, deps);
  registerTraceRoutes(router, deps);
  registerConditionRoutes(router, deps);
  registerSimulationRoutes(router, deps);
  app.use(errorsAsJson);
  app.use(authMiddleware(deps.tokens));
  if (deps.panelDir !== undefined) app.use(panelMiddleware(deps.panelDir));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

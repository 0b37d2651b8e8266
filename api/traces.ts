// GET /traces (paged, newest first), GET and DELETE /traces/{id} (SPEC §6).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { ApiDeps } from './deps.js';
import type { TraceQuery } from '../model/stores.js';
import { fail } from './errors.js';
import { readQuery } from './query.js';
import { parseTime, TraceDiffQuerySchema, TraceExportQuerySchema, TraceListQuerySchema, TraceStreamQuerySchema } from './schemas.js';
import { diffTraces } from '../model/trace-diff.js';
import { traceToOtlp } from '../model/trace-otlp.js';
import { TraceStream, type StreamFilter } from './trace-stream.js';

export const DEFAULT_TRACE_LIMIT = 100;

/** Ids are UUIDs; anything far longer cannot name a trace and is answered 404 without a lookup. */
const MAX_ID_LENGTH = 64;

/** The URL of the page after this one: same path and filters, the store's next cursor. */
function nextPageUrl(ctx: Context, cursor: string): string {
  const params = new URLSearchParams(ctx.querystring);
  params.set('cursor', cursor);
  // Absolute when the client sent a Host header (Koa 3's ctx.origin is the Origin header, not this).
  const origin = ctx.host !== '' ? `${ctx.protocol}://${ctx.host}` : '';
  return `${origin}${ctx.path}?${params.toString()}`;
}

/** The filters of GET /traces and /traces/stream, or null after answering 400. */
function readFilters(ctx: Context, q: { conditionId?: string; hostId?: string; result?: StreamFilter['result']; since?: string; until?: string }): StreamFilter | null {
  const f: StreamFilter = {};
  if (q.conditionId !== undefined) f.conditionId = q.conditionId;
  if (q.hostId !== undefined) f.hostId = q.hostId;
  if (q.result !== undefined) f.result = q.result;
  for (const key of ['since', 'until'] as const) {
    const raw = q[key];
    if (raw === undefined) continue;
    const ms = parseTime(raw);
    if (ms === null) { fail(ctx, 'invalid_query', `query.${key}: must be an ISO-8601 time or milliseconds since the epoch`); return null; }
    f[key] = ms;
  }
  return f;
}

async function listTraces(ctx: Context, deps: ApiDeps): Promise<void> {
  const q = readQuery(ctx, TraceListQuerySchema);
  if (q === null) return;
  const f = readFilters(ctx, q);
  if (f === null) return;
  const query: TraceQuery = { limit: q.limit ?? DEFAULT_TRACE_LIMIT, ...f };
  if (q.cursor !== undefined) query.cursor = q.cursor;
  const r = await deps.traces.list(query);
  if (!r.ok) return fail(ctx, r.code === 'invalid_cursor' ? 'invalid_cursor' : 'invalid_query', r.message);
  if (r.nextCursor !== null) ctx.set('Link', `<${nextPageUrl(ctx, r.nextCursor)}>; rel="next"`);
  ctx.body = r.items;
}

export function registerTraceRoutes(router: Router, deps: ApiDeps): void {
  router.get('/traces', (ctx) => listTraces(ctx, deps));

  const stream = new TraceStream(deps.traces);
  // Before /traces/:id, which would take `stream` for an id.
  router.get('/traces/stream', async (ctx) => {
    const q = readQuery(ctx, TraceStreamQuerySchema);
    if (q === null) return;
    const f = readFilters(ctx, q);
    if (f === null) return;
    const last = ctx.get('Last-Event-ID');
    // An event stream has no end: no socket timeout, no buffering proxy.
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.type = 'text/event-stream';
    ctx.status = 200;
    ctx.body = await stream.open(f, last === '' ? undefined : last);
  });

  router.get('/traces/diff', async (ctx) => {
    const q = readQuery(ctx, TraceDiffQuerySchema);
    if (q === null) return;
    const [a, b] = await Promise.all([deps.traces.get(q.a.toLowerCase()), deps.traces.get(q.b.toLowerCase())]);
    if (a === null) return fail(ctx, 'not_found', `a: no trace ${q.a}`);
    if (b === null) return fail(ctx, 'not_found', `b: no trace ${q.b}`);
    ctx.body = diffTraces(a, b);
  });

  router.get('/traces/:id', async (ctx) => {
    const id = ctx.params.id!.toLowerCase();
    const trace = id.length <= MAX_ID_LENGTH ? await deps.traces.get(id) : null;
    if (trace === null) return fail(ctx, 'not_found', `no trace ${id}`);
    ctx.body = trace;
  });

  router.get('/traces/:id/export', async (ctx) => {
    const q = readQuery(ctx, TraceExportQuerySchema);
    if (q === null) return;
    const id = ctx.params.id!.toLowerCase();
    const trace = id.length <= MAX_ID_LENGTH ? await deps.traces.get(id) : null;
    if (trace === null) return fail(ctx, 'not_found', `no trace ${id}`);
    const format = q.format ?? 'json';
    // A file to save: its name says what it holds and which trace.
    ctx.set('Content-Disposition', `attachment; filename="trace-${trace.id}.${format === 'otlp' ? 'otlp.json' : format}"`);
    if (format === 'pcap') {
      ctx.type = 'application/vnd.tcpdump.pcap';
      ctx.body = Buffer.from(deps.tracePcap(trace));
    } else {
      ctx.type = 'application/json';
      ctx.body = format === 'otlp' ? traceToOtlp(trace) : trace;
    }
  });

  router.delete('/traces/:id', async (ctx) => {
    const id = ctx.params.id!.toLowerCase();
    const existed = id.length <= MAX_ID_LENGTH && await deps.traces.delete(id);
    if (!existed) return fail(ctx, 'not_found', `no trace ${id}`);
    ctx.status = 204;
  });
}

// Trace conditions (SPEC §6): list, create, read, store under an id, delete. What a client stores
// comes back in one spelling (model/condition-normalize.ts) with the server's creationTimestampMs;
// `?stats=true` adds a read-only `hits` count.
import type Router from '@koa/router';
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { ApiDeps } from './deps.js';
import type { TraceConditionJson } from '../model/trace.js';
import { uuid } from '../model/topology/schema.js';
import { deviceLookupOf, normalizeTraceCondition, type NormalizedCondition } from '../model/condition-normalize.js';
import { storeErrorCode } from '../model/errors.js';
import { readJsonBody } from './body.js';
import { fail } from './errors.js';
import { readQuery } from './query.js';
import { ConditionListQuerySchema, formatIssues, NoQuerySchema, TraceConditionSchema, type TraceConditionInput } from './schemas.js';

const UuidSchema = uuid();

type ConditionBody = (NormalizedCondition & { ok: true })['condition'];

/** The validated, normalised body, or null after answering 4xx. */
async function readCondition(ctx: Context, deps: ApiDeps): Promise<ConditionBody | null> {
  const body = await readJsonBody(ctx, deps.bodyLimitBytes);
  if (!body.ok) { fail(ctx, body.code, body.message); return null; }
  const r = TraceConditionSchema.safeParse(body.value);
  if (!r.success) {
    const rootProblem = r.error.issues.some((i) => i.path.length === 0 && i.code !== 'unrecognized_keys');
    fail(ctx, rootProblem ? 'invalid_body' : 'invalid_field', formatIssues(r.error.issues, body.value));
    return null;
  }
  // No topology yet, or an empty one (ZooKeeper not answering at start): scopes cannot be checked.
  const topo = deps.topology()?.doc;
  const loaded = topo !== undefined && ((topo.ports?.length ?? 0) + (topo.bridges?.length ?? 0) + (topo.routers?.length ?? 0)) > 0;
  const n = normalizeTraceCondition(r.data satisfies TraceConditionInput, loaded ? deviceLookupOf(topo) : null);
  if (n.ok) return n.condition;
  fail(ctx, 'invalid_field', `${n.path}: ${n.message}`);
  return null;
}

/**
 * Runs a write; when its outcome is unknown (the store lost its connection after sending it), the
 * answer names where the condition would be, so that a GET, or a retry with the same id or name,
 * tells the client whether it landed.
 */
async function writing<T>(ctx: Context, id: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    if (storeErrorCode(e) === 'write_outcome_unknown') location(ctx, id);
    throw e;
  }
}

async function withStats(c: TraceConditionJson, deps: ApiDeps): Promise<TraceConditionJson & { hits: number }> {
  return { ...c, hits: await deps.conditionHits(c.id) };
}

function location(ctx: Context, id: string): void {
  ctx.set('Location', `/trace_conditions/${id}`);
}

export function registerConditionRoutes(router: Router, deps: ApiDeps): void {
  router.get('/trace_conditions', async (ctx) => {
    const q = readQuery(ctx, ConditionListQuerySchema);
    if (q === null) return;
    const list = await deps.conditions.list();
    ctx.body = q.stats === 'true' ? await Promise.all(list.map((c) => withStats(c, deps))) : list;
  });

  router.post('/trace_conditions', async (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    const body = await readCondition(ctx, deps);
    if (body === null) return;
    // The id is chosen here, not by the store: an answer of unknown outcome can then say where to look.
    const c = { ...body, id: body.id ?? randomUUID() };
    const r = await writing(ctx, c.id, () => deps.conditions.create(c));
    if (!r.ok) {
      return r.code === 'duplicate_id'
        ? fail(ctx, 'duplicate_id', `id: a trace condition with id ${c.id ?? ''} already exists`)
        : fail(ctx, 'duplicate_name', `name: a trace condition named ${JSON.stringify(c.name)} already exists`);
    }
    ctx.status = 201;
    location(ctx, r.condition.id);
    ctx.body = r.condition;
  });

  router.get('/trace_conditions/:id', async (ctx) => {
    const q = readQuery(ctx, ConditionListQuerySchema);
    if (q === null) return;
    const id = ctx.params.id!;
    const c = UuidSchema.safeParse(id).success ? await deps.conditions.get(id.toLowerCase()) : null;
    if (c === null) return fail(ctx, 'not_found', `no trace condition ${id}`);
    ctx.body = q.stats === 'true' ? await withStats(c, deps) : c;
  });

  router.put('/trace_conditions/:id', async (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    const id = ctx.params.id!.toLowerCase();
    if (!UuidSchema.safeParse(id).success) {
      ctx.req.resume();
      return fail(ctx, 'invalid_field', `id: the URL's id ${JSON.stringify(ctx.params.id)} must be a UUID`);
    }
    const c = await readCondition(ctx, deps);
    if (c === null) return;
    if (c.id !== undefined && c.id !== id) {
      return fail(ctx, 'id_mismatch', `id: the body's id ${c.id} differs from the URL's ${id}`);
    }
    const r = await writing(ctx, id, () => deps.conditions.put(id, c));
    if (!r.ok) {
      return r.code === 'duplicate_name'
        ? fail(ctx, 'duplicate_name', `name: a trace condition named ${JSON.stringify(c.name)} already exists`)
        : fail(ctx, 'id_mismatch', `id: the body's id ${c.id ?? ''} differs from the URL's ${id}`);
    }
    ctx.status = r.created ? 201 : 200;
    if (r.created) location(ctx, r.condition.id);
    ctx.body = r.condition;
  });

  router.delete('/trace_conditions/:id', async (ctx) => {
    const id = ctx.params.id!.toLowerCase();
    const existed = UuidSchema.safeParse(id).success && await writing(ctx, id, () => deps.conditions.delete(id));
    if (!existed) return fail(ctx, 'not_found', `no trace condition ${id}`);
    ctx.status = 204;
  });
}

// Trace conditions (SPEC §6): list, create, read, store under an id, delete. What a client stores
// comes back exactly, plus creationTimestampMs; `?stats=true` adds a read-only `hits` count.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { ApiDeps } from './deps.js';
import type { TraceConditionJson } from '../model/trace.js';
import { uuid } from '../model/topology/schema.js';
import { readJsonBody } from './body.js';
import { fail } from './errors.js';
import { readQuery } from './query.js';
import { ConditionListQuerySchema, formatIssues, NoQuerySchema, TraceConditionSchema, type TraceConditionInput } from './schemas.js';

const UuidSchema = uuid();

/** The validated body, or null after answering 4xx. */
async function readCondition(ctx: Context, deps: ApiDeps): Promise<TraceConditionInput | null> {
  const body = await readJsonBody(ctx, deps.bodyLimitBytes);
  if (!body.ok) { fail(ctx, body.code, body.message); return null; }
  const r = TraceConditionSchema.safeParse(body.value);
  if (r.success) return r.data;
  const rootProblem = r.error.issues.some((i) => i.path.length === 0 && i.code !== 'unrecognized_keys');
  fail(ctx, rootProblem ? 'invalid_body' : 'invalid_field', formatIssues(r.error.issues, body.value));
  return null;
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
    const c = await readCondition(ctx, deps);
    if (c === null) return;
    const r = await deps.conditions.create(c);
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
    const c = UuidSchema.safeParse(id).success ? await deps.conditions.get(id) : null;
    if (c === null) return fail(ctx, 'not_found', `no trace condition ${id}`);
    ctx.body = q.stats === 'true' ? await withStats(c, deps) : c;
  });

  router.put('/trace_conditions/:id', async (ctx) => {
    if (readQuery(ctx, NoQuerySchema) === null) return;
    const id = ctx.params.id!;
    if (!UuidSchema.safeParse(id).success) {
      ctx.req.resume();
      return fail(ctx, 'invalid_field', `id: the URL's id ${JSON.stringify(id)} must be a UUID`);
    }
    const c = await readCondition(ctx, deps);
    if (c === null) return;
    if (c.id !== undefined && c.id !== id) {
      return fail(ctx, 'id_mismatch', `id: the body's id ${c.id} differs from the URL's ${id}`);
    }
    const r = await deps.conditions.put(id, c);
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
    const id = ctx.params.id!;
    const existed = UuidSchema.safeParse(id).success && await deps.conditions.delete(id);
    if (!existed) return fail(ctx, 'not_found', `no trace condition ${id}`);
    ctx.status = 204;
  });
}

// POST /simulations (SPEC §6): one packet object gives one result object; an array gives an array
// of results, simulated in order. `?trace=true` traces every packet whatever the conditions say.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { ApiDeps } from './deps.js';
import { readJsonBody } from './body.js';
import { fail } from './errors.js';
import { inputPath } from '../model/packet.js';
import { readQuery } from './query.js';
import { SimulationsQuerySchema } from './schemas.js';

async function simulate(ctx: Context, deps: ApiDeps): Promise<void> {
  const q = readQuery(ctx, SimulationsQuerySchema);
  if (q === null) { ctx.req.resume(); return; }
  const body = await readJsonBody(ctx, deps.bodyLimitBytes);
  if (!body.ok) return fail(ctx, body.code, body.message);
  const many = Array.isArray(body.value);
  if (!many && (body.value === null || typeof body.value !== 'object')) {
    return fail(ctx, 'invalid_body', 'body: must be a packet object ({ inPort, packet | frame }) or an array of them');
  }
  const inputs: readonly unknown[] = many ? body.value as unknown[] : [body.value];
  const out = await deps.simulate(inputs, q.trace === 'true');
  if (out.ok) {
    // The workers serialised the results; a single packet's result is the array's one element.
    ctx.type = 'application/json';
    ctx.body = many ? out.json : out.json.subarray(1, out.json.length - 1);
    return;
  }
  if (out.code === 'invalid_packet' || out.code === 'unknown_port') {
    return fail(ctx, out.code, `${inputPath(many ? `[${out.index}]` : '', out.path)}: ${out.message}`);
  }
  return fail(ctx, out.code, out.message);
}

export function registerSimulationRoutes(router: Router, deps: ApiDeps): void {
  router.post('/simulations', (ctx) => simulate(ctx, deps));
}

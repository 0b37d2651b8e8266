// Query strings are validated like bodies: unknown or repeated parameters are errors, not ignored,
// so a typo such as `?limt=5` is reported instead of silently returning the default page.
import type { Context } from 'koa';
import type { z } from 'zod';
import { fail } from './errors.js';
import { formatIssues } from './schemas.js';

/** The parsed query, or null after answering 400 invalid_query. */
export function readQuery<S extends z.ZodType<unknown, Record<string, string | undefined>>>(
  ctx: Context, schema: S,
): z.output<S> | null {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.query)) {
    if (Array.isArray(v)) {
      fail(ctx, 'invalid_query', `query.${k}: given more than once`);
      return null;
    }
    if (v !== undefined) flat[k] = v;
  }
  const r = schema.safeParse(flat);
  if (!r.success) {
    fail(ctx, 'invalid_query', formatIssues(r.error.issues, flat, 'query', ['query']));
    return null;
  }
  return r.data;
}

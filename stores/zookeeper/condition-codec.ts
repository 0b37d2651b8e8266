// Trace conditions as znode data: JSON, checked with the same schema the API uses, because anyone
// with ZooKeeper access can write there. The znode name is the id; a body id must agree with it.
import { TraceConditionSchema } from '../../model/condition-schema.js';
import type { TraceConditionJson } from '../../model/trace.js';
import { jsonObject, parseZnodeJson } from './znode-json.js';

export type DecodeResult = { ok: true; condition: TraceConditionJson } | { ok: false; message: string };

export function decodeCondition(id: string, data: Buffer): DecodeResult {
  const parsed = parseZnodeJson(data);
  if (!parsed.ok) return parsed;
  const body = jsonObject(parsed.value);
  if (body === undefined) return { ok: false, message: 'must be a JSON object' };
  if (body.id !== undefined && body.id !== id) return { ok: false, message: `id: ${JSON.stringify(body.id)} differs from the znode name ${id}` };
  const withId = { ...body, id };
  const check = validateCondition(withId);
  return check === null ? { ok: true, condition: withId as unknown as TraceConditionJson } : { ok: false, message: check };
}

/** null when valid, else `path: message; ...` */
export function validateCondition(c: unknown): string | null {
  const r = TraceConditionSchema.safeParse(c);
  if (r.success) return null;
  return r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * Just enough of a stored body to maintain the name index and keep a creation time, even when the
 * body is invalid.
 */
export function looseFields(data: Buffer): { name?: string; creationTimestampMs?: number } {
  const parsed = parseZnodeJson(data);
  const v = parsed.ok ? jsonObject(parsed.value) : undefined;
  const out: { name?: string; creationTimestampMs?: number } = {};
  if (typeof v?.name === 'string') out.name = v.name;
  if (typeof v?.creationTimestampMs === 'number') out.creationTimestampMs = v.creationTimestampMs;
  return out;
}

export function encodeCondition(c: TraceConditionJson): Buffer {
  return Buffer.from(JSON.stringify(c), 'utf8');
}

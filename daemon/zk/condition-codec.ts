// Trace conditions as znode data: JSON, checked with the same schema the API uses, because anyone
// with ZooKeeper access can write there. The znode name is the id; a body id must agree with it.
import { TraceConditionSchema } from '../../api/schemas.js';
import type { TraceConditionJson } from '../../engine/trace/types.js';

export type DecodeResult = { ok: true; condition: TraceConditionJson } | { ok: false; message: string };

export function decodeCondition(id: string, data: Buffer): DecodeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch (e) {
    return { ok: false, message: `not valid JSON: ${(e as Error).message}` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, message: 'must be a JSON object' };
  const body = raw as Record<string, unknown>;
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

/** Just enough of a stored body to maintain the name index, even when the body is invalid. */
export function looseName(data: Buffer): string | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { name?: unknown };
    return typeof v?.name === 'string' ? v.name : undefined;
  } catch {
    return undefined;
  }
}

export function looseCreation(data: Buffer): number | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { creationTimestampMs?: unknown };
    return typeof v?.creationTimestampMs === 'number' ? v.creationTimestampMs : undefined;
  } catch {
    return undefined;
  }
}

export function encodeCondition(c: TraceConditionJson): Buffer {
  return Buffer.from(JSON.stringify(c), 'utf8');
}

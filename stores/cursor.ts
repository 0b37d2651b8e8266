// The opaque paging cursor of TraceStore.list: the sort key (startedAt, id) of the last trace on a
// page. Keyset paging, not offsets, so that traces inserted meanwhile cannot shift pages.

import { MAX_TRACE_LIST_LIMIT, type TraceListError, type TraceQuery } from '../model/stores.js';

export interface TraceCursor { startedAtMs: number; id: string }

// An empty id is a pure time bound (everything before startedAtMs): the Cassandra store ends a page
// that hit its scan cap there (stores/cassandra/trace-reader.ts).
const BODY = /^(-?\d{1,16}):([0-9A-Za-z-]{0,64})$/;

export function encodeCursor(startedAtMs: number, id: string): string {
  return Buffer.from(`${startedAtMs}:${id}`, 'utf8').toString('base64url');
}

/** null when the string is not a cursor this module made. */
export function decodeCursor(cursor: string): TraceCursor | null {
  if (cursor.length === 0 || cursor.length > 120) return null;
  const m = BODY.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (m === null) return null;
  const startedAtMs = Number(m[1]);
  if (!Number.isSafeInteger(startedAtMs)) return null;
  return { startedAtMs, id: m[2]! };
}

export type CheckedQuery =
  | { ok: true; cursor: TraceCursor | null }
  | { ok: false; code: TraceListError; message: string };

/** The checks every TraceStore.list makes before touching its backend. */
export function checkTraceQuery(q: TraceQuery): CheckedQuery {
  if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > MAX_TRACE_LIST_LIMIT) {
    return { ok: false, code: 'invalid_limit', message: `limit must be an integer from 1 to ${MAX_TRACE_LIST_LIMIT}` };
  }
  for (const [key, v] of [['since', q.since], ['until', q.until]] as const) {
    if (v !== undefined && !Number.isFinite(v)) {
      return { ok: false, code: 'invalid_time', message: `${key} must be a time in milliseconds since the epoch` };
    }
  }
  if (q.cursor === undefined) return { ok: true, cursor: null };
  const cursor = decodeCursor(q.cursor);
  if (cursor === null) return { ok: false, code: 'invalid_cursor', message: 'cursor is not one this server issued' };
  return { ok: true, cursor };
}

// LABEL resolution (SPEC §7): an id, a unique id prefix of at least 4 characters, or (for trace
// conditions) a name. An ambiguous prefix is an error that lists the candidates.
import type { TraceConditionJson, TraceSummary } from '../model/trace.js';
import type { ApiClient } from './api-client.js';
import { UserError } from './exit.js';

export const MIN_PREFIX = 4;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX_RE = /^[0-9a-f][0-9a-f-]*$/i;

export type LabelResult<T> = { ok: true; item: T } | { ok: false; message: string };

function ambiguous(label: string, candidates: readonly string[]): string {
  const shown = candidates.slice(0, 10).join(', ');
  const more = candidates.length > 10 ? ` and ${candidates.length - 10} more` : '';
  return `${label} is ambiguous: it matches ${shown}${more}`;
}

const conditionText = (c: TraceConditionJson): string => (c.name !== undefined ? `${c.id} (${c.name})` : c.id);

/** Exact id first, then exact name, then a unique id prefix. */
export function resolveCondition(label: string, list: readonly TraceConditionJson[]): LabelResult<TraceConditionJson> {
  const lower = label.toLowerCase();
  const byId = list.find((c) => c.id.toLowerCase() === lower);
  if (byId !== undefined) return { ok: true, item: byId };
  const byName = list.find((c) => c.name === label);
  if (byName !== undefined) return { ok: true, item: byName };
  if (label.length < MIN_PREFIX) {
    return { ok: false, message: `no trace condition is named ${label} (an id prefix needs at least ${MIN_PREFIX} characters)` };
  }
  const matches = list.filter((c) => c.id.toLowerCase().startsWith(lower));
  if (matches.length === 1) return { ok: true, item: matches[0]! };
  if (matches.length === 0) return { ok: false, message: `no trace condition has the id, id prefix or name ${label}` };
  return { ok: false, message: ambiguous(label, matches.map(conditionText)) };
}

export async function fetchCondition(client: ApiClient, label: string): Promise<TraceConditionJson> {
  const { body } = await client.get<TraceConditionJson[]>('/trace_conditions');
  const r = resolveCondition(label, body);
  if (!r.ok) throw new UserError(r.message);
  return r.item;
}

/** Pages of 1,000 read while looking for other traces with the same prefix. */
const MAX_SCAN_PAGES = 20;
/** How much earlier than its id's timestamp a trace may have started (batch latency). */
const START_SLACK_MS = 10 * 60_000;

/**
 * The startedAt window of traces whose (time-ordered, UUIDv7) id starts with these hex digits:
 * an id's first 48 bits are the millisecond it was made, at or shortly after the trace started.
 */
export function prefixWindow(prefix: string): { since: number; until: number } {
  const hex = prefix.replaceAll('-', '').slice(0, 12).toLowerCase();
  const lo = parseInt(hex.padEnd(12, '0'), 16);
  const hi = parseInt(hex.padEnd(12, 'f'), 16) + 1;
  return { since: Math.max(0, lo - START_SLACK_MS), until: hi };
}

/** A trace id from a full id or a unique prefix. */
export async function resolveTraceId(client: ApiClient, label: string): Promise<string> {
  if (UUID_RE.test(label)) return label.toLowerCase();
  if (label.length < MIN_PREFIX) throw new UserError(`trace label ${label} is too short: give an id or a prefix of at least ${MIN_PREFIX} characters`);
  if (!PREFIX_RE.test(label)) throw new UserError(`no trace has an id starting with ${label}`);
  const lower = label.toLowerCase();
  const { since, until } = prefixWindow(lower);
  const found: string[] = [];
  let url: string | null = `/traces?limit=1000&since=${since}&until=${until}`;
  for (let page = 0; url !== null; page++) {
    if (page === MAX_SCAN_PAGES) {
      if (found.length === 1) throw new UserError(`trace prefix ${label} matches too many traces to be sure it is unique: give more characters`);
      break;
    }
    const reply: { body: TraceSummary[]; next: string | null } = await client.get<TraceSummary[]>(url);
    for (const t of reply.body) if (t.id.toLowerCase().startsWith(lower)) found.push(t.id);
    if (found.length > 1) throw new UserError(ambiguous(label, found));
    url = reply.next;
  }
  if (found.length === 0) throw new UserError(`no trace has an id starting with ${label}`);
  return found[0]!;
}

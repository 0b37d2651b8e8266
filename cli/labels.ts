// LABEL resolution (SPEC §7): an id, a unique id prefix or suffix of at least 4 characters, or a name.
// A label that could mean two things (a name that is also another object's id prefix, a prefix two
// ids share) is an error that lists the candidates: guessing would act on the wrong object.
import type { TraceConditionJson, TraceSummary } from '../model/trace.js';
import type { ApiClient } from './api-client.js';
import { UserError } from './exit.js';

export const MIN_PREFIX = 4;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX_RE = /^[0-9a-f][0-9a-f-]*$/i;

export type LabelResult<T> = { ok: true; item: T } | { ok: false; message: string };

function ambiguous(label: string, candidates: readonly string[]): string {
  const shown = candidates.slice(0, 10).join(', ');
  const more = candidates.length > 10 ? ` and ${candidates.length - 10} more` : '';
  return `${label} is ambiguous: it matches ${shown}${more}`;
}

const conditionText = (c: TraceConditionJson): string => (c.name !== undefined ? `${c.id} (${c.name})` : c.id);

/**
 * The one item `label` names among `items`: its whole id (always unique), else every item whose name
 * is the label or whose id starts or ends with it (4+ characters); exactly one such item, or an error
 * naming the candidates.
 */
export function resolveLabel<T>(label: string, items: readonly T[], id: (x: T) => string, name: (x: T) => string | undefined,
  text: (x: T) => string, what: string): LabelResult<T> {
  const lower = label.toLowerCase();
  const exact = items.find((x) => id(x).toLowerCase() === lower);
  if (exact !== undefined) return { ok: true, item: exact };
  const long = label.length >= MIN_PREFIX;
  const matches = items.filter((x) => name(x) === label || (long && (id(x).toLowerCase().startsWith(lower) || id(x).toLowerCase().endsWith(lower))));
  if (matches.length === 1) return { ok: true, item: matches[0]! };
  if (matches.length > 1) return { ok: false, message: ambiguous(label, matches.map(text)) };
  return {
    ok: false,
    message: long ? `no ${what} has the id, id prefix or suffix, or name ${label}`
      : `no ${what} is named ${label} (an id prefix or suffix needs at least ${MIN_PREFIX} characters)`,
  };
}

export function resolveCondition(label: string, list: readonly TraceConditionJson[]): LabelResult<TraceConditionJson> {
  return resolveLabel(label, list, (c) => c.id, (c) => c.name, conditionText, 'trace condition');
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

/** Ids among `url`'s pages (at most MAX_SCAN_PAGES) that `keep` accepts; stops early at two. */
async function scanTraces(client: ApiClient, url: string | null, keep: (id: string) => boolean, found: Set<string>, label: string): Promise<void> {
  for (let page = 0; url !== null; page++) {
    if (page === MAX_SCAN_PAGES) {
      if (found.size === 1) throw new UserError(`trace label ${label} matches too many traces to be sure it is unique: give more characters`);
      return;
    }
    const reply: { body: TraceSummary[]; next: string | null } = await client.get<TraceSummary[]>(url);
    for (const t of reply.body) if (keep(t.id.toLowerCase())) found.add(t.id);
    if (found.size > 1) throw new UserError(ambiguous(label, [...found]));
    url = reply.next;
  }
}

/**
 * A trace id from a full id, or a unique id prefix or suffix. Ids are time-ordered (UUIDv7), so a
 * prefix is looked for in the time window it encodes; a suffix among the newest traces.
 */
export async function resolveTraceId(client: ApiClient, label: string): Promise<string> {
  if (UUID_RE.test(label)) return label.toLowerCase();
  if (label.length < MIN_PREFIX) throw new UserError(`trace label ${label} is too short: give an id, or a prefix or suffix of at least ${MIN_PREFIX} characters`);
  if (!PREFIX_RE.test(label)) throw new UserError(`no trace has an id starting or ending with ${label}`);
  const lower = label.toLowerCase();
  const found = new Set<string>();
  const { since, until } = prefixWindow(lower);
  await scanTraces(client, `/traces?limit=1000&since=${since}&until=${until}`, (id) => id.startsWith(lower), found, label);
  await scanTraces(client, '/traces?limit=1000', (id) => id.endsWith(lower), found, label);
  if (found.size === 0) throw new UserError(`no trace has an id starting or ending with ${label}`);
  return [...found][0]!;
}

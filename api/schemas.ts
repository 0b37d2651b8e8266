// The zod schemas the API validates requests with. /openapi.json is generated from these same
// objects, so the documentation cannot drift from what is enforced.
import { z } from 'zod';
import { RESULT_NAMES } from '../model/result.js';
import { MAX_TRACE_LIST_LIMIT } from '../model/stores.js';

export { TraceConditionSchema, type TraceConditionInput } from '../model/condition-schema.js';

const LIMIT_MESSAGE = `must be an integer from 1 to ${MAX_TRACE_LIST_LIMIT}`;

/** GET /traces query. Times are checked by parseTime (ISO-8601 or ms since the epoch). */
export const TraceListQuerySchema = z.strictObject({
  limit: z.coerce.number<string>(LIMIT_MESSAGE).int(LIMIT_MESSAGE).min(1, LIMIT_MESSAGE)
    .max(MAX_TRACE_LIST_LIMIT, LIMIT_MESSAGE).optional().describe(`page size (default 100, max ${MAX_TRACE_LIST_LIMIT})`),
  cursor: z.string().optional().describe('opaque: copy it from the Link rel="next" header'),
  conditionId: z.string().min(1).max(128).optional().describe('only traces started by this trace condition'),
  hostId: z.string().min(1).max(128).optional().describe('only traces recorded on this host'),
  result: z.enum(RESULT_NAMES).optional().describe('only traces with this simulation result'),
  since: z.string().optional().describe('startedAt at or after: ISO-8601 or milliseconds since the epoch'),
  until: z.string().optional().describe('startedAt before: ISO-8601 or milliseconds since the epoch'),
}).describe('GET /traces query parameters');

export const TraceStreamQuerySchema = TraceListQuerySchema.omit({ limit: true, cursor: true })
  .describe('GET /traces/stream query parameters: the filters of GET /traces');

export const TraceDiffQuerySchema = z.strictObject({
  a: z.string({ error: 'required: the id of the first trace' }).min(1).max(64).describe('id of the first trace'),
  b: z.string({ error: 'required: the id of the second trace' }).min(1).max(64).describe('id of the second trace'),
}).describe('GET /traces/diff query parameters');

export const EXPORT_FORMATS = ['json', 'pcap', 'otlp'] as const;

export const TraceExportQuerySchema = z.strictObject({
  format: z.enum(EXPORT_FORMATS, { error: `must be one of ${EXPORT_FORMATS.join(', ')}` }).optional()
    .describe('json (default): the trace; pcap: the packet as received and as rewritten or emitted, in step order; otlp: OTLP/JSON spans'),
}).describe('GET /traces/{id}/export query parameters');

export const ConditionListQuerySchema = z.strictObject({
  stats: z.enum(['true', 'false']).optional()
    .describe('true adds a read-only `hits` field (traces started so far) to each condition'),
}).describe('GET /trace_conditions query parameters');

/** Calls that take no query parameters still reject unknown ones. */
export const NoQuerySchema = z.strictObject({}).describe('no query parameters');

export const SimulationsQuerySchema = z.strictObject({
  trace: z.enum(['true', 'false']).optional().describe('true records a trace for every packet, conditions or not'),
}).describe('POST /simulations query parameters');

const ISO_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO-8601 or integer milliseconds since the epoch; null when neither. */
export function parseTime(s: string): number | null {
  if (/^\d{1,16}$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : null;
  }
  if (!ISO_RE.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

type Issue = z.core.$ZodIssue;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `tpSrc.start`, `inPorts[2]`, `[3].packet`; `root` for the whole value. */
export function jsonPath(path: readonly PropertyKey[], root = 'body'): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const key = String(p);
      out += IDENT.test(key) ? (out === '' ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
    }
  }
  return out === '' ? root : out;
}

/** The value at `path` inside `data`, or undefined when any step is missing. */
function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, p)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function describeIssue(issue: Issue, data: unknown, root: string, prefix: readonly PropertyKey[]): string {
  const at = (extra: readonly PropertyKey[] = []): string => jsonPath([...prefix, ...issue.path, ...extra], root);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at([k])}: unknown field`).join('; ');
  if (issue.code === 'invalid_type' && issue.path.length > 0 && valueAt(data, issue.path) === undefined) return `${at()}: required`;
  return `${at()}: ${issue.message}`;
}

/**
 * One line naming the JSON path of each problem in `data` (the first three; then a count of the
 * rest). `prefix` is prepended to every path (e.g. ['query'] gives `query.limit`).
 */
export function formatIssues(issues: readonly Issue[], data: unknown, root = 'body', prefix: readonly PropertyKey[] = []): string {
  const shown = issues.slice(0, 3).map((i) => describeIssue(i, data, root, prefix)).join('; ');
  return issues.length > 3 ? `${shown}; and ${issues.length - 3} more` : shown;
}

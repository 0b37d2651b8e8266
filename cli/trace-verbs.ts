// Trace verbs (SPEC §7): list (filters, paging, --follow), show, diff, export.
import { writeFileSync } from 'node:fs';
import type { Trace, TraceConditionJson, TraceSummary } from '../model/trace.js';
import type { TraceDiff } from '../model/trace-diff.js';
import { RESULT_NAMES } from '../model/result.js';
import { SseParser } from '../model/sse.js';
import type { ApiClient } from './api-client.js';
import { UserError } from './exit.js';
import { formatTrace } from './format.js';
import { fetchCondition, resolveTraceId, UUID_RE } from './labels.js';
import { fetchNames, type TopologyNames } from './names.js';
import { formatTable } from './table.js';

export type Print = (s: string) => void;
export type OutputFormat = 'table' | 'json' | 'jsonl';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'jsonl'];


export function positiveInt(flag: string, v: string): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new UserError(`${flag}: ${JSON.stringify(v)} must be a positive integer`);
  return Number(v);
}

const DURATION_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`/`--until`: an ISO-8601 time, milliseconds since the epoch, or a duration before now
 * (`30s`, `10m`, `2h`, `7d`), as `hubble observe --since` takes; sent as milliseconds.
 */
export function parseTimeFlag(flag: string, v: string, now = Date.now()): number {
  const rel = /^(\d{1,9})([smhd])$/.exec(v);
  if (rel !== null) return now - Number(rel[1]) * DURATION_MS[rel[2]!]!;
  if (/^\d{1,15}$/.test(v)) return Number(v);
  const ms = /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new UserError(`${flag}: ${JSON.stringify(v)} must be an ISO-8601 time, milliseconds since the epoch, or a duration such as 10m, 2h, 7d`);
  return ms;
}

/** `10.0.0.1:40000 > 10.0.0.2:53 udp`, or the MACs and ethertype for non-IP frames. */
export function matchText(t: TraceSummary): string {
  const m = t.match;
  const vlan = m.vlan !== undefined ? ` vlan ${m.vlan}` : '';
  if (m.nwSrc === undefined) return `${m.ethSrc ?? '?'} > ${m.ethDst ?? '?'} ${m.etherType === undefined ? '?' : `0x${m.etherType.toString(16).padStart(4, '0')}`}${vlan}`;
  const proto = m.etherType === 0x0806 ? 'arp' : m.nwProto === 6 ? 'tcp' : m.nwProto === 17 ? 'udp' : m.nwProto === 1 ? 'icmp' : `proto ${m.nwProto ?? '?'}`;
  const port = (p: number | undefined): string => (p !== undefined && m.nwProto !== 1 && m.etherType !== 0x0806 ? `:${p}` : '');
  return `${m.nwSrc}${port(m.tpSrc)} > ${m.nwDst}${port(m.tpDst)} ${proto}${vlan}`;
}

/** Names for ids in trace rows; ids alone when the daemon has no topology to tell them. */
export interface RowNames { port(id: string): string; condition(id: string): string }

export async function rowNames(client: ApiClient): Promise<RowNames> {
  let topo: TopologyNames | null = null;
  try { topo = await fetchNames(client); } catch (e) { if (!(e instanceof UserError) || e.exitCode !== 1) throw e; }
  const conds = new Map<string, string>();
  for (const c of (await client.get<TraceConditionJson[]>('/trace_conditions')).body) if (c.name !== undefined) conds.set(c.id, c.name);
  return { port: (id) => topo?.name(id) ?? id, condition: (id) => conds.get(id) ?? id };
}

const TRACE_HEADERS = ['ID', 'STARTED', 'RESULT', 'STEPS', 'INGRESS', 'MATCH', 'CONDITIONS'];

function traceRow(t: TraceSummary, n: RowNames): string[] {
  return [
    t.id, t.startedAt, t.result, `${t.numSteps}${t.complete ? '' : ' (incomplete)'}`, n.port(t.ingressPortId), matchText(t),
    t.conditionIds.length > 0 ? t.conditionIds.map(n.condition).join(',') : 'forced',
  ];
}

export interface ListTraceOptions {
  condition?: string; limit?: string; result?: string; since?: string; until?: string; host?: string; cursor?: string; follow?: boolean;
}

/** The query of GET /traces and /traces/stream for these flags. */
async function traceQuery(client: ApiClient, o: ListTraceOptions): Promise<URLSearchParams> {
  const params = new URLSearchParams();
  if (o.condition !== undefined) {
    params.set('conditionId', UUID_RE.test(o.condition)
      ? o.condition.toLowerCase() // a deleted condition's traces remain listable by its id
      : (await fetchCondition(client, o.condition)).id);
  }
  if (o.result !== undefined) {
    if (!(RESULT_NAMES as readonly string[]).includes(o.result)) throw new UserError(`--result: ${JSON.stringify(o.result)} must be one of ${RESULT_NAMES.join(', ')}`);
    params.set('result', o.result);
  }
  if (o.since !== undefined) params.set('since', String(parseTimeFlag('--since', o.since)));
  if (o.until !== undefined) params.set('until', String(parseTimeFlag('--until', o.until)));
  if (o.host !== undefined) params.set('hostId', o.host.toLowerCase());
  return params;
}

export async function listTraces(client: ApiClient, out: OutputFormat, print: Print, o: ListTraceOptions): Promise<void> {
  const params = await traceQuery(client, o);
  if (o.follow === true) return followTraces(client, out, print, params);
  const want = o.limit !== undefined ? positiveInt('--limit', o.limit) : 100;
  params.set('limit', String(Math.min(want, 1000)));
  if (o.cursor !== undefined) params.set('cursor', o.cursor);
  const traces: TraceSummary[] = [];
  let url: string | null = `/traces?${params.toString()}`;
  let more: string | null = null;
  while (url !== null) {
    const reply: { body: TraceSummary[]; next: string | null } = await client.get<TraceSummary[]>(url);
    traces.push(...reply.body);
    if (reply.next === null) break;
    const next = new URL(reply.next);
    if (traces.length >= want) { more = next.searchParams.get('cursor'); break; }
    // The last page asks for exactly what is left, so the page ends where the listing does and its
    // next cursor is where a following call would go on.
    next.searchParams.set('limit', String(Math.min(1000, want - traces.length)));
    url = next.href;
  }
  if (out === 'json') print(JSON.stringify(traces, null, 2));
  else if (out === 'jsonl') for (const t of traces) print(JSON.stringify(t));
  else {
    const names = await rowNames(client);
    print(formatTable(TRACE_HEADERS, traces.map((t) => traceRow(t, names))));
  }
  if (more !== null) {
    const line = `more: use --limit or the next cursor: --cursor ${more}`;
    // Machine output stays parseable: the hint goes to stderr there.
    if (out === 'table') print(line); else process.stderr.write(line + '\n');
  }
}

/** `list trace --follow`: every new trace as it is stored, until Ctrl-C; resumes after a dropped connection. */
async function followTraces(client: ApiClient, out: OutputFormat, print: Print, params: URLSearchParams): Promise<void> {
  const names = out === 'table' ? await rowNames(client) : null;
  if (names !== null) print(TRACE_HEADERS.join('  '));
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let lastId: string | null = null;
  try {
    for (let attempt = 0; !stop.signal.aborted; attempt++) {
      const parser = new SseParser((e) => {
        if (e.event !== 'trace') return;
        const t = JSON.parse(e.data) as TraceSummary;
        lastId = e.id ?? t.id;
        attempt = 0;
        print(names !== null ? traceRow(t, names).join('  ') : JSON.stringify(t));
      });
      await client.stream(`/traces/stream?${params.toString()}`, lastId !== null ? { 'last-event-id': lastId } : {}, (s) => parser.push(s), stop.signal);
      if (stop.signal.aborted) break;
      // The daemon ended the stream (restart, slow reader dropped): resume where it stopped.
      process.stderr.write(`midotrace: trace stream ended; reconnecting${lastId !== null ? ` after ${lastId}` : ''}\n`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function showTrace(client: ApiClient, out: OutputFormat, print: Print, label: string): Promise<void> {
  const id = await resolveTraceId(client, label);
  const { body } = await client.get<Trace>(`/traces/${id}`);
  if (out === 'json') print(JSON.stringify(body, null, 2));
  else if (out === 'jsonl') print(JSON.stringify(body));
  else print(formatTrace(body));
}

export async function diffTraces(client: ApiClient, out: OutputFormat, print: Print, la: string, lb: string): Promise<void> {
  const [a, b] = await Promise.all([resolveTraceId(client, la), resolveTraceId(client, lb)]);
  const { body: d } = await client.get<TraceDiff>(`/traces/diff?a=${a}&b=${b}`);
  if (out !== 'table') { print(JSON.stringify(d, null, out === 'json' ? 2 : undefined)); return; }
  const steps = (n: number[] | null): string => (n === null ? '-' : n.length === 1 ? String(n[0]) : `${n[0]}-${n.at(-1)}`);
  print(`A ${d.a.id}  ${d.a.result}  ${matchText(d.a)}`);
  print(`B ${d.b.id}  ${d.b.result}  ${matchText(d.b)}`);
  print(formatTable(['', 'DEVICE', 'A STEPS', 'B STEPS'], d.steps.map((r) => [
    r.same ? ' ' : (r.a === null ? '+' : r.b === null ? '-' : '!'), `${r.deviceType} ${r.deviceName || r.deviceId}`, steps(r.a), steps(r.b),
  ])));
  const f = d.firstDivergence;
  print(f === null ? 'same path: the traces do not part'
    : `first divergence: step ${f.stepA ?? '-'} of A, step ${f.stepB ?? '-'} of B: ${f.why}`);
}

export const EXPORT_FORMATS = ['json', 'pcap', 'otlp'] as const;

export async function exportTrace(client: ApiClient, print: Print, label: string, format: string | undefined, output: string | undefined): Promise<void> {
  if (format === undefined) throw new UserError(`export trace: --format is required: ${EXPORT_FORMATS.join(', ')}`);
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UserError(`--format: ${JSON.stringify(format)} must be one of ${EXPORT_FORMATS.join(', ')}`);
  const id = await resolveTraceId(client, label);
  const bytes = await client.bytes(`/traces/${id}/export?format=${format}`);
  if (output === undefined || output === '-') {
    if (format === 'pcap' && process.stdout.isTTY === true) throw new UserError('export trace --format pcap: a capture is binary; give --output FILE or redirect stdout');
    process.stdout.write(bytes);
    if (format !== 'pcap') process.stdout.write('\n');
    return;
  }
  try { writeFileSync(output, bytes); } catch (e) { throw new UserError(`--output ${output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  print(`wrote ${output} (${bytes.length} bytes, ${format})`);
}

// The CLI verbs that talk to the daemon (SPEC §7): list / show / add / del of trace conditions and
// traces, and `replay` of a capture file through POST /simulations.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { TraceConditionJson, Trace, TraceSummary } from '../model/trace.js';
import type { DatapathReport } from '../api/deps.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import { LINKTYPE_ETHERNET, readCapture } from '../engine/wire/pcap.js';
import { ApiClient, parseTimeout } from './api-client.js';
import { describeCondition, parseCondWords } from '../model/cond-words.js';
import { UserError } from './exit.js';
import { formatTrace } from './format.js';
import { fetchCondition, resolveTraceId } from './labels.js';
import { formatTable } from './table.js';

type Print = (s: string) => void;

interface Globals { api: string; json: boolean; timeoutMs: number }

const NOUNS = ['trace-condition', 'trace'] as const;
type Noun = (typeof NOUNS)[number];

function noun(verb: string, word: string): Noun {
  if ((NOUNS as readonly string[]).includes(word)) return word as Noun;
  throw new UserError(`${verb}: unknown object ${JSON.stringify(word)}; use ${NOUNS.join(' or ')}`);
}

function positiveInt(flag: string, v: string): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new UserError(`${flag}: ${JSON.stringify(v)} must be a positive integer`);
  return Number(v);
}

/** `10.0.0.1:40000 > 10.0.0.2:53 udp`, or the MACs and ethertype for non-IP frames. */
function matchText(t: TraceSummary): string {
  const m = t.match;
  const vlan = m.vlan !== undefined ? ` vlan ${m.vlan}` : '';
  if (m.nwSrc === undefined) return `${m.ethSrc ?? '?'} > ${m.ethDst ?? '?'} ${m.etherType === undefined ? '?' : `0x${m.etherType.toString(16).padStart(4, '0')}`}${vlan}`;
  const proto = m.nwProto === 6 ? 'tcp' : m.nwProto === 17 ? 'udp' : m.nwProto === 1 ? 'icmp' : `proto ${m.nwProto ?? '?'}`;
  const port = (p: number | undefined): string => (p !== undefined && m.nwProto !== 1 ? `:${p}` : '');
  return `${m.nwSrc}${port(m.tpSrc)} > ${m.nwDst}${port(m.tpDst)} ${proto}${vlan}`;
}

function scopeText(c: TraceConditionJson): string {
  return c.deviceType !== undefined ? `${c.deviceType} ${c.deviceId ?? ''}` : 'ingress';
}

async function listConditions(client: ApiClient, g: Globals, print: Print): Promise<void> {
  if (g.json) {
    print(JSON.stringify((await client.get<TraceConditionJson[]>('/trace_conditions')).body, null, 2));
    return;
  }
  const { body } = await client.get<(TraceConditionJson & { hits: number })[]>('/trace_conditions?stats=true');
  print(formatTable(['ID', 'NAME', 'ENABLED', 'LIMIT', 'HITS', 'SCOPE', 'MATCH'], body.map((c) => [
    c.id, c.name ?? '', c.enabled === false ? 'no' : 'yes', c.limit === undefined ? '-' : String(c.limit),
    String(c.hits), scopeText(c), describeCondition(c),
  ])));
}

async function listTraces(client: ApiClient, g: Globals, print: Print, o: { condition?: string; limit?: string }): Promise<void> {
  const want = o.limit !== undefined ? positiveInt('--limit', o.limit) : 100;
  const params = new URLSearchParams({ limit: String(Math.min(want, 1000)) });
  if (o.condition !== undefined) {
    const id = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(o.condition)
      ? o.condition // a deleted condition's traces remain listable by its id
      : (await fetchCondition(client, o.condition)).id;
    params.set('conditionId', id);
  }
  const traces: TraceSummary[] = [];
  let url: string | null = `/traces?${params.toString()}`;
  while (url !== null && traces.length < want) {
    const reply: { body: TraceSummary[]; next: string | null } = await client.get<TraceSummary[]>(url);
    traces.push(...reply.body.slice(0, want - traces.length));
    url = reply.next;
  }
  if (g.json) { print(JSON.stringify(traces, null, 2)); return; }
  print(formatTable(['ID', 'STARTED', 'RESULT', 'STEPS', 'MATCH', 'CONDITIONS'], traces.map((t) => [
    t.id, t.startedAt, t.result, `${t.numSteps}${t.complete ? '' : ' (incomplete)'}`, matchText(t),
    t.conditionIds.length > 0 ? t.conditionIds.join(',') : 'forced',
  ])));
}

async function showCondition(client: ApiClient, g: Globals, print: Print, label: string): Promise<void> {
  const found = await fetchCondition(client, label);
  const { body: c } = await client.get<TraceConditionJson & { hits: number }>(`/trace_conditions/${found.id}?stats=true`);
  if (g.json) {
    const { hits: _hits, ...plain } = c;
    print(JSON.stringify(plain, null, 2));
    return;
  }
  const rows: [string, string][] = [
    ['id', c.id], ['name', c.name ?? ''], ['enabled', c.enabled === false ? 'no' : 'yes'],
    ['limit', c.limit === undefined ? 'unlimited' : String(c.limit)], ['hits', String(c.hits)],
    ['scope', scopeText(c)], ['match', describeCondition(c)],
    ['created', c.creationTimestampMs !== undefined ? new Date(c.creationTimestampMs).toISOString() : ''],
  ];
  print(rows.map(([k, v]) => `${k.padEnd(8)}  ${v}`.trimEnd()).join('\n'));
}

async function showTrace(client: ApiClient, g: Globals, print: Print, label: string): Promise<void> {
  const id = await resolveTraceId(client, label);
  const { body } = await client.get<Trace>(`/traces/${id}`);
  print(g.json ? JSON.stringify(body, null, 2) : formatTrace(body));
}

/** `show datapath`: the ports bound on the daemon's host (GET /datapath, SPEC §9). */
async function showDatapath(client: ApiClient, g: Globals, print: Print): Promise<void> {
  const { body } = await client.get<DatapathReport>('/datapath');
  if (g.json) { print(JSON.stringify(body, null, 2)); return; }
  const rows = body.ports.map((p) => [p.name || p.portId, p.interfaceName, p.state, String(p.rxFrames), String(p.rxBytes), String(p.txFrames), String(p.txBytes), String(p.drops)]);
  print(`host ${body.hostId}: datapath ${body.status}`);
  if (rows.length > 0) print(formatTable(['PORT', 'INTERFACE', 'STATE', 'RX FRAMES', 'RX BYTES', 'TX FRAMES', 'TX BYTES', 'DROPS'], rows));
}

async function addCondition(client: ApiClient, g: Globals, print: Print, words: string[]): Promise<void> {
  const parsed = parseCondWords(words, { requireMatch: true });
  if (!parsed.ok) throw new UserError(parsed.message);
  const { body } = await client.post<TraceConditionJson>('/trace_conditions', parsed.condition);
  print(g.json ? JSON.stringify(body, null, 2) : body.id);
}

async function delete_(client: ApiClient, what: Noun, label: string): Promise<void> {
  if (what === 'trace') await client.delete(`/traces/${await resolveTraceId(client, label)}`);
  else await client.delete(`/trace_conditions/${(await fetchCondition(client, label)).id}`);
}

/** Frames per POST /simulations: enough to amortise the request, small enough to show progress. */
export const REPLAY_BATCH = 256;

export interface ReplaySummary {
  file: string;
  frames: number;
  /** Frames of another link type than Ethernet, not sent. */
  skipped: number;
  counts: Record<string, number>;
  traceIds: string[];
}

export async function replay(client: ApiClient, file: string, inPort: string, trace: boolean,
  progress: ((done: number, total: number) => void) | null): Promise<ReplaySummary> {
  let bytes: Uint8Array;
  try { bytes = readFileSync(file); } catch (e) { throw new UserError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  const cap = readCapture(bytes);
  if (!cap.ok) throw new UserError(`${file}: ${cap.message} (${cap.code})`);
  const frames = cap.frames.filter((f) => f.linkType === LINKTYPE_ETHERNET);
  const summary: ReplaySummary = { file, frames: frames.length, skipped: cap.frames.length - frames.length, counts: {}, traceIds: [] };
  const path = trace ? '/simulations?trace=true' : '/simulations';
  for (let start = 0; start < frames.length; start += REPLAY_BATCH) {
    const batch = frames.slice(start, start + REPLAY_BATCH).map((f) => ({ inPort, frame: Buffer.from(f.data).toString('hex') }));
    const { body } = await client.post<SimulationResultJson[]>(path, batch);
    for (const r of body) {
      summary.counts[r.result] = (summary.counts[r.result] ?? 0) + 1;
      summary.traceIds.push(...r.traceIds);
    }
    progress?.(Math.min(start + REPLAY_BATCH, frames.length), frames.length);
  }
  return summary;
}

function printReplay(s: ReplaySummary, g: Globals, print: Print): void {
  if (g.json) { print(JSON.stringify(s, null, 2)); return; }
  const skipped = s.skipped > 0 ? ` (${s.skipped} more skipped: not Ethernet)` : '';
  print(`replayed ${s.frames} frames from ${s.file}${skipped}`);
  const rows = Object.entries(s.counts).sort((a, b) => b[1] - a[1]).map(([r, n]) => [r, String(n)]);
  if (rows.length > 0) print(formatTable(['RESULT', 'PACKETS'], rows));
  print(`traces made: ${s.traceIds.length}`);
  for (const id of s.traceIds) print(id);
}

export function registerApiCommands(program: Command, print: Print): void {
  const globals = (): Globals => {
    const o = program.opts<{ api: string; json?: boolean; timeout?: string }>();
    return { api: o.api, json: o.json === true, timeoutMs: parseTimeout(o.timeout) };
  };
  const client = (g: Globals): ApiClient => new ApiClient(g.api, process.env.MIDOTRACE_TOKEN, g.timeoutMs);

  program.command('list').description('list trace-condition | list trace [--condition LABEL] [--limit N]')
    .argument('<noun>', 'trace-condition or trace')
    .option('--condition <label>', 'traces started by this trace condition (id, id prefix or name)')
    .option('--limit <n>', 'most traces to list (default 100)')
    .action(async (word: string, o: { condition?: string; limit?: string }) => {
      const g = globals();
      const what = noun('list', word);
      if (what === 'trace') return listTraces(client(g), g, print, o);
      if (o.condition !== undefined || o.limit !== undefined) throw new UserError('list trace-condition takes no --condition or --limit');
      return listConditions(client(g), g, print);
    });

  program.command('show').description('show trace-condition LABEL | show trace LABEL | show datapath')
    .argument('<noun>', 'trace-condition, trace or datapath').argument('[label]', 'id, unique id prefix (4+ characters) or condition name')
    .action(async (word: string, label: string | undefined) => {
      const g = globals();
      if (word === 'datapath') return showDatapath(client(g), g, print);
      if (label === undefined) throw new UserError(`show ${word}: missing LABEL`);
      return noun('show', word) === 'trace' ? showTrace(client(g), g, print, label) : showCondition(client(g), g, print, label);
    });

  program.command('add').description('add trace-condition COND... (e.g. name web src 10.0.0.0/24 proto tcp dst-port 80)')
    .argument('<noun>', 'trace-condition').argument('[cond...]', 'condition words')
    .action(async (word: string, words: string[]) => {
      const g = globals();
      if (noun('add', word) !== 'trace-condition') throw new UserError('add: traces are made by the daemon; only trace-condition can be added');
      return addCondition(client(g), g, print, words);
    });

  program.command('del').description('del trace-condition LABEL | del trace LABEL')
    .argument('<noun>', 'trace-condition or trace').argument('<label>', 'id, unique id prefix (4+ characters) or condition name')
    .action(async (word: string, label: string) => {
      const g = globals();
      return delete_(client(g), noun('del', word), label);
    });

  program.command('replay').description('send every frame of a pcap/pcapng capture through the daemon')
    .argument('<file>', 'capture file (.pcap or .pcapng)')
    .requiredOption('--in-port <id>', 'UUID of the exterior port the frames enter')
    .option('--trace', 'trace every frame')
    .action(async (file: string, o: { inPort: string; trace?: boolean }) => {
      const g = globals();
      const tty = process.stderr.isTTY === true;
      const progress = tty ? (done: number, total: number): void => { process.stderr.write(`\rreplay: ${done}/${total} frames`); } : null;
      let summary: ReplaySummary;
      try {
        summary = await replay(client(g), file, o.inPort, o.trace === true, progress);
      } finally {
        if (tty) process.stderr.write('\r\x1b[K'); // erase the progress line before anything else is printed
      }
      printReplay(summary, g, print);
    });
}

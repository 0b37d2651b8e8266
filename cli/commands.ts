// The CLI verbs that talk to the daemon (SPEC §7): list / show / add / del of trace conditions and
// traces, set / enable / disable of conditions, diff and export of traces, and `replay` of a capture
// file through POST /simulations. The verbs themselves are in condition-verbs.ts and trace-verbs.ts.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { DatapathReport } from '../api/deps.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import { LINKTYPE_ETHERNET, readCapture } from '../engine/wire/pcap.js';
import { ApiClient, parseTimeout } from './api-client.js';
import { COND_WORD_HELP } from '../model/cond-words.js';
import { UserError } from './exit.js';
import { resolveTraceId, UUID_RE } from './labels.js';
import { fetchNames } from './names.js';
import { formatTable } from './table.js';
import { addCondition, deleteCondition, listConditions, setCondition, setEnabled, showCondition } from './condition-verbs.js';
import {
  diffTraces, EXPORT_FORMATS, exportTrace, listTraces, OUTPUT_FORMATS, showTrace, type ListTraceOptions, type OutputFormat, type Print,
} from './trace-verbs.js';

interface Globals { api: string; json: boolean; timeoutMs: number }

const NOUNS = ['trace-condition', 'trace'] as const;
type Noun = (typeof NOUNS)[number];

function noun(verb: string, word: string): Noun {
  if ((NOUNS as readonly string[]).includes(word)) return word as Noun;
  throw new UserError(`${verb}: unknown object ${JSON.stringify(word)}; use ${NOUNS.join(' or ')}`);
}

function only(verb: string, word: string, want: Noun): void {
  if (noun(verb, word) !== want) throw new UserError(`${verb}: only ${want} can be given to ${verb}`);
}

/** `-o FORMAT`, or json with the global --json; table otherwise. */
function outputFormat(g: Globals, o: string | undefined): OutputFormat {
  if (o === undefined) return g.json ? 'json' : 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(o)) throw new UserError(`-o: ${JSON.stringify(o)} must be one of ${OUTPUT_FORMATS.join(', ')}`);
  return o as OutputFormat;
}

/** `show datapath`: the ports bound on the daemon's host (GET /datapath, SPEC §9). */
async function showDatapath(client: ApiClient, out: OutputFormat, print: Print): Promise<void> {
  const { body } = await client.get<DatapathReport>('/datapath');
  if (out !== 'table') { print(JSON.stringify(body, null, out === 'json' ? 2 : undefined)); return; }
  const rows = body.ports.map((p) => [p.name || p.portId, p.interfaceName, p.state, String(p.rxFrames), String(p.rxBytes), String(p.txFrames), String(p.txBytes), String(p.drops)]);
  print(`host ${body.hostId}: datapath ${body.status}`);
  if (rows.length > 0) print(formatTable(['PORT', 'INTERFACE', 'STATE', 'RX FRAMES', 'RX BYTES', 'TX FRAMES', 'TX BYTES', 'DROPS'], rows));
  if (body.tunnels.length > 0) {
    const why = (r: Record<string, number>): string => Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', ');
    print(formatTable(['PEER HOST', 'UNDERLAY', 'TX FRAMES', 'RX FRAMES', 'DROPS'], body.tunnels.map((t) => [
      t.hostId, t.ipAddress, String(t.txFrames), String(t.rxFrames), t.drops === 0 ? '0' : `${t.drops} (${why(t.dropReasons)})`,
    ])));
  }
}

async function delete_(client: ApiClient, what: Noun, label: string): Promise<void> {
  if (what === 'trace') await client.delete(`/traces/${await resolveTraceId(client, label)}`);
  else await deleteCondition(client, label);
}

/** A port id for `--in-port`: a UUID as it is, else a port name or id prefix of the daemon's topology. */
async function portId(client: ApiClient, label: string): Promise<string> {
  if (UUID_RE.test(label)) return label;
  const r = (await fetchNames(client)).port(label);
  if (!r.ok) throw new UserError(`--in-port: ${r.message}`);
  return r.id;
}

function condHelp(): string {
  const width = Math.max(...COND_WORD_HELP.map(([, ex]) => ex.length));
  return ['', 'COND words (midonet-cli; `!` before a value inverts that field; ports and devices by id or name):',
    ...COND_WORD_HELP.map(([, ex, about]) => `  ${ex.padEnd(width)}  ${about}`), ''].join('\n');
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

  const oFlag = '-o, --output <format>';
  const oHelp = 'table (default), json or jsonl';

  program.command('list').description('list trace-condition | list trace [filters] [--follow]')
    .argument('<noun>', 'trace-condition or trace')
    .option('--condition <label>', 'traces started by this trace condition (id, id prefix or name)')
    .option('--result <result>', 'traces with this result: forward, drop, shortDrop, errorDrop, consumed')
    .option('--since <time>', 'traces started at or after: ISO-8601, ms since the epoch, or a duration ago (10m, 2h, 7d)')
    .option('--until <time>', 'traces started before (same forms as --since)')
    .option('--host <host-id>', 'traces recorded by this host')
    .option('--limit <n>', 'most traces to list (default 100)')
    .option('--cursor <cursor>', 'go on from where a listing stopped (its "more:" line)')
    .option('--follow', 'print new traces as they are stored, until interrupted')
    .option(oFlag, oHelp)
    .action(async (word: string, o: ListTraceOptions & { output?: string }) => {
      const g = globals();
      const out = outputFormat(g, o.output);
      if (noun('list', word) === 'trace') return listTraces(client(g), out, print, o);
      const given = Object.keys(o).filter((k) => k !== 'output');
      if (given.length > 0) throw new UserError(`list trace-condition takes no --${given[0]}`);
      return listConditions(client(g), out, print);
    });

  program.command('show').description('show trace-condition LABEL | show trace LABEL | show datapath')
    .argument('<noun>', 'trace-condition, trace or datapath').argument('[label]', 'id, unique id prefix or suffix (4+ characters) or name')
    .option(oFlag, oHelp)
    .action(async (word: string, label: string | undefined, o: { output?: string }) => {
      const g = globals();
      const out = outputFormat(g, o.output);
      if (word === 'datapath') return showDatapath(client(g), out, print);
      if (label === undefined) throw new UserError(`show ${word}: missing LABEL`);
      return noun('show', word) === 'trace' ? showTrace(client(g), out, print, label) : showCondition(client(g), out, print, label);
    });

  program.command('add').description('add trace-condition COND... (e.g. name web proto tcp dst-port 80 in-ports web1)')
    .argument('<noun>', 'trace-condition').argument('[cond...]', 'condition words (below)')
    .option(oFlag, oHelp)
    .addHelpText('after', condHelp)
    .action(async (word: string, words: string[], o: { output?: string }) => {
      const g = globals();
      if (noun('add', word) !== 'trace-condition') throw new UserError('add: traces are made by the daemon; only trace-condition can be added');
      return addCondition(client(g), outputFormat(g, o.output), print, words);
    });

  program.command('set').description('set trace-condition LABEL COND...: replace what the condition matches (name, limit, enabled kept unless given)')
    .argument('<noun>', 'trace-condition').argument('<label>', 'the condition: id, id prefix or suffix, or name').argument('<cond...>', 'condition words (below)')
    .option(oFlag, oHelp)
    .addHelpText('after', condHelp)
    .action(async (word: string, label: string, words: string[], o: { output?: string }) => {
      const g = globals();
      only('set', word, 'trace-condition');
      return setCondition(client(g), outputFormat(g, o.output), print, label, words);
    });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    program.command(verb).description(`${verb} trace-condition LABEL`)
      .argument('<noun>', 'trace-condition').argument('<label>', 'the condition: id, id prefix or suffix, or name')
      .action(async (word: string, label: string) => {
        const g = globals();
        only(verb, word, 'trace-condition');
        return setEnabled(client(g), print, label, enabled);
      });
  }

  program.command('del').description('del trace-condition LABEL | del trace LABEL')
    .argument('<noun>', 'trace-condition or trace').argument('<label>', 'id, unique id prefix or suffix (4+ characters) or name')
    .action(async (word: string, label: string) => {
      const g = globals();
      return delete_(client(g), noun('del', word), label);
    });

  program.command('diff').description('diff trace LABEL LABEL: two traces aligned device by device, where and why they part')
    .argument('<noun>', 'trace').argument('<a>', 'first trace').argument('<b>', 'second trace')
    .option(oFlag, oHelp)
    .action(async (word: string, a: string, b: string, o: { output?: string }) => {
      const g = globals();
      only('diff', word, 'trace');
      return diffTraces(client(g), outputFormat(g, o.output), print, a, b);
    });

  program.command('export').description('export trace LABEL --format json|pcap|otlp [--output FILE]')
    .argument('<noun>', 'trace').argument('<label>', 'the trace: id, id prefix or suffix')
    .option('--format <format>', EXPORT_FORMATS.join(', '))
    .option('--output <file>', 'write to FILE instead of stdout')
    .action(async (word: string, label: string, o: { format?: string; output?: string }) => {
      const g = globals();
      only('export', word, 'trace');
      return exportTrace(client(g), print, label, o.format, o.output);
    });

  program.command('replay').description('send every frame of a pcap/pcapng capture through the daemon')
    .argument('<file>', 'capture file (.pcap or .pcapng)')
    .requiredOption('--in-port <port>', 'the exterior port the frames enter: id or name')
    .option('--trace', 'trace every frame')
    .action(async (file: string, o: { inPort: string; trace?: boolean }) => {
      const g = globals();
      const tty = process.stderr.isTTY === true;
      const progress = tty ? (done: number, total: number): void => { process.stderr.write(`\rreplay: ${done}/${total} frames`); } : null;
      let summary: ReplaySummary;
      try {
        const c = client(g);
        summary = await replay(c, file, await portId(c, o.inPort), o.trace === true, progress);
      } finally {
        if (tty) process.stderr.write('\r\x1b[K'); // erase the progress line before anything else is printed
      }
      printReplay(summary, g, print);
    });
}

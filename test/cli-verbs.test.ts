// The CLI verbs operators reach for (SPEC §7, P12): names for ports and devices, set / enable /
// disable, list filters and -o, --follow over the trace stream, diff, export (read back by tshark),
// `add --help` and shell completion. Real processes against a live API over a real daemon.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { TraceConditionJson, TraceSummary } from '../model/trace.js';
import { COND_WORDS, COND_WORD_HELP } from '../model/cond-words.js';
import { IP, MAC, startTestApi, type TestApi } from './helpers/api-deps.js';
import { CLI_ENTRY, ROOT } from './helpers/cli-entry.js';
import { cli, userError, type Run } from './helpers/cli-run.js';
import { pk } from './helpers/net.js';
import { waitUntil } from './helpers/wait.js';
import { otlpTraceErrors } from './helpers/otlp-schema.js';

const execFileAsync = promisify(execFile);

let api: TestApi;
let run: (...args: string[]) => Promise<Run>;
let dir: string;

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(api.url + path, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

async function traced(inPort: string, packet: unknown): Promise<string> {
  const [r] = await call<SimulationResultJson[]>('POST', '/simulations?trace=true', [{ inPort: api.net.id(inPort), packet }]);
  return r!.traceIds[0]!;
}

t.before(async () => {
  api = await startTestApi();
  run = (...args) => cli(args, { MIDOTRACE_API: api.url });
  dir = mkdtempSync(join(tmpdir(), 'mt-cli-verbs-'));
});
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('COND words take port and device names; set, enable and disable edit a condition', async (t) => {
  const add = await run('add', 'trace-condition', 'name', 'to-vm4', 'in-ports', 'vm1,vm2', 'router', 'r', 'dst', IP.vm4);
  t.equal(add.code, 0, add.stderr);
  const id = add.stdout.trim();
  const stored = await call<TraceConditionJson>('GET', `/trace_conditions/${id}`);
  t.same(stored.inPorts, [api.net.id('vm1'), api.net.id('vm2')], 'port names became ids');
  t.same([stored.deviceType, stored.deviceId], ['router', api.net.id('r')], 'the scope by name');
  const shown = (await run('show', 'trace-condition', 'to-vm4')).stdout;
  t.match(shown, /^scope\s+router r$/m, 'shown by name');
  t.match(shown, /^match\s+dst 10\.0\.1\.14\/32 in-ports vm1,vm2$/m, 'ports in the match by name');
  userError(t, await run('add', 'trace-condition', 'bridge', 'r', 'proto', 'udp'), /^midotrace: bridge: no bridge is named r \(an id prefix or suffix needs at least 4 characters\)$/, 'a router is not a bridge');

  const set = await run('set', 'trace-condition', 'to-vm4', 'proto', 'udp', 'dst-port', '53');
  t.equal(set.code, 0, set.stderr);
  const after = await call<TraceConditionJson>('GET', `/trace_conditions/${id}`);
  t.match(after, { id, name: 'to-vm4', nwProto: 17, tpDst: { start: 53, end: 53 }, enabled: true }, 'the words replace the match; the name stays');
  t.equal(after.inPorts, undefined, 'fields not given again are gone');
  t.equal(after.nwDstAddress, undefined);

  t.equal((await run('disable', 'trace-condition', 'to-vm4')).stdout.trim(), 'to-vm4: disabled');
  t.equal((await call<TraceConditionJson>('GET', `/trace_conditions/${id}`)).enabled, false);
  const kept = await call<TraceConditionJson>('GET', `/trace_conditions/${id}`);
  t.same({ ...kept, enabled: true }, { ...after, enabled: true }, 'disable changes nothing else');
  t.equal((await run('set', 'trace-condition', 'to-vm4', 'proto', 'tcp')).code, 0);
  t.equal((await call<TraceConditionJson>('GET', `/trace_conditions/${id}`)).enabled, false, 'set keeps it disabled');
  t.equal((await run('enable', 'trace-condition', id.slice(0, 8))).stdout.trim(), 'to-vm4: enabled');
  t.equal((await call<TraceConditionJson>('GET', `/trace_conditions/${id}`)).enabled, true);
  userError(t, await run('enable', 'trace', 'to-vm4'), /only trace-condition can be given to enable/, 'enable trace');
  userError(t, await run('set', 'trace-condition', 'to-vm4', 'name', 'x'), /no word says which packets to match/, 'set needs a matching word');
  userError(t, await run('disable', 'trace-condition', 'nope'), /no trace condition has the id, id prefix or suffix, or name nope/, 'unknown label');
  t.equal((await run('del', 'trace-condition', 'to-vm4')).code, 0);
});

t.test('add --help lists every COND word with an example', async (t) => {
  const help = await run('add', '--help');
  t.equal(help.code, 0);
  t.same(COND_WORD_HELP.map(([w]) => w).sort(), [...COND_WORDS].sort(), 'the help table has every word the parser takes');
  for (const [word, example] of COND_WORD_HELP) t.match(help.stdout, new RegExp(`^  ${example.replace(/[!.:]/g, '\\$&')}\\s+\\S`, 'm'), `${word} shown with an example`);
});

t.test('list trace: filters, -o json|jsonl, names, the more: line and --cursor', async (t) => {
  const cond = (await run('add', 'trace-condition', 'name', 'udp-from-vm3', 'src', IP.vm3, 'proto', 'udp')).stdout.trim();
  const [fwd] = await call<SimulationResultJson[]>('POST', '/simulations', [{ inPort: api.net.id('vm3'), packet: pk.udp(MAC.vm3, MAC.r, IP.vm3, IP.vm4) }]);
  const byCond = fwd!.traceIds;
  const unroutable = await traced('vm2', pk.udp(MAC.vm2, MAC.r, IP.vm2, '192.168.7.7'));
  for (let i = 0; i < 5; i++) await traced('vm1', pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 3000 + i }));
  await api.td.daemon.backends.sink.flush();

  const jsonl = await run('list', 'trace', '--condition', 'udp-from-vm3', '-o', 'jsonl');
  t.equal(jsonl.code, 0, jsonl.stderr);
  t.same(jsonl.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as TraceSummary).id), byCond, '-o jsonl: one trace per line');
  const table = await run('list', 'trace', '--condition', cond);
  t.match(table.stdout.split('\n')[1], new RegExp(`^${byCond[0]}\\s+\\S+\\s+\\S+\\s+\\d+\\s+vm3\\s+${IP.vm3}:\\d+ > ${IP.vm4}:53 udp\\s+udp-from-vm3$`), 'ingress port and condition by name');

  const dropResult = (await call<TraceSummary>('GET', `/traces/${unroutable}`)).result;
  t.not(dropResult, 'forward');
  const [drops, host, since, until] = await Promise.all([
    run('list', 'trace', '--result', dropResult, '-o', 'json'),
    run('list', 'trace', '--host', api.deps.hostId.toUpperCase(), '--since', '10m', '-o', 'json'),
    run('list', 'trace', '--since', new Date(Date.now() + 60_000).toISOString(), '-o', 'json'),
    run('list', 'trace', '--until', '2000-01-01T00:00:00Z', '-o', 'json'),
  ]);
  const ids = (r: Run): string[] => (JSON.parse(r.stdout) as TraceSummary[]).map((x) => x.id);
  t.ok(ids(drops).includes(unroutable) && (JSON.parse(drops.stdout) as TraceSummary[]).every((x) => x.result === dropResult), '--result');
  t.ok(ids(host).length >= 7, '--host (any case) and --since 10m');
  t.same(ids(since), [], '--since in the future');
  t.same(ids(until), [], '--until long ago');

  const first = await run('list', 'trace', '--limit', '3', '-o', 'jsonl');
  const more = /^more: use --limit or the next cursor: --cursor (\S+)$/m.exec(first.stderr);
  t.ok(more, `with -o jsonl the more: line goes to stderr (${first.stderr})`);
  const rest = await run('list', 'trace', '--limit', '3', '--cursor', more![1]!, '-o', 'jsonl');
  const a = first.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as TraceSummary).id);
  const b = rest.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as TraceSummary).id);
  t.equal(a.length, 3);
  t.equal(b.length, 3);
  t.same(a.filter((x) => b.includes(x)), [], '--cursor goes on after the last one listed');
  const all = (await call<TraceSummary[]>('GET', '/traces?limit=6')).map((x) => x.id);
  t.same([...a, ...b], all, 'in the order of GET /traces');

  userError(t, await run('list', 'trace', '--result', 'lost'), /^midotrace: --result: "lost" must be one of forward, drop/, 'bad --result');
  userError(t, await run('list', 'trace', '--since', 'yesterday'), /^midotrace: --since: "yesterday" must be an ISO-8601 time/, 'bad --since');
  userError(t, await run('list', 'trace', '-o', 'yaml'), /^midotrace: -o: "yaml" must be one of table, json, jsonl$/, 'bad -o');
  userError(t, await run('list', 'trace-condition', '--result', 'drop'), /list trace-condition takes no --result/, 'trace filters on conditions');
  t.equal((await run('del', 'trace-condition', cond)).code, 0);
});

t.test('list trace --follow prints new traces as they are stored, with the filters', async (t) => {
  const child = spawn(process.execPath, [...CLI_ENTRY, 'list', 'trace', '--follow', '--result', 'forward', '-o', 'jsonl'],
    { cwd: ROOT, env: { ...process.env, MIDOTRACE_API: api.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  // The stream is open once a first trace sent after it shows up.
  const ids: string[] = [];
  await waitUntil('the follower to print a trace', async () => {
    ids.push(await traced('vm1', pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 4000 + ids.length })));
    return ids.some((id) => out.includes(id));
  }, 20_000, 300);
  const dropped = await traced('vm2', pk.udp(MAC.vm2, MAC.r, IP.vm2, '192.168.7.8'));
  const later = await traced('vm1', pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 4999 }));
  await waitUntil('the later trace', () => out.includes(later), 10_000);
  const lines = out.trimEnd().split('\n').map((l) => JSON.parse(l) as TraceSummary);
  t.ok(lines.every((x) => x.result === 'forward'), 'only what --result lets through');
  t.notOk(out.includes(dropped), 'the dropped packet is filtered out');
  t.equal(lines.at(-1)!.id, later, 'newest last');
  child.kill('SIGINT');
  t.equal(await exited, 0, `Ctrl-C ends it cleanly (${err})`);
});

t.test('diff trace and export trace', async (t) => {
  await call('POST', '/simulations', [{ inPort: api.net.id('vm4'), packet: { arp: { op: 1, sha: MAC.vm4, spa: IP.vm4, tpa: '10.0.1.1' }, ethSrc: MAC.vm4 } }]);
  const routed = await traced('vm1', pk.udp(MAC.vm1, MAC.r, IP.vm1, IP.vm4));
  const flooded = await traced('vm1', pk.udp(MAC.vm1, '02:00:00:00:0b:0b', IP.vm1, IP.vm2));
  await api.td.daemon.backends.sink.flush();

  const d = await run('diff', 'trace', routed.slice(-12), flooded);
  t.equal(d.code, 0, d.stderr);
  t.match(d.stdout, new RegExp(`^A ${routed}  forward`, 'm'));
  t.match(d.stdout, /^\s+port vm1\s+1\s+1$/m, 'aligned rows by device name');
  t.match(d.stdout, /^first divergence: step \d+ of A, step \d+ of B: .*at bridge br/m, 'where and why they part');
  const dj = JSON.parse((await run('diff', 'trace', routed, flooded, '-o', 'json')).stdout) as { firstDivergence: { deviceId: string } };
  t.equal(dj.firstDivergence.deviceId, api.net.id('br'));

  const pcap = join(dir, 'routed.pcap');
  const e = await run('export', 'trace', routed, '--format', 'pcap', '--output', pcap);
  t.equal(e.code, 0, e.stderr);
  t.match(e.stdout, new RegExp(`^wrote ${pcap} \\(\\d+ bytes, pcap\\)$`, 'm'));
  const { stdout } = await execFileAsync('tshark', ['-r', pcap, '-T', 'fields', '-E', 'separator=|', '-e', 'eth.dst', '-e', 'ip.ttl']);
  t.same(stdout.trim().split('\n').at(-1), `${MAC.vm4}|63`, 'tshark reads the export: last frame as emitted to vm4');
  const otlp = await run('export', 'trace', routed, '--format', 'otlp');
  t.equal(otlp.code, 0, otlp.stderr);
  t.same(otlpTraceErrors(JSON.parse(otlp.stdout)), [], 'OTLP/JSON on stdout');
  const json = join(dir, 'routed.json');
  t.equal((await run('export', 'trace', routed, '--format', 'json', '--output', json)).code, 0);
  t.same(JSON.parse(readFileSync(json, 'utf8')), await call('GET', `/traces/${routed}`));
  userError(t, await run('export', 'trace', routed), /--format is required: json, pcap, otlp/, 'no --format');
  userError(t, await run('export', 'trace', routed, '--format', 'svg'), /--format: "svg" must be one of json, pcap, otlp/, 'bad --format');
  userError(t, await run('export', 'trace', routed, '--format', 'json', '--output', join(dir, 'no', 'such', 'dir', 'x')), /--output .*: ENOENT/, 'unwritable --output');
  userError(t, await run('diff', 'trace', routed), /missing required argument 'b'|error: missing/, 'diff needs two traces');
});

t.test('completion bash|zsh: scripts a shell loads, completing verbs, nouns and COND words', async (t) => {
  const bash = await run('completion', 'bash');
  t.equal(bash.code, 0, bash.stderr);
  const script = join(dir, 'midotrace.bash');
  writeFileSync(script, bash.stdout);
  const complete = async (...words: string[]): Promise<string[]> => {
    const cmd = `source ${script}; COMP_WORDS=(midotrace ${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length}; _midotrace; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return (await execFileAsync('bash', ['-c', cmd])).stdout.trim().split('\n').filter((x) => x !== '');
  };
  t.same((await complete('di')).sort(), ['diff', 'disable'], 'verbs');
  t.same(await complete('export', ''), ['trace'], 'nouns of a verb');
  t.same(await complete('add', 'trace-condition', 'dst', '10.0.0.1', 'dst-'), ['dst-port'], 'COND words');
  t.ok((await complete('list', 'trace', '--fo')).includes('--follow'), 'options of the verb');
  const zsh = await run('completion', 'zsh');
  t.equal(zsh.code, 0);
  t.match(zsh.stdout, /^#compdef midotrace$/m);
  t.match(zsh.stdout, /verbs=\(.*\bexport\b.*\)/);
  userError(t, await run('completion', 'fish'), /completion: "fish" must be bash or zsh/, 'unknown shell');
});

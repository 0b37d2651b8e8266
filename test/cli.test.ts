// The CLI verbs of SPEC §7, run as a real process against a live API: tables and --json, LABEL
// resolution (id, prefix, name, ambiguous), bad condition words, exit 2 when nothing listens, and
// `replay` of capture fixtures.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../api/app.js';
import { startApiServer } from '../api/server.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { Trace, TraceConditionJson, TraceSummary } from '../model/trace.js';
import { IP, MAC, startTestApi, type TestApi } from './helpers/api-deps.js';
import { USE_DIST } from './helpers/cli-entry.js';
import { cli, userError, type Run } from './helpers/cli-run.js';
import { pk } from './helpers/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CAPTURES = `${ROOT}test/fixtures/captures/`;

const useDist = USE_DIST;
t.comment(`running the CLI from ${useDist ? 'dist/' : 'sources under tsx'}`);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let api: TestApi;
let run: (...args: string[]) => Promise<Run>;
let get: <T>(path: string) => Promise<T>;
let post: <T>(path: string, body: unknown) => Promise<T>;

t.before(async () => {
  api = await startTestApi();
  run = (...args) => cli(args, { MIDOTRACE_API: api.url });
  get = async <T>(path: string) => await (await fetch(api.url + path)).json() as T;
  post = async <T>(path: string, body: unknown) => {
    const res = await fetch(api.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return await res.json() as T;
  };
});
t.teardown(() => api.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

t.test('trace conditions: add, list, show, del with every kind of LABEL', async (t) => {
  const vm1 = api.net.id('vm1');
  const add = await run('add', 'trace-condition', 'name', 'web', 'src', '10.0.0.0/24', 'proto', 'tcp', 'dst-port', '!80:81', 'port', vm1, 'limit', '3');
  t.equal(add.code, 0, add.stderr);
  const id = add.stdout.trim();
  t.match(id, UUID, 'prints the new id');
  const stored = await get<TraceConditionJson>(`/trace_conditions/${id}`);
  t.same(stored, {
    id, name: 'web', nwSrcAddress: '10.0.0.0', nwSrcLength: 24, nwProto: 6, tpDst: { start: 80, end: 81 }, invTpDst: true,
    deviceType: 'port', deviceId: vm1, limit: 3, enabled: true, creationTimestampMs: stored.creationTimestampMs,
  }, 'the words became this condition');

  const addJson = await run('--json', 'add', 'trace-condition', 'name', 'arp', 'ethertype', 'arp', 'disabled', 'inverted');
  t.equal(addJson.code, 0, addJson.stderr);
  const arp = JSON.parse(addJson.stdout) as TraceConditionJson;
  t.same(await get(`/trace_conditions/${arp.id}`), arp, '--json prints the stored condition');
  t.same({ dlType: arp.dlType, enabled: arp.enabled, condInvert: arp.condInvert }, { dlType: 0x0806, enabled: false, condInvert: true });

  // Two conditions whose ids share a prefix, for ambiguity.
  for (const n of [1, 2]) {
    const res = await fetch(`${api.url}/trace_conditions/abcd0000-0000-4000-8000-00000000000${n}`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `twin${n}`, vlan: n }),
    });
    t.equal(res.status, 201);
  }

  const [list, listJson, byName, byPrefix, byId, ambiguous, short, none] = await Promise.all([
    run('list', 'trace-condition'),
    run('list', 'trace-condition', '--json'),
    run('show', 'trace-condition', 'web'),
    run('show', 'trace-condition', id.slice(0, 6)),
    run('--json', 'show', 'trace-condition', arp.id.toUpperCase()),
    run('show', 'trace-condition', 'abcd0000'),
    run('show', 'trace-condition', 'abc'),
    run('del', 'trace-condition', 'no-such-name'),
  ]);
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0]!, /^ID\s+NAME\s+ENABLED\s+LIMIT\s+HITS\s+SCOPE\s+MATCH$/, 'a header row');
  t.equal(lines.length, 5, 'one row per condition');
  const webRow = lines.find((l) => l.startsWith(id))!;
  t.ok(webRow, 'web is listed');
  for (const col of ['NAME', 'ENABLED', 'LIMIT', 'HITS', 'SCOPE', 'MATCH']) {
    const at = lines[0]!.indexOf(col);
    t.ok(lines.slice(1).every((l) => l[at - 1] === ' ' && l[at] !== ' '), `column ${col} is aligned`);
  }
  t.match(webRow, /\bweb\s+yes\s+3\s+0\s+port vm1\s+src 10\.0\.0\.0\/24 proto tcp dst-port !80:81$/, 'row shows the condition in COND words');
  t.same(JSON.parse(listJson.stdout), await get('/trace_conditions'), '--json after the verb works too');

  t.equal(byName.code, 0, byName.stderr);
  t.match(byName.stdout, new RegExp(`^id\\s+${id}$`, 'm'), 'show by name');
  t.match(byName.stdout, /^match\s+src 10\.0\.0\.0\/24 proto tcp dst-port !80:81$/m);
  t.match(byName.stdout, /^limit\s+3$/m);
  t.equal(byPrefix.stdout, byName.stdout, 'show by a 6-character id prefix');
  t.same(JSON.parse(byId.stdout), arp, 'show by full id, any case, as JSON');
  userError(t, ambiguous, /abcd0000 is ambiguous: it matches abcd0000-0000-4000-8000-000000000001 \(twin1\), abcd0000-0000-4000-8000-000000000002 \(twin2\)$/, 'ambiguous prefix');
  userError(t, short, /at least 4 characters/, 'prefix too short');
  userError(t, none, /no trace condition has the id, id prefix or suffix, or name no-such-name/, 'unknown label');
  const bySuffix = await run('show', 'trace-condition', id.slice(-6));
  t.equal(bySuffix.stdout, byName.stdout, 'show by a 6-character id suffix');
  // A name that is also another condition's id prefix could mean either: refused, both listed.
  t.equal((await run('add', 'trace-condition', 'name', id.slice(0, 6), 'proto', 'udp')).code, 0);
  const nameOrPrefix = await run('show', 'trace-condition', id.slice(0, 6));
  userError(t, nameOrPrefix, new RegExp(`${id.slice(0, 6)} is ambiguous: it matches .*${id} \\(web\\).*\\(${id.slice(0, 6)}\\)|${id.slice(0, 6)} is ambiguous: it matches .*\\(${id.slice(0, 6)}\\).*${id} \\(web\\)`), 'a name that is another id\'s prefix is ambiguous');
  const namesake = (await get<TraceConditionJson[]>('/trace_conditions')).find((c) => c.name === id.slice(0, 6))!;
  t.equal((await run('del', 'trace-condition', namesake.id)).code, 0, 'its full id is never ambiguous');

  const del = await run('del', 'trace-condition', 'twin1');
  t.equal(del.code, 0, del.stderr);
  t.equal((await fetch(`${api.url}/trace_conditions/abcd0000-0000-4000-8000-000000000001`)).status, 404, 'deleted by name');
  const delPrefix = await run('del', 'trace-condition', 'abcd0000');
  t.equal(delPrefix.code, 0, 'the prefix is unique once its twin is gone');
  t.equal((await fetch(`${api.url}/trace_conditions/abcd0000-0000-4000-8000-000000000002`)).status, 404);
  for (const c of [id, arp.id]) t.equal((await run('del', 'trace-condition', c)).code, 0);
  t.same(await get('/trace_conditions'), [], 'all gone');
});

t.test('bad condition words: exit 1 with one line, nothing stored', async (t) => {
  const cases: [string[], RegExp][] = [
    [['src', '10.0.0.300'], /^midotrace: src: "10\.0\.0\.300" is not an IPv4 address/],
    [['frobnicate'], /^midotrace: unknown condition word "frobnicate"/],
    [['dst-port', '90:80'], /^midotrace: dst-port: range 90:80 starts after it ends/],
    [['proto'], /^midotrace: proto needs a value/],
    [['vlan', '!3'], /^midotrace: vlan cannot be inverted/],
    [['port', 'x', 'router', 'y'], /^midotrace: port: no port is named x \(an id prefix or suffix needs at least 4 characters\)$/],
    [['in-ports', 'vm1,nowhere'], /^midotrace: in-ports: no port has the id, id prefix or suffix, or name nowhere$/],
  ];
  const runs = await Promise.all(cases.map(([words]) => run('add', 'trace-condition', ...words)));
  runs.forEach((r, i) => userError(t, r, cases[i]![1], cases[i]![0].join(' ')));
  userError(t, await run('add', 'trace', 'src', '10.0.0.1'), /only trace-condition can be added/, 'add trace');
  userError(t, await run('list', 'conditions'), /unknown object "conditions"/, 'unknown noun');
  userError(t, await run('add', 'trace-condition', 'name', 'dup'), /no word says which packets to match.*the word all/, 'no matching word: refused');
  t.equal((await run('add', 'trace-condition', 'name', 'dup', 'all')).code, 0, 'unless all says every packet is meant');
  userError(t, await run('add', 'trace-condition', 'name', 'dup', 'all'), /already exists \(duplicate_name\)$/, 'the API refuses a duplicate name');
  t.equal((await get<unknown[]>('/trace_conditions')).length, 1, 'only the first was stored');
  await run('del', 'trace-condition', 'dup');
});

t.test('traces: list, --condition, --limit, show as a timeline, del, by prefix', async (t) => {
  const vm3 = api.net.id('vm3');
  const add = await run('add', 'trace-condition', 'name', 'from-vm3', 'src', IP.vm3, 'proto', 'udp');
  const condId = add.stdout.trim();
  const results = await post<SimulationResultJson[]>('/simulations', [
    { inPort: vm3, packet: pk.udp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1, { tpSrc: 1111 }) },
    { inPort: vm3, packet: pk.udp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1, { tpSrc: 2222 }) },
    { inPort: vm3, packet: pk.tcp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1) },
  ]);
  const ids = results.flatMap((r) => r.traceIds);
  t.equal(ids.length, 2, 'the condition traced the two UDP packets');
  // Forced traces from elsewhere, so that --condition has something to leave out.
  await post('/simulations?trace=true', Array.from({ length: 1100 }, (_, i) => ({ inPort: api.net.id('vm1'), packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: i }) })));
  await api.td.daemon.backends.sink.flush();

  const [byCond, byCondId, limited, many, all] = await Promise.all([
    run('list', 'trace', '--condition', 'from-vm3'),
    run('--json', 'list', 'trace', '--condition', condId),
    run('list', 'trace', '--limit', '1'),
    run('--json', 'list', 'trace', '--limit', '1050'),
    run('list', 'trace'),
  ]);
  t.equal(byCond.code, 0, byCond.stderr);
  const rows = byCond.stdout.trimEnd().split('\n');
  t.match(rows[0]!, /^ID\s+STARTED\s+RESULT\s+STEPS\s+INGRESS\s+MATCH\s+CONDITIONS$/);
  t.same(rows.slice(1).map((l) => l.split(/\s+/)[0]).sort(), [...ids].sort(), '--condition NAME lists exactly its traces');
  t.ok(rows.slice(1).every((l) => / vm3 /.test(l) && l.includes(`${IP.vm3}:`) && l.endsWith('from-vm3')), 'rows show the ingress port, the match and the condition by name');
  t.same((JSON.parse(byCondId.stdout) as TraceSummary[]).map((x) => x.id).sort(), [...ids].sort(), '--condition ID, --json');
  t.equal(limited.stdout.trimEnd().split('\n').length, 3, '--limit 1: header, one row and the more: line');
  t.match(limited.stdout.trimEnd().split('\n')[2], /^more: use --limit or the next cursor: --cursor \S+$/);
  const manyIds = (JSON.parse(many.stdout) as TraceSummary[]).map((x) => x.id);
  t.equal(manyIds.length, 1050, '--limit above one page follows the Link header');
  t.equal(new Set(manyIds).size, 1050, 'without duplicates');
  t.equal(all.stdout.trimEnd().split('\n').length, 102, 'default 100, and the more: line');
  userError(t, await run('list', 'trace', '--limit', 'lots'), /--limit: "lots" must be a positive integer/, 'bad --limit');
  userError(t, await run('list', 'trace', '--condition', 'nope'), /no trace condition has the id, id prefix or suffix, or name nope/, 'unknown --condition');

  const id = ids[0]!;
  const [show, showJson, ambiguous] = await Promise.all([
    run('show', 'trace', id.slice(0, 30)),
    run('--json', 'show', 'trace', id),
    run('show', 'trace', id.slice(0, 4)),
  ]);
  t.equal(show.code, 0, show.stderr);
  const trace = await get<Trace>(`/traces/${id}`);
  t.match(show.stdout, new RegExp(`^trace ${id}$`, 'm'), 'show by prefix');
  t.match(show.stdout, new RegExp(`conditions ${condId}`));
  const stepLines = show.stdout.split('\n').filter((l) => /^\s+\d+\s{2}/.test(l));
  t.equal(stepLines.length, trace.numSteps, 'one timeline line per step');
  t.ok(trace.steps.every((s, i) => stepLines[i]!.includes(s.message)), 'in order, with each step message');
  t.same(JSON.parse(showJson.stdout), trace, '--json prints the trace');
  userError(t, ambiguous, new RegExp(`^midotrace: ${id.slice(0, 4)} is ambiguous: it matches .*${'[0-9a-f-]{36}'}`), 'ambiguous trace prefix');
  userError(t, await run('show', 'trace', 'ffff0000ffff'), /no trace has an id starting or ending with ffff0000ffff/, 'no such trace');
  const bySuffix = await run('show', 'trace', id.slice(-12));
  t.equal(bySuffix.stdout, show.stdout, 'show by a 12-character id suffix');
  userError(t, await run('show', 'trace', 'xyz'), /too short/, 'short trace label');

  const del = await run('del', 'trace', id.slice(0, 28));
  t.equal(del.code, 0, del.stderr);
  t.equal((await fetch(`${api.url}/traces/${id}`)).status, 404, 'deleted');
  userError(t, await run('del', 'trace', id), /no trace/, 'deleting twice');
  await run('del', 'trace-condition', 'from-vm3');
});

t.test('exit 2 when the daemon cannot be reached; tokens come from MIDOTRACE_TOKEN', async (t) => {
  const port = await freePort();
  const [viaFlag, viaEnv, badUrl] = await Promise.all([
    cli(['--api', `http://127.0.0.1:${port}`, 'list', 'trace']),
    cli(['list', 'trace-condition'], { MIDOTRACE_API: `http://127.0.0.1:${port}` }),
    cli(['--api', 'not a url', 'list', 'trace']),
  ]);
  for (const r of [viaFlag, viaEnv]) {
    t.equal(r.code, 2, 'exit 2');
    t.match(r.stderr, new RegExp(`^midotrace: cannot reach the midotrace daemon at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    t.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line');
  }
  userError(t, badUrl, /--api not a url: not a URL/, 'a bad --api is a user error');

  const token = 'cli-admin-token-0123456789';
  const srv = await startApiServer(createApp({ ...api.deps, tokens: [{ token, role: 'admin' }] }), '127.0.0.1:0');
  t.teardown(() => srv.close());
  const url = `http://127.0.0.1:${srv.port}`;
  const [withToken, without] = await Promise.all([
    cli(['list', 'trace-condition'], { MIDOTRACE_API: url, MIDOTRACE_TOKEN: token }),
    cli(['list', 'trace-condition'], { MIDOTRACE_API: url }),
  ]);
  t.equal(withToken.code, 0, withToken.stderr);
  userError(t, without, /\(unauthorized\)$/, 'no token');
});

/** A little-endian microsecond pcap of Ethernet frames. */
function pcapOf(frames: Uint8Array[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(1, 20);
  const parts = [head];
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, Buffer.from(f));
  });
  return Buffer.concat(parts);
}

t.test('simulate: a runt or oversized frame is an errorDrop; bad JSON is refused in the words the API uses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-cli-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const topo = join(dir, 'topology.json');
  writeFileSync(topo, JSON.stringify(api.net.doc));
  const vm1 = api.net.id('vm1');
  const udp = pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2);

  const one = await run('simulate', '--topology', topo, '--in-port', vm1, '--frame', '0102', '--json');
  t.equal(one.code, 0, one.stderr);
  const r = JSON.parse(one.stdout || '{}') as SimulationResultJson;
  t.equal(r.result, 'errorDrop');
  t.equal(r.reason, 'malformed_frame');
  t.equal(r.error?.code, 'eth_truncated');
  const text = await run('simulate', '--topology', topo, '--in-port', vm1, '--frame', '0102');
  t.match(text.stdout, /^result: errorDrop \(malformed_frame\)/m, 'the table form says so too');

  const packets = join(dir, 'packets.json');
  const huge = 'ffffffffffff02000000000188b5' + '00'.repeat(70_000);
  writeFileSync(packets, JSON.stringify([{ inPort: vm1, packet: udp }, { inPort: vm1, frame: '0102' }, { inPort: vm1, frame: huge }, { inPort: vm1, packet: udp }]));
  const many = await run('simulate', '--topology', topo, '--packets', packets, '--json');
  t.equal(many.code, 0, many.stderr);
  const rs = JSON.parse(many.stdout || '[]') as SimulationResultJson[];
  t.same(rs.map((x) => x.result), ['forward', 'errorDrop', 'errorDrop', 'forward'], 'every packet of the file simulated');
  t.same(rs.map((x) => x.error?.code), [undefined, 'eth_truncated', 'eth_too_long', undefined]);

  // One validator for both entry points: the same input gets the same path and words.
  const bad = [{ inPort: vm1, packet: udp }, { inPort: vm1, packet: { nwSrc: '10.0.0.300' } }];
  const interior = [{ inPort: api.net.id('r-br'), packet: udp }];
  const unknown = [{ inPort: vm1, packet: udp, extra: 1 }];
  for (const body of [bad, interior, unknown, [{ inPort: vm1, frame: 'zz' }], [{ inPort: vm1 }], [7]]) {
    writeFileSync(packets, JSON.stringify(body));
    const fromApi = await post<{ code: string; message: string }>('/simulations', body);
    userError(t, await run('simulate', '--topology', topo, '--packets', packets), new RegExp(`: ${fromApi.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), `same words as the API: ${fromApi.message}`);
  }
});

t.test('replay: a capture holding a runt frame simulates every frame', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-cli-replay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const vm1 = api.net.id('vm1');
  const sim = await post<SimulationResultJson>('/simulations', { inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2) });
  const good = Buffer.from(sim.emitted[0]!.frame, 'hex');
  const file = join(dir, 'runt.pcap');
  writeFileSync(file, pcapOf([good, Buffer.alloc(10, 0xff), good]));
  const r = await run('--json', 'replay', file, '--in-port', vm1);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout || '{}') as { frames: number; counts: Record<string, number> };
  t.equal(s.frames, 3);
  t.same(s.counts, { forward: 2, errorDrop: 1 }, 'the runt is an errorDrop; the others still simulate');
});

t.test('replay: counts by result and the trace ids made', async (t) => {
  const vm1 = api.net.id('vm1');
  const r = await run('replay', `${CAPTURES}gopacket-test_ethernet.pcap`, '--in-port', vm1, '--trace');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^replayed 10 frames from .*gopacket-test_ethernet\.pcap$/m);
  const counts = [...r.stdout.matchAll(/^(forward|drop|shortDrop|errorDrop|consumed)\s+(\d+)$/gm)].map((m) => Number(m[2]));
  t.equal(counts.reduce((a, b) => a + b, 0), 10, 'counts add up to the frames');
  t.match(r.stdout, /^traces made: 10$/m, '--trace traces every frame');
  const ids = r.stdout.split('\n').filter((l) => UUID.test(l));
  t.equal(ids.length, 10, 'trace ids printed');
  await api.td.daemon.backends.sink.flush();
  for (const id of ids) t.equal((await fetch(`${api.url}/traces/${id}`)).status, 200, `trace ${id} exists`);

  const [json, untraced, mixed, pcapng] = await Promise.all([
    run('--json', 'replay', `${CAPTURES}dpkt-dns_icmp.pcap`, '--in-port', vm1),
    run('replay', `${CAPTURES}dpkt-http.pcap`, '--in-port', vm1),
    run('--json', 'replay', `${CAPTURES}gopacket-ng-le-test006.pcapng`, '--in-port', vm1),
    run('--json', 'replay', `${CAPTURES}gopacket-ng-le-test300.pcapng`, '--in-port', vm1),
  ]);
  const s = JSON.parse(json.stdout) as { frames: number; skipped: number; counts: Record<string, number>; traceIds: string[] };
  t.equal(s.frames, 32);
  t.equal(Object.values(s.counts).reduce((a, b) => a + b, 0), 32);
  t.same(s.traceIds, [], 'no traces without --trace or a condition');
  t.match(untraced.stdout, /^replayed 43 frames/m);
  t.match(untraced.stdout, /^traces made: 0$/m);
  const m = JSON.parse(mixed.stdout) as { frames: number; skipped: number };
  t.ok(m.skipped > 0 && m.frames > 0, `non-Ethernet frames are skipped (${m.frames} sent, ${m.skipped} skipped)`);
  t.equal((JSON.parse(pcapng.stdout) as { frames: number }).frames, 32, 'pcapng');

  userError(t, await run('replay', `${CAPTURES}dpkt-truncated_dns_2.pcap`, '--in-port', vm1), /dpkt-truncated_dns_2\.pcap: pcap record header cut short at byte \d+ \(capture_truncated\)$/, 'truncated capture');
  userError(t, await run('replay', `${CAPTURES}README.md`, '--in-port', vm1), /not a pcap or pcapng file .*\(capture_bad_magic\)$/, 'not a capture');
  userError(t, await run('replay', `${CAPTURES}missing.pcap`, '--in-port', vm1), /cannot read .*missing\.pcap: ENOENT/, 'missing file');
  userError(t, await run('replay', `${CAPTURES}dpkt-http.pcap`, '--in-port', api.net.id('nowhere')), /inPort: no port .* \(unknown_port\)$/, 'unknown port');
  t.equal((await run('replay', `${CAPTURES}dpkt-http.pcap`)).code, 1, '--in-port is required');
});

t.test('simulate: a validated topology file is cached; a changed file or a corrupt entry is validated again', async (t) => {
  const { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-cli-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { MIDOTRACE_CACHE_DIR: join(dir, 'cache') };
  const topo = join(dir, 'topology.json');
  const example = readFileSync(`${ROOT}examples/topology.json`, 'utf8');
  writeFileSync(topo, example);
  const args = ['simulate', '--topology', topo, '--in-port', 'c0000000-0000-4000-8000-000000000013', '--json', '--packet',
    JSON.stringify({ ethSrc: 'fa:16:3e:00:01:11', ethDst: '02:00:00:00:01:01', nwSrc: '10.0.1.11', nwDst: '10.0.2.12', nwProto: 'tcp', tpDst: 5432 })];
  const first = await cli(args, env);
  t.equal(first.code, 0, first.stderr);
  const entries = readdirSync(env.MIDOTRACE_CACHE_DIR).filter((f) => f.startsWith('topology-'));
  t.equal(entries.length, 1, 'the validated document is cached');
  const second = await cli(args, env);
  t.equal(second.stdout, first.stdout, 'the cached document simulates the same');

  // The entry is what a hit reads: a renamed port in it shows in the next trace.
  const entry = join(env.MIDOTRACE_CACHE_DIR, entries[0]!);
  writeFileSync(entry, readFileSync(entry, 'utf8').replace('"name":"db2"', '"name":"db2-from-cache"'));
  const traced = await cli([...args, '--trace'], env);
  t.match(traced.stdout, /db2-from-cache/, 'a hit reads the cache, not the validator');
  // Names outside ASCII read back as written, from the cache as from the file.
  writeFileSync(entry, readFileSync(entry, 'utf8').replace('"name":"db2-from-cache"', '"name":"db2-zürich-東京"'));
  t.match((await cli([...args, '--trace'], env)).stdout, /db2-zürich-東京/, 'a UTF-8 name from the cache');
  const utf8Topo = join(dir, 'utf8.json');
  writeFileSync(utf8Topo, example.replace('"name": "db2"', '"name": "db2-zürich-東京"'));
  const fromFile = await cli([...args.map((a) => a === topo ? utf8Topo : a), '--trace'], env);
  t.match(fromFile.stdout, /db2-zürich-東京/, 'a UTF-8 name from the file');

  writeFileSync(entry, '{ not json');
  const corrupt = await cli(args, env);
  t.equal(corrupt.stdout, first.stdout, 'a corrupt entry: validated again, same result');

  writeFileSync(topo, example.replace('"name": "web1"', '"name": "web1", "colour": "red"'));
  const changed = await cli(args, env);
  t.equal(changed.code, 1, 'changed bytes are validated: refused');
  t.match(changed.stderr, /invalid topology[^]*ports\[4\]\.colour: unknown field "colour"/);
});

t.test('--timeout bounds every call: a daemon that accepts and never answers is exit 2 (SPEC §7)', async (t) => {
  // Accepts the connection, reads the request, never writes a byte.
  const held: import('node:net').Socket[] = [];
  const silent = createServer((sock) => { held.push(sock); sock.on('error', () => {}); });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of held) s.destroy(); silent.close(); });
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const started = Date.now();
  const r = await cli(['--api', url, '--timeout', '1', 'list', 'trace-condition']);
  const took = Date.now() - started;
  t.equal(r.code, 2, 'exit 2');
  t.match(r.stderr, /no answer from the midotrace daemon at .* within 1 s \(--timeout\)/);
  t.ok(took < 8_000, `ended by the timeout, not by the old 120 s one (${took} ms)`);
  const bad = await cli(['--api', url, '--timeout', 'soon', 'list', 'trace']);
  userError(t, bad, /^midotrace: --timeout soon: must be a number of seconds/, 'a bad --timeout');
});

// P9 items 7a and 8, exactly as reported: `midotrace simulate` on the example topology.
t.test('simulate: an ICMP error about a packet SNATed on its way out reaches the sender, addressed to it', async (t) => {
  const r = await run('simulate', '--topology', 'examples/topology.json', '--in-port', 'c0000000-0000-4000-8000-000000000013', '--json', '--packet',
    '{"ethSrc":"fa:16:3e:00:01:11","ethDst":"02:00:00:00:01:01","nwSrc":"10.0.1.11","nwDst":"198.51.100.77","nwProto":"udp","tpSrc":5000,"tpDst":53}');
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as SimulationResultJson;
  t.equal(out.result, 'shortDrop');
  const icmp = out.emitted.filter((e) => e.generated && (e.packet as { nwProto?: number }).nwProto === 1);
  t.equal(icmp.length, 1, 'one ICMP error');
  t.equal(icmp[0]!.portId, 'c0000000-0000-4000-8000-000000000013', 'out of web1, where the sender is');
  t.match(icmp[0]!.packet, { nwSrc: '10.0.1.1', nwDst: '10.0.1.11', ethDst: 'fa:16:3e:00:01:11', icmpType: 3, icmpCode: 1 }, 'addressed to 10.0.1.11, not to the SNAT address');
});

t.test('simulate --packets --trace: a malformed frame\'s match holds only its own fields', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'p9-sim-'));
  try {
    const web1 = 'c0000000-0000-4000-8000-000000000013';
    const file = join(dir, 'packets.json');
    writeFileSync(file, JSON.stringify([
      { inPort: web1, packet: { ethSrc: 'fa:16:3e:00:01:11', ethDst: '02:00:00:00:01:01', nwSrc: '10.0.1.11', nwDst: '198.51.100.77', nwProto: 'udp', tpSrc: 5000, tpDst: 53 } },
      { inPort: web1, frame: '028e00506ae101000100000008004500001c0000000040110000c0a80001c0a800020035003500080000' },
      { inPort: web1, frame: 'fffffffeffff6a1617e067e708060001080006aaaaaaaaaaaaaaaaaaaaaa' },
    ]));
    const r = await run('simulate', '--topology', 'examples/topology.json', '--packets', file, '--trace', '--json');
    t.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as (SimulationResultJson & { trace: Trace })[];
    t.equal(out[1]!.trace.match.ethSrc, '01:00:01:00:00:00', 'the second frame\'s own match');
    t.same(out[2]!.trace.match, { ethSrc: '6a:16:17:e0:67:e7', ethDst: 'ff:ff:ff:fe:ff:ff', etherType: 0x0806 }, 'the truncated ARP frame shows its L2 fields, nothing of the frame before');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The live datapath (issue P10, SPEC §9) with real namespaces, veth pairs, ping, curl and Python's
// HTTP server: frames on bound interfaces go through the simulation and out again.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import type { ToDatapath } from '../daemon/datapath-messages.js';
import { Net } from './helpers/net.js';
import { LiveNet, type Guest } from './helpers/live-net.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { waitUntil } from './helpers/wait.js';
import type { DatapathReport } from '../api/deps.js';

const skip = LiveNet.canRun();
if (skip !== null) { t.plan(0, skip); process.exit(0); }

const execFileP = promisify(execFile);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const HOST = '6b3c0d1e-0000-4000-8000-00000000d0d0';
const net = new LiveNet();
t.teardown(() => net.destroy());
const A = net.guest('a', '10.0.1.2/24', '10.0.1.1');
const B = net.guest('b', '10.0.1.3/24', '10.0.1.1');
const C = net.guest('c', '10.0.2.2/24', '10.0.2.1');
const U = net.guest('u', '192.168.100.2/24');

const n = new Net();
const topo = n
  .bridge('b1').bridge('b2').router('r')
  .port('b1', 'a', { hostId: HOST, interfaceName: A.rootIf })
  .port('b1', 'b', { hostId: HOST, interfaceName: B.rootIf })
  .port('b2', 'c', { hostId: HOST, interfaceName: C.rootIf })
  .attach('r', 'b1', '10.0.1.1/24', '02:00:00:00:01:01')
  .attach('r', 'b2', '10.0.2.1/24', '02:00:00:00:01:02')
  .routerPort('r', 'uplink', '192.168.100.1/24', '02:00:00:00:01:03', { hostId: HOST, interfaceName: U.rootIf })
  // The tenants reach the uplink behind the router's uplink address; replies find their way back
  // through the NAT binding (conntrack), as with a MidoNet provider router.
  .chain('pre', [{ type: 'rev_snat', flowAction: 'continue' }])
  .chain('post', [{ type: 'snat', nwSrcAddress: '10.0.0.0', nwSrcLength: 16, outPorts: [n.id('uplink')], natTargets: [{ addressFrom: '192.168.100.1', addressTo: '192.168.100.1', portFrom: 20000, portTo: 30000 }], flowAction: 'accept' }])
  .set('routers', 'r', { inboundFilterId: n.id('pre'), outboundFilterId: n.id('post') })
  .doc;

let d: TestDaemon;
let api = '';
t.before(async () => {
  process.env.MIDOTRACE_FAULT_INJECTION = '1'; // the datapath thread test makes it fail
  d = await startTestDaemon(topo, { server: true, config: { hostId: HOST, datapath: { arpRetryMs: 500, arpTimeoutMs: 1500 } } });
  api = `http://127.0.0.1:${d.daemon.port}`;
  await waitUntil('every bound port up', async () => { const r = await report(); return r.status === 'running' && r.ports.length === 4 && r.ports.every((p) => p.state === 'up'); }, 20_000);
});
t.teardown(() => d?.close());

async function report(): Promise<DatapathReport> {
  return await (await fetch(`${api}/datapath`)).json() as DatapathReport;
}

/** `count` replies within 10 s (a cold worker's first batch may take a second under a loaded test run). */
const ping = (g: Guest, dst: string, count = 1) => net.run(g, 'ping', ['-c', String(count), '-i', '0.2', '-w', '10', dst]);

t.test('ping across a bridge', async (t) => {
  const r = await ping(A, B.ip, 3);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /3 received/);
});

t.test('ping across the router: the gateway ARP is answered by the simulation, the first ping is not lost', async (t) => {
  // One echo request only: had it been dropped with an immediate 3/1, ping would fail.
  const r = await net.run(A, 'ping', ['-c', '1', '-W', '5', C.ip]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /1 received/, 'the first packet towards a new next hop was held for ARP, not answered 3/1');
  const neigh = net.exec(A, 'ip', 'neigh', 'show', '10.0.1.1');
  t.match(neigh, /02:00:00:00:01:01/, 'the gateway resolved to the router port MAC');
});

t.test('an unanswered ARP gives ICMP host unreachable only after the ARP timeout', async (t) => {
  const started = Date.now();
  const r = await net.run(A, 'ping', ['-c', '1', '-W', '4', '10.0.2.99']);
  t.not(r.code, 0);
  t.match(r.out, /Unreachable/i, r.out);
  t.ok(Date.now() - started >= 1400, 'held for arpTimeoutMs first');
});

t.test('curl across the router with SNAT; the reply comes back through conntrack', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mtdp-http-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hello.txt'), 'hello from the uplink\n');
  net.background(U, 'python3', ['-m', 'http.server', '8080', '--bind', U.ip, '--directory', dir]);
  await waitUntil('HTTP server', async () => (await net.run(U, 'curl', ['-s', '-o', '/dev/null', `http://${U.ip}:8080/`])).code === 0, 5000);
  const r = await net.run(C, 'curl', ['-s', '-m', '10', `http://${U.ip}:8080/hello.txt`]);
  t.equal(r.code, 0, r.out);
  t.equal(r.out, 'hello from the uplink\n');
  // The server saw the router's uplink address, not the tenant's.
  const conns = await net.run(A, 'curl', ['-s', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${U.ip}:8080/hello.txt`]);
  t.equal(conns.out, '200');
});

t.test('a 10 MB TCP transfer with default offloads on both ends arrives intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mtdp-tcp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const blob = randomBytes(10 * 1024 * 1024);
  writeFileSync(join(dir, 'blob'), blob);
  const offloads = net.exec(C, 'ethtool', '-k', C.nsIf);
  t.match(offloads, /tx-checksumming: on/, 'default veth offloads are on');
  net.background(C, 'python3', ['-m', 'http.server', '8081', '--bind', C.ip, '--directory', dir]);
  await waitUntil('HTTP server', async () => (await net.run(C, 'curl', ['-s', '-o', '/dev/null', `http://${C.ip}:8081/`])).code === 0, 5000);
  const r = await net.run(A, 'sh', ['-c', `curl -s -m 30 http://${C.ip}:8081/blob | sha256sum`], 40_000);
  t.equal(r.code, 0, r.out);
  t.equal(r.out.split(' ')[0], createHash('sha256').update(blob).digest('hex'));
});

t.test('an ICMP trace condition records traces whose ingress is the bound port', async (t) => {
  const c = await d.daemon.backends.conditions.create({ name: 'live-icmp', nwProto: 1, inPorts: [n.id('a')] });
  if (!c.ok) throw new Error('condition not created');
  await sleep(200);
  const r = await ping(A, C.ip, 1);
  t.equal(r.code, 0, r.out);
  let ids: string[] = [];
  await waitUntil('a stored trace', async () => {
    const l = await d.daemon.backends.traces.list({ conditionId: c.condition.id, limit: 10 });
    ids = l.ok ? l.items.map((i) => i.id) : [];
    return ids.length > 0;
  }, 5000);
  const tr = (await d.daemon.backends.traces.get(ids[0]!))!;
  t.equal(tr.ingressPortId, n.id('a'));
  t.equal(tr.hostId, HOST);
  const devices = tr.steps.map((s) => s.deviceName);
  t.ok(devices.includes('b1') && devices.includes('r') && devices.includes('b2'), `path a → b1 → r → b2: ${devices.join(' ')}`);
  await d.daemon.backends.conditions.delete(c.condition.id);
});

t.test('a malformed frame written raw is a counted errorDrop', async (t) => {
  const before = (await report()).ports.find((p) => p.portId === n.id('a'))!;
  // An IPv4 ethertype with a 3-byte IP header.
  const hex = 'ffffffffffff0200000000aa0800450000';
  const r = await net.run(A, 'python3', ['-c', `import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${A.nsIf}', 0)); s.send(bytes.fromhex('${hex}'))`]);
  t.equal(r.code, 0, r.out);
  await waitUntil('errorDrop counted', async () => ((await report()).ports.find((p) => p.portId === n.id('a'))!.dropReasons.errorDrop ?? 0) > (before.dropReasons.errorDrop ?? 0), 5000);
  // Not execFileSync: the daemon answering it runs in this very process.
  const { stdout: cli } = await execFileP(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--api', api, 'show', 'datapath'], { encoding: 'utf8' });
  t.match(cli, new RegExp(`a +${A.rootIf} +up`), 'midotrace show datapath lists the bound ports');
  const metrics = await (await fetch(`${api}/metrics`)).text();
  t.match(metrics, /midotrace_datapath_drops_total\{port="a",reason="errorDrop"\} [1-9]/);
  t.match(metrics, /midotrace_datapath_frames_total\{port="a",direction="rx"\} [1-9]/);
});

t.test('an interface deleted and re-created is picked up again', async (t) => {
  net.unplug(B);
  await waitUntil('port b missing', async () => (await report()).ports.find((p) => p.portId === n.id('b'))!.state === 'missing', 5000);
  const h = await (await fetch(`${api}/healthz`)).json() as { ok: boolean; backends: { name: string; detail: string }[] };
  t.ok(h.ok, 'a VM interface going away does not make the host unhealthy');
  t.match(h.backends.find((b) => b.name === 'datapath')!.detail, /missing/);
  net.plug(B);
  await waitUntil('port b up again', async () => (await report()).ports.find((p) => p.portId === n.id('b'))!.state === 'up', 5000);
  const r = await ping(A, B.ip, 2);
  t.equal(r.code, 0, r.out);
});

t.test('a topology change rebinds ports without a restart', async (t) => {
  const without = structuredClone(topo);
  delete without.ports!.find((p) => p.id === n.id('b'))!.interfaceName;
  d.daemon.setTopology(without);
  t.same((await report()).ports.map((p) => p.name).sort(), ['a', 'c', 'uplink'], 'port b unbound');
  d.daemon.setTopology(topo);
  await waitUntil('port b bound again', async () => (await report()).ports.find((p) => p.name === 'b')?.state === 'up', 5000);
  const r = await ping(A, B.ip, 1);
  t.equal(r.code, 0, r.out);
});

t.test('without CAP_NET_RAW the daemon says so once and serves everything else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mtdp-nocap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'topology.json'), JSON.stringify(topo));
  const port = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    hostId: HOST, listen: `127.0.0.1:${port}`, stateDir: join(dir, 'state'), sqlite: { path: join(dir, 'db') },
    topology: { file: join(dir, 'topology.json') }, workers: { threads: 1 },
  }));
  const child = spawn('setpriv', ['--bounding-set', '-net_raw', '--inh-caps', '-net_raw', process.execPath, '--import', 'tsx', 'cli/main.ts', 'daemon', '--config', join(dir, 'config.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  t.teardown(() => { child.kill('SIGKILL'); });
  let r: DatapathReport | null = null;
  await waitUntil('the daemon serving', async () => {
    try { r = await (await fetch(`http://127.0.0.1:${port}/datapath`)).json() as DatapathReport; return r.status !== 'starting'; } catch { return false; }
  }, 20_000);
  t.equal(r!.status, 'no_permission');
  t.same(r!.ports.map((p) => p.state), ['down', 'down', 'down', 'down']);
  const h = await fetch(`http://127.0.0.1:${port}/healthz`);
  t.equal(h.status, 200, 'healthy otherwise');
  child.kill('SIGTERM');
  await new Promise((res) => child.once('close', res));
  t.equal(out.split('needs root or CAP_NET_RAW').length - 1, 1, 'said once');
});

t.test('the datapath thread dying is not the end: it is started again and frames flow', async (t) => {
  const wiring = d.daemon.datapath as unknown as { thread: Worker | null };
  const first = wiring.thread!;
  t.ok(first, 'frames move on a thread of their own');
  const gone = new Promise((res) => first.once('exit', res));
  first.postMessage({ t: 'fault' } satisfies ToDatapath);
  await gone;
  t.equal((await report()).status, 'starting', 'said in GET /datapath while it starts again');
  await waitUntil('the datapath running again', async () => { const r = await report(); return r.status === 'running' && r.ports.every((p) => p.state === 'up'); }, 10_000);
  t.not(wiring.thread, first, 'a new thread');
  const r = await ping(A, B.ip, 1);
  t.equal(r.code, 0, r.out);
});

t.test('a flood of random frames neither crashes nor grows RSS', async (t) => {
  const total = Number(process.env.MIDOTRACE_FLOOD_FRAMES ?? 1_000_000);
  const flood = (count: number) => net.run(A, 'python3', ['-c', `
import os, socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('${A.nsIf}', 0))
pool = [os.urandom(60 + (i * 37) % 200) for i in range(4096)]
for i in range(${count}):
    try: s.send(pool[i % 4096])
    except OSError: pass
`], 120_000);
  // RSS after a full GC, so what is measured is what the daemon keeps, not garbage not yet collected.
  const settledRss = async (): Promise<number> => {
    await sleep(500);
    for (let i = 0; i < 3; i++) { gc(); await sleep(50); }
    return process.memoryUsage().rss;
  };
  await flood(Math.min(100_000, total / 10)); // warm-up: JIT, MAC table, buffers at their size
  const rss0 = await settledRss();
  const rx0 = (await report()).ports.find((p) => p.portId === n.id('a'))!.rxFrames;
  const started = Date.now();
  const half = Math.floor(total / 2);
  const r1 = await flood(half);
  const rss1 = await settledRss();
  const r2 = await flood(total - half);
  const rss2 = await settledRss();
  t.equal(r1.code + r2.code, 0, r1.out + r2.out);
  const rx = (await report()).ports.find((p) => p.portId === n.id('a'))!.rxFrames - rx0;
  const mb = (b: number) => Math.round(b / 2 ** 20);
  t.comment(`flood: ${total} frames sent in ${Date.now() - started} ms, ${rx} received by the daemon; RSS ${mb(rss0)} → ${mb(rss1)} → ${mb(rss2)} MB`);
  t.comment(JSON.stringify((await report()).ports.map((p) => [p.name, p.dropReasons])));
  t.ok(rx > total * 0.5, 'most frames were read');
  t.ok(rss2 - rss1 < 32 * 2 ** 20, 'RSS steady: the second half of the flood adds no more than noise');
  t.ok(rss2 - rss0 < 96 * 2 ** 20, 'RSS steady overall');
  const p = await ping(A, B.ip, 1);
  t.equal(p.code, 0, 'still forwarding afterwards');
});

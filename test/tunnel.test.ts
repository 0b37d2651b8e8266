// Two hosts joined by a VXLAN tunnel (issue P13, SPEC §10), with real namespaces: host A's daemon runs
// here, host B's as its own process in namespace `hostB`; an underlay veth joins the two; each host's
// VM sits behind a veth bound to a port on its host. Both read the topology (tunnel zone included) and
// the trace conditions from one real ZooKeeper (B through a proxy on A's underlay address) and store
// traces in one SQLite file. A ping from A's VM to B's VM crosses the virtual router on A, the tunnel,
// and comes back the same way from B; tshark decodes the underlay as VXLAN; a traced ping is one trace
// with both hosts' steps.
// Every name carries `mttn` and a per-run suffix; everything is removed in teardown.
import t from 'tap';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Net } from './helpers/net.js';
import { LiveNet } from './helpers/live-net.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { CLI_ENTRY, ROOT } from './helpers/cli-entry.js';
import { waitUntil } from './helpers/wait.js';
import type { DatapathReport } from '../api/deps.js';
import { parseVxlan, writeVxlanHeader } from '../datapath/tunnel.js';
import { createServer, connect as tcpConnect, type Server } from 'node:net';
import { startZooKeeper, zookeeperSkip, type ZooKeeperServer } from './helpers/zookeeper.js';
import { ZkClient } from '../stores/zookeeper/client.js';
import { importTopology } from '../stores/zookeeper/topology-import.js';
import { GSO_BIT, tunnelPlan, TRACE_BIT } from '../datapath/tunnel-plan.js';
import { fnv1a } from '../model/hash.js';

const execFileP = promisify(execFile);
const HOST_A = '7a000000-0000-4000-8000-00000000000a';
const HOST_B = '7b000000-0000-4000-8000-00000000000b';

t.test('VXLAN header and tunnel keys', async (t) => {
  const h = new Uint8Array(8 + 14);
  writeVxlanHeader(h, 0x123456 | TRACE_BIT);
  t.same([...h.subarray(0, 8)], [0x08, 0, 0, 0, 0x92, 0x34, 0x56, 0], 'flags, VNI with the trace bit');
  t.same(parseVxlan(h), { ok: true, key: 0x123456 & ~GSO_BIT, traced: true, gso: (0x123456 & GSO_BIT) !== 0 });
  writeVxlanHeader(h, 0x1234 | GSO_BIT);
  t.same(parseVxlan(h), { ok: true, key: 0x1234, traced: false, gso: true }, 'the GSO bit');
  t.same(parseVxlan(h.subarray(0, 20)), { ok: false, reason: 'truncated' });
  const bad = h.slice(); bad[0] = 0x0c;
  t.same(parseVxlan(bad), { ok: false, reason: 'bad_header' });
  const n = new Net().bridge('b').port('b', 'p1', { hostId: HOST_B, interfaceName: 'x1' }).port('b', 'p2', { hostId: HOST_A, interfaceName: 'x2' }).port('b', 'p3', { hostId: '9e000000-0000-4000-8000-000000000009', interfaceName: 'x3' });
  const doc = { ...n.doc, tunnelZones: [{ id: n.id('tz'), type: 'vxlan' as const, hosts: [{ hostId: HOST_A, ipAddress: '10.9.0.1' }, { hostId: HOST_B.toUpperCase(), ipAddress: '10.9.0.2' }] }] };
  const a = tunnelPlan(doc, HOST_A);
  const b = tunnelPlan(doc, HOST_B);
  t.equal(a.self, '10.9.0.1');
  t.same([...a.keyOf], [...b.keyOf], 'every host gives a port the same key');
  t.ok([...a.keyOf.values()].every((k) => k > 0 && k < GSO_BIT), 'keys leave the trace and GSO bits free');
  t.same([...a.remote], [[n.id('p1'), { hostId: HOST_B, ipAddress: '10.9.0.2' }]], 'A sends p1\'s frames to B');
  t.same([...a.unreachable], [n.id('p3')], 'a host in no common zone is unreachable');
  // Keys, ZooKeeper buckets and Cassandra slots are persisted or shared between hosts: the hash is FNV-1a, for good.
  t.same([fnv1a(''), fnv1a('a'), fnv1a('foobar')], [0x811c9dc5, 0xe40c292c, 0xbf9cf968], 'the placement hash is 32-bit FNV-1a');
});


const skip = LiveNet.canRun() ?? zookeeperSkip();
if (skip !== null && skip !== false) t.test('two hosts', { skip }, () => {});
else twoHosts();

function twoHosts(): void {
  const sfx = randomBytes(2).toString('hex');
  const hostB = `mttn${sfx}hb`;
  const vmB = `mttn${sfx}vb`;
  const uA = `mttn${sfx}ua`;
  const uB = `mttn${sfx}ub`;
  const vbHost = `mttn${sfx}bh`;
  const vbVm = `mttn${sfx}bv`;
  // A private /30 per run for the underlay.
  const o = 16 + (parseInt(sfx, 16) % 200);
  const ulA = `10.251.${o}.1`;
  const ulB = `10.251.${o}.2`;
  const MAC_B = '02:6d:74:00:0b:02';
  const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const inNs = (ns: string, ...a: string[]): string => execFileSync('ip', ['netns', 'exec', ns, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  const net = new LiveNet();
  const dir = mkdtempSync(join(tmpdir(), 'mttn-'));
  let daemonA: TestDaemon | undefined;
  let daemonB: ChildProcess | undefined;
  let zk: ZooKeeperServer | undefined;
  let proxy: Server | undefined;
  let admin: ZkClient | undefined;
  t.teardown(async () => {
    daemonB?.kill('SIGKILL');
    await daemonA?.close();
    await admin?.close();
    proxy?.close();
    await zk?.stop();
    net.destroy();
    for (const ns of [hostB, vmB]) { try { ip('netns', 'del', ns); } catch { /* gone */ } }
    try { ip('link', 'del', uA); } catch { /* gone with its peer */ }
    rmSync(dir, { recursive: true, force: true });
  });

  // Host B and its VM; the underlay between the root namespace (host A) and host B.
  ip('netns', 'add', hostB);
  ip('netns', 'add', vmB);
  inNs(hostB, 'ip', 'link', 'set', 'lo', 'up');
  ip('link', 'add', uA, 'type', 'veth', 'peer', 'name', uB, 'netns', hostB);
  ip('addr', 'add', `${ulA}/30`, 'dev', uA);
  ip('link', 'set', uA, 'up');
  inNs(hostB, 'ip', 'addr', 'add', `${ulB}/30`, 'dev', uB);
  inNs(hostB, 'ip', 'link', 'set', uB, 'up');
  inNs(hostB, 'ip', 'link', 'add', vbHost, 'type', 'veth', 'peer', 'name', vbVm, 'netns', vmB);
  inNs(hostB, 'sysctl', '-qw', `net.ipv6.conf.${vbHost}.disable_ipv6=1`);
  inNs(hostB, 'ip', 'link', 'set', vbHost, 'up');
  inNs(vmB, 'sysctl', '-qw', `net.ipv6.conf.${vbVm}.disable_ipv6=1`);
  inNs(vmB, 'ip', 'link', 'set', 'lo', 'up');
  inNs(vmB, 'ip', 'link', 'set', vbVm, 'address', MAC_B);
  inNs(vmB, 'ip', 'addr', 'add', '10.0.2.2/24', 'dev', vbVm);
  inNs(vmB, 'ip', 'link', 'set', vbVm, 'up');
  inNs(vmB, 'ip', 'route', 'add', 'default', 'via', '10.0.2.1');
  const A = net.guest('a', '10.0.1.2/24', '10.0.1.1');

  const n = new Net();
  n.bridge('b1', { arpTable: [{ ip: '10.0.1.2', mac: A.mac }] })
    .bridge('b2', { arpTable: [{ ip: '10.0.2.2', mac: MAC_B }] })
    .router('r')
    .port('b1', 'vma', { hostId: HOST_A, interfaceName: A.rootIf })
    .port('b2', 'vmb', { hostId: HOST_B, interfaceName: vbHost })
    .attach('r', 'b1', '10.0.1.1/24', '02:00:00:00:01:01')
    .attach('r', 'b2', '10.0.2.1/24', '02:00:00:00:01:02');
  const doc = { ...n.doc, tunnelZones: [{ id: n.id('zone'), name: 'underlay', type: 'vxlan' as const, hosts: [{ hostId: HOST_A, ipAddress: ulA }, { hostId: HOST_B, ipAddress: ulB }] }] };
  const API_B = 18181;
  const ZK_ROOT = '/midonet';
  // Host B reaches the one ZooKeeper (on host A's loopback) through a proxy on host A's underlay address.
  let zkForB = '';
  // One trace store both hosts reach: one SQLite file in WAL mode (SPEC §10).
  const shared = join(dir, 'shared.db');

  const reportB = async (): Promise<DatapathReport> => JSON.parse((await execFileP('ip', ['netns', 'exec', hostB, 'curl', '-s', '-m', '5', `http://127.0.0.1:${API_B}/datapath`])).stdout) as DatapathReport;
  const reportA = async (): Promise<DatapathReport> => await (await fetch(`http://127.0.0.1:${daemonA!.daemon.port}/datapath`)).json() as DatapathReport;

  function startB(): ChildProcess {
    const cfg = join(dir, 'b.json');
    writeFileSync(cfg, JSON.stringify({
      hostId: HOST_B, listen: `127.0.0.1:${API_B}`, stateDir: join(dir, 'b-state'),
      topology: { source: 'zookeeper' }, conditions: { store: 'zookeeper' },
      zookeeper: { connect: zkForB, root: ZK_ROOT, sessionTimeoutMs: 4000 }, sqlite: { path: shared },
      workers: { threads: 1, batchSize: 64 }, log: { level: 'warn' },
    }));
    const c = spawn('ip', ['netns', 'exec', hostB, process.execPath, ...CLI_ENTRY, 'daemon', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('exit', (code) => { if (code !== 0 && code !== null) t.comment(`host B exited ${code}: ${err.slice(-2000)}`); });
    return c;
  }

  const ping = (count: number) => net.run(A, 'ping', ['-c', String(count), '-i', '0.2', '-w', '15', '10.0.2.2'], 30_000);

  t.test('two hosts: a ping crosses the tunnel both ways; tshark decodes VXLAN on 6677; counters per peer', async (t) => {
    zk = await startZooKeeper();
    const conn = await ZkClient.connect(zk.connectString, { sessionTimeout: 4000 });
    if (!conn.ok) throw new Error(conn.error.message);
    admin = conn.value;
    t.ok((await importTopology(admin, ZK_ROOT, doc)).ok, 'the topology, tunnel zone included, is in ZooKeeper');
    const zkPort = zk.port;
    proxy = createServer((c) => {
      const up = tcpConnect(zkPort, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((res) => proxy!.listen(0, ulA, res));
    zkForB = `${ulA}:${(proxy.address() as { port: number }).port}`;
    daemonA = await startTestDaemon({}, {
      server: true,
      config: {
        hostId: HOST_A, topology: { source: 'zookeeper' }, conditions: { store: 'zookeeper' },
        zookeeper: { connect: zk.connectString, root: ZK_ROOT, sessionTimeoutMs: 4000 }, sqlite: { path: shared },
      },
    });
    daemonB = startB();
    await waitUntil('host A\'s port up', async () => (await reportA()).ports.every((p) => p.state === 'up'), 20_000);
    await waitUntil('host B\'s port up', async () => { try { const r = await reportB(); return r.ports.length === 1 && r.ports[0]!.state === 'up'; } catch { return false; } }, 40_000, 250);

    const pcap = join(dir, 'underlay.pcap');
    const capture = spawn('tshark', ['-i', uA, '-w', pcap, '-f', 'udp', '-q'], { stdio: 'ignore' });
    t.teardown(() => { capture.kill('SIGKILL'); });
    await sleep(1500);
    const r = await ping(3);
    t.equal(r.code, 0, r.out);
    t.match(r.out, /3 received/);
    await sleep(300);
    capture.kill('SIGINT');
    await new Promise((res) => capture.on('close', res));

    const { stdout } = await execFileP('tshark', ['-r', pcap, '-d', 'udp.port==6677,vxlan', '-T', 'fields', '-E', 'separator=|', '-e', 'ip.src', '-e', 'udp.dstport', '-e', 'vxlan.vni', '-e', 'icmp.type']);
    const rows = stdout.trim().split('\n').filter((l) => l !== '');
    const plan = tunnelPlan(doc, HOST_A);
    const keyB = plan.keyOf.get(n.id('vmb'))!;
    const keyA = plan.keyOf.get(n.id('vma'))!;
    t.ok(rows.some((l) => l === `${ulA},10.0.1.2|6677|${keyB}|8`), `echo requests A → B in VXLAN with vmb's key (${rows.join('; ')})`);
    t.ok(rows.some((l) => l === `${ulB},10.0.2.2|6677|${keyA}|0`), 'echo replies B → A with vma\'s key');

    const a = await reportA();
    const b = await reportB();
    t.match(a.tunnels, [{ hostId: HOST_B, ipAddress: ulB }]);
    t.ok(a.tunnels[0]!.txFrames >= 3 && a.tunnels[0]!.rxFrames >= 3, JSON.stringify(a.tunnels));
    t.ok(b.tunnels[0]!.txFrames >= 3 && b.tunnels[0]!.rxFrames >= 3, JSON.stringify(b.tunnels));
    const metrics = await (await fetch(`http://127.0.0.1:${daemonA!.daemon.port}/metrics`)).text();
    t.match(metrics, new RegExp(`midotrace_tunnel_frames_total\\{peer="${HOST_B}",direction="tx"\\} [1-9]`));
  });

  t.test('a 4 MB TCP transfer across the tunnel with default offloads arrives intact', async (t) => {
    const web = mkdtempSync(join(tmpdir(), 'mttn-http-'));
    t.teardown(() => rmSync(web, { recursive: true, force: true }));
    const blob = randomBytes(4 * 1024 * 1024);
    writeFileSync(join(web, 'blob'), blob);
    const server = spawn('ip', ['netns', 'exec', vmB, 'python3', '-m', 'http.server', '8088', '--bind', '10.0.2.2', '--directory', web], { stdio: 'ignore' });
    t.teardown(() => { server.kill('SIGKILL'); });
    await waitUntil('HTTP server on B', async () => (await net.run(A, 'curl', ['-s', '-o', '/dev/null', '-m', '3', 'http://10.0.2.2:8088/'])).code === 0, 15_000, 300);
    const r = await net.run(A, 'sh', ['-c', 'curl -s -m 30 http://10.0.2.2:8088/blob | sha256sum'], 40_000);
    t.equal(r.code, 0, r.out);
    t.equal(r.out.split(' ')[0], createHash('sha256').update(blob).digest('hex'), 'the same bytes');
  });

  t.test('a traced ping: one trace with host A\'s steps, then host B\'s, read on either host', async (t) => {
    const c = await daemonA!.daemon.backends.conditions.create({ name: 'cross-host', nwProto: 1, nwSrcAddress: '10.0.1.2', nwSrcLength: 32 });
    if (!c.ok) throw new Error('condition not created');
    t.teardown(() => daemonA!.daemon.backends.conditions.delete(c.condition.id));
    await sleep(1000); // both daemons watch the condition in ZooKeeper
    const r = await ping(1);
    t.equal(r.code, 0, r.out);
    let id = '';
    await waitUntil('the trace', async () => {
      const l = await daemonA!.daemon.backends.traces.list({ conditionId: c.condition.id, limit: 10 });
      id = l.ok && l.items.length > 0 ? l.items[l.items.length - 1]!.id : '';
      return id !== '';
    }, 10_000);
    type T = { hostId: string; numSteps: number; steps: { step: number; hostId: string; details: { kind: string; fromHostId?: string }; deviceName: string }[] };
    let onA: T | null = null;
    await waitUntil('host B\'s steps in the trace', async () => {
      onA = await (await fetch(`http://127.0.0.1:${daemonA!.daemon.port}/traces/${id}`)).json() as T;
      return onA.steps.some((s) => s.hostId === HOST_B);
    }, 10_000);
    const tr = onA!;
    t.equal(tr.hostId, HOST_A, 'the summary names the ingress host');
    const hosts = tr.steps.map((s) => s.hostId);
    const firstB = hosts.indexOf(HOST_B);
    t.ok(firstB > 3 && hosts.slice(0, firstB).every((h) => h === HOST_A) && hosts.slice(firstB).every((h) => h === HOST_B), `A's steps, then B's: ${hosts.join(' ')}`);
    t.same(tr.steps.slice(firstB).map((s) => [s.details.kind, s.deviceName]), [['tunnel_received', 'vmb'], ['emitted', 'vmb']], 'B: reception through the tunnel, emission on its interface');
    t.equal(tr.steps[firstB]!.details.fromHostId, HOST_A);
    t.same(tr.steps.map((s) => s.step), tr.steps.map((_, i) => i + 1), 'numbered in order');
    t.equal(tr.numSteps, tr.steps.length);
    const onB = JSON.parse((await execFileP('ip', ['netns', 'exec', hostB, 'curl', '-s', '-m', '5', `http://127.0.0.1:${API_B}/traces/${id}`])).stdout) as T;
    t.same(onB, tr, 'host B serves the same trace');
  });

  t.test('bad tunnel input is dropped and counted per peer; the daemon serves on', async (t) => {
    const before = (await reportB()).tunnels.find((x) => x.hostId === HOST_A)!;
    const key = tunnelPlan(doc, HOST_A).keyOf.get(n.id('vmb'))!;
    const hex = (b: number[]): string => Buffer.from(b).toString('hex');
    const frame = '02'.repeat(6) + '04'.repeat(6) + '0800' + '45'.repeat(20);
    const datagrams = [
      hex([0x08, 0, 0, 0, 0, 0, 0]),                                       // truncated
      hex([0x00, 0, 0, 0, key >> 16, (key >> 8) & 255, key & 255, 0]) + frame, // no I flag
      hex([0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]) + frame,                     // unknown key
      'ff'.repeat(100),                                                   // not VXLAN at all
    ];
    // Sent from host A's underlay address, so B counts them against peer A.
    const py = `import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('${ulA}',0))\nfor h in sys.argv[1:]: s.sendto(bytes.fromhex(h),('${ulB}',6677))`;
    await execFileP('python3', ['-c', py, ...datagrams]);
    await waitUntil('drops counted', async () => ((await reportB()).tunnels.find((x) => x.hostId === HOST_A)!.drops) >= before.drops + 4, 5000);
    const after = (await reportB()).tunnels.find((x) => x.hostId === HOST_A)!;
    const diff = (k: string): number => (after.dropReasons[k] ?? 0) - (before.dropReasons[k] ?? 0);
    t.same({ truncated: diff('truncated'), bad_header: diff('bad_header'), unknown_key: diff('unknown_key') }, { truncated: 1, bad_header: 2, unknown_key: 1 });
    const r = await ping(1);
    t.equal(r.code, 0, `still forwarding: ${r.out}`);
  });

  t.test('host B stopped: host A keeps forwarding locally; traffic resumes when B is back', async (t) => {
    daemonB!.kill('SIGTERM');
    await new Promise((res) => daemonB!.on('exit', res));
    const local = await net.run(A, 'ping', ['-c', '1', '-W', '3', '10.0.1.1']);
    t.equal(local.code, 0, `the router on host A still answers: ${local.out}`);
    const dropsBefore = (await reportA()).tunnels[0]!.dropReasons.peer_unreachable ?? 0;
    const lost = await net.run(A, 'ping', ['-c', '4', '-i', '0.2', '-W', '1', '10.0.2.2']);
    t.not(lost.code, 0, 'nothing answers on B');
    await waitUntil('tunnel drops counted on A', async () => ((await reportA()).tunnels[0]!.dropReasons.peer_unreachable ?? 0) > dropsBefore, 5000);
    daemonB = startB();
    await waitUntil('host B back', async () => { try { return (await reportB()).ports[0]?.state === 'up'; } catch { return false; } }, 40_000, 250);
    const r = await ping(2);
    t.equal(r.code, 0, r.out);
  });
}

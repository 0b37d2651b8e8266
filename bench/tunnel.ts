// tunnel.forward / tunnel.traced (SPEC §8): frames across two hosts. Host A's daemon runs here, host
// B's in its own namespace as a process; an underlay veth joins them. One bridge spans both hosts: the
// generator (bench/datapath-gen.ts) sends 106-byte UDP frames from A's VM to B's VM, A simulates them
// and sends them through the VXLAN tunnel, B delivers them; frames are counted at B's VM. tunnel.traced
// traces every frame (one condition matching all) with both hosts' steps stored in one shared SQLite
// file. Needs root; median of RUNS.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateConfig } from '../daemon/config.js';
import { createLogger } from '../daemon/log.js';
import { Daemon } from '../daemon/service.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import { generate, inNs, ip, sampleForwarding, side, udpFrame, type Side } from './datapath.js';
import { median, type BenchLine } from './types.js';

const RUNS = 3;
const SECONDS = 3;
const HOST_A = '6b3c0d1e-0000-4000-8000-0000000000aa';
const HOST_B = '6b3c0d1e-0000-4000-8000-0000000000bb';
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

async function measure(name: string, traced: boolean): Promise<BenchLine> {
  const sfx = randomBytes(2).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-tun-'));
  const hostB = `mttn${sfx}hb`;
  const vmB: Side = { ns: `mttn${sfx}vb`, root: `mttn${sfx}bh`, inner: `mttn${sfx}bv`, mac: '02:6d:74:00:0b:0b' };
  const sides: Side[] = [];
  let a: Daemon | null = null;
  let b: ChildProcess | null = null;
  try {
    const vmA = side(sfx, 'a', '10.0.1.2/24', '02:6d:74:00:0a:0a', '10.0.1.1'); sides.push(vmA);
    ip('netns', 'add', hostB);
    ip('netns', 'add', vmB.ns);
    inNs(hostB, 'ip', 'link', 'set', 'lo', 'up');
    ip('link', 'add', `mttn${sfx}ua`, 'type', 'veth', 'peer', 'name', `mttn${sfx}ub`, 'netns', hostB);
    ip('addr', 'add', '10.252.0.1/30', 'dev', `mttn${sfx}ua`);
    ip('link', 'set', `mttn${sfx}ua`, 'up');
    inNs(hostB, 'ip', 'addr', 'add', '10.252.0.2/30', 'dev', `mttn${sfx}ub`);
    inNs(hostB, 'ip', 'link', 'set', `mttn${sfx}ub`, 'up');
    inNs(hostB, 'ip', 'link', 'add', vmB.root, 'type', 'veth', 'peer', 'name', vmB.inner, 'netns', vmB.ns);
    inNs(hostB, 'ip', 'link', 'set', vmB.root, 'up');
    inNs(vmB.ns, 'ip', 'link', 'set', vmB.inner, 'address', vmB.mac);
    inNs(vmB.ns, 'ip', 'addr', 'add', '10.0.1.3/24', 'dev', vmB.inner);
    inNs(vmB.ns, 'ip', 'link', 'set', vmB.inner, 'up');

    const id = (n: number) => `6b3c0d1e-0000-4000-8000-${n.toString().padStart(12, '0')}`;
    const doc: TopologyDoc = {
      bridges: [{ id: id(1), name: 'b1' }],
      ports: [
        { id: id(11), name: 'a', deviceId: id(1), hostId: HOST_A, interfaceName: vmA.root },
        { id: id(12), name: 'b', deviceId: id(1), hostId: HOST_B, interfaceName: vmB.root },
      ],
      tunnelZones: [{ id: id(2), type: 'vxlan', hosts: [{ hostId: HOST_A, ipAddress: '10.252.0.1' }, { hostId: HOST_B, ipAddress: '10.252.0.2' }] }],
    };
    const topo = join(dir, 'topology.json');
    writeFileSync(topo, JSON.stringify(doc));
    const shared = join(dir, 'traces.db');
    const cfg = validateConfig({
      listen: '127.0.0.1:0', stateDir: join(dir, 'a'), hostId: HOST_A,
      topology: { source: 'file', file: topo }, sqlite: { path: shared }, log: { level: 'silent' },
    });
    if (!cfg.ok) throw new Error(cfg.errors.join('\n'));
    a = await Daemon.start({ config: cfg.config, log: createLogger('silent', new Writable({ write(_c, _e, cb) { cb(); } })), noServer: true });
    if (traced) await a.backends.conditions.create({ name: 'everything' });
    writeFileSync(join(dir, 'b.json'), JSON.stringify({
      listen: '127.0.0.1:18181', stateDir: join(dir, 'b'), hostId: HOST_B,
      topology: { source: 'file', file: topo }, sqlite: { path: shared }, log: { level: 'warn' },
    }));
    b = spawn('ip', ['netns', 'exec', hostB, process.execPath, CLI, 'daemon', '--config', join(dir, 'b.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (let i = 0; i < 200 && a.datapath.report().status !== 'running'; i++) await sleep(50);
    if (a.datapath.report().status !== 'running') throw new Error(`datapath not running: ${a.datapath.report().status}`);
    await sleep(3000); // host B starts (its workers compile the topology)
    const frame = udpFrame(vmB.mac, vmA.mac, '10.0.1.2', '10.0.1.3');
    await generate(vmA, frame, 1); // warm-up
    const samples: number[] = [];
    const offered: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await sleep(300);
      const run = await sampleForwarding(vmA, vmB, frame, SECONDS);
      samples.push(run.rxPps);
      offered.push(run.offeredPps);
    }
    const tunnel = a.datapath.report().tunnels[0];
    await a.backends.sink.flush();
    const stored = traced ? a.backends.sink.stats() : null;
    return {
      bench: name, value: Math.round(median(samples)), unit: 'pps', runs: samples.map(Math.round),
      offered_pps: Math.round(median(offered)),
      tunnel_drops: tunnel?.dropReasons ?? {},
      transport: 'node:dgram, one datagram per frame',
      ...(stored ? { tracesWrittenOnA: stored.tracesWritten, tracesLostOnA: stored.tracesLost } : {}),
    };
  } finally {
    b?.kill('SIGTERM');
    if (b !== null) await new Promise((res) => { b!.once('exit', res); setTimeout(res, 5000); });
    await a?.stop();
    for (const ns of [hostB, vmB.ns, ...sides.map((s) => s.ns)]) { try { ip('netns', 'del', ns); } catch { /* gone */ } }
    try { execFileSync('ip', ['link', 'del', `mttn${sfx}ua`], { stdio: 'ignore' }); } catch { /* gone with its namespace */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchTunnel(): Promise<BenchLine[]> {
  if (process.getuid?.() !== 0) throw new Error('the tunnel benchmarks need root (network namespaces, AF_PACKET)');
  const wanted = process.argv.slice(2).filter((x) => x !== '--');
  const want = (n: string) => wanted.length === 0 || wanted.some((w) => n === w || n.startsWith(w));
  const out: BenchLine[] = [];
  if (want('tunnel.forward')) out.push(await measure('tunnel.forward', false));
  if (want('tunnel.traced')) out.push(await measure('tunnel.traced', true));
  return out;
}

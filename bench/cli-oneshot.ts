// cli.simulate.oneshot and cli.simulate.oneshot.large (SPEC §8): one `midotrace simulate` process,
// start to exit, beside a bare `node -e 0` measured in the same run (interleaved, so both see the
// same load). The large case simulates on a generated network of one router, 100 bridges of 100 VM
// ports each (10,201 ports) and 100,000 routes, and reports the process's peak RSS too.
// Runs after the first use the topology cache (cli/topology-cache.ts): `cold_ms` is the first run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, type BenchLine } from './types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const RUNS = Number(process.env.MIDOTRACE_BENCH_ONESHOT_RUNS ?? 9);
/** GNU time reports the child's peak RSS; without it the bench reports times only. */
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Sample { ms: number; rssMb: number | null; cpuMs: number | null }

function runOnce(args: string[], env: NodeJS.ProcessEnv): Sample {
  const cmd = TIME !== null ? TIME : process.execPath;
  const argv = TIME !== null ? ['-f', '%M %U %S', process.execPath, ...args] : args;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ').slice(0, 200)}: exit ${r.status}: ${r.stderr}`);
  // GNU time's last line: peak RSS in KB, user and system CPU seconds.
  const m = TIME !== null ? /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr) : null;
  return { ms, rssMb: m !== null ? Number(m[1]) / 1024 : null, cpuMs: m !== null ? (Number(m[2]) + Number(m[3])) * 1000 : null };
}

const hex = (prefix: string, n: number): string => `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const mac = (n: number): string => `02:${[(n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255, 1].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

/** One router; bridge b (0..99) on 10.b>>?.. /24 behind router port b; 100,000 routes; an uplink. */
export function largeTopology(): { doc: unknown; inPort: string; packet: Record<string, unknown> } {
  const router = hex('a0000000', 1);
  const bridges: unknown[] = [];
  const ports: Record<string, unknown>[] = [];
  const routes: unknown[] = [];
  for (let b = 0; b < 100; b++) {
    const bridge = hex('b0000000', b);
    bridges.push({ id: bridge, name: `net${b}` });
    const rp = hex('c1000000', b);
    const bp = hex('c2000000', b);
    ports.push({ id: rp, name: `r-net${b}`, deviceId: router, peerId: bp, portAddress: `10.${b}.0.1`, networkAddress: `10.${b}.0.0`, networkLength: 16, portMac: mac(0x100000 + b) });
    ports.push({ id: bp, name: `net${b}-r`, deviceId: bridge, peerId: rp });
    for (let v = 0; v < 100; v++) ports.push({ id: hex('c3000000', b * 100 + v), name: `vm${b}-${v}`, deviceId: bridge });
  }
  const uplink = hex('c4000000', 0);
  ports.push({ id: uplink, name: 'uplink', deviceId: router, portAddress: '198.51.100.2', networkAddress: '198.51.100.0', networkLength: 24, portMac: mac(0x200000) });
  // 100,000 /28s in 100.64.0.0/10, each behind one of the bridges' router ports, and a default route.
  for (let i = 0; i < 100_000; i++) {
    const a = 0x64400000 + i * 16;
    routes.push({
      id: hex('f0000000', i), routerId: router, dstNetworkAddr: `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`,
      dstNetworkLength: 28, nextHopPort: hex('c1000000', i % 100),
    });
  }
  routes.push({ id: hex('f1000000', 0), routerId: router, dstNetworkAddr: '0.0.0.0', dstNetworkLength: 0, nextHopPort: uplink, nextHopGateway: '198.51.100.1' });
  const doc = { routers: [{ id: router, name: 'edge', arpTable: [{ ip: '198.51.100.1', mac: '02:00:00:00:00:fe' }] }], bridges, ports, routes };
  const packet = { ethSrc: mac(0x300000), ethDst: mac(0x100000), nwSrc: '10.0.0.10', nwDst: '8.8.8.8', nwProto: 'tcp', tpSrc: 40000, tpDst: 443 };
  return { doc, inPort: hex('c3000000', 0), packet };
}

function cpuFields(name: string, samples: readonly Sample[]): Record<string, number> {
  const cpu = samples.map((s) => s.cpuMs).filter((v): v is number => v !== null);
  return cpu.length > 0 ? { [name]: Math.round(median(cpu)) } : {};
}

const EXAMPLE_IN_PORT = 'c0000000-0000-4000-8000-000000000013';
const EXAMPLE_PACKET = { ethSrc: 'fa:16:3e:00:01:11', ethDst: '02:00:00:00:01:01', nwSrc: '10.0.1.11', nwDst: '10.0.2.12', nwProto: 'tcp', tpDst: 5432 };

function simulateArgs(topology: string, inPort: string, packet: unknown): string[] {
  return [CLI, 'simulate', '--topology', topology, '--in-port', inPort, '--packet', JSON.stringify(packet)];
}

export async function benchCliOneshot(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-cli-'));
  // A cache of our own: the first run of each document is the cold one, the rest hit.
  const env = { ...process.env, MIDOTRACE_CACHE_DIR: join(dir, 'cache') };
  try {
    const small = simulateArgs(join(ROOT, 'examples', 'topology.json'), EXAMPLE_IN_PORT, EXAMPLE_PACKET);
    const coldSmall = runOnce(small, env);
    const bare: Sample[] = [];
    const sim: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      bare.push(runOnce(['-e', '0'], env));
      sim.push(runOnce(small, env));
    }
    const nodeMs = median(bare.map((s) => s.ms));
    const simMs = median(sim.map((s) => s.ms));
    const out: BenchLine[] = [{
      bench: 'cli.simulate.oneshot', value: Number(simMs.toFixed(1)), unit: 'ms',
      node_e0_ms: Number(nodeMs.toFixed(1)), ratio: Number((simMs / nodeMs).toFixed(2)), cold_ms: Number(coldSmall.ms.toFixed(1)),
      // CPU time (10 ms resolution) is less swayed than wall time by other jobs on the machine.
      ...cpuFields('cpu_ms', sim), ...cpuFields('node_e0_cpu_ms', bare),
      runs: RUNS, samples: sim.map((s) => Math.round(s.ms)), nodeSamples: bare.map((s) => Math.round(s.ms)),
    }];

    const large = largeTopology();
    const file = join(dir, 'large.json');
    const text = JSON.stringify(large.doc);
    writeFileSync(file, text);
    const args = simulateArgs(file, large.inPort, large.packet);
    const cold = runOnce(args, env);
    const runs: Sample[] = [];
    for (let i = 0; i < Math.max(3, Math.ceil(RUNS / 2)); i++) runs.push(runOnce(args, env));
    const rss = runs.map((s) => s.rssMb).filter((v): v is number => v !== null);
    out.push({
      bench: 'cli.simulate.oneshot.large', value: Number(median(runs.map((s) => s.ms)).toFixed(1)), unit: 'ms',
      ...(rss.length > 0 ? { rss_mb: Number(median(rss).toFixed(1)) } : {}),
      cold_ms: Number(cold.ms.toFixed(1)), ...(cold.rssMb !== null ? { cold_rss_mb: Number(cold.rssMb.toFixed(1)) } : {}),
      ...cpuFields('cpu_ms', runs),
      document_mb: Number((text.length / 1e6).toFixed(1)), ports: (large.doc as { ports: unknown[] }).ports.length, routes: 100_001,
      samples: runs.map((s) => Math.round(s.ms)),
    });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// e2e.api.traced_stored (SPEC §8): the daemon as users run it (`midotrace daemon`, its own process,
// the example topology, SQLite), driven from outside by 4 clients posting batches of 256 packets.
// One run measures untraced (`POST /simulations`), then every packet traced (`?trace=true`) and
// counted only once the sink has stored it: the rate is traces stored ÷ the time from the first
// request until the sink's queue is empty again. The sink's counters (GET /metrics) must show no
// trace or step lost.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytesToHex } from '../engine/packet-json.js';
import { frameOf } from './frames.js';
import { median, type BenchLine } from './types.js';
import { postJson } from './http-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const TOPOLOGY = join(ROOT, 'examples', 'topology.json');

const CLIENTS = 4;
const BATCH = 256;
const SECONDS = Number(process.env.MIDOTRACE_BENCH_SECONDS ?? 3);
const RUNS = Number(process.env.MIDOTRACE_BENCH_RUNS ?? 3);

/** Example topology: web1/web2 → db1/db2 through router edge; db's MACs are never learned, so
 *  the db bridge floods and every trace has 21 steps. */
const WEB = [
  { port: 'c0000000-0000-4000-8000-000000000013', mac: 'fa:16:3e:00:01:11', ip: '10.0.1.11' },
  { port: 'c0000000-0000-4000-8000-000000000014', mac: 'fa:16:3e:00:01:12', ip: '10.0.1.12' },
];
const DB_IPS = ['10.0.2.11', '10.0.2.12'];
const ROUTER_WEB_MAC = '02:00:00:00:01:01';

export function e2eBody(): string {
  return JSON.stringify(Array.from({ length: BATCH }, (_, i) => {
    const src = WEB[i % 2]!;
    const frame = frameOf({
      ethSrc: src.mac, ethDst: ROUTER_WEB_MAC, nwSrc: src.ip, nwDst: DB_IPS[(i >> 1) % 2]!,
      nwProto: 'tcp', tpSrc: 20_000 + i, tpDst: 5432, payloadLength: 10,
    });
    return { inPort: src.port, frame: bytesToHex(frame) };
  }));
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

export interface SinkCounters { stepsWritten: number; stepsLost: number; tracesWritten: number; tracesLost: number; tracesIncomplete: number; queueDepth: number }

export async function sinkCounters(base: string): Promise<SinkCounters> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const pick = (name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  return {
    stepsWritten: pick('midotrace_sink_steps_written_total'), stepsLost: pick('midotrace_sink_steps_lost_total'),
    tracesWritten: pick('midotrace_sink_traces_written_total'), tracesLost: pick('midotrace_sink_traces_lost_total'),
    tracesIncomplete: pick('midotrace_sink_traces_incomplete_total'), queueDepth: pick('midotrace_sink_queue_depth'),
  };
}

export interface RunningDaemon { base: string; child: ChildProcess; stop(): Promise<void> }

/** Starts `midotrace daemon` from dist/ on a free port with a fresh state dir and SQLite file. */
export async function startDaemonProcess(dir: string, extraNodeArgs: string[] = [], topologyFile = TOPOLOGY): Promise<RunningDaemon> {
  const port = await freePort();
  const cfg = join(dir, 'config.json');
  writeFileSync(cfg, JSON.stringify({
    listen: `127.0.0.1:${port}`, stateDir: join(dir, 'state'), topology: { file: topologyFile },
    sqlite: { path: join(dir, 'traces.db') }, log: { level: 'warn' },
  }));
  const nodeArgs = [...extraNodeArgs, ...(process.env.MIDOTRACE_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'daemon', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${base}/healthz`)).status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`daemon did not start: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base, child,
    stop: () => new Promise<void>((res) => {
      if (child.exitCode !== null) { res(); return; }
      child.once('exit', () => res());
      child.kill('SIGTERM');
    }),
  };
}

/** CPU seconds the process has used, all threads (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return 0; }
}

/** CLIENTS loops posting `body` for `seconds`; resolves to the packets answered. */
async function drive(url: string, body: string, seconds: number): Promise<number> {
  const payload = Buffer.from(body);
  const end = performance.now() + seconds * 1000;
  let packets = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < end) {
      const res = await postJson(url, payload);
      if (res.status !== 200) throw new Error(`POST ${url}: ${res.status} ${res.body.toString()}`);
      packets += BATCH;
    }
  }));
  return packets;
}

interface UntracedRun { pps: number; cpuUs: number }

async function untracedRun(base: string, pid: number | undefined): Promise<UntracedRun> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const n = await drive(`${base}/simulations`, e2eBody(), SECONDS);
  return { pps: n / ((performance.now() - t0) / 1000), cpuUs: ((cpuSeconds(pid) - c0) * 1e6) / n };
}

interface TracedRun { pps: number; answeredPps: number; stored: number; lost: number; incomplete: number; stepsPerTrace: number; cpuUs: number }

async function tracedRun(base: string, pid: number | undefined): Promise<TracedRun> {
  const before = await sinkCounters(base);
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const n = await drive(`${base}/simulations?trace=true`, e2eBody(), SECONDS);
  const answered = performance.now();
  let after = await sinkCounters(base);
  while (after.queueDepth > 0 || after.tracesWritten + after.tracesLost - before.tracesWritten - before.tracesLost < n) {
    await new Promise((r) => setTimeout(r, 25));
    after = await sinkCounters(base);
  }
  const secs = (performance.now() - t0) / 1000;
  const stored = after.tracesWritten - before.tracesWritten;
  const cpuUs = ((cpuSeconds(pid) - c0) * 1e6) / Math.max(1, stored);
  return {
    cpuUs,
    pps: stored / secs, answeredPps: n / ((answered - t0) / 1000), stored,
    lost: after.tracesLost - before.tracesLost + after.stepsLost - before.stepsLost,
    incomplete: after.tracesIncomplete - before.tracesIncomplete,
    stepsPerTrace: (after.stepsWritten - before.stepsWritten) / Math.max(1, stored),
  };
}

export async function benchE2eApi(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-e2e-'));
  const d = await startDaemonProcess(dir);
  try {
    // Warm-up: JIT in the daemon's threads, the SQLite file's first pages.
    await drive(`${d.base}/simulations`, e2eBody(), 1);
    await drive(`${d.base}/simulations?trace=true`, e2eBody(), 1);
    const untraced: UntracedRun[] = [];
    const traced: TracedRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      untraced.push(await untracedRun(d.base, d.child.pid));
      traced.push(await tracedRun(d.base, d.child.pid));
    }
    const pps = median(traced.map((t) => t.pps));
    const base = median(untraced.map((u) => u.pps));
    return [{
      bench: 'e2e.api.traced_stored', value: Math.round(pps), unit: 'pps',
      untraced_pps: Math.round(base), ratio: Number((pps / base).toFixed(2)),
      answered_pps: Math.round(median(traced.map((t) => t.answeredPps))),
      stepsPerTrace: Number(median(traced.map((t) => t.stepsPerTrace)).toFixed(1)),
      tracesStored: traced.reduce((a, t) => a + t.stored, 0),
      lost: traced.reduce((a, t) => a + t.lost, 0), incomplete: traced.reduce((a, t) => a + t.incomplete, 0),
      // The daemon's CPU time (every thread) per packet: what the rate would be on idle cores.
      daemon_cpu_us_traced: Math.round(median(traced.map((t) => t.cpuUs))), daemon_cpu_us_untraced: Math.round(median(untraced.map((u) => u.cpuUs))),
      clients: CLIENTS, batch: BATCH, seconds: SECONDS, runs: RUNS,
      samples: traced.map((t) => Math.round(t.pps)), untracedSamples: untraced.map((u) => Math.round(u.pps)),
    }];
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

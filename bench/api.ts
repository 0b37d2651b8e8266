// The REST API under load (SPEC §8 api.*): POST /simulations with 256 packets per request, and
// GET /traces/{id} for a ~30-step trace. batch256 is measured against `midotrace daemon` in its own
// process, as users run it (and as P11 measured it), with the clients here; a client in the daemon's
// own process shares the event loop that is the API's bottleneck, and that figure is reported beside
// it as in_process_pps. trace_get runs in-process. Clients and daemon share the machine's two cores,
// so the numbers are a floor for a daemon with the machine to itself.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../daemon/config.js';
import { createLogger } from '../daemon/log.js';
import { Daemon } from '../daemon/service.js';
import { bytesToHex } from '../engine/packet-json.js';
import { referenceTopology, REF } from './reference-topology.js';
import { frameOf, routedFlow } from './frames.js';
import { median, type BenchLine } from './types.js';
import { startDaemonProcess } from './e2e-api.js';
import { postJson } from './http-client.js';

const CONCURRENCY = 8;

async function load(seconds: number, fn: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await fn();
      latencies.push(performance.now() - t0);
    }
  }));
  return latencies;
}

export async function benchApi(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-'));
  const topoFile = join(dir, 'topology.json');
  writeFileSync(topoFile, JSON.stringify(referenceTopology()));
  const r = validateConfig({
    listen: '127.0.0.1:0', stateDir: join(dir, 'state'), topology: { file: topoFile }, sqlite: { path: join(dir, 'bench.db') },
    workers: { threads: 2, batchSize: 256 }, log: { level: 'silent' },
  });
  if (!r.ok) throw new Error(r.errors.join('; '));
  // 256 distinct bridged packets per request (vmA2..8 → vm1), as frames. vm1 sends one frame first so
  // bridge A has learned its MAC: "bridged" is a unicast forward, as in engine.bridged. The same
  // packets to a MAC bridge A never learned each flood (8 emitted frames, ~2.6 kB of result JSON a
  // packet): reported as flooded_pps; before 2026-12-05 this was, by mistake, the figure.
  type Result = { emitted: { portId: string }[] };
  const packets = (ethDst: string): string => JSON.stringify(Array.from({ length: 256 }, (_, i) => {
    const src = REF.vmsA[1 + (i % 7)]!;
    return { inPort: src.port, frame: bytesToHex(frameOf({ ethSrc: src.mac, ethDst, nwSrc: src.ip, nwDst: REF.vm1Ip, nwProto: 'udp', tpSrc: 1024 + i, tpDst: 53 })) };
  }));
  const bridged = { body: packets(REF.vm1Mac), what: 'forwarded to vm1 alone', ok: (r: Result) => r.emitted.length === 1 && r.emitted[0]!.portId === REF.vm1Port };
  const flooded = { body: packets('02:00:00:99:99:99'), what: 'flooded', ok: (r: Result) => r.emitted.length > 1 };
  const learnVm1 = JSON.stringify({ inPort: REF.vm1Port, frame: bytesToHex(frameOf({ ethSrc: REF.vm1Mac, ethDst: REF.vmsA[1]!.mac, nwSrc: REF.vm1Ip, nwDst: REF.vmsA[1]!.ip, nwProto: 'udp', tpSrc: 53, tpDst: 1024 })) });
  const batch256 = async (base: string, packetsOf = bridged): Promise<number> => {
    const learned = await postJson(`${base}/simulations`, Buffer.from(learnVm1));
    if (learned.status !== 200) throw new Error(`POST /simulations: ${learned.status} ${learned.body.toString()}`);
    const bytes = Buffer.from(packetsOf.body);
    const post = async (): Promise<void> => {
      const res = await postJson(`${base}/simulations`, bytes);
      if (res.status !== 200) throw new Error(`POST /simulations: ${res.status} ${res.body.toString()}`);
    };
    await load(0.5, post);
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const lat = await load(1, post);
      runs.push((lat.length * 256) / ((performance.now() - t0) / 1000));
    }
    const check = JSON.parse((await postJson(`${base}/simulations`, bytes)).body.toString()) as Result[];
    if (!check.every(packetsOf.ok)) throw new Error(`batch256: packets were not ${packetsOf.what}`);
    return median(runs);
  };
  const processDir = mkdtempSync(join(tmpdir(), 'midotrace-bench-api-'));
  let outside: number;
  let outsideFlooded: number;
  try {
    const d = await startDaemonProcess(processDir, [], topoFile);
    try {
      outside = await batch256(d.base);
      outsideFlooded = await batch256(d.base, flooded);
    } finally { await d.stop(); }
  } finally {
    rmSync(processDir, { recursive: true, force: true });
  }
  const daemon = await Daemon.start({ config: r.config, log: createLogger('silent', new Writable({ write(_c, _e, cb) { cb(); } })) });
  const base = `http://127.0.0.1:${daemon.port}`;
  const out: BenchLine[] = [];
  try {
    const inProcess = await batch256(base);
    out.push({ bench: 'api.simulations.batch256', value: Math.round(outside), unit: 'pps', concurrency: CONCURRENCY, in_process_pps: Math.round(inProcess), flooded_pps: Math.round(outsideFlooded) });

    const flow = routedFlow();
    const traced = await fetch(`${base}/simulations?trace=true`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inPort: flow.inPort, frame: bytesToHex(flow.frame) }),
    });
    const result = await traced.json() as { traceIds: string[] };
    const id = result.traceIds[0];
    if (id === undefined) throw new Error('no trace made');
    await daemon.backends.sink.flush();
    const get = async (): Promise<void> => {
      const res = await fetch(`${base}/traces/${id}`);
      if (res.status !== 200) throw new Error(`GET /traces: ${res.status}`);
      await res.arrayBuffer();
    };
    const steps = ((await (await fetch(`${base}/traces/${id}`)).json()) as { numSteps: number }).numSteps;
    await load(0.5, get);
    const rps: number[] = [];
    const p99: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const lat = await load(1, get);
      rps.push(lat.length / ((performance.now() - t0) / 1000));
      lat.sort((a, b) => a - b);
      p99.push(lat[Math.floor(lat.length * 0.99)]!);
    }
    out.push({ bench: 'api.trace_get', value: Math.round(median(rps)), unit: 'rps', p99_ms: Number(median(p99).toFixed(2)), steps, concurrency: CONCURRENCY });
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

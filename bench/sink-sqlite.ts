// sink.sqlite.steps (SPEC §8): steps stored per second through the SQLite TraceSink, for fully
// traced packets of ~20 steps each. A run writes the records a few hundred per event-loop turn, as
// a busy daemon would hand them over, then flushes; the wall time covers all of it, the file's
// WAL checkpoints included. Median of RUNS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stage, StepDeviceType, TraceStep } from '../engine/trace/step.js';
import { openSqliteTraceBackend } from '../sinks/sqlite/index.js';
import { createTraceIdGenerator } from '../engine/trace/trace-id.js';
import type { TraceRecord } from '../sinks/types.js';
import { median, type BenchLine } from './types.js';

const RUNS = 5;
const TRACES_PER_RUN = 10_000;
const STEPS_PER_TRACE = 20;
const TRACES_PER_TURN = 250;

const HOST = '6a1b2c3d-0000-4000-8000-00000000000a';
const COND = 'c0000000-0000-4000-8000-000000000001';

/** The step mix of a routed, filtered packet: what the engine records for one. */
const SHAPE: readonly [Stage, StepDeviceType, string, (i: number) => Record<string, unknown>][] = [
  ['reception', 'port', 'Received on port', (i) => ({ vlan: null, frameLength: 74 + (i & 31) })],
  ['processing', 'chain', 'Port inbound chain accepted', () => ({ chain: 'in-filter', verdict: 'accept' })],
  ['reception', 'bridge', 'Bridge received the packet', () => ({})],
  ['processing', 'chain', 'Bridge inbound chain: rule 3 matched, accept', () => ({ ruleIndex: 3, action: 'accept' })],
  ['processing', 'rule', 'Rule matched tcp dst 80', () => ({ nwProto: 6, tpDst: 80 })],
  ['processing', 'bridge', 'Learned MAC 02:00:00:00:00:01 on port', (i) => ({ mac: '02:00:00:00:00:01', port: i & 7 })],
  ['processing', 'bridge', 'Destination MAC is the router port', () => ({ mac: '02:00:00:00:ff:01' })],
  ['processing', 'chain', 'Bridge outbound chain accepted', () => ({ verdict: 'accept' })],
  ['disposition', 'bridge', 'Forwarded to port', () => ({ action: 'forward' })],
  ['reception', 'port', 'Entered router port', () => ({})],
  ['reception', 'router', 'Router received the packet', () => ({ ttl: 64 })],
  ['processing', 'chain', 'Router inbound chain: DNAT 203.0.113.10:80 -> 10.0.1.10:8080', () => ({ before: '203.0.113.10:80', after: '10.0.1.10:8080' })],
  ['processing', 'rule', 'Rule dnat matched', () => ({ ruleIndex: 1, flowAction: 'accept' })],
  ['processing', 'router', 'Route 10.0.1.0/24 via port chosen', () => ({ dst: '10.0.1.0/24', weight: 100 })],
  ['processing', 'router', 'TTL 64 -> 63', () => ({ ttl: 63 })],
  ['processing', 'router', 'ARP resolved 10.0.1.10 to 02:00:00:00:01:10', () => ({ ip: '10.0.1.10', mac: '02:00:00:00:01:10' })],
  ['processing', 'chain', 'Router outbound chain accepted', () => ({ verdict: 'accept' })],
  ['disposition', 'router', 'Forwarded out of port', () => ({ action: 'forward' })],
  ['reception', 'port', 'Reached exterior port', () => ({})],
  ['disposition', 'port', 'Emitted on exterior port', (i) => ({ frameLength: 74 + (i & 31) })],
];

function deviceId(i: number): string { return `de000000-0000-4000-8000-${String(i).padStart(12, '0')}`; }

function makeRecords(n: number, t0: number): TraceRecord[] {
  const nextId = createTraceIdGenerator();
  const recs: TraceRecord[] = [];
  for (let r = 0; r < n; r++) {
    const startedAtMs = t0 + r;
    const steps: TraceStep[] = [];
    for (let s = 0; s < STEPS_PER_TRACE; s++) {
      const [stage, deviceType, message, details] = SHAPE[s % SHAPE.length]!;
      steps.push({
        step: s + 1, timestampMs: startedAtMs, stage, deviceType,
        deviceId: deviceId(s), deviceName: `${deviceType}-${s}`, message, details: details(r),
      });
    }
    recs.push({
      id: nextId(startedAtMs), hostId: HOST, conditionIds: r % 4 === 0 ? [COND] : [], startedAtMs,
      ingressPortId: deviceId(0), result: 'forward', steps,
      match: {
        ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:ff:01', etherType: 0x0800,
        nwSrc: `10.0.${(r >> 8) & 255}.${r & 255}`, nwDst: '203.0.113.10', nwProto: 6, tpSrc: 1024 + (r & 0x7fff), tpDst: 80,
      },
    });
  }
  return recs;
}

interface RunResult { stepsPerSec: number; stepsPerCpuSec: number; lost: number }

async function oneRun(dir: string, run: number): Promise<RunResult> {
  const opened = openSqliteTraceBackend({ path: join(dir, `bench-${run}.db`), retentionMs: 0 });
  if (!opened.ok) throw new Error(opened.message);
  const sink = opened.backend;
  const recs = makeRecords(TRACES_PER_RUN, Date.UTC(2030, 0, 1) + run * TRACES_PER_RUN);
  const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < recs.length; i++) {
    sink.write(recs[i]!);
    if ((i + 1) % TRACES_PER_TURN === 0) await yieldTurn();
  }
  await sink.flush();
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const s = sink.stats();
  await sink.close();
  return { stepsPerSec: s.stepsWritten / secs, stepsPerCpuSec: s.stepsWritten / ((cpu.user + cpu.system) / 1e6), lost: s.stepsLost };
}

export async function benchSinkSqlite(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-sqlite-'));
  try {
    await oneRun(dir, -1); // warm-up: JIT, page cache
    const samples: number[] = [];
    const cpuSamples: number[] = [];
    let lost = 0;
    for (let run = 0; run < RUNS; run++) {
      const r = await oneRun(dir, run);
      samples.push(r.stepsPerSec);
      cpuSamples.push(r.stepsPerCpuSec);
      lost += r.lost;
    }
    return [{
      bench: 'sink.sqlite.steps', value: Math.round(median(samples)), unit: 'steps/s',
      runs: RUNS, tracesPerRun: TRACES_PER_RUN, stepsPerTrace: STEPS_PER_TRACE, stepsLost: lost,
      samples: samples.map(Math.round),
      // Steps per second of this process's CPU time: less swayed by other load on the machine.
      stepsPerCpuSecond: Math.round(median(cpuSamples)),
    }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

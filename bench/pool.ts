// Throughput through the Piscina pool (SPEC §8 pool.*): batches of frames, several in flight, untraced;
// and the cost of 100 enabled trace conditions that never match.
import { SimPool } from '../daemon/pool/pool.js';
import { packFrames } from '../daemon/pool/batch.js';
import type { TraceConditionJson } from '../model/trace.js';
import { referenceTopology, REF } from './reference-topology.js';
import { bridgedFlow, routedFlow, type Flow } from './frames.js';
import { median, type BenchLine } from './types.js';

const BATCH = 1024;
const SECONDS = 1.5;
const RUNS = 5;
/** pool.idle_conditions.100: fresh single-worker pools, and interleaved with/without pairs in each. */
const IDLE_WORKERS = 3;
const IDLE_PAIRS = 8;

interface Rate {
  /** Packets per second of wall time: what a client of the pool sees. */
  pps: number;
  /** Packets per second the workers spent simulating (BatchResult.busyMs): the pool's capacity. */
  busyPps: number;
}

async function warmUp(pool: SimPool, flow: Flow): Promise<void> {
  for (const w of flow.warmup ?? []) await pool.run({ ...packFrames([w.frame], 0, 1, w.inPort), forceTrace: false, detail: false, nowMs: Date.now() });
}

/**
 * Runs batches of `flow` for `ms`, keeping every worker's queue fed (3 batches in flight per thread).
 * Each batch is packed afresh, as the daemon does; with `reuse`, each lane packs once into shared
 * memory and sends that again (nothing allocated on the main thread, whose garbage collection would
 * otherwise compete with the workers for this VM's two cores).
 */
async function runFor(pool: SimPool, flow: Flow, ms: number, reuse = false): Promise<Rate> {
  const frames = Array.from({ length: BATCH }, () => flow.frame);
  let done = 0;
  let busyMs = 0;
  const end = performance.now() + ms;
  const lane = async (): Promise<void> => {
    const shared = reuse ? inSharedMemory(packFrames(frames, 0, BATCH, flow.inPort)) : null;
    while (performance.now() < end) {
      const batch = shared ?? packFrames(frames, 0, BATCH, flow.inPort);
      const r = await pool.run({ ...batch, forceTrace: false, detail: false, nowMs: Date.now() });
      if (!r.ok) throw new Error(r.message);
      if (r.result.codes[0] !== 0) throw new Error(`${flow.name}: expected forward, got result code ${r.result.codes[0]}`);
      done += BATCH;
      busyMs += r.result.busyMs;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: pool.threads * 3 }, lane));
  return { pps: done / ((performance.now() - t0) / 1000), busyPps: done / (busyMs / 1000) * pool.threads };
}

/** The batch with its frames copied into a SharedArrayBuffer: sent again and again, never transferred. */
function inSharedMemory<T extends { data: Uint8Array }>(batch: T): T {
  const data = new Uint8Array(new SharedArrayBuffer(batch.data.byteLength));
  data.set(batch.data);
  return { ...batch, data };
}

async function throughput(pool: SimPool, flow: Flow): Promise<number> {
  await warmUp(pool, flow);
  await runFor(pool, flow, 800); // warm the workers' JIT (and let them compile the topology)
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push((await runFor(pool, flow, SECONDS * 1000 / RUNS * 2)).pps);
  return median(samples);
}

/** 100 enabled conditions of the kinds operators write, none matching the benchmark flows. */
export function idleConditions(): TraceConditionJson[] {
  return Array.from({ length: 100 }, (_, i): TraceConditionJson => {
    const id = `00000000-0000-4000-8000-${(0xc0de00 + i).toString(16).padStart(12, '0')}`;
    switch (i % 5) {
      case 0: return { id, nwSrcAddress: `172.16.${i}.7`, nwSrcLength: 32 };
      case 1: return { id, nwDstAddress: `172.17.${i}.9`, nwDstLength: 32, nwProto: 6 };
      case 2: return { id, dlSrc: `02:aa:00:00:00:${i.toString(16).padStart(2, '0')}` };
      case 3: return { id, inPorts: [REF.vmsB[i % 8]!.port], nwProto: 17 };
      default: return { id, nwProto: 6, tpDst: { start: 10000 + i, end: 10000 + i }, nwDstAddress: '192.0.2.0', nwDstLength: 24 };
    }
  });
}

export async function benchPool(): Promise<BenchLine[]> {
  const doc = referenceTopology();
  const out: BenchLine[] = [];
  const make = (threads: number): SimPool => {
    const pool = new SimPool({ threads, hostId: REF.hostId, state: { conntrackCapacity: 65_536, natCapacity: 65_536 } });
    pool.setTopology(doc);
    pool.setConditions([]);
    return pool;
  };
  const p1 = make(1);
  out.push({ bench: 'pool.bridged.w1', value: Math.round(await throughput(p1, bridgedFlow())), unit: 'pps', batch: BATCH });
  await p1.close();
  const p2 = make(2);
  const bridged2 = await throughput(p2, bridgedFlow());
  out.push({ bench: 'pool.bridged.w2', value: Math.round(bridged2), unit: 'pps', batch: BATCH });
  out.push({ bench: 'pool.routed.w2', value: Math.round(await throughput(p2, routedFlow())), unit: 'pps', batch: BATCH });
  await p2.close();
  // One worker, so the main thread has a core to itself. Wall-clock rates on this 2-core VM swing by
  // ±10 % from one window to the next while the worker's busy time moves less, so the value is the
  // ratio of busy-time rates (the pool's capacity), in interleaved pairs whose order alternates
  // (ABBA) so drift hits both sides alike, over several fresh workers (each compiles the simulation
  // its own way, and that moves the result by a few per cent). The wall-clock ratio is reported too.
  const conditions = idleConditions();
  const ratios: number[] = [];
  const wallRatios: number[] = [];
  const withs: number[] = [];
  const withouts: number[] = [];
  for (let k = 0; k < IDLE_WORKERS; k++) {
    const pool = make(1);
    await warmUp(pool, bridgedFlow());
    const sample = async (withConditions: boolean): Promise<Rate> => {
      pool.setConditions(withConditions ? conditions : []);
      await runFor(pool, bridgedFlow(), 300, true); // the worker swaps its matcher, and the JIT settles
      return runFor(pool, bridgedFlow(), 700, true);
    };
    await sample(true); // a first pair, unrecorded: both matchers' code paths get compiled
    await sample(false);
    for (let i = 0; i < IDLE_PAIRS; i++) {
      let on: Rate, off: Rate;
      if (i % 2 === 0) { on = await sample(true); off = await sample(false); } else { off = await sample(false); on = await sample(true); }
      ratios.push(on.busyPps / off.busyPps); wallRatios.push(on.pps / off.pps);
      withs.push(on.busyPps); withouts.push(off.busyPps);
    }
    await pool.close();
  }
  out.push({
    bench: 'pool.idle_conditions.100', value: Number(median(ratios).toFixed(3)), unit: 'ratio',
    workers: 1, freshWorkers: IDLE_WORKERS, pairs: ratios.length,
    withConditionsBusyPps: Math.round(median(withs)), withoutBusyPps: Math.round(median(withouts)),
    wallRatio: Number(median(wallRatios).toFixed(3)),
    ratioRange: [Number(Math.min(...ratios).toFixed(3)), Number(Math.max(...ratios).toFixed(3))],
  });
  return out;
}

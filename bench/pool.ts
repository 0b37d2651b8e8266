// Throughput through the Piscina pool (SPEC §8 pool.*): batches of frames, several in flight, untraced;
// and the cost of 100 enabled trace conditions that never match.
import { SimPool } from '../daemon/pool/pool.js';
import { packFrames } from '../daemon/pool/batch.js';
import type { TraceConditionJson } from '../engine/trace/types.js';
import { referenceTopology, REF } from './reference-topology.js';
import { bridgedFlow, routedFlow, type Flow } from './frames.js';
import { median, type BenchLine } from './types.js';

const BATCH = 1024;
const SECONDS = 1.5;
const RUNS = 5;

async function throughput(pool: SimPool, flow: Flow): Promise<number> {
  const frames = Array.from({ length: BATCH }, () => flow.frame);
  for (const w of flow.warmup ?? []) await pool.run({ ...packFrames([w.frame], 0, 1, w.inPort), forceTrace: false, detail: false, nowMs: Date.now() });
  const inFlight = pool.threads * 2;
  const runFor = async (ms: number): Promise<number> => {
    let done = 0;
    const end = performance.now() + ms;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        const r = await pool.run({ ...packFrames(frames, 0, BATCH, flow.inPort), forceTrace: false, detail: false, nowMs: Date.now() });
        if (!r.ok) throw new Error(r.message);
        if (r.result.codes[0] !== 0) throw new Error(`${flow.name}: expected forward, got result code ${r.result.codes[0]}`);
        done += BATCH;
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, lane));
    return done / ((performance.now() - t0) / 1000);
  };
  await runFor(800); // warm the workers' JIT (and let them compile the topology)
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await runFor(SECONDS * 1000 / RUNS * 2));
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
  // One worker: with two, the workers and the main thread share two cores and the scheduling noise
  // (±15 %) buries a few per cent. Interleaved pairs, so outside load hits both sides alike.
  const p1c = make(1);
  const ratios: number[] = [];
  const withs: number[] = [];
  const withouts: number[] = [];
  for (let i = 0; i < 5; i++) {
    p1c.setConditions(idleConditions());
    const w = await throughput(p1c, bridgedFlow());
    p1c.setConditions([]);
    const wo = await throughput(p1c, bridgedFlow());
    ratios.push(w / wo); withs.push(w); withouts.push(wo);
  }
  out.push({ bench: 'pool.idle_conditions.100', value: Number(median(ratios).toFixed(3)), unit: 'ratio', workers: 1, withConditionsPps: Math.round(median(withs)), withoutPps: Math.round(median(withouts)), pairs: ratios.map((r) => Number(r.toFixed(3))) });
  await p1c.close();
  return out;
}

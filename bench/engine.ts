// Single-thread simulation rates on the reference topology (SPEC §8 engine.*): a frame already in
// memory goes through parse + simulate, as a worker does. Also checks the bridged path allocates
// nothing: over a million packets, no minor GC may run and the heap may not grow.
import { PerformanceObserver } from 'node:perf_hooks';
import { compileTopology } from '../engine/topology/compile.js';
import { createStateTables } from '../engine/state/tables.js';
import { Simulator } from '../engine/simulator.js';
import { ResultCode } from '../model/result.js';
import { referenceTopology } from './reference-topology.js';
import { bridgedFlow, natFlow, routedFlow, type Flow } from './frames.js';
import { median, type BenchLine } from './types.js';

const RUNS = 7;

export function measure(sim: Simulator, port: number, frame: Uint8Array, packets: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < packets; i++) sim.runFrame(port, frame, 0, frame.length, 1_700_000_000_000);
  const ns = Number(process.hrtime.bigint() - t0);
  return packets / (ns / 1e9);
}

/** Minor GCs and heap growth over `packets` runs of the flow: both 0 when nothing is allocated per packet. */
export async function allocationCheck(sim: Simulator, port: number, frame: Uint8Array, packets: number): Promise<{ gcs: number; heapGrowthBytes: number }> {
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((r) => setTimeout(r, 10));
  gcs = 0;
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < packets; i++) sim.runFrame(port, frame, 0, frame.length, 1_700_000_000_000);
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 10)); // let the observer deliver
  obs.disconnect();
  return { gcs, heapGrowthBytes: after - before };
}

export function setupSim(): { sim: Simulator; port: (id: string) => number } {
  const topo = compileTopology(referenceTopology());
  const sim = new Simulator(topo, createStateTables({ shared: false }), 'bench');
  return { sim, port: (id) => { const p = topo.portIndex.get(id); if (p === undefined) throw new Error(`no port ${id}`); return p; } };
}

export async function benchEngine(): Promise<BenchLine[]> {
  const { sim, port } = setupSim();
  const out: BenchLine[] = [];
  for (const flow of [bridgedFlow(), routedFlow(), natFlow()] as Flow[]) {
    for (const w of flow.warmup ?? []) sim.runFrame(port(w.inPort), w.frame, 0, w.frame.length, 1_700_000_000_000);
    const p = port(flow.inPort);
    const code = sim.runFrame(p, flow.frame, 0, flow.frame.length, 1_700_000_000_000);
    // A broken path must not report a fast number.
    if (code !== ResultCode.Forward || sim.ctx.emitCount !== 1) throw new Error(`${flow.name}: expected one forwarded packet, got result ${code} with ${sim.ctx.emitCount} emitted`);
    measure(sim, p, flow.frame, 200_000); // warm the JIT
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push(measure(sim, p, flow.frame, 300_000));
    const line: BenchLine = { bench: `engine.${flow.name}`, value: Math.round(median(samples)), unit: 'pps', runs: RUNS, devicesTraversed: sim.ctx.devicesTraversed };
    if (flow.name === 'bridged') {
      await allocationCheck(sim, p, flow.frame, 300_000); // let garbage from set-up be collected first
      Object.assign(line, await allocationCheck(sim, p, flow.frame, 1_000_000));
    }
    out.push(line);
  }
  return out;
}

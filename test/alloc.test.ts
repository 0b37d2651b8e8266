// The bridged hot path allocates nothing per packet: a million packets through parse + simulate on the
// reference topology (20-rule chains in and out) run without a single garbage collection.
import t from 'tap';
import { allocationCheck, setupSim } from '../bench/engine.js';
import { bridgedFlow, routedFlow } from '../bench/frames.js';
import { ResultCode } from '../engine/result.js';

t.test('bridged path: no GC over 1,000,000 packets', async (t) => {
  const { sim, port } = setupSim();
  const flow = bridgedFlow();
  for (const w of flow.warmup ?? []) sim.runFrame(port(w.inPort), w.frame, 0, w.frame.length, 1_700_000_000_000);
  const p = port(flow.inPort);
  t.equal(sim.runFrame(p, flow.frame, 0, flow.frame.length, 1_700_000_000_000), ResultCode.Forward);
  await allocationCheck(sim, p, flow.frame, 300_000); // warm the JIT first
  const r = await allocationCheck(sim, p, flow.frame, 1_000_000);
  t.equal(r.gcs, 0, `no minor GC (heap grew ${r.heapGrowthBytes} bytes)`);
  t.ok(r.heapGrowthBytes < 1_000_000, 'heap growth below one byte per packet');
});

t.test('routed path through both routers: a handful of GCs at most', async (t) => {
  const { sim, port } = setupSim();
  const flow = routedFlow();
  const p = port(flow.inPort);
  t.equal(sim.runFrame(p, flow.frame, 0, flow.frame.length, 1_700_000_000_000), ResultCode.Forward);
  await allocationCheck(sim, p, flow.frame, 300_000);
  const r = await allocationCheck(sim, p, flow.frame, 1_000_000);
  t.ok(r.gcs <= 2, `${r.gcs} GCs over a million routed packets`);
});

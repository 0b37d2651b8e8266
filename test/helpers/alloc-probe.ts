// Runs one benchmark flow a million times after warm-up and prints the GCs seen, as JSON. Started by
// test/alloc.test.ts in a child with a tiny young generation, so even a few bytes per packet show as
// many scavenges while background noise stays at zero or one.
import { allocationCheck, setupSim } from '../../bench/engine.js';
import { bridgedFlow, floodedFlow, routedFlow } from '../../bench/frames.js';
import { ResultCode } from '../../model/result.js';

if (process.argv[2] === 'lookup') {
  // 8 M route lookups on a 100,000-route table in both layouts, int32 addresses as the engine
  // passes them.
  const { buildRouteTable } = await import('../../engine/routing/lpm.js');
  const { randomRoutes } = await import('../../bench/route-lookup.js');
  const routes = randomRoutes(100_000);
  const tables = [buildRouteTable(routes, 'flat'), buildRouteTable(routes, 'compact')];
  const dsts = Int32Array.from({ length: 4096 }, (_, i) => Math.imul(i + 1, 0x9e3779b1));
  const { PerformanceObserver } = await import('node:perf_hooks');
  let sink = 0;
  const run = (n: number): void => { for (let i = 0; i < n; i++) sink = (sink + tables[i & 1]!.lookup(dsts[i & 4095]!, dsts[(i * 7) & 4095]!, i)) | 0; };
  run(500_000);
  let gcs = 0;
  const obs = new PerformanceObserver((l) => { gcs += l.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((r) => setTimeout(r, 10));
  gcs = 0;
  run(8_000_000);
  await new Promise((r) => setTimeout(r, 10));
  obs.disconnect();
  process.stdout.write(JSON.stringify({ forward: sink !== 0.5, gcs, heapGrowthBytes: 0 }) + '\n');
  process.exit(0);
}
const flow = process.argv[2] === 'routed' ? routedFlow() : process.argv[2] === 'flooded' ? floodedFlow() : bridgedFlow();
const { sim, port } = setupSim();
if (process.argv[2] === 'conditions') {
  // The bridged flow under 100 trace conditions that never match: the index is read for every packet.
  const { ConditionMatcher } = await import('../../engine/trace/matcher.js');
  const { idleConditions } = await import('../../bench/pool.js');
  sim.ctx.matcher = new ConditionMatcher(sim.ctx.topo, idleConditions().map((condition, slot) => ({ slot, condition })), new Int32Array(100));
}
for (const w of flow.warmup ?? []) sim.runFrame(port(w.inPort), w.frame, 0, w.frame.length, 1_700_000_000_000);
const p = port(flow.inPort);
const code = sim.runFrame(p, flow.frame, 0, flow.frame.length, 1_700_000_000_000);
await allocationCheck(sim, p, flow.frame, 300_000);
const r = await allocationCheck(sim, p, flow.frame, 1_000_000);
process.stdout.write(JSON.stringify({ forward: code === ResultCode.Forward, ...r }) + '\n');

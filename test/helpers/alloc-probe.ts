// Runs one benchmark flow a million times after warm-up and prints the GCs seen, as JSON. Started by
// test/alloc.test.ts in a child with a tiny young generation, so even a few bytes per packet show as
// many scavenges while background noise stays at zero or one.
import { allocationCheck, setupSim } from '../../bench/engine.js';
import { bridgedFlow, routedFlow } from '../../bench/frames.js';
import { ResultCode } from '../../engine/result.js';

const flow = process.argv[2] === 'routed' ? routedFlow() : bridgedFlow();
const { sim, port } = setupSim();
for (const w of flow.warmup ?? []) sim.runFrame(port(w.inPort), w.frame, 0, w.frame.length, 1_700_000_000_000);
const p = port(flow.inPort);
const code = sim.runFrame(p, flow.frame, 0, flow.frame.length, 1_700_000_000_000);
await allocationCheck(sim, p, flow.frame, 300_000);
const r = await allocationCheck(sim, p, flow.frame, 1_000_000);
process.stdout.write(JSON.stringify({ forward: code === ResultCode.Forward, ...r }) + '\n');

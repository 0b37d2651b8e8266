// The Piscina worker: simulates batches. It imports only the engine (no Koa, ZooKeeper or sink
// clients). Before each batch it checks the shared snapshots' versions and recompiles what changed.
import { threadId, workerData } from 'node:worker_threads';
import { Simulator } from '../../engine/simulator.js';
import { compileTopology, recompileRoutes } from '../../engine/topology/compile.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import { attachStateTables } from '../../engine/state/tables.js';
import { ConditionMatcher, type PublishedCondition } from '../../engine/trace/matcher.js';
import { traceRecord } from '../../engine/trace/record.js';
import { newTraceId } from '../../engine/trace/trace-id.js';
import { ResultCode } from '../../model/result.js';
import type { CompiledTopology } from '../../engine/topology/compiled.js';
import type { TraceRecord } from '../../model/stores.js';
import type { SimulationResultJson } from '../../engine/simulator.js';
import { SharedSnapshot } from './snapshot.js';
import { UNKNOWN_PORT, type BatchResult, type BatchTask, type TopologyDeltas, type WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const topologySnap = new SharedSnapshot(init.topology);
const deltasSnap = new SharedSnapshot(init.topologyDeltas);
const conditionsSnap = new SharedSnapshot(init.conditions);
const hits = new Int32Array(init.hits);
const state = attachStateTables(init.state as Parameters<typeof attachStateTables>[0]);

let topoVersion = -1;
/** The deltas snapshot version last looked at, the full version compiled, and deltas applied on it. */
let deltasVersion = -1;
let fullVersion = -1;
let applied = 0;
let condVersion = -1;
let topo: CompiledTopology | null = null;
let sim: Simulator | null = null;
let matcher: ConditionMatcher | null = null;
/** Per-frame scratch of a batch, grown as needed: ingress port index and screen verdict. */
let framePorts = new Int32Array(1024);
let frameScreens = new Uint8Array(1024);

function refresh(): void {
  const tv = topologySnap.version();
  const dv = deltasSnap.version();
  const cv = conditionsSnap.version();
  if (tv === fullVersion && dv === deltasVersion && cv === condVersion && sim !== null) return;
  let topoChanged = false;
  if (tv !== fullVersion || topo === null) {
    const { version, text } = topologySnap.read();
    topo = compileTopology(text === '' ? {} : JSON.parse(text) as TopologyDoc);
    fullVersion = version;
    applied = 0;
    topoChanged = true;
  }
  if (dv !== deltasVersion) {
    const { version, text } = deltasSnap.read();
    deltasVersion = version;
    const d = text === '' ? null : JSON.parse(text) as TopologyDeltas;
    // Deltas of the full version this worker compiled; others belong to a newer full one, read next time.
    if (d !== null && d.full === fullVersion) {
      for (; applied < d.deltas.length; applied++) topo = recompileRoutes(topo!, d.deltas[applied]!);
      topoVersion = d.fullPublication + applied;
      topoChanged = true;
    }
  }
  if (topoChanged) {
    if (sim === null) sim = new Simulator(topo!, state, init.hostId);
    else sim.setTopology(topo!);
  }
  if (!topoChanged && cv === condVersion) return;
  const { version, text } = conditionsSnap.read();
  const list = text === '' ? [] : JSON.parse(text) as PublishedCondition[];
  // Always a ConditionMatcher, even an empty one: the simulation code then sees one shape whether or
  // not conditions exist, and adding the first condition does not deoptimize the hot path.
  matcher = new ConditionMatcher(topo!, list, hits);
  sim!.ctx.matcher = matcher;
  condVersion = version;
}

export default function simulateBatch(task: BatchTask): BatchResult {
  if (task.fault === 'exit' && init.faultInjection) process.exit(70);
  refresh();
  const started = performance.now();
  const s = sim!;
  const t = topo!;
  const ctx = s.ctx;
  const n = task.offsets.length - 1;
  const codes = new Uint8Array(n);
  const traces: TraceRecord[] = [];
  const details: SimulationResultJson[] | null = task.detail ? [] : null;
  ctx.forceTrace = task.forceTrace;
  if (framePorts.length < n) { framePorts = new Int32Array(n); frameScreens = new Uint8Array(n); }
  // A first pass screens every frame against the conditions' index before any is simulated (see
  // ConditionMatcher.screenBatch): most frames match none and then skip the index in simulate().
  const single = typeof task.ports === 'string' ? t.portIndex.get(task.ports) ?? -1 : -1;
  for (let i = 0; i < n; i++) framePorts[i] = typeof task.ports === 'string' ? single : t.portIndex.get(task.ports[i]!) ?? -1;
  matcher!.screenBatch(task.data, task.offsets, n, framePorts, frameScreens);
  for (let i = 0; i < n; i++) {
    const port = framePorts[i]!;
    const cfg = port >= 0 ? t.ports[port] : undefined;
    if (cfg === undefined || !cfg.exterior) {
      codes[i] = UNKNOWN_PORT;
      if (details !== null) details.push({ result: 'errorDrop', reason: 'unknown_port', emitted: [], devicesTraversed: 0, traceIds: [] });
      continue;
    }
    const off = task.offsets[i]!;
    const now = task.nowMs;
    const code: ResultCode = s.runFrame(port, task.data, off, task.offsets[i + 1]! - off, now, frameScreens[i]!);
    codes[i] = code;
    let traceIds: string[] = NO_IDS;
    if (ctx.traced) {
      const id = newTraceId();
      traces.push(traceRecord(ctx, id, now));
      traceIds = [id];
    }
    if (details !== null) details.push(s.resultJson(traceIds));
  }
  return { codes, traces, details, topologyVersion: topoVersion, conditionsVersion: condVersion, threadId, busyMs: performance.now() - started };
}

const NO_IDS: string[] = [];

// Simulates batches on one thread: a Piscina worker (worker.ts) or the live datapath's own thread
// (daemon/datapath-thread.ts). It imports only the engine (no Koa, ZooKeeper or sink clients).
// Before each batch it checks the shared snapshots' versions and recompiles what changed.
import { threadId } from 'node:worker_threads';
import { Simulator } from '../../engine/simulator.js';
import { compileTopology, recompileRoutes } from '../../engine/topology/compile.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import { attachStateTables } from '../../engine/state/tables.js';
import { ConditionMatcher, type PublishedCondition } from '../../engine/trace/matcher.js';
import { traceHead, traceRecord } from '../../engine/trace/record.js';
import { newTraceId } from '../../engine/trace/trace-id.js';
import { ResultCode } from '../../model/result.js';
import type { CompiledTopology } from '../../engine/topology/compiled.js';
import type { TraceRecord } from '../../model/stores.js';
import type { SimulationResultJson } from '../../engine/simulator.js';
import { encodeHead, StepsDedup } from '../../stores/sqlite/trace-wire.js';
import { StepsTextCache } from './steps-text.js';
import { SharedSnapshot } from './snapshot.js';
import { UNKNOWN_PORT, type BatchResult, type BatchTask, type HeldFrame, type SimTraced, type TopologyDeltas, type WorkerInit } from './protocol.js';
import { EmitWriter } from './emit-writer.js';
import { ResultJsonWriter } from '../../engine/result-json.js';

const NO_IDS: string[] = [];

/**
 * The batch simulator of one thread, on the snapshots and state tables `init` names. With `inPlace`
 * (a caller on the same thread), a result's emitted frames are views of the runner's buffers, valid
 * until its next batch; otherwise copies, to be cloned to another thread.
 */
export function batchRunner(init: WorkerInit, inPlace = false): (task: BatchTask) => BatchResult {
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
  const emitWriter = new EmitWriter();
  const stepsText = new StepsTextCache();
  const jsonWriter = new ResultJsonWriter();

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
      stepsText.clear();
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

  function simulateBatch(task: BatchTask): BatchResult {
    if (task.fault === 'exit' && init.faultInjection) process.exit(70);
    refresh();
    const started = performance.now();
    const s = sim!;
    const t = topo!;
    const ctx = s.ctx;
    const n = task.offsets.length - 1;
    const codes = new Uint8Array(n);
    const traces: TraceRecord[] = [];
    const encodeTraces = task.traceOutput === 'encoded';
    // Encoded traces: the summaries in one string cut at ends[i], each distinct steps text once; only
    // these strings and small typed arrays are cloned back to the daemon.
    let traceText = '';
    let traceCount = 0;
    const traceEnds = encodeTraces ? new Int32Array(n) : null;
    const traceSteps = encodeTraces ? new Int32Array(n) : null;
    const stepRefs = encodeTraces ? new Int32Array(n) : null;
    const dedup = encodeTraces ? new StepsDedup() : null;
    const json = task.detail && task.json === true;
    const details: SimulationResultJson[] | null = task.detail && !json ? [] : null;
    if (json) jsonWriter.reset();
    const unknownPort = '{"result":"errorDrop","reason":"unknown_port","emitted":[],"devicesTraversed":0,"traceIds":[]}';
    ctx.forceTrace = task.forceTrace;
    ctx.holdArp = task.holdArp === true;
    const emit = task.emit === true;
    if (emit) emitWriter.begin();
    let held: HeldFrame[] | undefined;
    let traced: SimTraced[] | undefined;
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
        if (json) jsonWriter.raw(i === 0 ? unknownPort : ',' + unknownPort);
        continue;
      }
      const off = task.offsets[i]!;
      const now = task.nowMs;
      const code: ResultCode = s.runFrame(port, task.data, off, task.offsets[i + 1]! - off, now, frameScreens[i]!);
      codes[i] = code;
      if (emit) {
        emitWriter.add(ctx, i);
        if (ctx.heldRouter >= 0) (held ??= []).push({ index: i, routerId: t.routers[ctx.heldRouter]!.id, nextHop: ctx.heldNextHop });
      }
      let traceIds: string[] = NO_IDS;
      if (ctx.traced) {
        const id = newTraceId();
        let conditionIds: readonly string[];
        if (traceEnds !== null) {
          // The head, and the steps text built only when this packet's steps are new (StepsTextCache).
          const head = traceHead(ctx, id, now);
          conditionIds = head.conditionIds;
          traceText += encodeHead(head);
          traceEnds[traceCount] = traceText.length;
          stepRefs![traceCount] = dedup!.ref(stepsText.text(ctx));
          traceSteps![traceCount++] = ctx.log.count;
        } else {
          const rec = traceRecord(ctx, id, now);
          conditionIds = rec.conditionIds;
          traces.push(rec);
        }
        traceIds = [id];
        if (emit && ctx.emitCount > 0) (traced ??= []).push({ index: i, traceId: id, conditionIds, steps: ctx.log.count });
      }
      if (details !== null) details.push(s.resultJson(traceIds));
      else if (json) {
        if (i > 0) jsonWriter.raw(',');
        jsonWriter.result(s, traceIds);
      }
    }
    const encoded = traceCount === 0 ? null : {
      text: traceText, ends: traceEnds!.slice(0, traceCount), steps: traceSteps!.slice(0, traceCount),
      stepTexts: dedup!.texts, stepRefs: stepRefs!.slice(0, traceCount),
    };
    const out: BatchResult = {
      codes, traces, encoded, details, json: json ? jsonWriter.bytes() : null,
      topologyVersion: topoVersion, conditionsVersion: condVersion, threadId, busyMs: performance.now() - started,
    };
    if (emit) out.emitted = emitWriter.finish(inPlace);
    if (held !== undefined) out.held = held;
    if (traced !== undefined) out.traced = traced;
    return out;
  }
  return simulateBatch;
}

// Joins the live datapath (datapath/) to the daemon: which ports are bound to this host, how a batch
// of received frames is simulated (the worker pool, emitting frames, holding packets for ARP), where
// traces go, and what GET /datapath, /healthz and /metrics show.
import { Datapath } from '../datapath/datapath.js';
import { tunnelPlan, type TunnelPeer, type TunnelPlan } from '../datapath/tunnel-plan.js';
import type { TraceContext } from '../datapath/tunnel.js';
import { Step, type TraceStep } from '../model/step.js';
import type { Binding, SimReply, SimRequest } from '../datapath/types.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { TraceRecord, TraceSink } from '../model/stores.js';
import { RESULT_NAMES } from '../model/result.js';
import type { BackendHealth, DatapathReport } from '../api/deps.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { DaemonMetrics } from './metrics.js';
import type { SimPool } from './pool/pool.js';

/** Exterior ports whose hostId is this host and that name an interface (SPEC §2). */
export function boundPorts(doc: TopologyDoc, hostId: string): Binding[] {
  const out: Binding[] = [];
  for (const p of doc.ports ?? []) {
    if (p.peerId === undefined && p.hostId === hostId && p.interfaceName !== undefined && p.interfaceName !== '') {
      out.push({ portId: p.id, name: p.name ?? '', interfaceName: p.interfaceName });
    }
  }
  return out;
}

export interface DatapathParts {
  config: Readonly<Config>;
  log: Logger;
  hostId: string;
  pool: SimPool;
  sink: () => TraceSink;
  /** Condition limits across hosts (ConditionLimits.admit): the traces that may be stored. */
  admitTraces: (traces: TraceRecord[]) => Promise<TraceRecord[]>;
  /** Whether a condition with a limit is in force: its traces must pass admitTraces one by one. */
  limitsActive: () => boolean;
  metrics: DaemonMetrics;
}

export class DatapathWiring {
  private dp: Datapath | null = null;
  private stopped = false;
  private starting = false;
  /** Bindings of the newest topology (a change during start-up is not lost). */
  private latest: Binding[] = [];
  private latestPlan: TunnelPlan | null = null;
  /** Port names of the newest topology, for the steps this host records for traced tunnel arrivals. */
  private portNames = new Map<string, string>();
  private readonly resultCounts = new Float64Array(RESULT_NAMES.length);
  private warnedNoSegments = false;

  constructor(private readonly p: DatapathParts) {}

  /** Starts on the first topology that binds ports here; later ones rebind. */
  apply(doc: TopologyDoc): void {
    if (this.stopped || !this.p.config.datapath.enabled) return;
    const bindings = boundPorts(doc, this.p.hostId);
    this.latest = bindings;
    this.latestPlan = tunnelPlan(doc, this.p.hostId);
    this.portNames = new Map((doc.ports ?? []).map((p) => [p.id, p.name ?? '']));
    if (this.dp !== null) { this.dp.setBindings(bindings); this.dp.setTunnelPlan(this.latestPlan); return; }
    if (bindings.length === 0 || this.starting) return;
    this.starting = true;
    // A worker's first batch compiles the topology (and, cold, loads its code): that happens before
    // frames flow, one empty batch per thread, not on a guest's first packet (which would wait seconds).
    const warm: Promise<unknown>[] = [];
    for (let i = 0; i < this.p.pool.threads; i++) {
      warm.push(this.p.pool.run({ data: new Uint8Array(0), offsets: new Int32Array(1), ports: '', forceTrace: false, detail: false, nowMs: Date.now() }));
    }
    void Promise.all(warm).then(() => {
      if (this.stopped) return;
      this.dp = Datapath.start({
        log: this.p.log,
        simulate: (req) => this.simulate(req),
        lanes: this.p.pool.threads,
        batchFrames: this.p.config.workers.batchSize,
        arpRetryMs: this.p.config.datapath.arpRetryMs,
        arpTimeoutMs: this.p.config.datapath.arpTimeoutMs,
        holdPerNextHop: this.p.config.datapath.holdPerNextHop,
        tunnelPort: this.p.config.datapath.tunnelPort,
        onTracedArrival: (a) => this.recordArrival(a),
      }, this.latest);
      if (this.latestPlan !== null) this.dp.setTunnelPlan(this.latestPlan);
      if (this.dp.status === 'running') this.p.log.info({ ports: this.latest.map((b) => `${b.name || b.portId}@${b.interfaceName}`) }, 'live datapath started');
    });
  }

  private async simulate(req: SimRequest): Promise<SimReply | null> {
    // As for POST /simulations: unless a limit must be checked trace by trace, the workers hand back
    // traces encoded for the sink, so this thread (which also moves every frame) neither copies trace
    // objects across threads nor encodes them.
    const sink = this.p.sink();
    const traceOutput = !this.p.limitsActive() && sink.writeBatch !== undefined ? 'encoded' : 'records';
    const r = await this.p.pool.run({
      data: req.data, offsets: req.offsets, ports: req.ports, forceTrace: false, detail: false,
      nowMs: Date.now(), emit: true, holdArp: req.holdArp, traceOutput,
    });
    if (!r.ok) return null;
    const res = r.result;
    const m = this.p.metrics;
    if (res.encoded !== null) {
      sink.writeBatch!(res.encoded);
      m.traced.inc(res.encoded.ends.length);
    } else if (res.traces.length > 0) {
      // Frames do not wait for the limit check (it may ask the condition store): they go out now,
      // their traces are stored once admitted.
      this.p.admitTraces(res.traces).then((keep) => {
        const sink = this.p.sink();
        for (const rec of keep) sink.write(rec);
        m.traced.inc(keep.length);
      }, (e: unknown) => this.p.log.error({ err: e }, 'datapath traces not admitted'));
    }
    m.workerBusy.inc(res.busyMs / 1000);
    // One counter update per result kind and batch, not one per packet.
    const counts = this.resultCounts;
    counts.fill(0);
    for (let i = 0; i < res.codes.length; i++) { const c = res.codes[i]!; if (c < counts.length) counts[c]!++; else counts[3]!++; }
    for (let c = 0; c < counts.length; c++) if (counts[c]! > 0) m.simulations.inc({ result: RESULT_NAMES[c]! }, counts[c]!);
    return { codes: res.codes, emitted: res.emitted, held: res.held, traced: res.traced };
  }

  /**
   * This host's part of a trace that started on another (SPEC §10): reception through the tunnel, then
   * emission on the bound interface (or why not), appended to the same trace in the shared store.
   */
  private recordArrival(a: { portId: string; trace: TraceContext; from: TunnelPeer; key: number; delivered: boolean; interfaceName: string }): void {
    const sink = this.p.sink();
    const port = { id: a.portId, name: this.portNames.get(a.portId) ?? '' };
    const now = Date.now();
    const steps: TraceStep[] = [
      Step.tunnelReceived(port, a.from.hostId, a.key),
      a.delivered ? Step.emitted(port, this.p.hostId, a.interfaceName, false)
        : Step.dropped('port', port, { reason: 'unknown_port', error: `port not up on host ${this.p.hostId}` }, `port ${port.name || port.id} is not up on this host`),
    ];
    for (const s of steps) s.timestampMs = now;
    if (sink.appendSteps === undefined) {
      if (!this.warnedNoSegments) this.p.log.warn({}, 'the trace store does not take steps from other hosts: traced packets from tunnels are not recorded here');
      this.warnedNoSegments = true;
      return;
    }
    sink.appendSteps({ traceId: a.trace.traceId, hostId: this.p.hostId, after: a.trace.steps, steps });
  }

  report(): DatapathReport {
    const status = !this.p.config.datapath.enabled ? 'disabled' : this.dp !== null ? this.dp.status : this.starting ? 'starting' : 'no_bound_ports';
    return { hostId: this.p.hostId, status, ports: this.dp?.stats() ?? [], tunnels: this.dp?.tunnelStats() ?? [] };
  }

  /**
   * The `datapath` backend of /healthz. A VM's interface going away is normal life on a host, so a
   * port not up is named in the detail without making the host unhealthy.
   */
  health(): BackendHealth {
    const r = this.report();
    if (r.status !== 'running') return { name: 'datapath', ok: true, detail: r.status === 'no_permission' ? 'not running: needs root or CAP_NET_RAW' : r.status };
    const notUp = r.ports.filter((p) => p.state !== 'up').map((p) => `${p.name || p.portId} (${p.interfaceName}) ${p.state}`);
    return { name: 'datapath', ok: true, detail: notUp.length === 0 ? `${r.ports.length} ports up` : `not up: ${notUp.join(', ')}` };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.dp?.stop();
  }
}

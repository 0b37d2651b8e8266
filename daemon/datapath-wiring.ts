// Joins the live datapath (datapath/) to the daemon: which ports are bound to this host, the thread
// that moves and simulates their frames (datapath-thread.ts), where its traces go, and what
// GET /datapath, /healthz and /metrics show.
import type { Worker } from 'node:worker_threads';
import { siblingModule, startThread } from '../model/thread-entry.js';
import { tunnelPlan, type TunnelPlan } from '../datapath/tunnel-plan.js';
import { Step, type TraceStep } from '../model/step.js';
import type { Binding } from '../datapath/types.js';
import { FLAG_ENCODED, type DatapathThreadInit, type FromDatapath, type ToDatapath, type TracedArrival } from './datapath-messages.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { TraceRecord, TraceSink } from '../model/stores.js';
import { RESULT_NAMES } from '../model/result.js';
import type { BackendHealth, DatapathReport } from '../api/deps.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { DaemonMetrics } from './metrics.js';
import type { SimPool } from './pool/pool.js';

const THREAD = siblingModule(import.meta.url, 'datapath-thread');
/** How often the datapath thread reports its counters (GET /datapath and /metrics lag at most this). */
const STATS_MS = 100;

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
  private thread: Worker | null = null;
  private stopped = false;
  /** Bindings of the newest topology (a change during start-up is not lost). */
  private latest: Binding[] = [];
  private latestPlan: TunnelPlan | null = null;
  /** Port names of the newest topology, for the steps this host records for traced tunnel arrivals. */
  private portNames = new Map<string, string>();
  private warnedNoSegments = false;
  /** What the thread last reported (every DatapathThreadInit.statsMs). */
  private last: Extract<FromDatapath, { t: 'stats' }> | null = null;
  private readonly flags = new Int32Array(new SharedArrayBuffer(4));
  private stoppedThread: (() => void) | null = null;
  private restarts = 0;
  private restartPending = false;

  constructor(private readonly p: DatapathParts) {}

  /** Starts on the first topology that binds ports here; later ones rebind. */
  apply(doc: TopologyDoc): void {
    if (this.stopped || !this.p.config.datapath.enabled) return;
    const bindings = boundPorts(doc, this.p.hostId);
    this.latest = bindings;
    this.latestPlan = tunnelPlan(doc, this.p.hostId);
    this.portNames = new Map((doc.ports ?? []).map((p) => [p.id, p.name ?? '']));
    this.refreshFlags();
    if (this.thread !== null) {
      this.thread.postMessage({ t: 'bind', bindings, plan: this.latestPlan } satisfies ToDatapath);
      // An unbound port leaves GET /datapath at once, before the thread's next report.
      if (this.last !== null) {
        const keep = new Set(bindings.map((b) => b.portId));
        this.last = { ...this.last, ports: this.last.ports.filter((q) => keep.has(q.portId)) };
      }
      return;
    }
    if (bindings.length === 0) return;
    this.startThread();
  }

  /** Conditions changed: whether the thread may hand traces back encoded (no limit to check one by one). */
  refreshFlags(): void {
    const encoded = !this.p.limitsActive() && this.p.sink().writeBatch !== undefined;
    Atomics.store(this.flags, 0, encoded ? FLAG_ENCODED : 0);
  }

  /** Traces come back as records (for the limit check) until the next refreshFlags(). */
  forceRecords(): void { Atomics.store(this.flags, 0, 0); }

  private startThread(): void {
    const c = this.p.config;
    const init: DatapathThreadInit = {
      sim: this.p.pool.workerInit, flags: this.flags.buffer as SharedArrayBuffer, bindings: this.latest, plan: this.latestPlan,
      batchFrames: c.workers.batchSize, arpRetryMs: c.datapath.arpRetryMs, arpTimeoutMs: c.datapath.arpTimeoutMs,
      holdPerNextHop: c.datapath.holdPerNextHop, tunnelPort: c.datapath.tunnelPort, statsMs: STATS_MS,
      faultInjection: process.env.MIDOTRACE_FAULT_INJECTION === '1',
    };
    const w = startThread(THREAD, { workerData: init, name: 'midotrace-datapath' });
    this.thread = w;
    w.on('message', (m: FromDatapath) => this.onMessage(m));
    w.on('error', (e) => this.p.log.error({ err: e }, 'the live datapath thread failed'));
    w.on('exit', (code) => {
      if (this.thread !== w) return;
      this.thread = null;
      this.last = null;
      const done = this.stoppedThread;
      this.stoppedThread = null;
      done?.();
      if (this.stopped) return;
      // Never quietly: said, then started again (its sockets were closed with the thread).
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts++, 6));
      this.p.log.error({ code, restartInMs: delay }, 'the live datapath thread exited; restarting it');
      this.restartPending = true;
      setTimeout(() => {
        this.restartPending = false;
        if (!this.stopped && this.thread === null && this.latest.length > 0) this.startThread();
      }, delay).unref();
    });
  }

  private onMessage(m: FromDatapath): void {
    const log = this.p.log;
    const metrics = this.p.metrics;
    switch (m.t) {
      case 'log': log[m.level](m.obj, m.msg); break;
      case 'traces': {
        const sink = this.p.sink();
        if (sink.writeBatch !== undefined) { sink.writeBatch(m.encoded); metrics.traced.inc(m.encoded.ends.length); }
        break;
      }
      case 'records':
        // Frames did not wait for the limit check (it may ask the condition store): they went out,
        // their traces are stored once admitted.
        this.p.admitTraces(m.traces).then((keep) => {
          const sink = this.p.sink();
          for (const rec of keep) sink.write(rec);
          metrics.traced.inc(keep.length);
        }, (e: unknown) => log.error({ err: e }, 'datapath traces not admitted'));
        break;
      case 'arrival': this.recordArrival(m.a); break;
      case 'stats': {
        if (m.status === 'running') this.restarts = 0;
        this.last = m;
        if (m.busyMs > 0) metrics.workerBusy.inc(m.busyMs / 1000);
        for (let c = 0; c < m.counts.length; c++) if (m.counts[c]! > 0) metrics.simulations.inc({ result: RESULT_NAMES[c]! }, m.counts[c]!);
        break;
      }
    }
  }

  /**
   * This host's part of a trace that started on another (SPEC §10): reception through the tunnel, then
   * emission on the bound interface (or why not), appended to the same trace in the shared store.
   */
  private recordArrival(a: TracedArrival): void {
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
    const r = this.last;
    const status = !this.p.config.datapath.enabled ? 'disabled' : r !== null ? r.status : this.thread !== null || this.restartPending ? 'starting' : 'no_bound_ports';
    return { hostId: this.p.hostId, status, ports: r?.ports ?? [], tunnels: r?.tunnels ?? [] };
  }

  /** Packets held for ARP, as last reported. */
  get heldPackets(): number { return this.last?.held ?? 0; }

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

  /** SIGTERM: the thread stops reading, lets what it holds go out, closes its sockets and ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    const w = this.thread;
    if (w === null) return;
    const ended = new Promise<void>((res) => { this.stoppedThread = res; });
    w.postMessage({ t: 'stop' } satisfies ToDatapath);
    const timer = setTimeout(() => { void w.terminate(); }, 5000);
    await ended;
    clearTimeout(timer);
  }
}

// The daemon: configuration → host id → backends → worker pool → API. It owns the order of start-up
// and of shutdown (stop taking packets, drain the pool, flush the sink, close the stores).
import { resolve } from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { loadOrCreateHostId } from './host-id.js';
import { openBackends, type Backends } from './backends.js';
import { StartError } from './errors.js';
import { DaemonMetrics } from './metrics.js';
import { openTopologySource, type TopologySource } from './topology-source.js';
import { SimPool } from './pool/pool.js';
import { ConditionLimits, limitInForce } from './condition-limits.js';
import { encodeInputs } from './pool/batch.js';
import { DatapathWiring } from './datapath-wiring.js';
import { portIndexOf, type PortIndex } from '../engine/input.js';
import { routeChangeBetween } from '../engine/topology/compile.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { TraceConditionJson } from '../model/trace.js';
import type { ConditionStore, TraceSink } from '../model/stores.js';
import { RESULT_NAMES, ResultCode } from '../model/result.js';
import type { ApiDeps, HealthReport, SimulateOutcome } from '../api/deps.js';
import type { ApiServer } from '../api/server.js';
import { readOwnTraces } from './own-traces.js';
import { tracePcap } from '../engine/trace/export-pcap.js';


/** Daemon.simulate(): the results as objects. */
export type SimulateResults =
  | { ok: true; results: SimulationResultJson[] }
  | Exclude<SimulateOutcome, { ok: true }>;

export interface DaemonOptions {
  config: Readonly<Config>;
  log: Logger;
  /** Serve the control panel from here under /ui/ when set. */
  panelDir?: string;
  /** Skip the HTTP server (tests that drive the daemon directly). */
  noServer?: boolean;
  /** Wrap the sink (tests put a failing or stalling wrapper around the real one). */
  wrapSink?: (sink: TraceSink) => TraceSink;
}

export class Daemon {
  private stopping = false;
  /** The running topology's ports, to validate inputs; the workers compile and simulate it. */
  private ports: PortIndex;
  /** The document the workers run (a route-only change reaches them as a delta). */
  private doc: TopologyDoc | null = null;
  private topologyVersion = 0;
  private topologyAppliedAt = '';
  private server: ApiServer | null = null;
  private unwatch: (() => void) | null = null;
  private unwatchTopology: (() => void) | null = null;
  private readonly startedAt = Date.now();
  readonly metrics: DaemonMetrics;
  /** The conditions as last published, for /metrics and hit counts. */
  private conditionList: TraceConditionJson[] = [];
  readonly datapath: DatapathWiring;
  private readonly limits: ConditionLimits;

  private constructor(
    readonly config: Readonly<Config>,
    readonly log: Logger,
    readonly hostId: string,
    readonly backends: Backends,
    readonly pool: SimPool,
    readonly topologySource: TopologySource,
    ports: PortIndex,
  ) {
    this.ports = ports;
    this.limits = new ConditionLimits(backends.hits, pool, log);
    this.metrics = new DaemonMetrics({
      sinkStats: () => this.backends.sink.stats(),
      conditions: () => this.conditionList.map((c) => ({ id: c.id, ...(c.name !== undefined ? { name: c.name } : {}), hits: this.limits.lastKnown(c.id) })),
      failedBatches: () => this.pool.failedBatches,
      backends: () => this.health().backends,
      datapath: () => this.datapath.report().ports,
      tunnels: () => this.datapath.report().tunnels,
    });
    this.datapath = new DatapathWiring({
      config, log, hostId, pool, sink: () => this.backends.sink, metrics: this.metrics,
      admitTraces: async (traces) => (await this.limits.admit(traces, false)).keep,
      limitsActive: () => this.limits.active(),
    });
  }

  static async start(o: DaemonOptions): Promise<Daemon> {
    const { config, log } = o;
    let hostId = config.hostId;
    if (hostId === undefined) {
      const h = loadOrCreateHostId(config.stateDir);
      if (!h.ok) throw new StartError(h.message);
      hostId = h.hostId;
      if (h.created) log.info({ hostId, stateDir: resolve(config.stateDir) }, 'created a new host id');
    }
    const topologySource = await openTopologySource(config, log);
    const first = await topologySource.load();
    if (!first.ok) { await topologySource.close(); throw new StartError(first.message); }
    const doc = first.doc;
    const backends = await openBackends(config, hostId, log);
    if (o.wrapSink) backends.sink = o.wrapSink(backends.sink);
    const pool = new SimPool({
      threads: config.workers.threads, hostId, snapshotBytes: config.workers.snapshotBytes,
      maxConditions: config.workers.maxConditions, state: config.state,
    });
    const d = new Daemon(config, log, hostId, backends, pool, topologySource, portIndexOf(doc));
    pool.setTopology(doc);
    d.applied(doc);
    d.unwatchTopology = topologySource.watch(() => {
      d.reloadTopology().then((r) => {
        if (r.ok) log.info('topology changed: published to the workers');
        else log.error({ reason: r.message }, 'topology change refused; the running topology stays');
      }, (e: unknown) => log.error({ err: e }, 'topology reload failed'));
    });
    d.unwatch = backends.conditions.watch((list) => d.publishConditions(list));
    d.publishConditions(await backends.conditions.list());
    if (!o.noServer) {
      // Loaded only when serving: tests that drive the daemon directly need no HTTP stack.
      const { createApp } = await import('../api/app.js');
      const { startApiServer } = await import('../api/server.js');
      const app = createApp(d.apiDeps(o.panelDir));
      // Unexpected errors (the client already got a 500) go to the log, not to stderr.
      app.on('error', (err: unknown) => log.error({ err }, 'API request failed'));
      d.server = await startApiServer(app, config.listen, { bodyLimitBytes: config.api.bodyLimitBytes });
      log.info({ listen: config.listen, port: d.server.port, hostId, threads: pool.threads }, 'midotrace daemon serving');
    }
    // Last: frames start flowing once conditions are published and the API can show them.
    d.datapath.apply(doc);
    return d;
  }

  get port(): number { return this.server?.port ?? 0; }

  private publishConditions(list: TraceConditionJson[]): void {
    try {
      // A limit comes into force for the live datapath's traces before its condition reaches the
      // simulation, and leaves after it.
      if (list.some(limitInForce)) this.datapath.forceRecords();
      this.pool.setConditions(list);
      this.conditionList = list;
      this.limits.published(list);
      this.datapath.refreshFlags();
      this.log.info({ conditions: list.length, enabled: list.filter((c) => c.enabled !== false).length }, 'trace conditions published');
    } catch (e) {
      this.log.error({ err: e }, 'could not publish trace conditions');
    }
  }

  /** Replaces the topology (SIGHUP, ZooKeeper); workers switch before their next batch. */
  setTopology(doc: TopologyDoc): void {
    // The ZooKeeper source shares unchanged objects between documents, so a route-only change is
    // found by identity and only the routers it touches are recompiled, in the workers. Its ports
    // are those of the running topology.
    const routes = this.doc === null ? null : routeChangeBetween(this.doc, doc);
    if (routes !== null && routes.upserts.length === 0 && routes.removes.length === 0) { this.applied(doc); return; }
    const ports = routes !== null ? this.ports : portIndexOf(doc);
    this.pool.setTopology(doc, routes);
    this.ports = ports;
    this.datapath?.apply(doc);
    this.applied(doc);
  }

  private applied(doc: TopologyDoc): void {
    if (doc === this.doc) return;
    this.doc = doc;
    this.topologyVersion++;
    this.topologyAppliedAt = new Date().toISOString();
  }

  /**
   * SIGHUP: takes what can change while running (log level; the topology is re-read by the caller) and
   * names the keys whose change needs a restart (listen address, backends, workers, tokens...).
   */
  applyConfig(next: Readonly<Config>): { applied: string[]; needsRestart: string[] } {
    const applied: string[] = [];
    if (next.log.level !== this.log.level) { this.log.level = next.log.level; applied.push('log.level'); }
    const needsRestart: string[] = [];
    const cur = this.config as unknown as Record<string, unknown>;
    const nxt = next as unknown as Record<string, unknown>;
    for (const key of Object.keys(nxt)) {
      if (key === 'log') continue;
      if (JSON.stringify(cur[key]) !== JSON.stringify(nxt[key])) needsRestart.push(key);
    }
    return { applied, needsRestart };
  }

  /** Re-reads the topology source; an invalid document is refused and the old topology keeps running. */
  async reloadTopology(): Promise<{ ok: true } | { ok: false; message: string }> {
    const r = await this.topologySource.load();
    if (!r.ok) return r;
    try {
      this.setTopology(r.doc);
      return { ok: true };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  /**
   * Simulates `inputs` in order; the results come back as the JSON text of their array (SPEC §4),
   * serialised by the workers, so this thread neither builds nor serialises a result object.
   */
  async simulateJson(inputs: readonly unknown[], forceTrace: boolean): Promise<SimulateOutcome> {
    if (this.stopping) return { ok: false, code: 'shutting_down', message: 'the daemon is shutting down' };
    const enc = encodeInputs(inputs, this.ports, this.config.workers.batchSize);
    if (!enc.ok) return enc;
    const parts: Uint8Array[] = [];
    const sink = this.backends.sink;
    // Batches of one request run in order, so a request's packets see each other's state changes.
    for (let b = 0; b < enc.tasks.length; b++) {
      // A sink that falls behind makes the request wait (bounded) rather than lose its traces.
      const room = sink.room();
      if (room !== null) {
        const waited = performance.now();
        await room;
        this.metrics.sinkWaits.inc((performance.now() - waited) / 1000);
      }
      // Limited conditions need each trace here (ConditionLimits.admit claims their units and may drop
      // a trace, which its result must then not name): such batches come back as objects. All others
      // come back as JSON text and, for a sink that takes them, encoded traces. (A condition published
      // while a batch is in flight can miss the claim for that batch; the workers' shared counter
      // still holds this daemon to the limit.)
      const limited = this.limits.active();
      const traceOutput = !limited && sink.writeBatch !== undefined ? 'encoded' : 'records';
      const r = await this.pool.run({ ...enc.tasks[b]!, forceTrace, detail: true, json: !limited, traceOutput, nowMs: Date.now() });
      if (!r.ok) return { ok: false, code: 'simulation_failed', message: r.message };
      const res = r.result;
      let traced = 0;
      let part = res.json;
      if (res.encoded !== null) {
        traced = res.encoded.ends.length;
        sink.writeBatch!(res.encoded);
      } else if (res.traces.length > 0) {
        const { keep, dropped } = await this.limits.admit(res.traces, forceTrace);
        for (const rec of keep) {
          sink.write(rec);
          this.log.debug({ traceId: rec.id, conditionIds: rec.conditionIds }, 'packet traced');
        }
        traced = keep.length;
        if (res.details !== null && dropped !== null) {
          // A trace whose every condition had its limit spent elsewhere was not stored: do not name it.
          for (const d of res.details) if (d.traceIds.length > 0) d.traceIds = d.traceIds.filter((id) => !dropped.has(id));
        }
      }
      part ??= Buffer.from(res.details!.map((d) => JSON.stringify(d)).join(','), 'utf8');
      if (traced > 0) this.metrics.traced.inc(traced);
      this.metrics.workerBusy.inc(res.busyMs / 1000);
      this.countResults(res.codes);
      parts.push(part);
    }
    return { ok: true, json: jsonArray(parts) };
  }

  /** The same, parsed: for callers inside the process (tests, tools). */
  async simulate(inputs: readonly unknown[], forceTrace: boolean): Promise<SimulateResults> {
    const r = await this.simulateJson(inputs, forceTrace);
    return r.ok ? { ok: true, results: JSON.parse(r.json.toString('utf8')) as SimulationResultJson[] } : r;
  }

  /** midotrace_simulations_total by result, one inc() per result seen in the batch. */
  private countResults(codes: Uint8Array): void {
    const counts = this.resultCounts;
    counts.fill(0);
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      counts[c < RESULT_NAMES.length ? c : ResultCode.ErrorDrop]! += 1; // UNKNOWN_PORT is an errorDrop
    }
    for (let c = 0; c < RESULT_NAMES.length; c++) {
      if (counts[c]! > 0) this.metrics.simulations.inc({ result: RESULT_NAMES[c]! }, counts[c]!);
    }
  }

  private readonly resultCounts = new Int32Array(RESULT_NAMES.length);

  health(): HealthReport {
    const backends = [
      this.topologySource.health(),
      ...this.backends.health(),
      { name: 'workers', ok: !this.stopping, detail: `${this.pool.threads} threads, ${this.pool.failedBatches} failed batches` },
      this.datapath.health(),
    ];
    return { ok: backends.every((b) => b.ok), hostId: this.hostId, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000), backends };
  }

  apiDeps(panelDir?: string): ApiDeps {
    const deps: ApiDeps = {
      hostId: this.hostId,
      conditions: this.apiConditions(),
      traces: readOwnTraces(this.backends.traces, () => this.backends.sink),
      simulate: (inputs, forceTrace) => this.simulateJson(inputs, forceTrace),
      conditionHits: (id) => this.limits.count(id),
      topology: () => this.doc === null ? null : { version: this.topologyVersion, appliedAt: this.topologyAppliedAt, doc: this.doc },
      health: () => this.health(),
      tracePcap,
      datapath: () => this.datapath.report(),
      sinkStats: () => this.backends.sink.stats(),
      metrics: () => this.metrics.text(),
      observeRequest: (method, route, status, seconds) => this.metrics.requests.observe({ method, route, status: String(status) }, seconds),
      bodyLimitBytes: this.config.api.bodyLimitBytes,
      tokens: this.config.api.tokens,
    };
    if (panelDir !== undefined) deps.panelDir = panelDir;
    return deps;
  }

  /** The condition store as the API sees it: a deleted condition's hit count goes with it. */
  private apiConditions(): ConditionStore {
    const store = this.backends.conditions;
    return {
      list: () => store.list(),
      get: (id) => store.get(id),
      create: (c) => store.create(c),
      put: (id, c) => store.put(id, c),
      delete: async (id) => {
        const existed = await store.delete(id);
        if (existed) await this.limits.forget(id);
        return existed;
      },
      watch: (l) => store.watch(l),
      close: () => store.close(),
    };
  }

  /**
   * Graceful stop: refuse new packets, finish the batches in flight, flush every accepted trace to
   * the sink, close the stores. Resolves when all of it is done.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // Frames in flight are simulated and sent before the pool closes; nothing new is read.
    await this.datapath.stop();
    if (this.server) await this.server.close();
    await this.pool.close();
    this.unwatch?.();
    this.unwatchTopology?.();
    await this.backends.close();
    await this.topologySource.close();
    this.log.info('midotrace daemon stopped');
  }
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** `[` + the batches' comma-separated results joined by commas + `]`, as one buffer. */
function jsonArray(parts: readonly Uint8Array[]): Buffer {
  const pieces: Uint8Array[] = [OPEN];
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) pieces.push(COMMA);
    pieces.push(parts[i]!);
  }
  pieces.push(CLOSE);
  return Buffer.concat(pieces);
}

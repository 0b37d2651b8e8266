// The daemon: configuration → host id → backends → worker pool → API. It owns the order of start-up
// and of shutdown (stop taking packets, drain the pool, flush the sink, close the stores).
import { resolve } from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { loadOrCreateHostId } from './host-id.js';
import { openBackends, type Backends } from './backends.js';
import { StartError } from './errors.js';
import { SimPool } from './pool/pool.js';
import { encodeInputs } from './pool/batch.js';
import { compileTopology } from '../engine/topology/compile.js';
import { readTopologyFile, formatErrors } from '../engine/topology/load.js';
import type { CompiledTopology } from '../engine/topology/compiled.js';
import type { TopologyDoc } from '../engine/topology/doc.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { TraceConditionJson } from '../engine/trace/types.js';
import type { TraceSink } from '../sinks/types.js';
import type { ApiDeps, HealthReport, SimulateOutcome } from '../api/deps.js';
import type { ApiServer } from '../api/server.js';


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
  private topo: CompiledTopology;
  private server: ApiServer | null = null;
  private unwatch: (() => void) | null = null;
  private readonly startedAt = Date.now();
  /** Simulations by result name, for /metrics. */
  readonly counters = { packets: 0, traced: 0, byResult: new Map<string, number>() };

  private constructor(
    readonly config: Readonly<Config>,
    readonly log: Logger,
    readonly hostId: string,
    readonly backends: Backends,
    readonly pool: SimPool,
    topo: CompiledTopology,
  ) { this.topo = topo; }

  static async start(o: DaemonOptions): Promise<Daemon> {
    const { config, log } = o;
    let hostId = config.hostId;
    if (hostId === undefined) {
      const h = loadOrCreateHostId(config.stateDir);
      if (!h.ok) throw new StartError(h.message);
      hostId = h.hostId;
      if (h.created) log.info({ hostId, stateDir: resolve(config.stateDir) }, 'created a new host id');
    }
    const doc = loadTopologyDoc(config);
    const backends = await openBackends(config, hostId, log);
    if (o.wrapSink) backends.sink = o.wrapSink(backends.sink);
    const pool = new SimPool({
      threads: config.workers.threads, hostId, snapshotBytes: config.workers.snapshotBytes,
      maxConditions: config.workers.maxConditions, state: config.state,
    });
    const d = new Daemon(config, log, hostId, backends, pool, compileTopology(doc));
    pool.setTopology(doc);
    d.unwatch = backends.conditions.watch((list) => d.publishConditions(list));
    d.publishConditions(await backends.conditions.list());
    if (!o.noServer) {
      // Loaded only when serving: tests that drive the daemon directly need no HTTP stack.
      const { createApp } = await import('../api/app.js');
      const { startApiServer } = await import('../api/server.js');
      const app = createApp(d.apiDeps(o.panelDir));
      // Unexpected errors (the client already got a 500) go to the log, not to stderr.
      app.on('error', (err: unknown) => log.error({ err }, 'API request failed'));
      d.server = await startApiServer(app, config.listen);
      log.info({ listen: config.listen, port: d.server.port, hostId, threads: pool.threads }, 'midotrace daemon serving');
    }
    return d;
  }

  get port(): number { return this.server?.port ?? 0; }

  private publishConditions(list: TraceConditionJson[]): void {
    try {
      this.pool.setConditions(list);
      this.log.info({ conditions: list.length, enabled: list.filter((c) => c.enabled !== false).length }, 'trace conditions published');
    } catch (e) {
      this.log.error({ err: e }, 'could not publish trace conditions');
    }
  }

  /** Replaces the topology (SIGHUP, ZooKeeper); workers switch before their next batch. */
  setTopology(doc: TopologyDoc): void {
    const topo = compileTopology(doc);
    this.pool.setTopology(doc);
    this.topo = topo;
  }

  /** Re-reads the topology file; an invalid file is refused and the old topology keeps running. */
  reloadTopologyFile(): { ok: true } | { ok: false; message: string } {
    try {
      this.setTopology(loadTopologyDoc(this.config));
      return { ok: true };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  async simulate(inputs: readonly unknown[], forceTrace: boolean, single = false): Promise<SimulateOutcome> {
    if (this.stopping) return { ok: false, code: 'shutting_down', message: 'the daemon is shutting down' };
    const enc = encodeInputs(inputs, this.topo, this.config.workers.batchSize, single);
    if (!enc.ok) return enc;
    const results: SimulationResultJson[] = [];
    // Batches of one request run in order, so a request's packets see each other's state changes.
    for (const task of enc.tasks) {
      const r = await this.pool.run({ ...task, forceTrace, detail: true, nowMs: Date.now() });
      if (!r.ok) return { ok: false, code: 'simulation_failed', message: r.message };
      for (const rec of r.result.traces) this.backends.sink.write(rec);
      this.counters.traced += r.result.traces.length;
      for (const d of r.result.details!) {
        results.push(d);
        this.counters.packets++;
        this.counters.byResult.set(d.result, (this.counters.byResult.get(d.result) ?? 0) + 1);
      }
    }
    return { ok: true, results };
  }

  health(): HealthReport {
    const backends = [
      ...this.backends.health(),
      { name: 'workers', ok: !this.stopping, detail: `${this.pool.threads} threads, ${this.pool.failedBatches} failed batches` },
    ];
    return { ok: backends.every((b) => b.ok), hostId: this.hostId, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000), backends };
  }

  apiDeps(panelDir?: string): ApiDeps {
    const deps: ApiDeps = {
      hostId: this.hostId,
      conditions: this.backends.conditions,
      traces: this.backends.traces,
      simulate: (inputs, forceTrace) => this.simulate(inputs, forceTrace),
      conditionHits: (id) => this.pool.hitsOf(id),
      health: () => this.health(),
      sinkStats: () => this.backends.sink.stats(),
      metrics: async () => this.metricsText(),
      bodyLimitBytes: this.config.api.bodyLimitBytes,
      tokens: this.config.api.tokens,
    };
    if (panelDir !== undefined) deps.panelDir = panelDir;
    return deps;
  }

  private metricsText(): string {
    const s = this.backends.sink.stats();
    const lines = [
      '# HELP midotrace_simulations_total Packets simulated, by result.',
      '# TYPE midotrace_simulations_total counter',
      ...[...this.counters.byResult].map(([r, n]) => `midotrace_simulations_total{result="${r}"} ${n}`),
      '# HELP midotrace_traced_packets_total Packets traced.',
      '# TYPE midotrace_traced_packets_total counter',
      `midotrace_traced_packets_total ${this.counters.traced}`,
      '# HELP midotrace_sink_steps_written_total Trace steps stored.',
      '# TYPE midotrace_sink_steps_written_total counter',
      `midotrace_sink_steps_written_total ${s.stepsWritten}`,
      '# HELP midotrace_sink_steps_lost_total Trace steps lost (queue full or write failed).',
      '# TYPE midotrace_sink_steps_lost_total counter',
      `midotrace_sink_steps_lost_total ${s.stepsLost}`,
      '# HELP midotrace_sink_queue_depth Traces waiting in the sink queue.',
      '# TYPE midotrace_sink_queue_depth gauge',
      `midotrace_sink_queue_depth ${s.queueDepth}`,
      '# HELP midotrace_worker_failed_batches_total Batches lost to a crashed worker.',
      '# TYPE midotrace_worker_failed_batches_total counter',
      `midotrace_worker_failed_batches_total ${this.pool.failedBatches}`,
    ];
    return lines.join('\n') + '\n';
  }

  /**
   * Graceful stop: refuse new packets, finish the batches in flight, flush every accepted trace to
   * the sink, close the stores. Resolves when all of it is done.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.server) await this.server.close();
    await this.pool.close();
    this.unwatch?.();
    await this.backends.close();
    this.log.info('midotrace daemon stopped');
  }
}

function loadTopologyDoc(config: Readonly<Config>): TopologyDoc {
  if (config.topology.source !== 'file') throw new StartError(`topology.source ${config.topology.source} is not available in this build`);
  const r = readTopologyFile(config.topology.file);
  if (!r.ok) throw new StartError(`invalid topology ${config.topology.file}:\n${formatErrors(r.errors)}`);
  return r.doc;
}

// Prometheus metrics, collected in the main thread (prom-client's registry is per thread; workers
// report through their batch results). Counters the daemon increments, and gauges read at scrape time
// from the sink, the pool and the condition store.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SinkStats } from '../model/stores.js';

export interface MetricSources {
  sinkStats(): SinkStats;
  /** Conditions loaded and each one's hit count. */
  conditions(): { id: string; name?: string; hits: number }[];
  failedBatches(): number;
  /** 1 when the named backend is up, 0 when down (ZooKeeper session, sink...). */
  backends(): { name: string; ok: boolean }[];
  /** The live datapath's bound ports and their monotonic counters. */
  datapath(): { name: string; portId: string; rxFrames: number; txFrames: number; dropReasons: Record<string, number> }[];
  /** The tunnels to other hosts, per peer, with monotonic counters. */
  tunnels(): { hostId: string; txFrames: number; rxFrames: number; dropReasons: Record<string, number> }[];
}

/** A counter that catches up, per label set, with monotonic totals read at scrape time. */
function followTotals<L extends string>(c: Counter<L>, seen: Map<string, number>, labels: Record<L, string>, total: number): void {
  const key = JSON.stringify(labels);
  const before = seen.get(key) ?? 0;
  if (total > before) { c.inc(labels, total - before); seen.set(key, total); }
}

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly simulations: Counter<'result'>;
  readonly traced: Counter;
  /** Seconds workers spent simulating; its rate over the thread count is the pool's utilisation. */
  readonly workerBusy: Counter;
  readonly sinkWaits: Counter;
  readonly requests: Histogram<'method' | 'route' | 'status'>;

  constructor(src: MetricSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'midotrace_' });
    this.simulations = new Counter({ name: 'midotrace_simulations_total', help: 'Packets simulated, by result.', labelNames: ['result'], registers: [r] });
    this.traced = new Counter({ name: 'midotrace_traced_packets_total', help: 'Packets traced.', registers: [r] });
    this.workerBusy = new Counter({ name: 'midotrace_worker_busy_seconds_total', help: 'Time worker threads spent simulating batches.', registers: [r] });
    this.sinkWaits = new Counter({ name: 'midotrace_sink_wait_seconds_total', help: 'Time API simulations waited for room in the trace sink\'s queue (backpressure) before simulating a batch.', registers: [r] });
    this.requests = new Histogram({
      name: 'midotrace_api_request_duration_seconds', help: 'API request durations.',
      labelNames: ['method', 'route', 'status'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [r],
    });
    // Monotonic sink counters are kept by the sink; a Counter catches up to them at scrape time.
    const sink = (name: string, help: string, pick: (s: SinkStats) => number): void => {
      let seen = 0;
      new Counter({ name, help, registers: [r], collect() { const v = pick(src.sinkStats()); if (v > seen) { this.inc(v - seen); seen = v; } } });
    };
    sink('midotrace_sink_steps_written_total', 'Trace steps stored.', (s) => s.stepsWritten);
    sink('midotrace_sink_steps_lost_total', 'Trace steps lost (queue full or write failed).', (s) => s.stepsLost);
    sink('midotrace_sink_traces_written_total', 'Traces stored.', (s) => s.tracesWritten);
    sink('midotrace_sink_traces_incomplete_total', 'Traces stored with complete: false.', (s) => s.tracesIncomplete);
    sink('midotrace_sink_traces_lost_total', 'Traces not stored at all.', (s) => s.tracesLost);
    sink('midotrace_sink_write_errors_total', 'Failed backend writes.', (s) => s.writeErrors);
    new Gauge({ name: 'midotrace_sink_queue_depth', help: 'Traces waiting in the sink queue.', registers: [r], collect() { this.set(src.sinkStats().queueDepth); } });
    new Gauge({ name: 'midotrace_trace_conditions', help: 'Trace conditions loaded.', registers: [r], collect() { this.set(src.conditions().length); } });
    new Gauge({
      name: 'midotrace_trace_condition_hits', help: 'Traces started by each condition.', labelNames: ['condition'], registers: [r],
      collect() {
        this.reset();
        for (const c of src.conditions()) this.set({ condition: c.name ?? c.id }, c.hits);
      },
    });
    let failed = 0;
    new Counter({
      name: 'midotrace_worker_failed_batches_total', help: 'Batches lost to a crashed worker (the worker is replaced).', registers: [r],
      collect() { const v = src.failedBatches(); if (v > failed) { this.inc(v - failed); failed = v; } },
    });
    const framesSeen = new Map<string, number>();
    new Counter({
      name: 'midotrace_datapath_frames_total', help: 'Frames received (rx) and sent (tx) on bound ports.', labelNames: ['port', 'direction'], registers: [r],
      collect() {
        for (const p of src.datapath()) {
          const port = p.name || p.portId;
          followTotals(this, framesSeen, { port, direction: 'rx' }, p.rxFrames);
          followTotals(this, framesSeen, { port, direction: 'tx' }, p.txFrames);
        }
      },
    });
    const dropsSeen = new Map<string, number>();
    new Counter({
      name: 'midotrace_datapath_drops_total', help: 'Frames of bound ports dropped, by reason (simulation result or datapath cause).', labelNames: ['port', 'reason'], registers: [r],
      collect() {
        for (const p of src.datapath()) {
          for (const [reason, n] of Object.entries(p.dropReasons)) followTotals(this, dropsSeen, { port: p.name || p.portId, reason }, n);
        }
      },
    });
    const tunnelSeen = new Map<string, number>();
    new Counter({
      name: 'midotrace_tunnel_frames_total', help: 'Frames sent (tx) to and received (rx) from each peer host through its tunnel.', labelNames: ['peer', 'direction'], registers: [r],
      collect() {
        for (const t of src.tunnels()) {
          followTotals(this, tunnelSeen, { peer: t.hostId, direction: 'rx' }, t.rxFrames);
          followTotals(this, tunnelSeen, { peer: t.hostId, direction: 'tx' }, t.txFrames);
        }
      },
    });
    const tunnelDropsSeen = new Map<string, number>();
    new Counter({
      name: 'midotrace_tunnel_drops_total', help: 'Tunnel frames dropped, per peer host and reason.', labelNames: ['peer', 'reason'], registers: [r],
      collect() {
        for (const t of src.tunnels()) for (const [reason, n] of Object.entries(t.dropReasons)) followTotals(this, tunnelDropsSeen, { peer: t.hostId, reason }, n);
      },
    });
    new Gauge({
      name: 'midotrace_backend_up', help: '1 when a backend is reachable.', labelNames: ['backend'], registers: [r],
      collect() {
        this.reset();
        for (const b of src.backends()) this.set({ backend: b.name }, b.ok ? 1 : 0);
      },
    });
  }

  text(): Promise<string> { return this.registry.metrics(); }
}

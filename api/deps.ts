// What the REST API needs from the daemon. The daemon (daemon/service.ts) provides it; tests build it
// from real parts. The API holds no state of its own.
import type { BackendHealth, ConditionStore, SinkStats, TraceStore } from '../model/stores.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { Trace } from '../model/trace.js';

/** One packet of POST /simulations (SPEC §3): fields or a frame, and its ingress port. */
export interface SimulationInput { inPort: string; packet?: unknown; frame?: string }

export type SimulateOutcome =
  /** `json`: the JSON array of the SIMULATION RESULTs (SPEC §4), one per input, in order, as UTF-8. */
  | { ok: true; json: Buffer }
  /** Input `index` is bad; `path` names the field under it (`packet.nwSrc`; '' for the input itself). */
  | { ok: false; code: 'invalid_packet' | 'unknown_port'; index: number; path: string; message: string }
  | { ok: false; code: 'simulation_failed' | 'shutting_down'; message: string };

export type { BackendHealth };

export interface HealthReport {
  ok: boolean;
  hostId: string;
  uptimeSeconds: number;
  backends: BackendHealth[];
}

/** GET /datapath (SPEC §9): the ports bound on this host and what their interfaces carried. */
export interface DatapathReport {
  hostId: string;
  /** Whether frames move: running, or why not (no_permission, disabled, unsupported, no_bound_ports). */
  status: string;
  ports: {
    portId: string; name: string; interfaceName: string; state: 'up' | 'down' | 'missing';
    rxFrames: number; rxBytes: number; txFrames: number; txBytes: number; drops: number;
    dropReasons: Record<string, number>;
  }[];
  /** Per peer host; drops by reason (truncated, bad_header, unknown_key, port_not_here, send_error...). */
  tunnels: { hostId: string; ipAddress: string; txFrames: number; rxFrames: number; drops: number; dropReasons: Record<string, number> }[];
}

export interface TopologyView {
  /** 1 for the topology loaded at start, then one more for each change applied. */
  version: number;
  /** When this version was applied (ISO 8601). */
  appliedAt: string;
  doc: TopologyDoc;
}

export interface ApiDeps {
  hostId: string;
  conditions: ConditionStore;
  traces: TraceStore;
  /**
   * Simulates packets in order through the worker pool; traced ones are written to the sink and
   * their ids returned in each result's traceIds. Inputs are validated (unknown fields, bad values,
   * unknown or interior ports) before anything runs.
   */
  simulate(inputs: readonly unknown[], forceTrace: boolean): Promise<SimulateOutcome>;
  /**
   * Traces started so far by a condition (its `hits`), for the panel and `list trace-condition`: for a
   * condition with a `limit`, the count shared by every host and kept across restarts.
   */
  conditionHits(id: string): Promise<number>;
  /** The topology the workers run, and how many times it was replaced since start; null before the first. */
  topology(): TopologyView | null;
  health(): HealthReport;
  /** The trace as a classic pcap: its packet rebuilt as received, rewritten and emitted, in step order. */
  tracePcap(trace: Trace): Uint8Array;
  /** The live datapath's ports; absent in tests that build the API without a daemon. */
  datapath?(): DatapathReport;
  sinkStats(): SinkStats;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  /** Largest accepted body in bytes (413 beyond). */
  bodyLimitBytes: number;
  /** Bearer tokens; empty means no auth (the daemon then listens on loopback only). */
  tokens: readonly { token: string; role: 'admin' | 'read' }[];
  /** Static files of the control panel, served under /ui/ when present. */
  panelDir?: string;
  /** Told of every answered request (route template, not the raw path), for the duration histogram. */
  observeRequest?(method: string, route: string, status: number, seconds: number): void;
}

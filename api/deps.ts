// What the REST API needs from the daemon. The daemon (daemon/service.ts) provides it; tests build it
// from real parts. The API holds no state of its own.
import type { BackendHealth, ConditionStore, SinkStats, TraceStore } from '../model/stores.js';
import type { SimulationResultJson } from '../model/result.js';

/** One packet of POST /simulations (SPEC §3): fields or a frame, and its ingress port. */
export interface SimulationInput { inPort: string; packet?: unknown; frame?: string }

export type SimulateOutcome =
  | { ok: true; results: SimulationResultJson[] }
  /** `path` names the bad field, e.g. `[3].packet.nwSrc`. */
  | { ok: false; code: 'invalid_packet' | 'unknown_port'; path: string; message: string }
  | { ok: false; code: 'simulation_failed' | 'shutting_down'; message: string };

export type { BackendHealth };

export interface HealthReport {
  ok: boolean;
  hostId: string;
  uptimeSeconds: number;
  backends: BackendHealth[];
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
  health(): HealthReport;
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

// What crosses the thread boundary between the daemon and its simulation workers. Packets travel in
// batches: frames back to back in one transferred buffer, never one message per packet.
import type { SnapshotDescriptor } from './snapshot.js';
import type { SimulationResultJson } from '../../engine/simulator.js';
import type { EncodedTraceBatch, TraceRecord } from '../../model/stores.js';
import type { RouteChange } from '../../engine/topology/compile.js';
import type { SimEmitted as EmittedFrames, SimHeld as HeldFrame, SimTraced } from '../../datapath/types.js';

export interface WorkerInit {
  hostId: string;
  /** The topology document (JSON text, already validated) published by the daemon. */
  topology: SnapshotDescriptor;
  /** Route changes since the last full topology publication (TopologyDeltas as JSON text). */
  topologyDeltas: SnapshotDescriptor;
  /** Enabled trace conditions (PublishedCondition[] as JSON text). */
  conditions: SnapshotDescriptor;
  /** One Int32 hit counter per condition slot, shared by every worker. */
  hits: SharedArrayBuffer;
  /** State tables (MAC, ARP, conntrack, NAT) shared by every worker. */
  state: unknown;
  /** Honour BatchTask.fault (tests of worker crashes only). */
  faultInjection: boolean;
}

/**
 * Route-only changes published after the full document of topology snapshot version `full`: a worker
 * on that version applies the ones it has not (engine recompileRoutes) instead of reading and
 * compiling the whole document again.
 */
export interface TopologyDeltas {
  full: number;
  /** Publications (full or delta) before the full one: the topology version a batch reports. */
  fullPublication: number;
  deltas: RouteChange[];
}

export interface BatchTask {
  /** Frames back to back; frame i is data[offsets[i] .. offsets[i+1]). */
  data: Uint8Array;
  offsets: Int32Array;
  /** Ingress port UUID per frame, or one for the whole batch. */
  ports: string[] | string;
  /** Trace every packet (`?trace=true`), conditions or not. */
  forceTrace: boolean;
  /** Return SPEC §4 JSON per packet (API calls); otherwise only result codes (replay, benchmarks). */
  detail: boolean;
  /**
   * With detail: return the results as JSON text (BatchResult.json) rather than objects, so the
   * daemon sends them on without cloning, parsing or serialising them itself.
   */
  json?: boolean;
  /**
   * 'encoded': traced packets come back as one EncodedTraceBatch (for a sink with writeBatch), so no
   * trace object is cloned across threads; 'records' (default): TraceRecord[].
   */
  traceOutput?: 'records' | 'encoded';
  nowMs: number;
  /** Build every emitted packet as a frame (the live datapath sends them). */
  emit?: boolean;
  /** Live traffic: a packet waiting for ARP is held (BatchResult.held), not answered 3/1 (PacketContext.holdArp). */
  holdArp?: boolean;
  /** With WorkerInit.faultInjection: 'exit' kills the worker thread mid-batch. */
  fault?: 'exit';
}

/** Result code per frame: ResultCode values, or UNKNOWN_PORT when the ingress port is not exterior. */
export const UNKNOWN_PORT = 255;

/** Frames the batch emitted (BatchTask.emit) and frames held for ARP: the datapath's own types, as it reads them. */
export type { EmittedFrames, HeldFrame, SimTraced };

export interface BatchResult {
  codes: Uint8Array;
  emitted?: EmittedFrames;
  held?: HeldFrame[];
  /** With BatchTask.emit: the traced packets (their frames may cross a tunnel with the trace bit). */
  traced?: SimTraced[];
  /** Traced packets, in batch order, for the daemon to hand to its sink (traceOutput 'records'). */
  traces: TraceRecord[];
  /** The same, encoded in one string (traceOutput 'encoded'); null when nothing was traced. */
  encoded: EncodedTraceBatch | null;
  details: SimulationResultJson[] | null;
  /** With BatchTask.json: the SPEC §4 result of each packet as JSON (UTF-8), comma-separated, in order. */
  json: Uint8Array | null;
  /** Versions the batch ran against, so the daemon can tell when workers caught up with a change. */
  topologyVersion: number;
  conditionsVersion: number;
  /** The worker thread that ran the batch (tests check that state is shared across threads). */
  threadId: number;
  /**
   * Milliseconds the worker spent simulating this batch (after picking up snapshot changes): the
   * pool's busy time, for the utilisation metric and for benchmarks that must not count dispatch.
   */
  busyMs: number;
}

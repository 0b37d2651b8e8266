// What crosses between the daemon's main thread and the live datapath's thread (datapath-thread.ts).
// Frames never do: only bindings one way, and counters, traces to store and log lines the other.
import type { DatapathStatus } from '../datapath/datapath.js';
import type { TraceContext, TunnelStats } from '../datapath/tunnel.js';
import type { TunnelPeer, TunnelPlan } from '../datapath/tunnel-plan.js';
import type { Binding, PortStats } from '../datapath/types.js';
import type { EncodedTraceBatch, TraceRecord } from '../model/stores.js';
import type { WorkerInit } from './pool/protocol.js';

/** flags[0]: traces may come back encoded for the sink (it has writeBatch and no limit is in force). */
export const FLAG_ENCODED = 1;

export interface DatapathThreadInit {
  /** The pool's snapshots and state tables: the thread simulates on the same ones. */
  sim: WorkerInit;
  /** Int32 flags the main thread sets (FLAG_ENCODED at index 0). */
  flags: SharedArrayBuffer;
  bindings: Binding[];
  plan: TunnelPlan | null;
  batchFrames: number;
  arpRetryMs: number;
  arpTimeoutMs: number;
  holdPerNextHop: number;
  tunnelPort: number;
  /** How often the thread reports its counters. */
  statsMs: number;
  /** Honour ToDatapath 'fault' (tests of a failing datapath thread only). */
  faultInjection: boolean;
}

export interface TracedArrival { portId: string; trace: TraceContext; from: TunnelPeer; key: number; delivered: boolean; interfaceName: string }

export type ToDatapath =
  | { t: 'bind'; bindings: Binding[]; plan: TunnelPlan | null }
  | { t: 'stop' }
  /** With faultInjection: an error escapes on the thread. */
  | { t: 'fault' };

export type FromDatapath =
  | { t: 'log'; level: 'info' | 'warn' | 'error'; obj: object; msg: string }
  | { t: 'traces'; encoded: EncodedTraceBatch }
  | { t: 'records'; traces: TraceRecord[] }
  | { t: 'arrival'; a: TracedArrival }
  | {
    t: 'stats'; status: DatapathStatus; ports: PortStats[]; tunnels: TunnelStats[]; held: number;
    /** Results since the last stats message, by ResultCode (unknown port counted as errorDrop). */
    counts: number[];
    busyMs: number;
  };

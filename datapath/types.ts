// What the datapath asks of whoever simulates (the daemon's worker pool), and what it reports. The
// datapath owns frames and sockets; it knows nothing of workers, sinks or the API.

/** A port bound on this host (SPEC §2): its frames come and go on `interfaceName`. */
export interface Binding { portId: string; name: string; interfaceName: string }

/** A batch of frames to simulate, back to back in `data` (shared memory: nothing is copied to a worker). */
export interface SimRequest {
  data: Uint8Array;
  /** Frame i is data[offsets[i] .. offsets[i+1]); offsets has count + 1 entries. */
  offsets: Int32Array;
  count: number;
  /** Ingress port per frame, or one for all. */
  ports: string[] | string;
  /** Hold packets waiting for ARP instead of answering 3/1 (false once the hold timed out). */
  holdArp: boolean;
}

/** Frames a batch emitted, back to back in emission order: views of the simulator's buffers, valid until its next batch. */
export interface SimEmitted {
  count: number;
  data: Uint8Array;
  /** Frame i is data[offsets[i] .. offsets[i+1]). */
  offsets: Int32Array;
  /** Egress port of frame i, as an index into portIds (the batch's distinct egress ports). */
  port: Uint16Array;
  portIds: string[];
  /** Index in the batch of the frame whose simulation emitted frame i. */
  src: Int32Array;
  /** 1 for answers and ICMP errors the network generated. */
  generated: Uint8Array;
}

/** A frame held for ARP: `routerId` waits for the MAC of `nextHop` (an IPv4 address as a number). */
export interface SimHeld { index: number; routerId: string; nextHop: number }

/**
 * A traced packet of the batch (emitting batches only): what the host its frames tunnel to needs to
 * record its own steps in the same trace (SPEC §10).
 */
export interface SimTraced { index: number; traceId: string; conditionIds: readonly string[]; steps: number }

export interface SimReply {
  /** ResultCode per frame (0 forward, 1 drop, 2 shortDrop, 3 errorDrop, 4 consumed; 255 unknown port). */
  codes: Uint8Array;
  emitted: SimEmitted | undefined;
  held: SimHeld[] | undefined;
  traced?: SimTraced[] | undefined;
}

/** Simulates on the datapath's own thread; null when the batch could not run (its frames are dropped). */
export type SimulateBatch = (req: SimRequest) => SimReply | null;

export type PortState = 'up' | 'down' | 'missing';

export interface PortStats {
  portId: string;
  name: string;
  interfaceName: string;
  state: PortState;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  drops: number;
  /** drops by reason: a simulation result (drop, shortDrop, errorDrop) or a datapath cause. */
  dropReasons: Record<string, number>;
}

/** pino's shape, the part the datapath uses. */
export interface DatapathLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

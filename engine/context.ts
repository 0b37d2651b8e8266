// One PacketContext per simulation thread, reset for every packet (MidoNet's PacketContext). It holds
// the working packet, the traversal bookkeeping, the emitted packets and, for traced packets only,
// the recorded steps. Nothing here allocates per packet once warmed up.
import { Packet } from './packet.js';
import { ForkStack } from './fork-stack.js';
import { Layers } from './wire/parse.js';
import { ResultCode, type Reason } from '../model/result.js';
import type { CompiledTopology } from './topology/compiled.js';
import type { SimStateTables } from './state/types.js';
import type { TraceStep } from '../model/step.js';
import { StepLog, type StepRender } from './trace/step-log.js';

/** MidoNet's MaxDevicesTraversed: a simulation that enters more devices than this is an errorDrop. */
export const MAX_DEVICES_TRAVERSED = 12;

/** Decides whether a packet is traced (P2's shared-memory condition snapshot implements it). */
export interface TraceMatcher {
  /** Some condition matches on forward/return flow, so every packet's flow state must be known. */
  readonly tracksFlows: boolean;
  /** True when any condition is device-scoped to this global device number (cheap array read). */
  scopedAt(device: number): boolean;
  /** Tested once the ingress port is known; on a match, push the condition ids into ctx.conditionIds. */
  matchAtIngress(ctx: PacketContext): boolean;
  /**
   * Tested where the packet enters a device that scopedAt() flagged (a match on an untraced packet
   * restarts the simulation, traced, from the ingress port). May be called again for the same packet
   * after a restart: implementations record each condition once per packet (and count its
   * `limit` once).
   */
  matchAtDevice(ctx: PacketContext, device: number): boolean;
}

/**
 * Source of PacketContext.packetSerial: one counter per thread, so contexts never share a serial. An
 * object property rather than a module variable: past 2^31 V8 keeps a property's double in place,
 * while a module variable would get a new heap number on every packet.
 */
const packetSerials = { next: 0 };

export class PacketContext {
  topo: CompiledTopology;
  readonly state: SimStateTables;
  hostId = '';

  /** The packet as it moves through the network, rewritten by NAT, TTL, MAC rewrite, VLAN push/pop. */
  readonly pkt = new Packet();
  /** The packet as it arrived at the ingress port (conditions and the trace's match refer to it). */
  readonly origPkt = new Packet();
  /** How much of origPkt came from the packet (less for a malformed frame): what a trace's match shows. */
  origLayers: Layers = Layers.All;
  /**
   * The packet as the current router received it (Midolman's preRoutingMatch): what its ICMP errors
   * quote and whom they go to. Taken only when a NAT rule is about to rewrite the packet inside the
   * router (preRoutingTaken); until then ctx.pkt itself is that packet (the router decrements the TTL
   * last). A copy per routed packet would cost time, and in V8 its 48-bit MAC fields may box.
   */
  readonly preRouting = new Packet();
  preRoutingTaken = false;

  /** Exterior port where the packet entered. */
  ingressPort = -1;
  /** Port through which the current device received the packet (-1 for generated packets). */
  inPort = -1;
  /** Port the current device chose to send out of, -1 until chosen (outPorts conditions). */
  outPort = -1;
  devicesTraversed = 0;
  /** traversedDevice conditions: a mark per global device number, cleared from `traversedList`. */
  traversed: Uint8Array;
  /** Devices marked so far (a typed array plus a count: an Array emptied per packet would reallocate). */
  traversedList = new Int32Array(64);
  traversedCount = 0;

  /**
   * Wall-clock milliseconds of this packet. Deliberately created holding a non-number so V8 keeps the
   * field tagged: every state-table call passes ctx.nowMs along, and a tagged field hands on the one
   * boxed number it holds, where an unboxed double field would be re-boxed (allocated) on each call.
   */
  nowMs: number = undefined as unknown as number;
  /** Set by the router's next-hop resolution (a field, so the 48-bit MAC is never boxed). */
  nextHopMac = 0;
  /**
   * Live traffic (the datapath): a next hop with no known MAC holds the packet instead of answering
   * ICMP 3/1 at once; the router leaves the next hop in heldRouter/heldNextHop for the caller to
   * re-simulate the packet when the ARP reply arrives (Midolman's NotYetException + WaitingRoom).
   */
  holdArp = false;
  /** Router (index) and next-hop address the packet waits for; -1 when not held. */
  heldRouter = -1;
  heldNextHop = 0;
  /** Per-flow hash for ECMP; computed from the 5-tuple at ingress. */
  flowHash = 0;

  /**
   * True when some rule of the topology matches on forward/return flow: then every packet's flow state
   * is looked up at ingress, so forward packets are tracked even where no rule on their own path asks
   * (the rule that cares may sit on the reply's path). Set by the Simulator per topology.
   */
  tracksFlows = false;
  /** Connection tracking, computed lazily by the rules layer: -1 unknown, 0 return flow, 1 forward flow. */
  forwardFlow = -1;
  /** A DNAT rule rewrote the destination (matchNwDstRewritten). */
  nwDstRewritten = false;

  /** The merged result of every branch so far (see finish() in devices/disposition.ts). */
  result: ResultCode = ResultCode.Drop;
  reason: Reason = 'none';
  resultSet = false;

  /** Emitted packets: emitPorts[i] out of emitPkts[i]; emitGenerated[i] for answers and ICMP errors. */
  emitCount = 0;
  emitPorts = new Int32Array(16);
  emitGenerated = new Uint8Array(16);
  emitPkts: Packet[] = [];

  /** Flood branches waiting to run (see fork-stack.ts). */
  readonly forks = new ForkStack();

  /** True while simulating a generated packet (its emits are marked generated). */
  generating = false;
  /** Generated packets waiting to be simulated from the egress of genPorts[i]. */
  genCount = 0;
  genPorts = new Int32Array(8);
  genPkts: Packet[] = [];

  // Tracing. `traced` is the one branch every recording site tests.
  traced = false;
  forceTrace = false;
  matcher: TraceMatcher | null = null;
  /**
   * Unique per packet within the thread (set by begin(), kept across a traced restart): matchers
   * record a condition once per packet by it.
   */
  packetSerial = 0;
  /**
   * 0 when the caller screened the frame with the matcher (ConditionMatcher.screenBatch) and no condition
   * can match at ingress, so simulate() skips matchAtIngress; 1 (the default) to test as usual.
   */
  ingressScreen = 1;
  readonly conditionIds: string[] = [];
  /** The packet's steps as recorded (rendered on reading `steps`). */
  readonly log = new StepLog();
  private firstStepAtMs = 0;
  /** `steps` as last rendered, until the next step or packet. */
  private rendered: TraceStep[] | null = null;

  /** Scratch words for state table keys and values, shared by every device (single-threaded). */
  readonly key = new Int32Array(8);
  readonly val = new Int32Array(4);
  readonly out = new Int32Array(4);

  constructor(topo: CompiledTopology, state: SimStateTables) {
    this.topo = topo;
    this.state = state;
    this.traversed = new Uint8Array(topo.deviceCount);
  }

  /** Swap in a new topology version between packets. */
  setTopology(topo: CompiledTopology): void {
    this.topo = topo;
    this.log.release();
    this.rendered = null;
    if (this.traversed.length < topo.deviceCount) this.traversed = new Uint8Array(topo.deviceCount);
    else this.traversed.fill(0);
    this.traversedCount = 0;
  }

  /** Clears per-packet state; `pkt` is left for the caller to fill. */
  begin(nowMs: number): void {
    this.nowMs = nowMs;
    this.packetSerial = ++packetSerials.next;
    this.ingressScreen = 1;
    this.ingressPort = -1;
    this.resetRun();
    this.traced = this.forceTrace;
    if (this.conditionIds.length !== 0) this.conditionIds.length = 0; // setting length is a slow runtime call
    if (this.log.count !== 0) this.log.clear();
    this.rendered = null;
  }

  /**
   * Back to the state right after ingress, keeping the clock, the ingress port and the matched
   * condition ids: used when a device-scoped condition asks for a traced re-run.
   */
  rewind(): void {
    this.resetRun();
    this.pkt.copyFrom(this.origPkt);
    this.log.clear();
    this.rendered = null;
  }

  /** What one run through the network leaves behind: traversal, flow state, result, emits. */
  private resetRun(): void {
    this.inPort = -1;
    this.outPort = -1;
    this.devicesTraversed = 0;
    this.clearTraversed();
    this.forwardFlow = -1;
    this.nwDstRewritten = false;
    this.result = ResultCode.Drop;
    this.reason = 'none';
    this.resultSet = false;
    this.heldRouter = -1;
    this.emitCount = 0;
    this.genCount = 0;
    this.generating = false;
    this.forks.clear();
  }

  markTraversed(device: number): void {
    if (this.traversed[device] === 0) {
      this.traversed[device] = 1;
      if (this.traversedCount === this.traversedList.length) {
        const grown = new Int32Array(this.traversedCount * 2);
        grown.set(this.traversedList);
        this.traversedList = grown;
      }
      this.traversedList[this.traversedCount++] = device;
    }
  }

  private clearTraversed(): void {
    const list = this.traversedList;
    for (let i = 0; i < this.traversedCount; i++) this.traversed[list[i]!] = 0;
    this.traversedCount = 0;
  }

  /** Record a packet leaving the virtual network through exterior port `port`. */
  emit(port: number, pkt: Packet): void {
    const n = this.emitCount;
    if (n === this.emitPorts.length) {
      const ports = new Int32Array(n * 2); ports.set(this.emitPorts); this.emitPorts = ports;
      const gen = new Uint8Array(n * 2); gen.set(this.emitGenerated); this.emitGenerated = gen;
    }
    if (n === this.emitPkts.length) this.emitPkts.push(new Packet());
    this.emitPorts[n] = port;
    this.emitGenerated[n] = this.generating ? 1 : 0;
    this.emitPkts[n]!.copyFrom(pkt);
    this.emitCount = n + 1;
  }

  /**
   * Queue a generated packet (ARP reply, echo reply, ICMP error) to leave through port `port` once the
   * current simulation ends; returns the cleared packet for the caller to fill.
   */
  generate(port: number): Packet {
    const n = this.genCount;
    if (n === this.genPorts.length) {
      const ports = new Int32Array(n * 2); ports.set(this.genPorts); this.genPorts = ports;
    }
    if (n === this.genPkts.length) this.genPkts.push(new Packet());
    const p = this.genPkts[n]!;
    p.reset();
    this.genPorts[n] = port;
    this.genCount = n + 1;
    return p;
  }

  /**
   * Record one trace step, made by one of model/step.ts's Step constructors. Call only under
   * `if (ctx.traced)` so untraced packets build no step and no text. Steps traced packets take
   * often are recorded with `later` instead, which builds nothing.
   */
  step(s: TraceStep): void {
    this.stamp();
    this.log.addBuilt(s);
  }

  /**
   * Record one trace step as its render function and the values it needs (see StepLog): nothing is
   * built unless the steps are read. Under `if (ctx.traced)`, like `step`.
   */
  later<A, B, C, D = null>(fn: StepRender<A, B, C, D>, a: A, b: B, c: C, x: number, y: number, z: number, d: D = null as D): void {
    this.stamp();
    this.log.add(fn, a, b, c, x, y, z, d);
  }

  /** The packet's steps so far, numbered, at their time: an array the caller may keep. */
  get steps(): TraceStep[] {
    return this.rendered ??= this.log.render(this.firstStepAtMs);
  }

  /** The time of the packet's first step, which its later steps carry too. */
  get stepsAtMs(): number { return this.firstStepAtMs; }

  private stamp(): void {
    // One clock read a packet: its simulation takes microseconds, so every step's millisecond is the
    // first's (reading the clock per step was a tenth of the cost of recording them).
    if (this.log.count === 0) this.firstStepAtMs = Date.now();
    this.rendered = null;
  }
}

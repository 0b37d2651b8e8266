// The live datapath (SPEC §9): frames arriving on bound interfaces enter the virtual network at their
// port; what the simulation emits on a bound port leaves on its interface. Frames are read in batches
// (recvmmsg), staged back to back and simulated on this same thread, one batch at a time (so a flow
// keeps its order); what they emit goes out in batches (sendmmsg). Packets waiting for ARP are held
// here (arp-hold.ts), not in the engine.
import { copyBytes } from '../engine/wire/bytes.js';
import { ArpHold, type HeldPacket } from './arp-hold.js';
import { arpSender, writeVnetHdr } from './frame-info.js';
import { EACCES, EPERM, pollReadable, unsupportedPlatform, libc, AF_PACKET, SOCK_RAW, SOCK_CLOEXEC, ETH_P_ALL_BE } from './libc.js';
import { linkInfo } from './link-state.js';
import { BATCH, PacketSocket, RxRing, TxRing, VNET_HDR_LEN } from './packet-socket.js';
import type { Binding, DatapathLog, PortState, PortStats, SimEmitted, SimReply, SimTraced, SimulateBatch } from './types.js';
import { Tunnel, type TraceContext, type TunnelStats } from './tunnel.js';
import type { TunnelPeer } from './tunnel-plan.js';
import type { TunnelPlan } from './tunnel-plan.js';

export interface DatapathOptions {
  log: DatapathLog;
  simulate: SimulateBatch;
  /** Most frames per batch. */
  batchFrames: number;
  arpRetryMs: number;
  arpTimeoutMs: number;
  /** Packets held per next hop while its ARP is unanswered. */
  holdPerNextHop: number;
  /** How often links are checked (missing / down / up / re-created). */
  linkPollMs?: number;
  /** UDP port of the VXLAN tunnels to other hosts (SPEC §10). */
  tunnelPort: number;
  /**
   * A traced packet came through a tunnel for a port bound here: the daemon records this host's steps
   * in its trace. `delivered` says whether it went out on the interface.
   */
  onTracedArrival?(a: { portId: string; trace: TraceContext; from: TunnelPeer; key: number; delivered: boolean; interfaceName: string }): void;
}

/** Why the datapath is not moving frames, or 'running'. */
export type DatapathStatus = 'running' | 'no_permission' | 'unsupported' | 'stopped';

const RESULT_DROP = ['', 'drop', 'shortDrop', 'errorDrop'];
const STAGE_BYTES = 4 * 1024 * 1024;

class Port {
  state: PortState = 'missing';
  sock: PacketSocket | null = null;
  poll: { close(): void } | null = null;
  tx: TxRing | null = null;
  rxFrames = 0; rxBytes = 0; txFrames = 0; txBytes = 0; drops = 0;
  readonly dropReasons = new Map<string, number>();
  openError = '';
  dirty = false;

  constructor(public binding: Binding) {}

  drop(reason: string, n = 1): void {
    this.drops += n;
    this.dropReasons.set(reason, (this.dropReasons.get(reason) ?? 0) + n);
  }
}

/** The frames of the batch being gathered, back to back as the simulator reads them. */
class Stage {
  readonly data: Uint8Array;
  readonly offsets: Int32Array;
  readonly ports: (Port | null)[];
  readonly gsoType: Uint8Array;
  readonly gsoSize: Uint16Array;
  count = 0;
  used = 0;

  constructor(readonly maxFrames: number) {
    this.data = new Uint8Array(STAGE_BYTES);
    this.offsets = new Int32Array(maxFrames + 1);
    this.ports = new Array<Port | null>(maxFrames).fill(null);
    this.gsoType = new Uint8Array(maxFrames);
    this.gsoSize = new Uint16Array(maxFrames);
  }

  fits(len: number): boolean { return this.count < this.maxFrames && this.used + len <= STAGE_BYTES; }
}

export class Datapath {
  private readonly ports = new Map<string, Port>();
  private readonly stage: Stage;
  private readonly rx = new RxRing(BATCH);
  private readonly hold: ArpHold;
  private timer: NodeJS.Timeout | null = null;
  private readonly dirtyPorts: Port[] = [];
  private tunnel: Tunnel | null = null;
  /** Ports that tunnel arrivals were queued on, flushed together once the datagrams of this turn are in. */
  private readonly tunnelDirty: Port[] = [];
  private tunnelFlush: NodeJS.Immediate | null = null;
  status: DatapathStatus = 'stopped';
  statusMessage = '';

  private constructor(private readonly o: DatapathOptions) {
    this.stage = new Stage(Math.max(1, o.batchFrames));
    this.hold = new ArpHold(o.holdPerNextHop, o.arpRetryMs, o.arpTimeoutMs);
  }

  /**
   * Starts the datapath, or explains (status, statusMessage; logged once) why it cannot move frames
   * here: an unsupported platform, or no CAP_NET_RAW. Everything else in the daemon serves either way.
   */
  static start(o: DatapathOptions, bindings: readonly Binding[]): Datapath {
    const why = unsupportedPlatform();
    if (why !== null) return Datapath.inert(o, 'unsupported', why, bindings);
    const c = libc();
    const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, ETH_P_ALL_BE);
    if (fd < 0) {
      const e = c.errno();
      if (e === EPERM || e === EACCES) {
        return Datapath.inert(o, 'no_permission', 'the live datapath needs root or CAP_NET_RAW: bound ports carry no traffic (everything else serves)', bindings);
      }
      return Datapath.inert(o, 'unsupported', `the live datapath cannot open an AF_PACKET socket: ${c.strerror(e)}`, bindings);
    }
    c.close(fd);
    const d = new Datapath(o);
    d.status = 'running';
    d.setBindings(bindings);
    d.timer = setInterval(() => d.tick(), o.linkPollMs ?? 500);
    d.timer.unref();
    return d;
  }

  /** A datapath that moves nothing (and allocates no native buffers); its ports show as down. */
  private static inert(o: DatapathOptions, status: DatapathStatus, message: string, bindings: readonly Binding[]): Datapath {
    o.log.warn({ status }, message);
    const d = Object.create(Datapath.prototype) as Datapath;
    Object.assign(d, { ports: new Map(), stage: null, hold: new ArpHold(1, 1, 1), timer: null, dirtyPorts: [], tunnel: null, tunnelDirty: [], tunnelFlush: null, o, status, statusMessage: message });
    d.setBindings(bindings);
    for (const p of d.ports.values()) p.state = 'down';
    return d;
  }

  /** Rebinds to a new set of bound ports (topology change): new ones open, gone ones close. */
  setBindings(bindings: readonly Binding[]): void {
    const next = new Map(bindings.map((b) => [b.portId, b]));
    for (const [id, p] of this.ports) {
      const b = next.get(id);
      if (b === undefined || b.interfaceName !== p.binding.interfaceName) { this.closePort(p); this.ports.delete(id); }
    }
    for (const b of bindings) {
      const p = this.ports.get(b.portId);
      if (p !== undefined) { p.binding = b; continue; }
      const np = new Port(b);
      this.ports.set(b.portId, np);
      if (this.status === 'running') this.checkLink(np);
      else np.state = 'down';
    }
  }

  stats(): PortStats[] {
    const out: PortStats[] = [];
    for (const p of this.ports.values()) {
      out.push({
        portId: p.binding.portId, name: p.binding.name, interfaceName: p.binding.interfaceName, state: p.state,
        rxFrames: p.rxFrames, rxBytes: p.rxBytes, txFrames: p.txFrames, txBytes: p.txBytes, drops: p.drops,
        dropReasons: Object.fromEntries(p.dropReasons),
      });
    }
    return out;
  }

  get heldPackets(): number { return this.hold.size; }

  /** The tunnel zones of a new topology: where frames for other hosts' ports go (SPEC §10). */
  setTunnelPlan(plan: TunnelPlan): void {
    if (this.status !== 'running') return;
    if (this.tunnel === null) {
      if (plan.self === null) return;
      this.tunnel = new Tunnel(plan, this.o.tunnelPort, this.o.log, (portId, frame, trace, from, key, gsoType, gsoSize) => {
        const delivered = this.fromTunnel(portId, frame, gsoType, gsoSize);
        if (trace !== null) {
          this.o.onTracedArrival?.({ portId, trace, from, key, delivered, interfaceName: this.ports.get(portId)?.binding.interfaceName ?? '' });
          return true; // recorded either way: a drop here is in the trace, not a tunnel drop
        }
        return delivered;
      });
    } else this.tunnel.applyPlan(plan);
  }

  tunnelStats(): TunnelStats[] { return this.tunnel?.stats() ?? []; }

  /** A frame another host sent for a port bound here: out on its interface with the next flush. */
  private fromTunnel(portId: string, frame: Uint8Array, gsoType: number, gsoSize: number): boolean {
    const p = this.ports.get(portId);
    if (p === undefined || p.sock === null || p.tx === null || p.state !== 'up') return false;
    const tx = p.tx;
    if (!tx.fits(frame.length)) {
      this.flush(p);
      if (!tx.fits(frame.length)) { p.drop('too_big'); return true; }
    }
    const at = tx.reserve(frame.length);
    tx.data.bytes.set(frame, at + VNET_HDR_LEN);
    writeVnetHdr(tx.data.bytes, at, frame.length, gsoType, gsoSize);
    if (!p.dirty) { p.dirty = true; this.tunnelDirty.push(p); }
    this.tunnelFlush ??= setImmediate(() => {
      this.tunnelFlush = null;
      for (const q of this.tunnelDirty) { this.flush(q); q.dirty = false; }
      this.tunnelDirty.length = 0;
    });
    return true;
  }

  private tick(): void {
    for (const p of this.ports.values()) {
      this.checkLink(p);
      // Overload shows only here: frames the kernel dropped because the socket's queue was full.
      const k = p.sock?.kernelDrops() ?? 0;
      if (k > 0) p.drop('kernel_queue_full', k);
    }
    if (this.hold.size === 0) return;
    const { expired, retry } = this.hold.tick(Date.now());
    if (expired.length > 0) this.resimulate(expired, false);
    if (retry.length > 0) this.resimulate(retry, true);
  }

  private checkLink(p: Port): void {
    const info = linkInfo(p.binding.interfaceName);
    if (p.sock !== null && (info.state === 'missing' || info.ifindex !== p.sock.ifindex)) {
      // Gone, or deleted and re-created under the same name: the old socket is bound to a dead ifindex.
      this.closePort(p);
    }
    if (p.sock === null && info.state !== 'missing') {
      const r = PacketSocket.open(p.binding.interfaceName);
      if (r.ok) {
        p.sock = r.socket;
        p.tx ??= new TxRing();
        p.poll = pollReadable(r.socket.fd, () => this.onReadable(p));
        p.openError = '';
      } else if (r.message !== p.openError) {
        p.openError = r.message;
        this.o.log.warn({ portId: p.binding.portId, interfaceName: p.binding.interfaceName }, `cannot bind port: ${r.message}`);
      }
    }
    if (info.state !== p.state) {
      this.o.log.info({ portId: p.binding.portId, interfaceName: p.binding.interfaceName, from: p.state, to: info.state }, 'bound port state changed');
      p.state = info.state;
    }
  }

  private closePort(p: Port): void {
    p.poll?.close();
    p.poll = null;
    p.sock?.close();
    p.sock = null;
  }

  /** Reads what the socket holds (a few batches at most, so one busy port cannot starve the loop). */
  private onReadable(p: Port): void {
    const sock = p.sock;
    if (sock === null) return;
    const ring = this.rx;
    const bytes = ring.data.bytes;
    const view = ring.data.view;
    for (let round = 0; round < 8; round++) {
      const n = sock.recv(ring);
      if (n < 0) { p.drop('receive_error'); break; }
      for (let i = 0; i < n; i++) {
        const at = ring.slotOffset(i);
        const len = ring.length(i) - VNET_HDR_LEN;
        if (len <= 0) continue;
        p.rxFrames++;
        p.rxBytes += len;
        const off = at + VNET_HDR_LEN;
        const st = this.stage;
        // Full: simulated now, which empties it (a frame is at most 64 KB, the stage 4 MB).
        if (!st.fits(len)) this.runBatch();
        const k = st.count;
        st.offsets[k] = st.used;
        copyBytes(bytes, off, st.data, st.used, len);
        st.used += len;
        st.ports[k] = p;
        st.gsoType[k] = view.getUint8(at + 1);
        st.gsoSize[k] = view.getUint16(at + 4, true);
        st.count = k + 1;
      }
      if (n < ring.slots) break;
    }
    this.runBatch();
  }

  /** Simulates the staged frames, sends what they emitted and empties the stage. */
  private runBatch(): void {
    const st = this.stage;
    if (st.count === 0) return;
    const n = st.count;
    st.offsets[n] = st.used;
    const first = st.ports[0]!;
    let ports: string[] | string = first.binding.portId;
    for (let i = 1; i < n; i++) {
      if (st.ports[i] !== first) { ports = st.ports.slice(0, n).map((q) => q!.binding.portId); break; }
    }
    let r: SimReply | null;
    try {
      r = this.o.simulate({ data: st.data, offsets: st.offsets.subarray(0, n + 1), count: n, ports, holdArp: true });
    } catch (e) {
      this.o.log.error({ err: e }, 'datapath batch failed');
      r = null;
    }
    this.completed(st, r);
  }

  private completed(st: Stage, r: SimReply | null): void {
    const n = st.count;
    if (r === null) {
      for (let i = 0; i < n; i++) st.ports[i]!.drop('simulation_failed');
    } else {
      const codes = r.codes;
      for (let i = 0; i < n; i++) {
        const c = codes[i]!;
        if (c >= 1 && c <= 3) st.ports[i]!.drop(RESULT_DROP[c]!);
        else if (c === 255) st.ports[i]!.drop('unknown_port');
      }
      if (r.emitted !== undefined) this.sendEmitted(r.emitted, st.gsoType, st.gsoSize, r.traced);
      if (r.held !== undefined) {
        const now = Date.now();
        for (const h of r.held) {
          const off = st.offsets[h.index]!;
          const frame = st.data.slice(off, st.offsets[h.index + 1]!);
          const pkt: HeldPacket = { portId: st.ports[h.index]!.binding.portId, frame, gsoType: st.gsoType[h.index]!, gsoSize: st.gsoSize[h.index]!, since: now };
          this.holdPacket(h.routerId, h.nextHop, pkt, now);
        }
      }
      // An ARP frame from an address someone waits for may have taught its router the MAC.
      if (this.hold.size > 0) {
        for (let i = 0; i < n; i++) {
          const off = st.offsets[i]!;
          const ip = arpSender(st.data, off, st.offsets[i + 1]! - off);
          if (ip < 0) continue;
          const ready = this.hold.takeFor(ip);
          if (ready !== null) this.resimulate(ready, true);
        }
      }
    }
    for (let i = 0; i < n; i++) st.ports[i] = null;
    st.count = 0;
    st.used = 0;
  }

  private holdPacket(routerId: string, nextHop: number, pkt: HeldPacket, now: number): void {
    if (!this.hold.add(routerId, nextHop >>> 0, pkt, now)) this.ports.get(pkt.portId)?.drop('arp_hold_full');
  }

  /** Simulates held packets again: holding still (an ARP reply came, or a retry) or not (timed out). */
  private resimulate(list: HeldPacket[], holdArp: boolean): void {
    let total = 0;
    for (const h of list) total += h.frame.length;
    const data = new Uint8Array(total);
    const offsets = new Int32Array(list.length + 1);
    let off = 0;
    list.forEach((h, i) => { offsets[i] = off; data.set(h.frame, off); off += h.frame.length; });
    offsets[list.length] = off;
    const gsoType = Uint8Array.from(list, (h) => h.gsoType);
    const gsoSize = Uint16Array.from(list, (h) => h.gsoSize);
    let r: SimReply | null;
    try {
      r = this.o.simulate({ data, offsets, count: list.length, ports: list.map((h) => h.portId), holdArp });
    } catch (e) {
      this.o.log.error({ err: e }, 'datapath re-simulation failed');
      return;
    }
    if (r === null) return;
    // Used at once: emitted frames are views of the simulator's buffers.
    if (r.emitted !== undefined) this.sendEmitted(r.emitted, gsoType, gsoSize, r.traced);
    const now = Date.now();
    const held = r.held ?? [];
    // Still waiting: held again, keeping the time of the first try.
    for (const h of held) this.holdPacket(h.routerId, h.nextHop, list[h.index]!, now);
    const codes = r.codes;
    list.forEach((h, i) => { const c = codes[i]!; if (c >= 1 && c <= 3 && !held.some((x) => x.index === i)) this.ports.get(h.portId)?.drop(RESULT_DROP[c]!); });
  }

  private sendEmitted(em: SimEmitted, gsoType: Uint8Array, gsoSize: Uint16Array, traced: SimTraced[] | undefined): void {
    const portFor: (Port | undefined)[] = em.portIds.map((id) => this.ports.get(id));
    // Traced packets are few: their contexts are looked up only for frames that cross a tunnel.
    const contexts = traced === undefined || this.tunnel === null ? null
      : new Map(traced.map((x) => [x.index, { traceId: x.traceId, conditionIds: x.conditionIds, steps: x.steps, hostId: this.tunnel!.hostId }]));
    for (let i = 0; i < em.count; i++) {
      const p = portFor[em.port[i]!];
      const off = em.offsets[i]!;
      const len = em.offsets[i + 1]! - off;
      if (p === undefined) {
        // Bound on another host: through the tunnel. Not bound anywhere (no interface): nothing to send on.
        const id = em.portIds[em.port[i]!]!;
        if (this.tunnel?.isRemote(id) === true) {
          const src = em.src[i]!;
          const generated = em.generated[i] === 1;
          this.tunnel.send(id, em.data, off, len, contexts?.get(src) ?? null, generated ? 0 : gsoType[src]!, generated ? 0 : gsoSize[src]!);
        }
        continue;
      }
      const sock = p.sock;
      const tx = p.tx;
      if (sock === null || tx === null || p.state !== 'up') { p.drop(p.state === 'missing' ? 'port_missing' : 'port_down'); continue; }
      if (!tx.fits(len)) {
        this.flush(p);
        if (!tx.fits(len)) { p.drop('too_big'); continue; }
      }
      const at = tx.reserve(len);
      copyBytes(em.data, off, tx.data.bytes, at + VNET_HDR_LEN, len);
      const src = em.src[i]!;
      const generated = em.generated[i] === 1;
      writeVnetHdr(tx.data.bytes, at, len, generated ? 0 : gsoType[src]!, generated ? 0 : gsoSize[src]!);
      if (!p.dirty) { p.dirty = true; this.dirtyPorts.push(p); }
    }
    for (const p of this.dirtyPorts) { this.flush(p); p.dirty = false; }
    this.dirtyPorts.length = 0;
  }

  private flush(p: Port): void {
    const tx = p.tx!;
    if (tx.count === 0) return;
    const total = tx.count;
    let failed = 0;
    let failedBytes = 0;
    p.sock!.send(tx, (_errno, i) => { failed++; failedBytes += tx.length(i); });
    p.txFrames += total - failed;
    p.txBytes += tx.used - total * VNET_HDR_LEN - failedBytes;
    if (failed > 0) p.drop('send_error', failed);
    tx.reset();
  }

  /**
   * The thread is going down on an error: every socket and poll handle closed now, nothing drained.
   * (A koffi poll handle still open when its thread's event loop is torn down crashes the process.)
   */
  abort(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.tunnel?.close();
    this.tunnel = null;
    for (const p of this.ports.values()) this.closePort(p);
    if (this.status === 'running') this.status = 'stopped';
  }

  /**
   * SIGTERM: frames from tunnels still queued go out, held packets are let go, every socket closes.
   * (Nothing is staged between two reads: each read ends with its batch simulated and sent.)
   */
  stop(): void {
    if (this.tunnelFlush !== null) { clearImmediate(this.tunnelFlush); this.tunnelFlush = null; }
    for (const q of this.tunnelDirty) { this.flush(q); q.dirty = false; }
    this.tunnelDirty.length = 0;
    this.hold.clear();
    this.abort();
  }
}

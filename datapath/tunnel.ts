// VXLAN tunnels to the other hosts of this host's tunnel zones (SPEC §10, RFC 7348): a frame for a port
// bound on another host leaves in a UDP datagram to that host's underlay address, the egress port's
// tunnel key in the VNI; what arrives is checked (sender, header, key, length) and handed to the port's
// interface here. Anything wrong is a counted drop per peer, never an exception.
//
// The socket is Node's dgram: one datagram per send, enough for the tunnel's traffic in tests and on
// small hosts (~19 k frames/s measured here); the batched AF_PACKET layer does not cover UDP yet.
import { createSocket, type Socket } from 'node:dgram';
import { GSO_BIT, TRACE_BIT, type TunnelPeer, type TunnelPlan } from './tunnel-plan.js';
import type { DatapathLog } from './types.js';

export const VXLAN_HDR_LEN = 8;
/** The I flag: the VNI is valid. Every other bit of the first word is reserved (zero). */
const VXLAN_FLAGS = 0x08;
/** An Ethernet header at least: anything shorter cannot be a frame. */
const MIN_INNER = 14;

export interface TunnelStats { hostId: string; ipAddress: string; txFrames: number; rxFrames: number; drops: number; dropReasons: Record<string, number> }

/** Datagrams held while a peer's sending socket connects (its first frames). */
const MAX_CONNECTING = 256;

class PeerCounters {
  txFrames = 0; rxFrames = 0; drops = 0;
  readonly reasons = new Map<string, number>();
  /**
   * A connected socket per peer, for sending: the kernel then reports the peer's ICMP port
   * unreachable (its daemon is down) as ECONNREFUSED on the next send, and the drops show up here.
   * Its source port is ephemeral (RFC 7348 leaves the source port to the sender).
   */
  sock: Socket | null = null;
  connected = false;
  waiting: Buffer[] = [];
  constructor(public peer: TunnelPeer) {}
  drop(reason: string): void {
    this.drops++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }
}

/**
 * What a traced packet's datagram carries after its frame (SPEC §10: the trace context travels with
 * the packet): the trace, the conditions that started it, how many steps the ingress host recorded.
 */
export interface TraceContext { traceId: string; conditionIds: readonly string[]; steps: number; hostId: string }

/** Hands a received frame to the bound port it is for; false when that port is not bound (up) here. */
export type Deliver = (portId: string, frame: Uint8Array, trace: TraceContext | null, from: TunnelPeer, key: number, gsoType: number, gsoSize: number) => boolean;

/** After a GSO frame: its virtio_net_hdr gso_type (1 byte) and gso_size (2 bytes). */
const GSO_TRAILER = 3;

/** Ends a trace context trailer: [context JSON][its length, 2 bytes][MAGIC]. */
const MAGIC = 0x4d54_5443; // "MTTC"
const TRAILER_FIXED = 6;

function contextBytes(c: TraceContext): Buffer {
  return Buffer.from(JSON.stringify({ t: c.traceId, c: c.conditionIds, n: c.steps, h: c.hostId }));
}

/** The trailer of a traced datagram: the frame's end and the context, or null when it is not one. */
export function parseTrailer(msg: Uint8Array, start: number): { frameEnd: number; ctx: TraceContext } | null {
  const end = msg.length;
  if (end - start < TRAILER_FIXED + MIN_INNER) return null;
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (dv.getUint32(end - 4) !== MAGIC) return null;
  const len = dv.getUint16(end - 6);
  const frameEnd = end - TRAILER_FIXED - len;
  if (frameEnd - start < MIN_INNER) return null;
  let v: unknown;
  try { v = JSON.parse(Buffer.from(msg.buffer, msg.byteOffset + frameEnd, len).toString('utf8')); } catch { return null; }
  const o = v as { t?: unknown; c?: unknown; n?: unknown; h?: unknown };
  if (typeof o !== 'object' || o === null || typeof o.t !== 'string' || !/^[0-9a-f-]{36}$/.test(o.t) || typeof o.h !== 'string'
    || !Array.isArray(o.c) || !o.c.every((x) => typeof x === 'string') || typeof o.n !== 'number' || !Number.isInteger(o.n) || o.n < 0 || o.n > 1e6) return null;
  return { frameEnd, ctx: { traceId: o.t, conditionIds: o.c as string[], steps: o.n, hostId: o.h } };
}

/** The header: flags, reserved, then the 24-bit VNI and a reserved byte. */
export function writeVxlanHeader(out: Uint8Array, key: number): void {
  out[0] = VXLAN_FLAGS; out[1] = 0; out[2] = 0; out[3] = 0;
  out[4] = (key >>> 16) & 0xff; out[5] = (key >>> 8) & 0xff; out[6] = key & 0xff; out[7] = 0;
}

export type VxlanParse = { ok: true; key: number; traced: boolean; gso: boolean } | { ok: false; reason: 'truncated' | 'bad_header' };

export function parseVxlan(msg: Uint8Array): VxlanParse {
  if (msg.length < VXLAN_HDR_LEN + MIN_INNER) return { ok: false, reason: 'truncated' };
  if (msg[0] !== VXLAN_FLAGS || msg[1] !== 0 || msg[2] !== 0 || msg[3] !== 0 || msg[7] !== 0) return { ok: false, reason: 'bad_header' };
  const vni = (msg[4]! << 16) | (msg[5]! << 8) | msg[6]!;
  return { ok: true, key: vni & ~(TRACE_BIT | GSO_BIT), traced: (vni & TRACE_BIT) !== 0, gso: (vni & GSO_BIT) !== 0 };
}

export class Tunnel {
  private socket: Socket | null = null;
  private readonly counters = new Map<string, PeerCounters>();
  /** Datagrams from addresses that are no peer of ours (scans, strays, a stale peer). */
  private readonly stranger: PeerCounters = new PeerCounters({ hostId: 'unknown', ipAddress: '' });
  private bound = '';

  constructor(private plan: TunnelPlan, private readonly port: number, private readonly log: DatapathLog, private readonly deliver: Deliver) {
    this.applyPlan(plan);
  }

  /** A new topology: new keys and peers; the socket moves when this host's address changed. */
  applyPlan(plan: TunnelPlan): void {
    this.plan = plan;
    for (const p of plan.peerAt.values()) {
      const c = this.counters.get(p.hostId);
      if (c === undefined) { this.counters.set(p.hostId, new PeerCounters(p)); continue; }
      if (c.peer.ipAddress === p.ipAddress) continue;
      // A peer whose address changed is reached through a new socket.
      c.peer = p;
      c.sock?.close();
      c.sock = null;
      c.connected = false;
    }
    const want = plan.self ?? '';
    if (want === this.bound) return;
    this.socket?.close();
    this.socket = null;
    this.disconnectPeers();
    this.bound = want;
    if (want === '') return;
    const s = createSocket({ type: 'udp4', reuseAddr: false });
    s.on('message', (msg, rinfo) => this.received(msg, rinfo.address));
    s.on('error', (e) => {
      // Bind failures (address not on this host yet, port taken) and send errors end up here.
      this.log.warn({ err: e, address: `${want}:${this.port}` }, 'tunnel socket error');
    });
    s.bind(this.port, want, () => this.log.info({ address: `${want}:${this.port}` }, 'tunnel listening'));
    this.socket = s;
  }

  get hostId(): string { return this.plan.hostId; }

  /** Whether frames for this port go through a tunnel (bound on another host). */
  isRemote(portId: string): boolean { return this.plan.remote.has(portId) || this.plan.unreachable.has(portId); }

  /** Sends one frame to the host its egress port is bound on; a traced one with its trace context. */
  send(portId: string, data: Uint8Array, off: number, len: number, trace: TraceContext | null, gsoType = 0, gsoSize = 0): void {
    const peer = this.plan.remote.get(portId);
    if (peer === undefined) { this.stranger.drop('no_tunnel_to_host'); return; }
    const c = this.counters.get(peer.hostId)!;
    const key = this.plan.keyOf.get(portId);
    if (this.bound === '' || key === undefined) { c.drop(this.bound === '' ? 'no_underlay_address' : 'no_tunnel_key'); return; }
    // The datagram owns its bytes: `data` is reused for the next batch before dgram sends.
    const ctx = trace === null ? null : contextBytes(trace);
    const gso = gsoType !== 0 ? GSO_TRAILER : 0;
    const msg = Buffer.allocUnsafe(VXLAN_HDR_LEN + len + gso + (ctx === null ? 0 : ctx.length + TRAILER_FIXED));
    writeVxlanHeader(msg, key | (ctx !== null ? TRACE_BIT : 0) | (gso !== 0 ? GSO_BIT : 0));
    msg.set(data.subarray(off, off + len), VXLAN_HDR_LEN);
    if (gso !== 0) { msg[VXLAN_HDR_LEN + len] = gsoType; msg.writeUInt16BE(gsoSize, VXLAN_HDR_LEN + len + 1); }
    if (ctx !== null) {
      const at = VXLAN_HDR_LEN + len + gso;
      ctx.copy(msg, at);
      msg.writeUInt16BE(ctx.length, at + ctx.length);
      msg.writeUInt32BE(MAGIC, at + ctx.length + 2);
    }
    this.sendTo(c, msg);
  }

  private sendTo(c: PeerCounters, msg: Buffer): void {
    if (c.sock === null) this.connect(c);
    if (!c.connected) {
      if (c.waiting.length < MAX_CONNECTING) c.waiting.push(msg); else c.drop('connecting');
      return;
    }
    c.sock!.send(msg, (err) => {
      if (err === null) { c.txFrames++; return; }
      const code = (err as NodeJS.ErrnoException).code;
      c.drop(code === 'EMSGSIZE' ? 'too_big' : code === 'ECONNREFUSED' ? 'peer_unreachable' : 'send_error');
    });
  }

  private connect(c: PeerCounters): void {
    const s = createSocket({ type: 'udp4' });
    c.sock = s;
    // Errors of a connected socket also come as events (an ICMP error between sends): counted, not thrown.
    s.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') c.drop('peer_unreachable');
      else this.log.warn({ err: e, peer: c.peer.ipAddress }, 'tunnel send socket error');
    });
    s.bind(0, this.bound, () => {
      s.connect(this.port, c.peer.ipAddress, () => {
        if (c.sock !== s) return;
        c.connected = true;
        const w = c.waiting;
        c.waiting = [];
        for (const m of w) this.sendTo(c, m);
      });
    });
  }

  private disconnectPeers(): void {
    for (const c of this.counters.values()) {
      c.sock?.close();
      c.sock = null;
      c.connected = false;
      for (const _ of c.waiting) c.drop('no_underlay_address');
      c.waiting = [];
    }
  }

  private received(msg: Buffer, from: string): void {
    const peer = this.plan.peerAt.get(from);
    const c = peer === undefined ? this.stranger : this.counters.get(peer.hostId)!;
    if (peer === undefined) { c.drop('unknown_peer'); return; }
    const h = parseVxlan(msg);
    if (!h.ok) { c.drop(h.reason); return; }
    const portId = this.plan.portOfKey.get(h.key);
    if (portId === undefined) { c.drop('unknown_key'); return; }
    let end = msg.length;
    let trace: TraceContext | null = null;
    if (h.traced) {
      const t = parseTrailer(msg, VXLAN_HDR_LEN);
      // A traced frame whose context is damaged still goes out; only its trace misses this host's part.
      if (t === null) c.drop('bad_trace_context');
      else { end = t.frameEnd; trace = t.ctx; }
    }
    let gsoType = 0;
    let gsoSize = 0;
    if (h.gso) {
      if (end - GSO_TRAILER - VXLAN_HDR_LEN < MIN_INNER) { c.drop('truncated'); return; }
      end -= GSO_TRAILER;
      gsoType = msg[end]!;
      gsoSize = msg.readUInt16BE(end + 1);
    }
    if (!this.deliver(portId, msg.subarray(VXLAN_HDR_LEN, end), trace, peer, h.key, gsoType, gsoSize)) { c.drop('port_not_here'); return; }
    c.rxFrames++;
  }

  stats(): TunnelStats[] {
    const out: TunnelStats[] = [];
    for (const c of this.counters.values()) {
      out.push({ hostId: c.peer.hostId, ipAddress: c.peer.ipAddress, txFrames: c.txFrames, rxFrames: c.rxFrames, drops: c.drops, dropReasons: Object.fromEntries(c.reasons) });
    }
    if (this.stranger.drops > 0) {
      out.push({ hostId: 'unknown', ipAddress: '', txFrames: 0, rxFrames: 0, drops: this.stranger.drops, dropReasons: Object.fromEntries(this.stranger.reasons) });
    }
    return out;
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
    this.disconnectPeers();
    this.bound = '';
  }
}

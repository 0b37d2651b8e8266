// The parsed form of one frame: MidoNet's FlowMatch. One instance per simulation slot is reused for
// every packet, so nothing here allocates after construction. Wire code (engine/wire/) fills it from
// bytes and builds bytes from it; devices read and rewrite its fields.

export const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;
export const ETH_IPV6 = 0x86dd;
export const ETH_VLAN = 0x8100;
export const ETH_QINQ = 0x88a8;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** IPv4 fragment kind (SPEC §3 "fragment"). */
export const enum Frag { None = 0, First = 1, Later = 2 }

/** Most VLAN tags a frame may carry (802.1ad outer + 802.1Q inner). */
export const MAX_VLANS = 2;

export class Packet {
  // L2
  ethSrc = 0;
  ethDst = 0;
  /** Number of VLAN tags, outermost first in vlanIds/vlanTpids. */
  vlanCount = 0;
  readonly vlanIds = new Int32Array(MAX_VLANS);
  /** TPID of each tag (0x8100 or 0x88a8) so a rebuilt frame keeps what arrived. */
  readonly vlanTpids = new Int32Array(MAX_VLANS);
  /** Ethertype after the VLAN tags. */
  etherType = 0;

  // ARP (valid when etherType === ETH_ARP)
  arpOp = 0;
  arpSha = 0;
  arpSpa = 0;
  arpTha = 0;
  arpTpa = 0;

  // IPv4 (valid when etherType === ETH_IPV4)
  nwSrc = 0;
  nwDst = 0;
  nwProto = 0;
  nwTos = 0;
  ttl = 0;
  ipId = 0;
  fragment: Frag = Frag.None;
  dontFragment = false;
  /** Fragment offset in 8-byte units, kept so a rebuilt fragment stays a fragment. */
  fragOffset = 0;
  moreFragments = false;

  // L4. For ICMP, tpSrc is the type and tpDst the code (MidoNet's convention).
  tpSrc = 0;
  tpDst = 0;
  icmpId = 0;
  icmpSeq = 0;
  tcpSeq = 0;
  tcpAck = 0;
  tcpFlags = 0;
  tcpWindow = 0;
  tcpUrgent = 0;

  /**
   * Bytes that ride along unparsed, as offsets into `buf` so a packet never allocates a view:
   * IP options at [optOff, optOff+optLen), TCP options at [tcpOptOff, tcpOptOff+tcpOptLen),
   * and the payload after the deepest parsed header at [payOff, payOff+payLen). For ICMP errors the
   * payload is the embedded IP header + 8 bytes; for unknown ethertypes it is everything after L2.
   */
  buf: Uint8Array = EMPTY;
  optOff = 0;
  optLen = 0;
  tcpOptOff = 0;
  tcpOptLen = 0;
  payOff = 0;
  payLen = 0;

  reset(): void {
    this.ethSrc = 0; this.ethDst = 0; this.vlanCount = 0; this.etherType = 0;
    this.arpOp = 0; this.arpSha = 0; this.arpSpa = 0; this.arpTha = 0; this.arpTpa = 0;
    this.nwSrc = 0; this.nwDst = 0; this.nwProto = 0; this.nwTos = 0; this.ttl = 0; this.ipId = 0;
    this.fragment = Frag.None; this.dontFragment = false; this.fragOffset = 0; this.moreFragments = false;
    this.tpSrc = 0; this.tpDst = 0; this.icmpId = 0; this.icmpSeq = 0;
    this.tcpSeq = 0; this.tcpAck = 0; this.tcpFlags = 0; this.tcpWindow = 0; this.tcpUrgent = 0;
    this.buf = EMPTY; this.optOff = 0; this.optLen = 0; this.tcpOptOff = 0; this.tcpOptLen = 0;
    this.payOff = 0; this.payLen = 0;
  }

  copyFrom(o: Packet): void {
    this.ethSrc = o.ethSrc; this.ethDst = o.ethDst; this.vlanCount = o.vlanCount;
    this.vlanIds[0] = o.vlanIds[0]!; this.vlanIds[1] = o.vlanIds[1]!;
    this.vlanTpids[0] = o.vlanTpids[0]!; this.vlanTpids[1] = o.vlanTpids[1]!;
    this.etherType = o.etherType;
    this.arpOp = o.arpOp; this.arpSha = o.arpSha; this.arpSpa = o.arpSpa; this.arpTha = o.arpTha; this.arpTpa = o.arpTpa;
    this.nwSrc = o.nwSrc; this.nwDst = o.nwDst; this.nwProto = o.nwProto; this.nwTos = o.nwTos; this.ttl = o.ttl;
    this.ipId = o.ipId; this.fragment = o.fragment; this.dontFragment = o.dontFragment;
    this.fragOffset = o.fragOffset; this.moreFragments = o.moreFragments;
    this.tpSrc = o.tpSrc; this.tpDst = o.tpDst; this.icmpId = o.icmpId; this.icmpSeq = o.icmpSeq;
    this.tcpSeq = o.tcpSeq; this.tcpAck = o.tcpAck; this.tcpFlags = o.tcpFlags; this.tcpWindow = o.tcpWindow;
    this.tcpUrgent = o.tcpUrgent;
    this.buf = o.buf; this.optOff = o.optOff; this.optLen = o.optLen; this.tcpOptOff = o.tcpOptOff;
    this.tcpOptLen = o.tcpOptLen; this.payOff = o.payOff; this.payLen = o.payLen;
  }

  /** Outer VLAN id, or -1 when untagged. */
  get vlan(): number { return this.vlanCount > 0 ? this.vlanIds[0]! : -1; }

  pushVlan(id: number, tpid = ETH_VLAN): void {
    if (this.vlanCount >= MAX_VLANS) return;
    if (this.vlanCount === 1) { this.vlanIds[1] = this.vlanIds[0]!; this.vlanTpids[1] = this.vlanTpids[0]!; }
    this.vlanIds[0] = id; this.vlanTpids[0] = tpid; this.vlanCount++;
  }

  popVlan(): void {
    if (this.vlanCount === 0) return;
    if (this.vlanCount === 2) { this.vlanIds[0] = this.vlanIds[1]!; this.vlanTpids[0] = this.vlanTpids[1]!; }
    this.vlanCount--;
  }

  get isIp(): boolean { return this.etherType === ETH_IPV4; }
  get isArp(): boolean { return this.etherType === ETH_ARP; }
  /** True when L4 ports (or ICMP type/code) are meaningful: an unfragmented packet or a first fragment. */
  get hasL4(): boolean { return this.etherType === ETH_IPV4 && this.fragment !== Frag.Later; }
}

export const EMPTY = new Uint8Array(0);

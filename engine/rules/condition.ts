// SPEC §2 CONDITION compiled to flat numbers (MidoNet's Condition.java). Chain rules and trace
// conditions share this exact code. Which fields are set, and which are inverted, are bitmasks with
// one bit per field, so matching is a run of `if (set & F)` tests over numbers: no strings, no
// allocation. Result = condInvert XOR (AND over set fields of (field XOR inv)); fragmentPolicy first.
import { macHi, macLo, parseIp, parseMac, prefixMask } from '../../model/addr.js';
import type { PacketContext } from '../context.js';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import type { CIpAddrGroup, CompiledTopology } from '../topology/compiled.js';
import { bridgeDevice, portDevice, routerDevice } from '../topology/compiled.js';
import type { ConditionJson } from '../../model/topology/doc.js';
import { isForwardFlow } from './conntrack.js';
import { lookupId } from '../topology/id-lookup.js';

/** Bits of CCondition.set / CCondition.inv, one per CONDITION field, in the order matchCondition tests them. */
export const enum F {
  FwdFlow = 1 << 0, RetFlow = 1 << 1,
  PortGroup = 1 << 2, InPorts = 1 << 3, OutPorts = 1 << 4, InPortGroup = 1 << 5, OutPortGroup = 1 << 6,
  DlType = 1 << 7, DlSrc = 1 << 8, DlDst = 1 << 9, NwTos = 1 << 10, NwProto = 1 << 11,
  NwSrc = 1 << 12, NwDst = 1 << 13, TpSrc = 1 << 14, TpDst = 1 << 15,
  IpGroupSrc = 1 << 16, IpGroupDst = 1 << 17, Traversed = 1 << 18,
  Vlan = 1 << 19, NoVlan = 1 << 20, NwDstRewritten = 1 << 21,
}

/** fragMask bits are indexed by Frag (None=0, First=1, Later=2). */
export const FRAG_ANY = 0b111;
export const FRAG_HEADER = 0b011;
export const FRAG_NONHEADER = 0b100;
export const FRAG_UNFRAGMENTED = 0b001;

export interface CCondition {
  /** Fields present in the JSON (F bits). Absent fields match everything. */
  readonly set: number;
  /** Fields whose own inv* flag is on (F bits). */
  readonly inv: number;
  readonly condInvert: boolean;
  /** Accepted fragment kinds, bit per Frag value; checked before anything else and never inverted. */
  readonly fragMask: number;
  /** Port indexes; an id unknown at compile time becomes -1 and matches no port. */
  readonly inPorts: Int32Array;
  readonly outPorts: Int32Array;
  /** Group indexes, -1 when unset or unknown (then nothing is in the group). */
  readonly portGroup: number;
  readonly inPortGroup: number;
  readonly outPortGroup: number;
  readonly ipAddrGroupSrc: number;
  readonly ipAddrGroupDst: number;
  readonly dlType: number;
  /** MACs and masks split in 24-bit halves so masking stays in int32 arithmetic. */
  readonly dlSrcHi: number; readonly dlSrcLo: number; readonly dlSrcMaskHi: number; readonly dlSrcMaskLo: number;
  readonly dlDstHi: number; readonly dlDstLo: number; readonly dlDstMaskHi: number; readonly dlDstMaskLo: number;
  readonly nwTos: number;
  readonly nwProto: number;
  /** Prefixes as int32 network and mask, compared with `((ip ^ net) & mask) === 0`. */
  readonly nwSrc: number; readonly nwSrcMask: number;
  readonly nwDst: number; readonly nwDstMask: number;
  readonly tpSrcStart: number; readonly tpSrcEnd: number;
  readonly tpDstStart: number; readonly tpDstEnd: number;
  readonly vlan: number;
  /** Global device number, -1 when unset or unknown. */
  readonly traversedDevice: number;
  /**
   * Quick rejects tested before anything else: a non-inverted nwProto (-1 when none) and a
   * non-inverted tpDst range (quickTpDst false when none). Most rules operators write name a protocol
   * and a port, so most non-matching rules fail here after two compares.
   */
  readonly quickProto: number;
  readonly quickTpDst: boolean;
  /** The source JSON, kept for describeCondition() and for serving the condition back. */
  readonly json: ConditionJson;
}

/** What compileCondition needs to turn ids into indexes (topology/compile.ts conditionRefs() or refsFromTopology() below). */
export interface ConditionRefs {
  portIndex: ReadonlyMap<string, number>;
  portGroupIndex: ReadonlyMap<string, number>;
  ipAddrGroupIndex: ReadonlyMap<string, number>;
  /** Global device number of a bridge, router or port id; -1 when unknown. */
  deviceNumber(id: string): number;
}

/** ConditionRefs over an already compiled topology (trace conditions compiled after the topology). */
export function refsFromTopology(t: CompiledTopology): ConditionRefs {
  return {
    portIndex: t.portIndex,
    portGroupIndex: t.portGroupIndex,
    ipAddrGroupIndex: t.ipAddrGroupIndex,
    deviceNumber(id: string): number {
      const b = lookupId(t.bridgeIndex, id);
      if (b !== undefined) return bridgeDevice(t, b);
      const r = lookupId(t.routerIndex, id);
      if (r !== undefined) return routerDevice(t, r);
      const p = lookupId(t.portIndex, id);
      return p !== undefined ? portDevice(t, p) : -1;
    },
  };
}

const ALL_MAC = 0xffffffffffff;

function mac(text: string, path: string): number {
  const m = parseMac(text);
  // The schema validates MACs; reaching here with a bad one is a programmer error.
  if (m < 0) throw new Error(`condition.${path}: malformed MAC '${text}'`);
  return m;
}

function prefix(addr: string | undefined, len: number | undefined, path: string): [number, number] {
  if (addr === undefined) return [0, 0];
  const ip = parseIp(addr);
  if (ip < 0) throw new Error(`condition.${path}: malformed IPv4 address '${addr}'`);
  const mask = prefixMask(len ?? 32) | 0;
  return [ip & mask, mask];
}

function ports(ids: readonly string[] | undefined, index: ReadonlyMap<string, number>): Int32Array {
  const out = new Int32Array(ids?.length ?? 0);
  for (let i = 0; i < out.length; i++) out[i] = lookupId(index, ids![i]!) ?? -1;
  return out;
}

function idx(id: string | undefined, index: ReadonlyMap<string, number>): number {
  return id === undefined ? -1 : lookupId(index, id) ?? -1;
}

export function compileCondition(json: ConditionJson, refs: ConditionRefs): CCondition {
  let set = 0;
  let inv = 0;
  const field = (present: boolean, bit: number, inverted: boolean | undefined): void => {
    if (!present) return;
    set |= bit;
    if (inverted === true) inv |= bit;
  };
  field(json.matchForwardFlow === true, F.FwdFlow, false);
  field(json.matchReturnFlow === true, F.RetFlow, false);
  field(json.portGroup !== undefined, F.PortGroup, json.invPortGroup);
  // MidoNet: an empty port list matches everything, like an absent one.
  field((json.inPorts?.length ?? 0) > 0, F.InPorts, json.invInPorts);
  field((json.outPorts?.length ?? 0) > 0, F.OutPorts, json.invOutPorts);
  field(json.inPortGroup !== undefined, F.InPortGroup, json.invInPortGroup);
  field(json.outPortGroup !== undefined, F.OutPortGroup, json.invOutPortGroup);
  field(json.dlType !== undefined, F.DlType, json.invDlType);
  field(json.dlSrc !== undefined, F.DlSrc, json.invDlSrc);
  field(json.dlDst !== undefined, F.DlDst, json.invDlDst);
  field(json.nwTos !== undefined, F.NwTos, json.invNwTos);
  field(json.nwProto !== undefined, F.NwProto, json.invNwProto);
  field(json.nwSrcAddress !== undefined, F.NwSrc, json.invNwSrc);
  field(json.nwDstAddress !== undefined, F.NwDst, json.invNwDst);
  field(json.tpSrc !== undefined, F.TpSrc, json.invTpSrc);
  field(json.tpDst !== undefined, F.TpDst, json.invTpDst);
  field(json.ipAddrGroupSrc !== undefined, F.IpGroupSrc, json.invIpAddrGroupSrc);
  field(json.ipAddrGroupDst !== undefined, F.IpGroupDst, json.invIpAddrGroupDst);
  field(json.traversedDevice !== undefined, F.Traversed, json.invTraversedDevice);
  field(json.vlan !== undefined, F.Vlan, false);
  field(json.noVlan === true, F.NoVlan, false);
  field(json.matchNwDstRewritten === true, F.NwDstRewritten, false);

  const policy = json.fragmentPolicy ?? (json.tpSrc !== undefined || json.tpDst !== undefined ? 'header' : 'any');
  const fragMask = policy === 'any' ? FRAG_ANY : policy === 'header' ? FRAG_HEADER
    : policy === 'nonheader' ? FRAG_NONHEADER : FRAG_UNFRAGMENTED;

  const dlSrc = json.dlSrc !== undefined ? mac(json.dlSrc, 'dlSrc') : 0;
  const dlSrcMask = json.dlSrcMask !== undefined ? mac(json.dlSrcMask, 'dlSrcMask') : ALL_MAC;
  const dlDst = json.dlDst !== undefined ? mac(json.dlDst, 'dlDst') : 0;
  const dlDstMask = json.dlDstMask !== undefined ? mac(json.dlDstMask, 'dlDstMask') : ALL_MAC;
  const [nwSrc, nwSrcMask] = prefix(json.nwSrcAddress, json.nwSrcLength, 'nwSrcAddress');
  const [nwDst, nwDstMask] = prefix(json.nwDstAddress, json.nwDstLength, 'nwDstAddress');
  const traversedDevice = json.traversedDevice === undefined ? -1 : refs.deviceNumber(json.traversedDevice);

  // One object literal with every property in one order, so all conditions share one hidden class.
  return {
    set, inv, condInvert: json.condInvert === true, fragMask,
    inPorts: ports(json.inPorts, refs.portIndex),
    outPorts: ports(json.outPorts, refs.portIndex),
    portGroup: idx(json.portGroup, refs.portGroupIndex),
    inPortGroup: idx(json.inPortGroup, refs.portGroupIndex),
    outPortGroup: idx(json.outPortGroup, refs.portGroupIndex),
    ipAddrGroupSrc: idx(json.ipAddrGroupSrc, refs.ipAddrGroupIndex),
    ipAddrGroupDst: idx(json.ipAddrGroupDst, refs.ipAddrGroupIndex),
    dlType: json.dlType ?? -1,
    dlSrcHi: macHi(dlSrc) & macHi(dlSrcMask), dlSrcLo: macLo(dlSrc) & macLo(dlSrcMask),
    dlSrcMaskHi: macHi(dlSrcMask), dlSrcMaskLo: macLo(dlSrcMask),
    dlDstHi: macHi(dlDst) & macHi(dlDstMask), dlDstLo: macLo(dlDst) & macLo(dlDstMask),
    dlDstMaskHi: macHi(dlDstMask), dlDstMaskLo: macLo(dlDstMask),
    nwTos: json.nwTos ?? -1,
    nwProto: json.nwProto ?? -1,
    nwSrc, nwSrcMask, nwDst, nwDstMask,
    tpSrcStart: json.tpSrc?.start ?? -1, tpSrcEnd: json.tpSrc?.end ?? -1,
    tpDstStart: json.tpDst?.start ?? -1, tpDstEnd: json.tpDst?.end ?? -1,
    vlan: json.vlan ?? -1,
    traversedDevice,
    quickProto: (set & F.NwProto) !== 0 && (inv & F.NwProto) === 0 ? json.nwProto! : -1,
    quickTpDst: (set & F.TpDst) !== 0 && (inv & F.TpDst) === 0,
    json,
  };
}

function hasPort(list: Int32Array, port: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === port) return true;
  return false;
}

function inPortGroup(t: CompiledTopology, port: number, group: number): boolean {
  if (port < 0 || group < 0) return false;
  const p = t.ports[port];
  if (p === undefined) return false;
  const g = p.portGroups;
  for (let i = 0; i < g.length; i++) if (g[i] === group) return true;
  return false;
}

// Address groups as sorted int32 arrays, built once per group object. Set.has() would need the address
// as a tagged value, and a uint32 above 2^31 (192.168.x.x...) is then boxed: one allocation per test.
const groupAddrs = new WeakMap<CIpAddrGroup, Int32Array>();

function sortedAddrs(g: CIpAddrGroup): Int32Array {
  let a = groupAddrs.get(g);
  if (a === undefined) {
    a = Int32Array.from(g.addrs, (x) => x | 0).sort();
    groupAddrs.set(g, a);
  }
  return a;
}

function inIpGroup(t: CompiledTopology, group: number, ip: number): boolean {
  const g = group < 0 ? undefined : t.ipAddrGroups[group];
  if (g === undefined) return false;
  const a = sortedAddrs(g);
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = a[mid]!;
    if (v === ip) return true;
    if (v < ip) lo = mid + 1; else hi = mid - 1;
  }
  return false;
}

export function matchCondition(c: CCondition, ctx: PacketContext): boolean {
  const pkt = ctx.pkt;
  if (((c.fragMask >> pkt.fragment) & 1) === 0) return false;
  // Quick rejects (see CCondition.quickProto): a failed AND makes the result condInvert.
  const qp = c.quickProto;
  if (qp >= 0) {
    if (pkt.nwProto !== qp || !pkt.isIp) return c.condInvert;
    if (c.quickTpDst && !(pkt.tpDst >= c.tpDstStart && pkt.tpDst <= c.tpDstEnd && pkt.hasL4
      && (qp === PROTO_TCP || qp === PROTO_UDP || qp === PROTO_ICMP))) return c.condInvert;
  }
  const s = c.set;
  if (s === 0) return !c.condInvert;
  const inv = c.inv;
  const no = c.condInvert; // returned as soon as one field fails: the AND is then false
  // A field passes when (its test) !== (its inv bit); it fails when they are equal.
  if ((s & (F.FwdFlow | F.RetFlow)) !== 0) {
    const fwd = isForwardFlow(ctx);
    if ((s & F.FwdFlow) !== 0 && !fwd) return no;
    if ((s & F.RetFlow) !== 0 && fwd) return no;
  }
  const t = ctx.topo;
  if ((s & F.PortGroup) !== 0 && inPortGroup(t, ctx.ingressPort, c.portGroup) === ((inv & F.PortGroup) !== 0)) return no;
  if ((s & F.InPorts) !== 0 && hasPort(c.inPorts, ctx.inPort) === ((inv & F.InPorts) !== 0)) return no;
  if ((s & F.OutPorts) !== 0 && hasPort(c.outPorts, ctx.outPort) === ((inv & F.OutPorts) !== 0)) return no;
  if ((s & F.InPortGroup) !== 0 && inPortGroup(t, ctx.inPort, c.inPortGroup) === ((inv & F.InPortGroup) !== 0)) return no;
  if ((s & F.OutPortGroup) !== 0 && inPortGroup(t, ctx.outPort, c.outPortGroup) === ((inv & F.OutPortGroup) !== 0)) return no;
  if ((s & F.DlType) !== 0 && (pkt.etherType === c.dlType) === ((inv & F.DlType) !== 0)) return no;
  if ((s & (F.DlSrc | F.DlDst)) !== 0) {
    // MAC halves computed inline: passing the 48-bit MAC to macHi()/macLo() would box it when not inlined.
    if ((s & F.DlSrc) !== 0) {
      const m = pkt.ethSrc;
      const eq = (((m / 0x1000000) | 0) & c.dlSrcMaskHi) === c.dlSrcHi && (m & c.dlSrcMaskLo) === c.dlSrcLo;
      if (eq === ((inv & F.DlSrc) !== 0)) return no;
    }
    if ((s & F.DlDst) !== 0) {
      const m = pkt.ethDst;
      const eq = (((m / 0x1000000) | 0) & c.dlDstMaskHi) === c.dlDstHi && (m & c.dlDstMaskLo) === c.dlDstLo;
      if (eq === ((inv & F.DlDst) !== 0)) return no;
    }
  }
  if ((s & (F.NwTos | F.NwProto | F.NwSrc | F.NwDst | F.TpSrc | F.TpDst | F.IpGroupSrc | F.IpGroupDst)) !== 0) {
    // L3/L4 fields exist only on IPv4 packets: on anything else the field's test is false.
    const ip = pkt.isIp;
    if ((s & F.NwTos) !== 0 && (ip && pkt.nwTos === c.nwTos) === ((inv & F.NwTos) !== 0)) return no;
    if ((s & F.NwProto) !== 0 && (ip && pkt.nwProto === c.nwProto) === ((inv & F.NwProto) !== 0)) return no;
    if ((s & F.NwSrc) !== 0 && (ip && ((pkt.nwSrc ^ c.nwSrc) & c.nwSrcMask) === 0) === ((inv & F.NwSrc) !== 0)) return no;
    if ((s & F.NwDst) !== 0 && (ip && ((pkt.nwDst ^ c.nwDst) & c.nwDstMask) === 0) === ((inv & F.NwDst) !== 0)) return no;
    if ((s & (F.TpSrc | F.TpDst)) !== 0) {
      const proto = pkt.nwProto;
      const l4 = pkt.hasL4 && (proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP);
      if ((s & F.TpSrc) !== 0
        && (l4 && pkt.tpSrc >= c.tpSrcStart && pkt.tpSrc <= c.tpSrcEnd) === ((inv & F.TpSrc) !== 0)) return no;
      if ((s & F.TpDst) !== 0
        && (l4 && pkt.tpDst >= c.tpDstStart && pkt.tpDst <= c.tpDstEnd) === ((inv & F.TpDst) !== 0)) return no;
    }
    if ((s & F.IpGroupSrc) !== 0
      && (ip && inIpGroup(t, c.ipAddrGroupSrc, pkt.nwSrc | 0)) === ((inv & F.IpGroupSrc) !== 0)) return no;
    if ((s & F.IpGroupDst) !== 0
      && (ip && inIpGroup(t, c.ipAddrGroupDst, pkt.nwDst | 0)) === ((inv & F.IpGroupDst) !== 0)) return no;
  }
  if ((s & F.Traversed) !== 0
    && (c.traversedDevice >= 0 && ctx.traversed[c.traversedDevice] === 1) === ((inv & F.Traversed) !== 0)) return no;
  if ((s & F.Vlan) !== 0 && pkt.vlan !== c.vlan) return no;
  if ((s & F.NoVlan) !== 0 && pkt.vlanCount !== 0) return no;
  if ((s & F.NwDstRewritten) !== 0 && !ctx.nwDstRewritten) return no;
  return !no;
}

/** Short text of the set fields, for trace steps ("nwProto=6 tpDst=80..80 !nwSrc=10.0.0.0/8"). */
export function describeCondition(c: CCondition): string {
  const j = c.json;
  const parts: string[] = [];
  const add = (present: unknown, inverted: boolean | undefined, text: string): void => {
    if (present === undefined || present === false) return;
    parts.push((inverted === true ? '!' : '') + text);
  };
  add(j.matchForwardFlow, false, 'forwardFlow');
  add(j.matchReturnFlow, false, 'returnFlow');
  add(j.portGroup, j.invPortGroup, `portGroup=${j.portGroup}`);
  add((c.set & F.InPorts) !== 0 || undefined, j.invInPorts, `inPorts=${j.inPorts?.join(',')}`);
  add((c.set & F.OutPorts) !== 0 || undefined, j.invOutPorts, `outPorts=${j.outPorts?.join(',')}`);
  add(j.inPortGroup, j.invInPortGroup, `inPortGroup=${j.inPortGroup}`);
  add(j.outPortGroup, j.invOutPortGroup, `outPortGroup=${j.outPortGroup}`);
  add(j.dlType, j.invDlType, `dlType=0x${(j.dlType ?? 0).toString(16).padStart(4, '0')}`);
  add(j.dlSrc, j.invDlSrc, `dlSrc=${j.dlSrc}${j.dlSrcMask !== undefined ? '/' + j.dlSrcMask : ''}`);
  add(j.dlDst, j.invDlDst, `dlDst=${j.dlDst}${j.dlDstMask !== undefined ? '/' + j.dlDstMask : ''}`);
  add(j.nwTos, j.invNwTos, `nwTos=${j.nwTos}`);
  add(j.nwProto, j.invNwProto, `nwProto=${j.nwProto}`);
  add(j.nwSrcAddress, j.invNwSrc, `nwSrc=${j.nwSrcAddress}/${j.nwSrcLength ?? 32}`);
  add(j.nwDstAddress, j.invNwDst, `nwDst=${j.nwDstAddress}/${j.nwDstLength ?? 32}`);
  add(j.tpSrc, j.invTpSrc, `tpSrc=${j.tpSrc?.start}..${j.tpSrc?.end}`);
  add(j.tpDst, j.invTpDst, `tpDst=${j.tpDst?.start}..${j.tpDst?.end}`);
  add(j.ipAddrGroupSrc, j.invIpAddrGroupSrc, `ipAddrGroupSrc=${j.ipAddrGroupSrc}`);
  add(j.ipAddrGroupDst, j.invIpAddrGroupDst, `ipAddrGroupDst=${j.ipAddrGroupDst}`);
  add(j.traversedDevice, j.invTraversedDevice, `traversedDevice=${j.traversedDevice}`);
  add(j.vlan, false, `vlan=${j.vlan}`);
  add(j.noVlan, false, 'noVlan');
  add(j.matchNwDstRewritten, false, 'nwDstRewritten');
  if (j.fragmentPolicy !== undefined) parts.push(`fragmentPolicy=${j.fragmentPolicy}`);
  const body = parts.length === 0 ? 'any packet' : parts.join(' ');
  return c.condInvert ? `not (${body})` : body;
}

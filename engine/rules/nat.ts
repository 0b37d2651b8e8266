// NAT rules (MidoNet's ForwardNatRule / StaticForwardNatRule / ReverseNatRule with NatState).
//
// Static NAT (one target, one address, ports 0/0: a floating IP) rewrites the address and keeps no
// state, as Midolman does; its way back is another static rule (DNAT in, SNAT out), not rev_*.
// Dynamic NAT keeps bindings in ctx.state.nat (layout in state/types.ts), all under one zone word:
// the global device number of the bridge or router processing the packet (chain.ts natZone(); a
// port's chains share their device's zone), so forward and reverse rules anywhere on it agree.
//   DNAT: DnatFwd (src, dst, sport, dport) → (ip, port) and DnatRev (ip, src, port, sport) → (dst, dport)
//   SNAT: SnatFwd (src, dst, sport, dport) → (ip, port) and SnatRev (dst, ip, dport, port) → (src, sport)
// The SnatRev entry doubles as the reservation of (ip, port) towards (dst, dport): SNAT claims it with
// putIfAbsent, so two flows never share a binding and two workers racing on one flow agree (the loser
// finds the claim holds its own (src, sport) and adopts it). NatKind.SnatReserve is therefore unused.
// Choices are deterministic (a hash of the tuple picks the starting candidate) where Midolman's are
// random; SNAT probes at most MAX_PROBES candidates, so exhaustion is exact for ranges up to that size.
// ICMP echo uses its identifier as both ports and is never rewritten (as Midolman: the id is kept), and
// ICMP gets no collision check: two hosts pinging one address with the same id through one SNAT
// address share the binding (Midolman's NatState does the same; the reply goes to the later one).
// An ICMP error (unreachable, time exceeded, parameter problem) is keyed on the datagram it quotes,
// seen from the other side (NatKey.processIcmp), so it finds the binding of the flow it is about: the
// reverse rules rewrite its outer address and the quoted header (NatState.reverseSnat/reverseDnat),
// forward rules its outer address. Other ICMP and later fragments are left to the next rule.
// Every use refreshes both entries of a binding (NAT_TTL_MS).
import type { PacketContext } from '../context.js';
import { type Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import { type CNatTarget, type CRule, RuleType } from '../topology/compiled.js';
import { type FlowTable, NAT_TTL_MS, NatKind, Put } from '../state/types.js';
import { F } from './condition.js';
import { portsWord } from './conntrack.js';
import { finishHash, mixHash } from './flow-hash.js';
import { isNatIcmpError, quoted, readQuoted, rewriteQuoted } from './nat-icmp.js';

export const enum NatOutcome {
  /** The rule does not apply (unsupported packet, or no binding for a reverse rule): go on. */
  NotApplied = 0,
  /** The packet was rewritten (or a reverse rule restored it): act per the rule's flowAction. */
  Applied = 1,
  /** SNAT found no free (ip, port) in its targets: drop with 'nat_exhausted'. */
  Exhausted = 2,
  /** The NAT table is at capacity: drop with 'state_table_full'. */
  TableFull = 3,
}

/** Most SNAT candidates tried for one new flow before giving up as exhausted. */
export const MAX_PROBES = 512;

/** Details of the last applyNat() call, for trace steps (read only when traced). */
export const natInfo = { isStatic: false, created: false };

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

export function isStaticNat(targets: readonly CNatTarget[]): boolean {
  if (targets.length !== 1) return false;
  const t = targets[0]!;
  return t.addrFrom === t.addrTo && t.portFrom === 0 && t.portTo === 0;
}

// The tuple dynamic NAT keys on, set by loadTuple() (module scratch, int32 words): the packet's own,
// or for an ICMP error the quoted datagram's with source and destination swapped.
let tProto = 0;
let tSrc = 0;
let tDst = 0;
/** (sport << 16) | dport, as portsWord(). */
let tPorts = 0;
let tIcmpError = false;

/** Dynamic NAT handles TCP, UDP, ICMP echo and ICMP errors about those, with their L4 header present. */
function loadTuple(p: Packet): boolean {
  if (!p.hasL4) return false;
  const proto = p.nwProto;
  tIcmpError = false;
  if (proto === PROTO_TCP || proto === PROTO_UDP
    || (proto === PROTO_ICMP && (p.tpSrc === ICMP_ECHO_REQUEST || p.tpSrc === ICMP_ECHO_REPLY))) {
    tProto = proto; tSrc = p.nwSrc | 0; tDst = p.nwDst | 0; tPorts = portsWord(p);
    return true;
  }
  if (!isNatIcmpError(p) || !readQuoted(p)) return false;
  tIcmpError = true;
  tProto = quoted.proto; tSrc = quoted.dst; tDst = quoted.src; tPorts = (quoted.dport << 16) | quoted.sport;
  return true;
}

function setKey(key: Int32Array, zone: number, kind: NatKind, proto: number, ip1: number, ip2: number,
                ports: number): void {
  key[0] = zone; key[1] = kind; key[2] = proto; key[3] = ip1; key[4] = ip2; key[5] = ports;
}

/** Apply a dnat / snat / rev_dnat / rev_snat rule to ctx.pkt under NAT zone `zone`. */
export function applyNat(ctx: PacketContext, rule: CRule, zone: number): NatOutcome {
  natInfo.isStatic = false;
  natInfo.created = false;
  switch (rule.type) {
    case RuleType.Dnat: return forwardNat(ctx, rule, zone, true);
    case RuleType.Snat: return forwardNat(ctx, rule, zone, false);
    case RuleType.RevDnat: return reverseNat(ctx, zone, true);
    case RuleType.RevSnat: return reverseNat(ctx, zone, false);
    default: return NatOutcome.NotApplied;
  }
}

function forwardNat(ctx: PacketContext, rule: CRule, zone: number, dnat: boolean): NatOutcome {
  const p = ctx.pkt;
  const targets = rule.natTargets;
  if (!p.isIp) return NatOutcome.NotApplied;
  if (isStaticNat(targets)) {
    natInfo.isStatic = true;
    const to = targets[0]!.addrFrom;
    if (dnat) { p.nwDst = to; ctx.nwDstRewritten = true; } else p.nwSrc = to;
    // A floating IP also translates what an ICMP error quotes (Midolman's StaticForwardNatRule): the
    // rule's own address in the condition names the side to rewrite.
    const c = rule.cond;
    if (isNatIcmpError(p)) {
      if (dnat && (c.set & F.NwDst) !== 0) rewriteQuoted(p, true, c.nwDst, to, -1);
      else if (!dnat && (c.set & F.NwSrc) !== 0) rewriteQuoted(p, false, c.nwSrc, to, -1);
    }
    return NatOutcome.Applied;
  }
  if (!loadTuple(p)) return NatOutcome.NotApplied;
  const out = dnat ? allocDnat(ctx, targets, zone) : allocSnat(ctx, targets, zone);
  if (out !== NatOutcome.Applied) return out;
  const icmp = p.nwProto === PROTO_ICMP;
  if (dnat) {
    p.nwDst = bindIp >>> 0;
    if (!icmp) p.tpDst = bindPort;
    ctx.nwDstRewritten = true;
  } else {
    p.nwSrc = bindIp >>> 0;
    if (!icmp) p.tpSrc = bindPort;
  }
  return NatOutcome.Applied;
}

// The binding chosen by alloc*/pick(), as module scratch so nothing is allocated per packet. The address
// is kept as int32 (a Smi; a uint32 above 2^31 would be boxed on every store) and written to the
// packet as `>>> 0`. Addresses given to key builders are int32 too: the words are int32 anyway.
let bindIp = 0;
let bindPort = 0;

/** Refresh both entries of a binding: the one whose key is in ctx.key, then its partner (kind, ip1, ip2, ports). */
function touchPair(nat: FlowTable, ctx: PacketContext, kind: NatKind, ip1: number, ip2: number, ports: number): void {
  const key = ctx.key;
  nat.touch(key, NAT_TTL_MS, ctx.nowMs);
  setKey(key, key[0]!, kind, key[2]!, ip1, ip2, ports);
  nat.touch(key, NAT_TTL_MS, ctx.nowMs);
}

function tupleHash(zone: number): number {
  let h = mixHash(0x5bd1e995, zone);
  h = mixHash(h, tProto);
  h = mixHash(h, tSrc);
  h = mixHash(h, tDst);
  return finishHash(mixHash(h, tPorts));
}

/** Candidates in the targets: per target, addresses × ports (× 1 when the port is kept). */
function spaceSize(targets: readonly CNatTarget[], keepAll: boolean): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    const addrs = (t.addrTo >>> 0) - (t.addrFrom >>> 0) + 1;
    const ports = keepAll || (t.portFrom === 0 && t.portTo === 0) ? 1 : t.portTo - t.portFrom + 1;
    if (addrs > 0 && ports > 0) n += addrs * ports;
  }
  return n;
}

/** Set bindIp/bindPort to candidate `idx` (< spaceSize); a kept port stays `origPort`. */
function pick(targets: readonly CNatTarget[], idx: number, keepAll: boolean, origPort: number): void {
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    const addrs = (t.addrTo >>> 0) - (t.addrFrom >>> 0) + 1;
    const keep = keepAll || (t.portFrom === 0 && t.portTo === 0);
    const ports = keep ? 1 : t.portTo - t.portFrom + 1;
    if (addrs <= 0 || ports <= 0) continue;
    const n = addrs * ports;
    if (idx < n) {
      bindIp = ((t.addrFrom >>> 0) + Math.floor(idx / ports)) | 0;
      bindPort = keep ? origPort : t.portFrom + (idx % ports);
      return;
    }
    idx -= n;
  }
}

function allocDnat(ctx: PacketContext, targets: readonly CNatTarget[], zone: number): NatOutcome {
  const icmp = ctx.pkt.nwProto === PROTO_ICMP;
  const nat = ctx.state.nat;
  const key = ctx.key;
  const out = ctx.out;
  const proto = tProto;
  const src = tSrc;
  const dst = tDst;
  const ports = tPorts;
  const sport = ports >>> 16;
  const dport = ports & 0xffff;
  setKey(key, zone, NatKind.DnatFwd, proto, src, dst, ports);
  if (nat.get(key, out, ctx.nowMs)) {
    bindIp = out[0]!;
    bindPort = out[1]!;
    touchPair(nat, ctx, NatKind.DnatRev, bindIp, src, (bindPort << 16) | sport);
    return NatOutcome.Applied;
  }
  const total = spaceSize(targets, icmp);
  if (total === 0) return NatOutcome.Exhausted;
  pick(targets, (tupleHash(zone) >>> 0) % total, icmp, dport);
  const val = ctx.val;
  val[0] = bindIp; val[1] = bindPort;
  const r = nat.putIfAbsent(key, val, NAT_TTL_MS, ctx.nowMs, out);
  if (r === Put.Full) return NatOutcome.TableFull;
  if (r === Put.Existed) { bindIp = out[0]!; bindPort = out[1]!; } else natInfo.created = true;
  setKey(key, zone, NatKind.DnatRev, proto, bindIp, src, (bindPort << 16) | sport);
  val[0] = dst; val[1] = dport;
  if (nat.put(key, val, NAT_TTL_MS, ctx.nowMs) === Put.Full) {
    if (r === Put.Inserted) { setKey(key, zone, NatKind.DnatFwd, proto, src, dst, ports); nat.delete(key); }
    return NatOutcome.TableFull;
  }
  return NatOutcome.Applied;
}

function allocSnat(ctx: PacketContext, targets: readonly CNatTarget[], zone: number): NatOutcome {
  const nat = ctx.state.nat;
  const key = ctx.key;
  const out = ctx.out;
  const val = ctx.val;
  const now = ctx.nowMs;
  const proto = tProto;
  const src = tSrc;
  const dst = tDst;
  const ports = tPorts;
  const sport = ports >>> 16;
  const dport = ports & 0xffff;
  setKey(key, zone, NatKind.SnatFwd, proto, src, dst, ports);
  if (nat.get(key, out, now)) {
    bindIp = out[0]!;
    bindPort = out[1]!;
    touchPair(nat, ctx, NatKind.SnatRev, dst, bindIp, (dport << 16) | bindPort);
    return NatOutcome.Applied;
  }
  const icmp = ctx.pkt.nwProto === PROTO_ICMP;
  const total = spaceSize(targets, icmp);
  const start = total === 0 ? 0 : (tupleHash(zone) >>> 0) % total;
  if (icmp) return bindIcmpSnat(ctx, targets, zone, total, start);
  const probes = Math.min(total, MAX_PROBES);
  let claimed = false;
  let inserted = false;
  for (let i = 0; i < probes && !claimed; i++) {
    pick(targets, (start + i) % total, false, sport);
    setKey(key, zone, NatKind.SnatRev, proto, dst, bindIp, (dport << 16) | bindPort);
    val[0] = src; val[1] = sport;
    const r = nat.putIfAbsent(key, val, NAT_TTL_MS, now, out);
    if (r === Put.Full) return NatOutcome.TableFull;
    inserted = r === Put.Inserted;
    claimed = inserted || (out[0] === src && out[1] === sport);
  }
  if (!claimed) return NatOutcome.Exhausted;
  const claimIp = bindIp;
  const claimPort = bindPort;
  setKey(key, zone, NatKind.SnatFwd, proto, src, dst, ports);
  val[0] = claimIp; val[1] = claimPort;
  const r = nat.putIfAbsent(key, val, NAT_TTL_MS, now, out);
  if (r === Put.Inserted) { natInfo.created = true; return NatOutcome.Applied; }
  if (r === Put.Existed) {
    // Another worker bound this flow first: use its binding and give back our claim if it differs.
    bindIp = out[0]!;
    bindPort = out[1]!;
    if (bindIp === claimIp && bindPort === claimPort) return NatOutcome.Applied;
  }
  if (inserted) {
    setKey(key, zone, NatKind.SnatRev, proto, dst, claimIp, (dport << 16) | claimPort);
    nat.delete(key);
  }
  return r === Put.Full ? NatOutcome.TableFull : NatOutcome.Applied;
}

/**
 * SNAT of ICMP (echo, or an error keyed on its quoted datagram): the address is chosen, the id or port
 * kept, and nothing checks that another flow already holds that (address, id) towards the same host:
 * Midolman's NatState allocates ICMP bindings without the leaser. The reverse entry is overwritten, so
 * replies follow the latest flow.
 */
function bindIcmpSnat(ctx: PacketContext, targets: readonly CNatTarget[], zone: number, total: number, start: number): NatOutcome {
  if (total === 0) return NatOutcome.Exhausted;
  const nat = ctx.state.nat;
  const key = ctx.key;
  const out = ctx.out;
  const val = ctx.val;
  const sport = tPorts >>> 16;
  const dport = tPorts & 0xffff;
  pick(targets, start, true, sport);
  setKey(key, zone, NatKind.SnatFwd, tProto, tSrc, tDst, tPorts);
  val[0] = bindIp; val[1] = bindPort;
  const r = nat.putIfAbsent(key, val, NAT_TTL_MS, ctx.nowMs, out);
  if (r === Put.Full) return NatOutcome.TableFull;
  if (r === Put.Existed) { bindIp = out[0]!; bindPort = out[1]!; } else natInfo.created = true;
  setKey(key, zone, NatKind.SnatRev, tProto, tDst, bindIp, (dport << 16) | bindPort);
  val[0] = tSrc; val[1] = sport;
  if (nat.put(key, val, NAT_TTL_MS, ctx.nowMs) === Put.Full) {
    if (r === Put.Inserted) { setKey(key, zone, NatKind.SnatFwd, tProto, tSrc, tDst, tPorts); nat.delete(key); }
    return NatOutcome.TableFull;
  }
  return NatOutcome.Applied;
}

/**
 * rev_dnat: a reply of a DNAT'd flow gets its source restored; rev_snat: a reply of an SNAT'd flow
 * gets its destination restored. No binding: not applied.
 */
function reverseNat(ctx: PacketContext, zone: number, dnat: boolean): NatOutcome {
  const p = ctx.pkt;
  if (!p.isIp || !loadTuple(p)) return NatOutcome.NotApplied;
  const nat = ctx.state.nat;
  const key = ctx.key;
  const out = ctx.out;
  const ports = tPorts;
  const src = tSrc;
  const dst = tDst;
  setKey(key, zone, dnat ? NatKind.DnatRev : NatKind.SnatRev, tProto, src, dst, ports);
  if (!nat.get(key, out, ctx.nowMs)) return NatOutcome.NotApplied;
  const ip = out[0]!;
  const port = out[1]!;
  if (tIcmpError) return reverseIcmpError(ctx, dnat, ip, port);
  const icmp = p.nwProto === PROTO_ICMP;
  if (dnat) {
    // Forward key: (client = our dst, original dst, client port, original dst port).
    touchPair(nat, ctx, NatKind.DnatFwd, dst, ip, ((ports & 0xffff) << 16) | port);
    p.nwSrc = ip >>> 0;
    if (!icmp) p.tpSrc = port;
  } else {
    // Forward key: (original src, server = our src, original src port, server port).
    touchPair(nat, ctx, NatKind.SnatFwd, ip, src, (port << 16) | (ports >>> 16));
    p.nwDst = ip >>> 0;
    if (!icmp) p.tpDst = port;
  }
  return NatOutcome.Applied;
}

/**
 * An ICMP error about a NATed flow, its binding found through the quoted datagram (tSrc/tDst are the
 * quoted destination/source): as NatState.reverseSnat/reverseDnat, the outer address is restored when
 * it is the translated one, and so is the quoted datagram's, with its port. Not applied when neither
 * changed.
 */
function reverseIcmpError(ctx: PacketContext, dnat: boolean, ip: number, port: number): NatOutcome {
  const p = ctx.pkt;
  let changed = false;
  if (dnat) {
    // The error comes from behind the DNAT, about a reply that left as (translated address → client).
    if ((p.nwSrc | 0) === tSrc) { p.nwSrc = ip >>> 0; changed = true; }
    if (rewriteQuoted(p, false, tSrc, ip, port)) changed = true;
  } else {
    // The error comes from the far side, about a packet that left as (SNAT address → server).
    if ((p.nwDst | 0) === tDst) { p.nwDst = ip >>> 0; ctx.nwDstRewritten = true; changed = true; }
    if (rewriteQuoted(p, true, tDst, ip, port)) changed = true;
  }
  return changed ? NatOutcome.Applied : NatOutcome.NotApplied;
}

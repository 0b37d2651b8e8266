// Connection tracking (MidoNet's ConnTrackState). A forward packet that leaves the network installs the
// tuple its reply will carry, keyed by the zone of the device it leaves from; a packet is a return flow
// when its own tuple is found under the zone of the device it entered. Only TCP, UDP and ICMP are
// tracked; anything else is always a forward flow. Generated packets (echo replies, ICMP errors) are
// return flows, as in Midolman, so they pass "matchReturnFlow → accept" rules.
import type { PacketContext } from '../context.js';
import { type Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import { type CompiledTopology, DeviceKind, bridgeDevice, routerDevice } from '../topology/compiled.js';
import { CT_TTL_MS, Put } from '../state/types.js';

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;

/** Global device number of the bridge or router that owns port `port`; -1 when out of range. */
export function portOwnerDevice(t: CompiledTopology, port: number): number {
  const p = port < 0 ? undefined : t.ports[port];
  if (p === undefined) return -1;
  return p.deviceKind === DeviceKind.Bridge ? bridgeDevice(t, p.deviceIdx) : routerDevice(t, p.deviceIdx);
}

/** IPv4 TCP/UDP/ICMP with its L4 header present (a later fragment has no ports to track). */
export function isTrackable(p: Packet): boolean {
  if (!p.hasL4) return false;
  const proto = p.nwProto;
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_ICMP;
}

/**
 * The two 16-bit "ports" of a tuple as one word, (sport << 16) | dport. ICMP echo uses the identifier
 * for both, so a request and its reply (types 8 and 0) share a tuple; other ICMP uses type / code.
 */
export function portsWord(p: Packet): number {
  if (p.nwProto === PROTO_ICMP && (p.tpSrc === ICMP_ECHO_REQUEST || p.tpSrc === ICMP_ECHO_REPLY)) {
    const id = p.icmpId & 0xffff;
    return (id << 16) | id;
  }
  return ((p.tpSrc & 0xffff) << 16) | (p.tpDst & 0xffff);
}

/** Swap the halves of a ports word: the reply's word. */
export function swapPorts(w: number): number {
  return ((w & 0xffff) << 16) | ((w >>> 16) & 0xffff);
}

/**
 * Forward or return flow, computed once per packet and cached in ctx.forwardFlow (-1 → 0/1). Reads the
 * packet as it arrived (ctx.origPkt), as Midolman keys on the original match.
 */
export function isForwardFlow(ctx: PacketContext): boolean {
  if (ctx.generating) return false;
  const f = ctx.forwardFlow;
  if (f !== -1) return f === 1;
  return lookupForwardFlow(ctx);
}

function lookupForwardFlow(ctx: PacketContext): boolean {
  const p = ctx.origPkt;
  const zone = portOwnerDevice(ctx.topo, ctx.ingressPort);
  if (zone < 0 || !isTrackable(p)) {
    ctx.forwardFlow = 1;
    return true;
  }
  const key = ctx.key;
  key[0] = zone; key[1] = p.nwProto; key[2] = p.nwSrc; key[3] = p.nwDst; key[4] = portsWord(p);
  const isReturn = ctx.state.conntrack.get(key, ctx.out, ctx.nowMs);
  ctx.forwardFlow = isReturn ? 0 : 1;
  return !isReturn;
}

/**
 * Called when a forwarded packet leaves through `egressPort`: when this packet was evaluated as a
 * forward flow (some rule asked, as in Midolman, which tracks only then), install the tuple its reply
 * will carry under the zone of the egress port's device, so the reply entering there is a return flow.
 * Refreshes the entry (CT_TTL_MS) on every forward packet. Returns false only when the table is full.
 */
export function commitConntrack(ctx: PacketContext, egressPort: number): boolean {
  if (ctx.forwardFlow !== 1 || ctx.generating) return true;
  const p = ctx.pkt;
  const zone = portOwnerDevice(ctx.topo, egressPort);
  if (zone < 0 || !isTrackable(p)) return true;
  const key = ctx.key;
  key[0] = zone; key[1] = p.nwProto; key[2] = p.nwDst; key[3] = p.nwSrc; key[4] = swapPorts(portsWord(p));
  const val = ctx.val;
  val[0] = 0;
  return ctx.state.conntrack.put(key, val, CT_TTL_MS, ctx.nowMs) !== Put.Full;
}

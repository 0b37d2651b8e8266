// Packets a router generates: ICMP errors (sent back out of the ingress port), echo replies (routed like
// any packet the router originates) and ARP requests for unresolved next hops. They are simulated after
// the main packet, from the egress of the port they leave by, and show up in the result as `generated`.
import type { PacketContext } from '../context.js';
import { BROADCAST_MAC, ipToString, prefixMask } from '../../model/addr.js';
import { ETH_ARP, ETH_IPV4, Packet } from '../packet.js';
import { RouteType, type CRouter } from '../topology/compiled.js';
import { ChainAction, runChain } from '../rules/chain.js';
import { Step } from '../../model/step.js';
import { fillEchoReply, fillIcmpError, icmpErrorAllowed } from '../wire/icmp-error.js';
import { resolveNextHop } from './router-arp.js';

/**
 * Sends ICMP type/code back out of `inPort` about the packet as this router received it (before its
 * filters' NAT, as Midolman's preRoutingMatch: ctx.preRouting once a NAT rule took it, else ctx.pkt),
 * so the error is addressed to the sender as the sender knows itself (the router decrements the TTL
 * only after its last chance to send one). False when RFC 1812 forbids it.
 */
export function sendIcmpError(ctx: PacketContext, rt: CRouter, inPort: number, type: number, code: number): boolean {
  const pkt = ctx.preRoutingTaken ? ctx.preRouting : ctx.pkt;
  if (inPort < 0 || !icmpErrorAllowed(pkt) || isSubnetBroadcast(ctx, inPort, pkt.nwDst)) {
    if (ctx.traced) ctx.step(Step.icmpSuppressed(rt, type, code));
    return false;
  }
  const port = ctx.topo.ports[inPort]!;
  const g = ctx.generate(inPort);
  fillIcmpError(pkt, type, code, port.portAddr, g);
  g.etherType = ETH_IPV4;
  g.ethSrc = port.mac;
  g.ethDst = pkt.ethSrc;
  if (ctx.traced) {
    ctx.step(Step.icmpSent(rt, { icmpType: type, icmpCode: code, from: ipToString(port.portAddr), to: ipToString(pkt.nwSrc), portId: port.id }));
  }
  return true;
}

/** RFC 1812 §4.3.2.7, as Midolman's canSend: no error about a packet to the ingress port's subnet broadcast. */
function isSubnetBroadcast(ctx: PacketContext, inPort: number, dst: number): boolean {
  const port = ctx.topo.ports[inPort]!;
  if (port.netLen >= 31) return false; // /31 and /32 have no broadcast address
  return (dst >>> 0) === ((port.netAddr | ~prefixMask(port.netLen)) >>> 0);
}

/**
 * Answers the echo request in ctx.pkt as Midolman's Router.sendIpPacket does: the reply is routed
 * (it must take a port route), gets the next hop's MAC, and passes the router's post-routing filter,
 * which may rewrite it (a floating IP's SNAT). Returns false, having sent nothing, when any of that
 * fails; an unknown next-hop MAC also sends an ARP request for it.
 */
export function sendEchoReply(ctx: PacketContext, rt: CRouter): boolean {
  const pkt = ctx.pkt;
  const topo = ctx.topo;
  const ri = rt.routes.lookup(pkt.nwSrc | 0, pkt.nwDst | 0, ctx.flowHash);
  const route = ri < 0 ? undefined : topo.routes[ri]!;
  if (route === undefined || route.type !== RouteType.Normal) return noReply(ctx, rt, ctx.traced ? `no port route back to ${ipToString(pkt.nwSrc)}` : '');
  const outPort = route.nextHopPort;
  const out = topo.ports[outPort]!;
  if ((pkt.nwSrc | 0) === (out.portAddr | 0)) return noReply(ctx, rt, 'the request came from the router\'s own address');
  const nextHop = route.nextHopGateway !== 0 ? route.nextHopGateway : pkt.nwSrc;
  if (!resolveNextHop(ctx, rt, outPort, nextHop)) {
    sendArpRequest(ctx, outPort, nextHop);
    return noReply(ctx, rt, ctx.traced ? `no MAC known for next hop ${ipToString(nextHop)} (ARP request sent)` : '');
  }
  const g = ctx.generate(outPort);
  fillEchoReply(pkt, g);
  g.etherType = ETH_IPV4;
  g.ethSrc = out.mac;
  g.ethDst = ctx.nextHopMac;
  if (ctx.traced) {
    ctx.step(Step.echoReplyRouted(rt, ipToString(g.nwSrc), ipToString(g.nwDst), out, ipToString(nextHop)));
  }
  if (rt.outChain >= 0 && !postRouteGenerated(ctx, rt, outPort, g)) {
    ctx.genCount--; // g was the last one queued
    return noReply(ctx, rt, 'the post-routing filter dropped the reply');
  }
  return true;
}

/** The packet being simulated, set aside while a generated echo reply runs the post-routing filter (one per thread). */
const aside = new Packet();

/** Runs the router's post-routing filter on generated packet `g` leaving by `outPort`; true on accept. */
function postRouteGenerated(ctx: PacketContext, rt: CRouter, outPort: number, g: typeof ctx.pkt): boolean {
  aside.copyFrom(ctx.pkt);
  const inPort = ctx.inPort;
  const outWas = ctx.outPort;
  const generating = ctx.generating;
  const taken = ctx.preRoutingTaken;
  ctx.pkt.copyFrom(g);
  ctx.inPort = -1; // a generated packet has no ingress port (and its NAT zone is its egress port's device)
  ctx.outPort = outPort;
  ctx.generating = true; // generated packets are return flows
  const action = runChain(ctx, rt.outChain, rt.id, rt.name);
  g.copyFrom(ctx.pkt);
  ctx.pkt.copyFrom(aside);
  ctx.inPort = inPort;
  ctx.outPort = outWas;
  ctx.generating = generating;
  ctx.preRoutingTaken = taken; // a NAT rule's snapshot of the reply is not the request's
  return action === ChainAction.Accept;
}

/** `why` is step text: callers pass '' for an untraced packet. */
function noReply(ctx: PacketContext, rt: CRouter, why: string): false {
  if (ctx.traced) ctx.step(Step.echoReplySuppressed(rt, why));
  return false;
}

export function sendArpRequest(ctx: PacketContext, outPort: number, target: number): void {
  const port = ctx.topo.ports[outPort]!;
  const g = ctx.generate(outPort);
  g.etherType = ETH_ARP;
  g.ethSrc = port.mac;
  g.ethDst = BROADCAST_MAC;
  g.arpOp = 1;
  g.arpSha = port.mac;
  g.arpSpa = port.portAddr;
  g.arpTha = 0;
  g.arpTpa = target;
}

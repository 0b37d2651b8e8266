// A virtual L3 router, as Midolman's Router: pre-routing filter, local addresses (echo), route lookup
// (longest prefix, source prefix, weight, ECMP), blackhole/reject/no-route with ICMP, TTL on port
// routes, post-routing filter, next-hop MAC, TTL decrement and MAC rewrite. ICMP errors quote the packet
// as the router received it (Midolman's preRoutingMatch), before its own NAT and TTL decrement.
import type { PacketContext } from '../context.js';
import { BROADCAST_MAC, ipToString, macToString } from '../../model/addr.js';
import { ETH_ARP, ETH_IPV4, Frag, PROTO_ICMP } from '../packet.js';
import { ResultCode, type Reason } from '../../model/result.js';
import { RouteType, type CPort, type CRoute, type CRouter } from '../topology/compiled.js';
import { ChainAction, chainVerdict, runChain } from '../rules/chain.js';
import { finish } from './disposition.js';
import { Step, type TraceStep } from '../../model/step.js';
import { egressHop, type Hop } from './hop.js';
import { resolveNextHop, routerArp } from './router-arp.js';
import { sendArpRequest, sendEchoReply, sendIcmpError } from './router-icmp.js';

const ICMP_ECHO_REQUEST = 8;

// Steps traced packets take often, recorded for rendering later (PacketContext.later).
const routerReceived = (rt: CRouter, inPort: CPort, _c: null, nwSrc: number, nwDst: number, ttl: number): TraceStep =>
  Step.routerReceived(rt, { inPortId: inPort.id, nwSrc: ipToString(nwSrc), nwDst: ipToString(nwDst), ttl }, inPort);
/** `hopPort`: the route's next-hop port, null when it has none. */
const routeChosen = (rt: CRouter, route: CRoute, hopPort: CPort | null): TraceStep => Step.routeChosen(rt, {
  routeId: route.id, type: ROUTE_TYPE_NAMES[route.type], dst: `${ipToString(route.dst)}/${route.dstLen}`,
  src: `${ipToString(route.src)}/${route.srcLen}`, weight: route.weight,
  nextHopPort: hopPort !== null ? hopPort.id : null,
  nextHopGateway: route.nextHopGateway !== 0 ? ipToString(route.nextHopGateway) : null,
}, route.type === RouteType.Normal ? hopPort : null);
const ttlDecremented = (rt: CRouter, _b: null, _c: null, ttl: number): TraceStep => Step.ttlDecremented(rt, ttl);
const forwarded = (rt: CRouter, out: CPort, _c: null, nextHop: number, ethDst: number): TraceStep =>
  Step.forwarded('router', rt, out, { nextHop: ipToString(nextHop), ethSrc: macToString(out.mac), ethDst: macToString(ethDst) });

/** Router `r` received the packet through its port `inPort`; returns the next hop (hop.ts). */
export function routerProcess(ctx: PacketContext, r: number, inPort: number): number {
  const rt = ctx.topo.routers[r]!;
  const pkt = ctx.pkt;
  const inCfg = ctx.topo.ports[inPort]!;
  if (ctx.traced) {
    ctx.later(routerReceived, rt, inCfg, null, pkt.nwSrc, pkt.nwDst, pkt.ttl);
  }
  if (!rt.adminUp) return drop(ctx, rt, 'router_admin_down', 'router is administratively down');
  if (pkt.vlanCount > 0) {
    // Priority-tagged frames (VLAN 0) are accepted untagged; any real VLAN is not for a router.
    if (pkt.vlanCount !== 1 || pkt.vlanIds[0] !== 0) return drop(ctx, rt, 'router_vlan_tagged', ctx.traced ? `VLAN ${pkt.vlan} tagged frames are not routed` : '');
    pkt.popVlan();
    if (ctx.traced) ctx.step(Step.vlanPopped('router', rt, 0));
  }
  if (pkt.etherType === ETH_ARP) return routerArp(ctx, rt, inPort);
  if (pkt.etherType !== ETH_IPV4) return drop(ctx, rt, 'router_unsupported_ethertype', ctx.traced ? `ethertype 0x${pkt.etherType.toString(16).padStart(4, '0')} is not routed` : '');
  // Midolman's handleL2Broadcast: of L2 broadcasts a router takes only ARP.
  if (pkt.ethDst === BROADCAST_MAC) return drop(ctx, rt, 'router_l2_broadcast', 'L2 broadcast that is not ARP');
  if (pkt.ethDst !== inCfg.mac) {
    return drop(ctx, rt, 'router_not_for_me', ctx.traced ? `destination MAC ${macToString(pkt.ethDst)} is not the port's ${macToString(inCfg.mac)}` : '');
  }
  ctx.preRoutingTaken = false;

  ctx.outPort = -1;
  if (rt.inChain >= 0) {
    const action = runChain(ctx, rt.inChain, rt.id, rt.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, rt, inPort, action, 'pre-routing');
  }

  if (rt.localAddrs.has(pkt.nwDst | 0)) {
    if (pkt.nwProto === PROTO_ICMP && pkt.hasL4 && pkt.tpSrc === ICMP_ECHO_REQUEST) {
      // Midolman's NoOp: consumed whether or not the reply finds its way back (sendEchoReply traces why not).
      const sent = sendEchoReply(ctx, rt);
      if (ctx.traced) {
        ctx.step(Step.consumed('router', rt, { reason: 'icmp_echo_reply' },
          sent ? `echo reply sent from ${ipToString(pkt.nwDst)}` : 'echo request, no reply sent'));
      }
      return finish(ctx, ResultCode.Consumed, 'icmp_echo_reply');
    }
    return drop(ctx, rt, 'local_delivery', ctx.traced ? `addressed to the router's own address ${ipToString(pkt.nwDst)}` : '');
  }

  const ri = rt.routes.lookup(pkt.nwDst | 0, pkt.nwSrc | 0, ctx.flowHash);
  if (ri < 0) {
    sendIcmpError(ctx, rt, inPort, 3, 0);
    return shortDrop(ctx, rt, 'no_route', ctx.traced ? `no route to ${ipToString(pkt.nwDst)}` : '');
  }
  const route = ctx.topo.routes[ri]!;
  if (ctx.traced) ctx.later(routeChosen, rt, route, route.nextHopPort >= 0 ? ctx.topo.ports[route.nextHopPort]! : null, 0, 0, 0);
  if (route.type === RouteType.Blackhole) return errorDrop(ctx, rt, 'blackhole_route', 'blackhole route');
  if (route.type === RouteType.Reject) {
    sendIcmpError(ctx, rt, inPort, 3, 13);
    return shortDrop(ctx, rt, 'reject_route', 'reject route');
  }
  if (route.type === RouteType.Local) return drop(ctx, rt, 'local_delivery', 'local route');

  // TTL is checked only for port routes, as in Midolman: a blackhole or reject verdict comes first.
  if (pkt.ttl <= 1) {
    sendIcmpError(ctx, rt, inPort, 11, 0);
    return errorDrop(ctx, rt, 'ttl_expired', ctx.traced ? `TTL ${pkt.ttl} expired` : '');
  }
  const outPort = route.nextHopPort;

  ctx.outPort = outPort;
  if (rt.outChain >= 0) {
    const action = runChain(ctx, rt.outChain, rt.id, rt.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, rt, inPort, action, 'post-routing');
  }

  const nextHop = route.nextHopGateway !== 0 ? route.nextHopGateway : pkt.nwDst;
  const outCfg = ctx.topo.ports[outPort]!;
  if (!resolveNextHop(ctx, rt, outPort, nextHop)) {
    sendArpRequest(ctx, outPort, nextHop);
    if (ctx.holdArp && !ctx.generating) {
      ctx.heldRouter = rt.idx;
      ctx.heldNextHop = nextHop;
      if (ctx.traced) ctx.step(Step.arpHeld(rt, ipToString(nextHop)));
      return finish(ctx, ResultCode.ShortDrop, 'arp_unresolved');
    }
    sendIcmpError(ctx, rt, inPort, 3, route.nextHopGateway === 0 ? 1 : 0);
    if (ctx.traced) {
      const ip = ipToString(nextHop);
      ctx.step(Step.dropped('router', rt, { reason: 'arp_unresolved', nextHop: ip }, `no MAC known for next hop ${ip} (ARP request sent)`));
    }
    return finish(ctx, ResultCode.ShortDrop, 'arp_unresolved');
  }
  // Decremented once the packet surely leaves (no condition reads the TTL), so the ICMP errors above
  // quote it as it arrived without a copy.
  pkt.ttl--;
  if (ctx.traced) ctx.later(ttlDecremented, rt, null, null, pkt.ttl, 0, 0);
  pkt.ethSrc = outCfg.mac;
  pkt.ethDst = ctx.nextHopMac;
  if (ctx.traced) ctx.later(forwarded, rt, outCfg, null, nextHop, pkt.ethDst, 0);
  return egressHop(outPort);
}

const ROUTE_TYPE_NAMES = ['normal', 'blackhole', 'reject', 'local'] as const;

/**
 * `why` is step text, read only when the packet is traced: callers that format it pass '' for an
 * untraced packet, so a drop allocates no string.
 */
function drop(ctx: PacketContext, rt: CRouter, reason: Reason, why: string): Hop.Done {
  if (ctx.traced) ctx.step(Step.dropped('router', rt, { reason }, why));
  return finish(ctx, ResultCode.Drop, reason);
}

function errorDrop(ctx: PacketContext, rt: CRouter, reason: Reason, why: string): Hop.Done {
  if (ctx.traced) ctx.step(Step.dropped('router', rt, { reason }, why));
  return finish(ctx, ResultCode.ErrorDrop, reason);
}

/** Refused by a filter or a reject route (the ICMP error, when allowed, was sent first). */
function rejected(ctx: PacketContext, rt: CRouter, reason: 'chain_reject' | 'reject_route', by: string): Hop.Done {
  if (ctx.traced) ctx.step(Step.rejected('router', rt, reason, by));
  return finish(ctx, ResultCode.ErrorDrop, reason);
}

function shortDrop(ctx: PacketContext, rt: CRouter, reason: Reason, why: string): Hop.Done {
  if (ctx.traced) ctx.step(Step.dropped('router', rt, { reason }, why));
  return finish(ctx, ResultCode.ShortDrop, reason);
}

/**
 * A filter dropped or rejected the packet. Reject answers ICMP 3/13; a dropped header fragment gets
 * ICMP 3/4 so the sender stops fragmenting (Midolman does not reassemble).
 */
function chainDrop(ctx: PacketContext, rt: CRouter, inPort: number, action: ChainAction, which: string): Hop.Done {
  if (action === ChainAction.Reject) {
    sendIcmpError(ctx, rt, inPort, 3, 13);
    return rejected(ctx, rt, 'chain_reject', ctx.traced ? `the ${which} filter` : '');
  }
  if (ctx.pkt.fragment === Frag.First) {
    sendIcmpError(ctx, rt, inPort, 3, 4);
    return errorDrop(ctx, rt, 'fragment_dropped', ctx.traced ? `header fragment dropped by the ${which} filter` : '');
  }
  const reason = chainVerdict.reason;
  return drop(ctx, rt, reason, !ctx.traced ? '' : reason === 'chain_drop' ? `by the ${which} filter` : `${reason.replace(/_/g, ' ')} in the ${which} filter`);
}

// A router's ARP: it answers requests for the ingress port's address and learns from requests and
// replies addressed to it (Midolman's ArpTable), and resolves next hops.
import type { PacketContext } from '../context.js';
import { inPrefix, ipToString, macHi, macLo, macToString } from '../../model/addr.js';
import { ResultCode } from '../../model/result.js';
import { ARP_TTL_MS } from '../state/types.js';
import { DeviceKind, type CRouter } from '../topology/compiled.js';
import { fillArpReply } from '../wire/icmp-error.js';
import { finish } from './disposition.js';
import { Step } from '../../model/step.js';
import type { Hop } from './hop.js';

/** An ARP frame reached router `rt` through `inPort`: answered or learned, never routed. */
export function routerArp(ctx: PacketContext, rt: CRouter, inPort: number): Hop.Done {
  const pkt = ctx.pkt;
  const port = ctx.topo.ports[inPort]!;
  if (pkt.arpTpa !== port.portAddr) {
    if (ctx.traced) ctx.step(Step.dropped('router', rt, { reason: 'router_not_for_me' }, `ARP for ${ipToString(pkt.arpTpa)} is not for this port's address`));
    return finish(ctx, ResultCode.Drop, 'router_not_for_me');
  }
  if (inPrefix(pkt.arpSpa, port.netAddr, port.netLen)) learnArp(ctx, rt, pkt.arpSpa, pkt.arpSha);
  if (pkt.arpOp === 1) {
    fillArpReply(pkt, port.mac, ctx.generate(inPort));
    if (ctx.traced) {
      const ip = ipToString(port.portAddr);
      const mac = macToString(port.mac);
      ctx.step(Step.consumed('router', rt, { reason: 'arp_consumed', ip, mac }, `answered ARP request for ${ip} with ${mac}`));
    }
  } else if (ctx.traced) {
    ctx.step(Step.consumed('router', rt, { reason: 'arp_consumed' }, `ARP reply from ${ipToString(pkt.arpSpa)}`));
  }
  return finish(ctx, ResultCode.Consumed, 'arp_consumed');
}

function learnArp(ctx: PacketContext, rt: CRouter, ip: number, mac: number): void {
  ctx.key[0] = rt.idx; ctx.key[1] = ip;
  ctx.val[0] = macHi(mac); ctx.val[1] = macLo(mac);
  ctx.state.arp.put(ctx.key, ctx.val, ARP_TTL_MS, ctx.nowMs);
  if (ctx.traced) ctx.step(Step.arpLearned(rt, ipToString(ip), macToString(mac)));
}

/**
 * The MAC of next hop `ip` behind `outPort`: the peer router port, the peer bridge's ARP table or one
 * of its router ports, the router's seeded table, then the ARP cache. Leaves it in ctx.nextHopMac and
 * returns true, or returns false when unknown. (Returned as a number, a 48-bit MAC would be boxed.)
 */
export function resolveNextHop(ctx: PacketContext, rt: CRouter, outPort: number, ip: number): boolean {
  const topo = ctx.topo;
  const port = topo.ports[outPort]!;
  if (port.peer >= 0) {
    const peer = topo.ports[port.peer]!;
    if (peer.deviceKind === DeviceKind.Router) { ctx.nextHopMac = peer.mac; return true; }
    const br = topo.bridges[peer.deviceIdx]!;
    const m = br.arpTable.get(ip | 0) ?? br.routerMacByIp.get(ip | 0);
    if (m !== undefined) { ctx.nextHopMac = m; return true; }
  }
  const seeded = rt.arpTable.get(ip | 0);
  if (seeded !== undefined) { ctx.nextHopMac = seeded; return true; }
  ctx.key[0] = rt.idx; ctx.key[1] = ip;
  if (!ctx.state.arp.get(ctx.key, ctx.out, ctx.nowMs)) return false;
  ctx.nextHopMac = ctx.out[0]! * 0x1000000 + ctx.out[1]!;
  return true;
}

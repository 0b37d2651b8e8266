// Packets a router generates: ICMP errors and echo replies (sent back out of the ingress port) and
// ARP requests for unresolved next hops. They are simulated after the main packet, from the egress of
// the port they leave by, and show up in the result as `generated`.
import type { PacketContext } from '../context.js';
import { BROADCAST_MAC, ipToString } from '../../model/addr.js';
import { ETH_ARP, ETH_IPV4 } from '../packet.js';
import type { CRouter } from '../topology/compiled.js';
import { Step } from '../../model/step.js';
import { fillEchoReply, fillIcmpError, icmpErrorAllowed } from '../wire/icmp-error.js';

/** Sends ICMP type/code about the current packet back out of `inPort`; false when RFC 1812 forbids it. */
export function sendIcmpError(ctx: PacketContext, rt: CRouter, inPort: number, type: number, code: number): boolean {
  const pkt = ctx.pkt;
  if (inPort < 0 || !icmpErrorAllowed(pkt)) {
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

export function sendEchoReply(ctx: PacketContext, inPort: number): void {
  const pkt = ctx.pkt;
  const port = ctx.topo.ports[inPort]!;
  const g = ctx.generate(inPort);
  fillEchoReply(pkt, g);
  g.etherType = ETH_IPV4;
  g.ethSrc = port.mac;
  g.ethDst = pkt.ethSrc;
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

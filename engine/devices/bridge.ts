// A virtual L2 switch, as Midolman's Bridge: MAC learning per VLAN, flooding to exterior ports, ARP
// answers from the seeded table (never for a gratuitous ARP), router ports known by MAC, VLAN-aware
// interior ports.
import type { PacketContext } from '../context.js';
import { BROADCAST_MAC, ipToString, isMulticastMac, macHi, macLo, macToString } from '../../model/addr.js';
import { ETH_ARP } from '../packet.js';
import { ResultCode } from '../../model/result.js';
import { MAC_TTL_MS, Put } from '../state/types.js';
import { DeviceKind, type CBridge, type CompiledTopology, type CPort } from '../topology/compiled.js';
import { ChainAction, chainVerdict, runChain } from '../rules/chain.js';
import { fillArpReply } from '../wire/icmp-error.js';
import { finish } from './disposition.js';
import { Step, type TraceStep } from '../../model/step.js';
import { egressHop, floodBranchHop, Hop } from './hop.js';

const ARP_REQUEST = 1;
const UNTAGGED = 4096;

// Steps traced packets take often, recorded for rendering later (PacketContext.later).
const bridgeReceived = (br: CBridge, inPort: CPort, _c: null, ethSrc: number, ethDst: number, vlan: number): TraceStep =>
  Step.bridgeReceived(br, { inPortId: inPort.id, ethSrc: macToString(ethSrc), ethDst: macToString(ethDst), vlan });
const macLearned = (br: CBridge, port: CPort, prev: CPort | null, mac: number, vlan: number, full: number): TraceStep =>
  Step.macLearned(br, { mac: macToString(mac), portId: port.id, vlan, previousPortId: prev !== null ? prev.id : null, full: full !== 0 }, port);
const macKnown = (br: CBridge, port: CPort, _c: null, mac: number): TraceStep => Step.macKnown(br, macToString(mac), port);
const forwarded = (br: CBridge, port: CPort): TraceStep => Step.forwarded('bridge', br, port);
const flooded = (br: CBridge, why: string, _c: null, branches: number): TraceStep => Step.flooded(br, why, branches);

/** Bridge `b` received the packet through its port `inPort`; returns the next hop (hop.ts). */
export function bridgeProcess(ctx: PacketContext, b: number, inPort: number): number {
  const br = ctx.topo.bridges[b]!;
  const pkt = ctx.pkt;
  if (ctx.traced) {
    ctx.later(bridgeReceived, br, ctx.topo.ports[inPort]!, null, pkt.ethSrc, pkt.ethDst, pkt.vlan);
  }
  if (!br.adminUp) return drop(ctx, br, 'bridge_admin_down', 'bridge is administratively down');
  if (isMulticastMac(pkt.ethSrc)) return drop(ctx, br, 'multicast_src_mac', 'source MAC is multicast');

  // A frame from a VLAN-unaware bridge entering through a VLAN interior port is tagged with that VLAN.
  const inCfg = ctx.topo.ports[inPort]!;
  if (inCfg.vlanId >= 0 && pkt.vlanCount === 0) {
    pkt.pushVlan(inCfg.vlanId);
    if (ctx.traced) ctx.step(Step.vlanPushed(br, inCfg.vlanId));
  }
  // Midolman skips a bridge's filters for VLAN-tagged frames (the VLAN-aware bridge is a trunk).
  const filtered = pkt.vlanCount === 0;
  if (filtered && br.inChain >= 0) {
    const action = runChain(ctx, br.inChain, br.id, br.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, br, action);
  }

  learn(ctx, br, inPort);

  // ARP requests for an address in the seeded table are answered here, without flooding. A gratuitous
  // ARP (sender = target address) announces its sender: it is not answered, it floods (Midolman).
  if (pkt.etherType === ETH_ARP && pkt.arpOp === ARP_REQUEST) {
    const mac = pkt.arpSpa === pkt.arpTpa ? undefined : br.arpTable.get(pkt.arpTpa | 0);
    if (mac !== undefined) {
      fillArpReply(pkt, mac, ctx.generate(inPort));
      if (ctx.traced) {
        const ip = ipToString(pkt.arpTpa);
        const m = macToString(mac);
        ctx.step(Step.consumed('bridge', br, { reason: 'arp_consumed', ip, mac: m }, `answered ARP request for ${ip} with ${m} from the bridge's ARP table`));
      }
      return finish(ctx, ResultCode.Consumed, 'arp_consumed');
    }
    // A request for a linked router port's address goes to that port only; the router answers.
    const rmac = br.routerMacByIp.get(pkt.arpTpa | 0);
    if (rmac !== undefined) {
      const rp = br.routerPortByMac.get(rmac)!;
      if (ctx.traced) ctx.step(Step.arpRedirected(br, ipToString(pkt.arpTpa), ctx.topo.ports[rp]!));
      return forward(ctx, br, rp, inPort, filtered);
    }
    if (ctx.traced && pkt.arpSpa === pkt.arpTpa) {
      ctx.step(Step.arpGratuitous(br, ipToString(pkt.arpSpa)));
    }
  }

  const vlan = pkt.vlanCount > 0 ? pkt.vlanIds[0]! : UNTAGGED;
  // A tagged frame for a VLAN with its own interior port leaves there with the tag popped.
  if (vlan !== UNTAGGED && br.vlanPorts.size !== 0) {
    const vp = br.vlanPorts.get(vlan);
    if (vp !== undefined && vp !== inPort) {
      pkt.popVlan();
      if (ctx.traced) ctx.step(Step.vlanPopped('bridge', br, vlan, ctx.topo.ports[vp]!.id));
      return forward(ctx, br, vp, inPort, false);
    }
  }

  const dst = pkt.ethDst;
  if (dst === BROADCAST_MAC || isMulticastMac(dst)) return flood(ctx, br, inPort, dst === BROADCAST_MAC ? 'broadcast' : 'multicast');
  const hi = macHi(dst);
  const lo = macLo(dst);
  const rps = br.routerPorts;
  for (let i = 0; i < rps.length; i++) {
    if (br.routerPortMacLo[i] === lo && br.routerPortMacHi[i] === hi) return forward(ctx, br, rps[i]!, inPort, filtered);
  }
  const key = ctx.key;
  key[0] = br.idx; key[1] = vlan; key[2] = hi; key[3] = lo;
  if (ctx.state.mac.get(key, ctx.out, ctx.nowMs)) {
    const out = ctx.out[0]!;
    if (ctx.traced) ctx.later(macKnown, br, ctx.topo.ports[out]!, null, dst, 0, 0);
    return forward(ctx, br, out, inPort, filtered);
  }
  return flood(ctx, br, inPort, 'unknown destination');
}

function learn(ctx: PacketContext, br: CBridge, inPort: number): void {
  const pkt = ctx.pkt;
  const key = ctx.key;
  key[0] = br.idx; key[1] = pkt.vlanCount > 0 ? pkt.vlanIds[0]! : UNTAGGED;
  key[2] = macHi(pkt.ethSrc); key[3] = macLo(pkt.ethSrc);
  let prev = -1;
  if (ctx.traced && ctx.state.mac.get(key, ctx.out, ctx.nowMs)) prev = ctx.out[0]!;
  ctx.val[0] = inPort;
  const r = ctx.state.mac.put(key, ctx.val, MAC_TTL_MS, ctx.nowMs);
  if (ctx.traced) {
    ctx.later(macLearned, br, ctx.topo.ports[inPort]!, prev >= 0 ? ctx.topo.ports[prev]! : null, pkt.ethSrc, pkt.vlan, r === Put.Full ? 1 : 0);
  }
}

function forward(ctx: PacketContext, br: CBridge, out: number, inPort: number, filtered: boolean): number {
  if (out === inPort) return drop(ctx, br, 'same_port', 'destination is behind the ingress port');
  ctx.outPort = out;
  if (filtered && br.outChain >= 0) {
    const action = runChain(ctx, br.outChain, br.id, br.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, br, action);
  }
  if (ctx.traced) ctx.later(forwarded, br, ctx.topo.ports[out]!, null, 0, 0, 0);
  return egressHop(out);
}

/**
 * Whether a flood goes out of bridge port `p`: Midolman floods to the exterior ports, and from a
 * VLAN-unaware bridge also to its links to a VLAN-aware bridge's VLAN ports. Router ports and plain
 * bridge-to-bridge links are not flooded: a router learns nothing from a broadcast that is not ARP, and
 * ARP for a router port is sent to that port by address.
 */
function floods(topo: CompiledTopology, p: number): boolean {
  const cfg = topo.ports[p]!;
  if (cfg.exterior) return true;
  if (cfg.vlanId >= 0) return false; // VLAN interior ports take only their VLAN (handled before flooding)
  const peer = topo.ports[cfg.peer]!;
  return peer.deviceKind === DeviceKind.Bridge && peer.vlanId >= 0;
}

/**
 * Floods to the ports floods() allows. Each branch starts from the packet as it is now, so the packet
 * is saved once and the branches are queued for the dispatch loop (floodBranch below runs each).
 */
function flood(ctx: PacketContext, br: CBridge, inPort: number, why: string): number {
  const ports = br.ports;
  const forks = ctx.forks;
  forks.fork(ctx.pkt, ctx.inPort);
  let branches = 0;
  // Pushed last to first, so the branches run in port order.
  for (let i = ports.length - 1; i >= 0; i--) {
    const p = ports[i]!;
    if (p === inPort || !floods(ctx.topo, p)) continue;
    forks.push(floodBranchHop(p));
    branches++;
  }
  // Recorded after queueing: the branches run (and record their steps) only once this returns.
  if (ctx.traced) ctx.later(flooded, br, why, null, branches, 0, 0);
  if (branches === 0) {
    forks.abandon();
    return drop(ctx, br, 'no_exterior_port', 'no other exterior port to flood to');
  }
  return Hop.Done;
}

/** One branch of a flood out of bridge port `out`: the bridge's outbound filter, then the port. */
export function floodBranch(ctx: PacketContext, out: number): number {
  const br = ctx.topo.bridges[ctx.topo.ports[out]!.deviceIdx]!;
  ctx.outPort = out;
  // Tagged frames skip the bridge's filters, as on the way in (the flood left the tag as it was).
  if (ctx.pkt.vlanCount === 0 && br.outChain >= 0) {
    const action = runChain(ctx, br.outChain, br.id, br.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, br, action);
  }
  return egressHop(out);
}

function drop(ctx: PacketContext, br: CBridge, reason: 'bridge_admin_down' | 'multicast_src_mac' | 'same_port' | 'no_exterior_port', why: string): Hop.Done {
  if (ctx.traced) ctx.step(Step.dropped('bridge', br, { reason }, why));
  return finish(ctx, ResultCode.Drop, reason);
}

function chainDrop(ctx: PacketContext, br: CBridge, action: ChainAction): Hop.Done {
  const reason = action === ChainAction.Reject ? 'chain_reject' : chainVerdict.reason;
  if (ctx.traced) {
    ctx.step(action === ChainAction.Reject ? Step.rejected('bridge', br, reason, 'filter chain')
      : Step.dropped('bridge', br, { reason }, 'by filter chain'));
  }
  return finish(ctx, ResultCode.Drop, reason);
}

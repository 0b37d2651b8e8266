// A virtual L2 switch, as Midolman's Bridge: MAC learning per VLAN, flooding to exterior ports, ARP
// answers from the seeded table (never for a gratuitous ARP), router ports known by MAC, VLAN-aware
// interior ports.
import type { PacketContext } from '../context.js';
import { BROADCAST_MAC, ipToString, isMulticastMac, macHi, macLo, macToString } from '../../model/addr.js';
import { ETH_ARP } from '../packet.js';
import { ResultCode } from '../../model/result.js';
import { MAC_TTL_MS, Put } from '../state/types.js';
import { bridgeDevice, DeviceKind, type CBridge, type CompiledTopology } from '../topology/compiled.js';
import { ChainAction, chainVerdict, runChain } from '../rules/chain.js';
import { fillArpReply } from '../wire/icmp-error.js';
import { enterDevice, finish, label } from './disposition.js';
// eslint-disable-next-line import-x/no-cycle -- devices still call each other; the dispatch loop (P8 item 2) removes this
import { portEgress } from './port.js';

const ARP_REQUEST = 1;
const UNTAGGED = 4096;

export function bridgeProcess(ctx: PacketContext, b: number, inPort: number): void {
  const br = ctx.topo.bridges[b]!;
  enterDevice(ctx, bridgeDevice(ctx.topo, b), 'bridge', br.id, br.name);
  const pkt = ctx.pkt;
  if (ctx.traced) {
    ctx.step('reception', 'bridge', br.id, br.name, `bridge ${label(br.name, br.id)} received the packet`,
      { inPortId: ctx.topo.ports[inPort]!.id, ethSrc: macToString(pkt.ethSrc), ethDst: macToString(pkt.ethDst), vlan: pkt.vlan });
  }
  if (!br.adminUp) return drop(ctx, br, 'bridge_admin_down', 'bridge is administratively down');
  if (isMulticastMac(pkt.ethSrc)) return drop(ctx, br, 'multicast_src_mac', 'source MAC is multicast');

  // A frame from a VLAN-unaware bridge entering through a VLAN interior port is tagged with that VLAN.
  const inCfg = ctx.topo.ports[inPort]!;
  if (inCfg.vlanId >= 0 && pkt.vlanCount === 0) {
    pkt.pushVlan(inCfg.vlanId);
    if (ctx.traced) ctx.step('processing', 'bridge', br.id, br.name, `pushed VLAN ${inCfg.vlanId} (VLAN interior port)`, { vlan: inCfg.vlanId });
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
        ctx.step('disposition', 'bridge', br.id, br.name,
          `consumed: answered ARP request for ${ipToString(pkt.arpTpa)} with ${macToString(mac)} from the bridge's ARP table`,
          { reason: 'arp_consumed', ip: ipToString(pkt.arpTpa), mac: macToString(mac) });
      }
      finish(ctx, ResultCode.Consumed, 'arp_consumed');
      return;
    }
    // A request for a linked router port's address goes to that port only; the router answers.
    const rmac = br.routerMacByIp.get(pkt.arpTpa | 0);
    if (rmac !== undefined) {
      const rp = br.routerPortByMac.get(rmac)!;
      if (ctx.traced) ctx.step('processing', 'bridge', br.id, br.name, `ARP request for router port address ${ipToString(pkt.arpTpa)}: sent to that port`, { portId: ctx.topo.ports[rp]!.id });
      return forward(ctx, br, rp, inPort, filtered);
    }
    if (ctx.traced && pkt.arpSpa === pkt.arpTpa) {
      ctx.step('processing', 'bridge', br.id, br.name, `gratuitous ARP from ${ipToString(pkt.arpSpa)}: not answered from the ARP table`, { ip: ipToString(pkt.arpSpa), gratuitous: true });
    }
  }

  const vlan = pkt.vlanCount > 0 ? pkt.vlanIds[0]! : UNTAGGED;
  // A tagged frame for a VLAN with its own interior port leaves there with the tag popped.
  if (vlan !== UNTAGGED && br.vlanPorts.size !== 0) {
    const vp = br.vlanPorts.get(vlan);
    if (vp !== undefined && vp !== inPort) {
      pkt.popVlan();
      if (ctx.traced) ctx.step('processing', 'bridge', br.id, br.name, `popped VLAN ${vlan} towards its VLAN interior port`, { vlan, portId: ctx.topo.ports[vp]!.id });
      return forward(ctx, br, vp, inPort, false);
    }
  }

  const dst = pkt.ethDst;
  if (dst === BROADCAST_MAC || isMulticastMac(dst)) return flood(ctx, br, inPort, filtered, dst === BROADCAST_MAC ? 'broadcast' : 'multicast');
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
    if (ctx.traced) ctx.step('processing', 'bridge', br.id, br.name, `destination ${macToString(dst)} learned on port ${label(ctx.topo.ports[out]!.name, ctx.topo.ports[out]!.id)}`, { portId: ctx.topo.ports[out]!.id });
    return forward(ctx, br, out, inPort, filtered);
  }
  flood(ctx, br, inPort, filtered, 'unknown destination');
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
    const port = ctx.topo.ports[inPort]!;
    const mac = macToString(pkt.ethSrc);
    let message: string;
    if (r === Put.Full) message = `MAC table full: ${mac} not learned`;
    else if (prev === -1) message = `learned ${mac} on port ${label(port.name, port.id)}`;
    else if (prev !== inPort) message = `MAC ${mac} moved from port ${ctx.topo.ports[prev]!.id} to port ${label(port.name, port.id)}`;
    else message = `refreshed ${mac} on port ${label(port.name, port.id)}`;
    ctx.step('processing', 'bridge', br.id, br.name, message,
      { mac, portId: port.id, vlan: pkt.vlan, previousPortId: prev >= 0 ? ctx.topo.ports[prev]!.id : null, full: r === Put.Full });
  }
}

function forward(ctx: PacketContext, br: CBridge, out: number, inPort: number, filtered: boolean): void {
  if (out === inPort) return drop(ctx, br, 'same_port', 'destination is behind the ingress port');
  ctx.outPort = out;
  if (filtered && br.outChain >= 0) {
    const action = runChain(ctx, br.outChain, br.id, br.name);
    if (action !== ChainAction.Accept) return chainDrop(ctx, br, action);
  }
  if (ctx.traced) {
    const p = ctx.topo.ports[out]!;
    ctx.step('disposition', 'bridge', br.id, br.name, `forwarded to port ${label(p.name, p.id)}`, { portId: p.id });
  }
  portEgress(ctx, out);
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

function flood(ctx: PacketContext, br: CBridge, inPort: number, filtered: boolean, why: string): void {
  const ports = br.ports;
  if (ctx.traced) {
    let n = 0;
    for (let i = 0; i < ports.length; i++) if (ports[i] !== inPort && floods(ctx.topo, ports[i]!)) n++;
    ctx.step('disposition', 'bridge', br.id, br.name, `flooded (${why}) to ${n} port(s)`, { reason: why, ports: n });
  }
  let sent = 0;
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i]!;
    if (p === inPort || !floods(ctx.topo, p)) continue;
    sent++;
    const saved = ctx.acquire(ctx.pkt);
    const savedIn = ctx.inPort;
    ctx.outPort = p;
    let ok = true;
    if (filtered && br.outChain >= 0) {
      const action = runChain(ctx, br.outChain, br.id, br.name);
      if (action !== ChainAction.Accept) { chainDrop(ctx, br, action); ok = false; }
    }
    if (ok) portEgress(ctx, p);
    ctx.pkt.copyFrom(saved);
    ctx.inPort = savedIn;
    ctx.release();
  }
  if (sent === 0) drop(ctx, br, 'no_exterior_port', 'no other exterior port to flood to');
}

function drop(ctx: PacketContext, br: CBridge, reason: 'bridge_admin_down' | 'multicast_src_mac' | 'same_port' | 'no_exterior_port', why: string): void {
  if (ctx.traced) ctx.step('disposition', 'bridge', br.id, br.name, `dropped: ${why}`, { reason });
  finish(ctx, ResultCode.Drop, reason);
}

function chainDrop(ctx: PacketContext, br: CBridge, action: ChainAction): void {
  const reason = action === ChainAction.Reject ? 'chain_reject' : chainVerdict.reason;
  if (ctx.traced) ctx.step('disposition', 'bridge', br.id, br.name, `${action === ChainAction.Reject ? 'rejected' : 'dropped'} by filter chain`, { reason });
  finish(ctx, ResultCode.Drop, reason);
}

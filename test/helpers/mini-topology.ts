// A tiny hand builder of CompiledTopology objects (independent of the real compiler) and a packet
// filler, so rule, chain, NAT and conntrack tests read like the network they describe.
import { parseIp } from '../../model/addr.js';
import { ETH_IPV4, Frag, Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../../engine/packet.js';
import { compileCondition, type ConditionRefs } from '../../engine/rules/condition.js';
import {
  type CChain, type CompiledTopology, type CPort, type CRule, DeviceKind, FlowAction, RuleType,
  bridgeDevice, portDevice, routerDevice,
} from '../../engine/topology/compiled.js';
import type { ChainJson, IpAddrGroupJson, PortGroupJson, RuleJson } from '../../model/topology/doc.js';
import { createStateTables } from '../../engine/state/tables.js';
import type { SimStateTables } from '../../engine/state/types.js';

export interface MiniDevice { id: string; name?: string; inChain?: string; outChain?: string }
export interface MiniPort extends MiniDevice { device: string; peer?: string }
export interface MiniSpec {
  bridges?: MiniDevice[];
  routers?: MiniDevice[];
  ports?: MiniPort[];
  chains?: ChainJson[];
  portGroups?: PortGroupJson[];
  ipAddrGroups?: IpAddrGroupJson[];
}

const RULE_TYPES: Record<RuleJson['type'], RuleType> = {
  accept: RuleType.Accept, drop: RuleType.Drop, reject: RuleType.Reject, continue: RuleType.Continue,
  return: RuleType.Return, jump: RuleType.Jump, dnat: RuleType.Dnat, snat: RuleType.Snat,
  rev_dnat: RuleType.RevDnat, rev_snat: RuleType.RevSnat,
};
const FLOW_ACTIONS = { accept: FlowAction.Accept, continue: FlowAction.Continue, return: FlowAction.Return };

const EMPTY_ROUTES = { size: 0, lookup: (): number => -1 };

function indexOf(list: readonly { id: string }[] | undefined): Map<string, number> {
  return new Map((list ?? []).map((x, i) => [x.id, i]));
}

export function miniTopology(spec: MiniSpec): CompiledTopology {
  const bridgeIndex = indexOf(spec.bridges);
  const routerIndex = indexOf(spec.routers);
  const portIndex = indexOf(spec.ports);
  const chainIndex = indexOf(spec.chains);
  const portGroupIndex = indexOf(spec.portGroups);
  const ipAddrGroupIndex = indexOf(spec.ipAddrGroups);
  const chainIdx = (id: string | undefined): number => (id === undefined ? -1 : chainIndex.get(id) ?? -1);
  const nb = spec.bridges?.length ?? 0;
  const nr = spec.routers?.length ?? 0;
  const shell = { bridges: { length: nb }, routers: { length: nr } } as unknown as CompiledTopology;
  const refs: ConditionRefs = {
    portIndex, portGroupIndex, ipAddrGroupIndex,
    deviceNumber(id) {
      const b = bridgeIndex.get(id); if (b !== undefined) return bridgeDevice(shell, b);
      const r = routerIndex.get(id); if (r !== undefined) return routerDevice(shell, r);
      const p = portIndex.get(id); return p !== undefined ? portDevice(shell, p) : -1;
    },
  };

  const rules: CRule[] = [];
  const chains: CChain[] = (spec.chains ?? []).map((c, ci) => {
    const own = (c.rules ?? []).map((r, position): CRule => {
      const rule: CRule = {
        idx: rules.length, id: r.id, chainIdx: ci, position, type: RULE_TYPES[r.type],
        cond: compileCondition(r, refs), jumpChain: chainIdx(r.jumpChainId),
        natTargets: (r.natTargets ?? []).map((t) => ({
          addrFrom: parseIp(t.addressFrom), addrTo: parseIp(t.addressTo), portFrom: t.portFrom ?? 0, portTo: t.portTo ?? 0,
        })),
        flowAction: FLOW_ACTIONS[r.flowAction ?? 'accept'],
      };
      rules.push(rule);
      return rule;
    });
    return { idx: ci, id: c.id, name: c.name ?? '', rules: own };
  });

  const groupsOf = (portId: string): number[] => (spec.portGroups ?? [])
    .flatMap((g, gi) => ((g.portIds ?? []).includes(portId) ? [gi] : []));
  const ports: CPort[] = (spec.ports ?? []).map((p, idx) => {
    const b = bridgeIndex.get(p.device);
    const r = routerIndex.get(p.device);
    if (b === undefined && r === undefined) throw new Error(`port ${p.id}: unknown device ${p.device}`);
    const peer = p.peer === undefined ? -1 : portIndex.get(p.peer) ?? -1;
    return {
      idx, id: p.id, name: p.name ?? '', deviceKind: b !== undefined ? DeviceKind.Bridge : DeviceKind.Router,
      deviceIdx: b ?? r!, adminUp: true, peer, exterior: peer < 0, hostId: null, interfaceName: null,
      vlanId: -1, inChain: chainIdx(p.inChain), outChain: chainIdx(p.outChain), portGroups: groupsOf(p.id),
      portAddr: 0, netAddr: 0, netLen: 0, mac: 0,
    };
  });
  const portsOf = (dev: string): number[] => ports.filter((_, i) => spec.ports![i]!.device === dev).map((p) => p.idx);

  return {
    ports,
    bridges: (spec.bridges ?? []).map((b, idx) => ({
      idx, id: b.id, name: b.name ?? '', adminUp: true, inChain: chainIdx(b.inChain), outChain: chainIdx(b.outChain),
      arpTable: new Map(), ports: portsOf(b.id), exteriorPorts: portsOf(b.id).filter((i) => ports[i]!.exterior),
      routerPortByMac: new Map(), routerMacByIp: new Map(), vlanPorts: new Map(),
      routerPorts: new Int32Array(0), routerPortMacHi: new Int32Array(0), routerPortMacLo: new Int32Array(0),
    })),
    routers: (spec.routers ?? []).map((r, idx) => ({
      idx, id: r.id, name: r.name ?? '', adminUp: true, inChain: chainIdx(r.inChain), outChain: chainIdx(r.outChain),
      arpTable: new Map(), ports: portsOf(r.id), localAddrs: new Map(), routes: EMPTY_ROUTES,
    })),
    routes: [],
    chains,
    rules,
    portGroups: (spec.portGroups ?? []).map((g, idx) => ({
      idx, id: g.id, name: g.name ?? '', ports: (g.portIds ?? []).map((id) => portIndex.get(id) ?? -1),
    })),
    ipAddrGroups: (spec.ipAddrGroups ?? []).map((g, idx) => ({
      idx, id: g.id, name: g.name ?? '', addrs: new Set((g.addresses ?? []).map(parseIp)),
    })),
    portIndex, bridgeIndex, routerIndex, chainIndex, portGroupIndex, ipAddrGroupIndex,
    deviceCount: nb + nr + ports.length,
  };
}

/** Small real state tables (engine/state/tables.ts), so tests exercise the shared-memory FlowTable. */
export function stateTables(natCapacity = 4096): SimStateTables {
  return createStateTables({ macCapacity: 256, arpCapacity: 256, conntrackCapacity: 4096, natCapacity });
}

export interface PktFields {
  ethSrc?: number; ethDst?: number; etherType?: number; vlan?: number;
  nwSrc?: string; nwDst?: string; proto?: 'tcp' | 'udp' | 'icmp' | number; tos?: number;
  tpSrc?: number; tpDst?: number; icmpId?: number; fragment?: Frag;
}

/** Fill `p` (reset first): IPv4 when nwSrc or nwDst is given; ICMP uses tpSrc/tpDst as type/code. */
export function fillPacket(p: Packet, f: PktFields): Packet {
  p.reset();
  p.ethSrc = f.ethSrc ?? 0x020000000001;
  p.ethDst = f.ethDst ?? 0x020000000002;
  if (f.vlan !== undefined) p.pushVlan(f.vlan);
  const ip = f.nwSrc !== undefined || f.nwDst !== undefined;
  p.etherType = f.etherType ?? (ip ? ETH_IPV4 : 0x88b5);
  if (ip) {
    p.nwSrc = parseIp(f.nwSrc ?? '10.0.0.1');
    p.nwDst = parseIp(f.nwDst ?? '10.0.0.2');
    p.nwProto = f.proto === 'tcp' ? PROTO_TCP : f.proto === 'udp' ? PROTO_UDP : f.proto === 'icmp' ? PROTO_ICMP
      : f.proto ?? PROTO_TCP;
    p.nwTos = f.tos ?? 0;
    p.ttl = 64;
    p.fragment = f.fragment ?? Frag.None;
    if (p.fragment !== Frag.Later) {
      p.tpSrc = f.tpSrc ?? 0;
      p.tpDst = f.tpDst ?? 0;
      p.icmpId = f.icmpId ?? 0;
    }
  }
  return p;
}

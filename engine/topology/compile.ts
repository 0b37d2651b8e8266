// Turns a validated topology document into the flat, index-based CompiledTopology the simulation
// reads. Every index follows the document's array order; implicit routes come after the explicit
// ones. Input is expected to have passed loadTopology(): a dangling reference here is a programmer
// error and throws.
import { parseIp, parseMac, prefixMask, macHi, macLo } from '../../model/addr.js';
import { buildRouteTable } from '../routing/lpm.js';
import { LazyRouteTable } from '../routing/route-scan.js';
import type { RouteTable } from '../routing/route-table.js';
import { compileCondition, type ConditionRefs } from '../rules/condition.js';
import type { ArpEntryJson, RouteJson, RuleTypeName, TopologyDoc } from '../../model/topology/doc.js';
import {
  DeviceKind, FlowAction, RouteType, RuleType,
  type CBridge, type CChain, type CIpAddrGroup, type CNatTarget, type CompiledTopology, type CPort,
  type CPortGroup, type CRoute, type CRouter, type CRule,
} from './compiled.js';

/** MidoNet's Route.DEFAULT_WEIGHT, for explicit routes without a weight and implicit network routes. */
export const DEFAULT_ROUTE_WEIGHT = 100;
/** Weight of the implicit port-address (local) route. */
export const LOCAL_ROUTE_WEIGHT = 0;

const RULE_TYPES: Record<RuleTypeName, RuleType> = {
  accept: RuleType.Accept, drop: RuleType.Drop, reject: RuleType.Reject, continue: RuleType.Continue,
  return: RuleType.Return, jump: RuleType.Jump, dnat: RuleType.Dnat, snat: RuleType.Snat,
  rev_dnat: RuleType.RevDnat, rev_snat: RuleType.RevSnat,
};
const FLOW_ACTIONS = { accept: FlowAction.Accept, continue: FlowAction.Continue, return: FlowAction.Return } as const;
const ROUTE_TYPES = { normal: RouteType.Normal, blackhole: RouteType.Blackhole, reject: RouteType.Reject } as const;

function indexOf(list: readonly { id: string }[] | undefined): Map<string, number> {
  const m = new Map<string, number>();
  (list ?? []).forEach((x, i) => m.set(x.id, i));
  return m;
}

function need(map: ReadonlyMap<string, number>, id: string, what: string): number {
  const i = map.get(id);
  if (i === undefined) throw new Error(`compileTopology: unknown ${what} ${id} (validate with loadTopology first)`);
  return i;
}

function optional(map: ReadonlyMap<string, number>, id: string | undefined, what: string): number {
  return id === undefined ? -1 : need(map, id, what);
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = m.get(k);
    if (list === undefined) m.set(k, [item]);
    else list.push(item);
  }
  return m;
}

function arpTable(entries: readonly ArpEntryJson[] | undefined): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of entries ?? []) m.set(parseIp(e.ip) | 0, parseMac(e.mac));
  return m;
}

/** ConditionRefs over index maps of a topology being compiled (global device numbers per compiled.ts). */
export function conditionRefs(
  maps: { bridgeIndex: ReadonlyMap<string, number>; routerIndex: ReadonlyMap<string, number>; portIndex: ReadonlyMap<string, number>;
    portGroupIndex: ReadonlyMap<string, number>; ipAddrGroupIndex: ReadonlyMap<string, number> },
): ConditionRefs {
  const b = maps.bridgeIndex.size;
  const r = maps.routerIndex.size;
  return {
    portIndex: maps.portIndex,
    portGroupIndex: maps.portGroupIndex,
    ipAddrGroupIndex: maps.ipAddrGroupIndex,
    deviceNumber(id: string): number {
      const bi = maps.bridgeIndex.get(id);
      if (bi !== undefined) return bi;
      const ri = maps.routerIndex.get(id);
      if (ri !== undefined) return b + ri;
      const pi = maps.portIndex.get(id);
      return pi !== undefined ? b + r + pi : -1;
    },
  };
}

function routeTable(tables: boolean | 'lazy', routes: readonly CRoute[]): RouteTable {
  return tables === 'lazy' ? new LazyRouteTable(routes) : tables ? buildRouteTable(routes) : unbuiltTable(routes.length);
}

/** A router's table in a topology compiled without route tables: looking up in it is a bug. */
function unbuiltTable(size: number): RouteTable {
  return {
    size,
    lookup: () => { throw new Error('compileTopology: route tables were not built for this topology (routeTables: false)'); },
  };
}

/** Global device number (bridges, then routers, then ports) of an id, -1 when it names no device. */
export function deviceNumberOf(topo: CompiledTopology, id: string): number {
  return conditionRefs(topo).deviceNumber(id);
}

function compileRoute(r: RouteJson, idx: number, routerIndex: ReadonlyMap<string, number>, portIndex: ReadonlyMap<string, number>): CRoute {
  const type = ROUTE_TYPES[r.type ?? 'normal'];
  const srcLen = r.srcNetworkLength ?? 0;
  return {
    idx, id: r.id,
    routerIdx: need(routerIndex, r.routerId, 'router'),
    type,
    dst: (parseIp(r.dstNetworkAddr) & prefixMask(r.dstNetworkLength)) >>> 0,
    dstLen: r.dstNetworkLength,
    src: (parseIp(r.srcNetworkAddr ?? '0.0.0.0') & prefixMask(srcLen)) >>> 0,
    srcLen,
    nextHopPort: type === RouteType.Normal ? optional(portIndex, r.nextHopPort, 'port') : -1,
    nextHopGateway: r.nextHopGateway === undefined ? 0 : parseIp(r.nextHopGateway),
    weight: r.weight ?? DEFAULT_ROUTE_WEIGHT,
  };
}

export interface CompileOptions {
  /**
   * Build the routers' route tables (default true). The daemon's main thread compiles only to
   * validate a document and resolve ids (its workers simulate): without tables it spends no time
   * (a quarter of a second at 100,000 routes, blocking its event loop) or memory (4 MB) on them.
   * 'lazy': tables built on a router's first lookups instead (route-scan.ts), for a one-shot run
   * that looks up a router or two once.
   */
  readonly routeTables?: boolean | 'lazy';
}

export function compileTopology(doc: TopologyDoc, options: CompileOptions = {}): CompiledTopology {
  const tables = options.routeTables ?? true;
  const bridgeIndex = indexOf(doc.bridges);
  const routerIndex = indexOf(doc.routers);
  const portIndex = indexOf(doc.ports);
  const chainIndex = indexOf(doc.chains);
  const portGroupIndex = indexOf(doc.portGroups);
  const ipAddrGroupIndex = indexOf(doc.ipAddrGroups);
  const refs = conditionRefs({ bridgeIndex, routerIndex, portIndex, portGroupIndex, ipAddrGroupIndex });
  const docPorts = doc.ports ?? [];

  const portGroups: CPortGroup[] = (doc.portGroups ?? []).map((g, idx) => ({
    idx, id: g.id, name: g.name ?? '',
    ports: [...new Set((g.portIds ?? []).map((id) => need(portIndex, id, 'port')))].sort((a, b) => a - b),
  }));
  const groupsOfPort: number[][] = docPorts.map(() => []);
  for (const g of portGroups) for (const p of g.ports) groupsOfPort[p]!.push(g.idx);

  const ports: CPort[] = docPorts.map((p, idx) => {
    const onRouter = routerIndex.has(p.deviceId);
    const peer = optional(portIndex, p.peerId, 'port');
    return {
      idx, id: p.id, name: p.name ?? '',
      deviceKind: onRouter ? DeviceKind.Router : DeviceKind.Bridge,
      deviceIdx: onRouter ? need(routerIndex, p.deviceId, 'router') : need(bridgeIndex, p.deviceId, 'bridge'),
      adminUp: p.adminStateUp ?? true,
      peer, exterior: peer === -1,
      hostId: p.hostId ?? null,
      interfaceName: p.interfaceName ?? null,
      vlanId: p.vlanId ?? -1,
      inChain: optional(chainIndex, p.inboundFilterId, 'chain'),
      outChain: optional(chainIndex, p.outboundFilterId, 'chain'),
      portGroups: groupsOfPort[idx]!,
      portAddr: onRouter && p.portAddress !== undefined ? parseIp(p.portAddress) : 0,
      netAddr: onRouter && p.networkAddress !== undefined
        ? (parseIp(p.networkAddress) & prefixMask(p.networkLength ?? 32)) >>> 0 : 0,
      netLen: onRouter ? p.networkLength ?? 0 : 0,
      mac: onRouter && p.portMac !== undefined ? parseMac(p.portMac) : 0,
    };
  });

  const rules: CRule[] = [];
  const chains: CChain[] = (doc.chains ?? []).map((c, chainIdx) => {
    const chainRules = (c.rules ?? []).map((r, position): CRule => {
      const rule: CRule = {
        idx: rules.length, id: r.id, chainIdx, position,
        type: RULE_TYPES[r.type],
        cond: compileCondition(r, refs),
        jumpChain: optional(chainIndex, r.jumpChainId, 'chain'),
        natTargets: (r.natTargets ?? []).map((t): CNatTarget => ({
          addrFrom: parseIp(t.addressFrom), addrTo: parseIp(t.addressTo),
          portFrom: t.portFrom ?? 0, portTo: t.portTo ?? t.portFrom ?? 0,
        })),
        flowAction: FLOW_ACTIONS[r.flowAction ?? 'accept'],
      };
      rules.push(rule);
      return rule;
    });
    return { idx: chainIdx, id: c.id, name: c.name ?? '', rules: chainRules };
  });

  const routes: CRoute[] = [];
  for (const r of doc.routes ?? []) routes.push(compileRoute(r, routes.length, routerIndex, portIndex));
  // As MidoNet does for every router port: a local route to its address and a route to its network.
  for (const p of ports) {
    if (p.deviceKind !== DeviceKind.Router) continue;
    const implicit = { id: null, routerIdx: p.deviceIdx, src: 0, srcLen: 0, nextHopPort: p.idx, nextHopGateway: 0 };
    routes.push({ ...implicit, idx: routes.length, type: RouteType.Local, dst: p.portAddr, dstLen: 32, weight: LOCAL_ROUTE_WEIGHT });
    routes.push({ ...implicit, idx: routes.length, type: RouteType.Normal, dst: p.netAddr, dstLen: p.netLen, weight: DEFAULT_ROUTE_WEIGHT });
  }

  const bridgePorts = groupBy(ports.filter((p) => p.deviceKind === DeviceKind.Bridge), (p) => p.deviceIdx);
  const routerPorts = groupBy(ports.filter((p) => p.deviceKind === DeviceKind.Router), (p) => p.deviceIdx);
  const routerRoutes = groupBy(routes, (r) => r.routerIdx);

  const bridges: CBridge[] = (doc.bridges ?? []).map((b, idx) => {
    const own = bridgePorts.get(idx) ?? [];
    const routerPortByMac = new Map<number, number>();
    const routerMacByIp = new Map<number, number>();
    const vlanPorts = new Map<number, number>();
    for (const p of own) {
      if (p.exterior) continue;
      const peer = ports[p.peer]!;
      if (peer.deviceKind === DeviceKind.Router) {
        routerPortByMac.set(peer.mac, p.idx);
        routerMacByIp.set(peer.portAddr | 0, peer.mac);
      }
      if (p.vlanId >= 0) vlanPorts.set(p.vlanId, p.idx);
    }
    return {
      idx, id: b.id, name: b.name ?? '', adminUp: b.adminStateUp ?? true,
      inChain: optional(chainIndex, b.inboundFilterId, 'chain'),
      outChain: optional(chainIndex, b.outboundFilterId, 'chain'),
      arpTable: arpTable(b.arpTable),
      ports: own.map((p) => p.idx),
      exteriorPorts: own.filter((p) => p.exterior).map((p) => p.idx),
      routerPortByMac, routerMacByIp, vlanPorts,
      routerPorts: Int32Array.from(routerPortByMac.values()),
      routerPortMacHi: Int32Array.from(routerPortByMac.keys(), macHi),
      routerPortMacLo: Int32Array.from(routerPortByMac.keys(), macLo),
    };
  });

  const routers: CRouter[] = (doc.routers ?? []).map((r, idx) => {
    const own = routerPorts.get(idx) ?? [];
    return {
      idx, id: r.id, name: r.name ?? '', adminUp: r.adminStateUp ?? true,
      inChain: optional(chainIndex, r.inboundFilterId, 'chain'),
      outChain: optional(chainIndex, r.outboundFilterId, 'chain'),
      arpTable: arpTable(r.arpTable),
      ports: own.map((p) => p.idx),
      localAddrs: new Map(own.map((p) => [p.portAddr | 0, p.idx])),
      routes: routeTable(tables, routerRoutes.get(idx) ?? []),
    };
  });

  const ipAddrGroups: CIpAddrGroup[] = (doc.ipAddrGroups ?? []).map((g, idx) => ({
    idx, id: g.id, name: g.name ?? '', addrs: new Set((g.addresses ?? []).map(parseIp)),
  }));

  return {
    ports, bridges, routers, routes, chains, rules, portGroups, ipAddrGroups,
    portIndex, bridgeIndex, routerIndex, chainIndex, portGroupIndex, ipAddrGroupIndex,
    deviceCount: bridges.length + routers.length + ports.length,
  };
}

/** Routes added or replaced (by id) and removed, relative to the topology being recompiled. */
export interface RouteChange {
  readonly upserts: readonly RouteJson[];
  readonly removes: readonly string[];
}

/** Where each explicit route sits in `routes`, each router's slots, and slots freed by removals. */
interface RouteSlots { byId: Map<string, number>; ofRouter: Map<number, Set<number>>; free: number[] }
const routeSlots = new WeakMap<CompiledTopology, RouteSlots>();

function slotsOf(topo: CompiledTopology): RouteSlots {
  const have = routeSlots.get(topo);
  if (have !== undefined) return have;
  const slots: RouteSlots = { byId: new Map(), ofRouter: new Map(), free: [] };
  for (const r of topo.routes) {
    if (r.routerIdx < 0) { slots.free.push(r.idx); continue; }
    if (r.id !== null) slots.byId.set(r.id, r.idx);
    let own = slots.ofRouter.get(r.routerIdx);
    if (own === undefined) slots.ofRouter.set(r.routerIdx, own = new Set());
    own.add(r.idx);
  }
  return slots;
}

/**
 * The topology after a change to routes alone, rebuilding only the route tables of the routers the
 * change touches and sharing everything else with `prev` (a one-route change at 100,000 routes costs
 * one router's table instead of every table; bench topology.recompile.one_route). Route indices stay
 * stable: a replaced route keeps its slot, a removed one leaves a slot no table points at (reused by
 * the next addition), so the other routers' tables stay valid. `prev` must not be recompiled again
 * afterwards (its slot bookkeeping moved to the result). The routes must have passed loadTopology()
 * together with the rest of the document; a dangling router or port id throws, as compileTopology does.
 */
export function recompileRoutes(prev: CompiledTopology, change: RouteChange, options: CompileOptions = {}): CompiledTopology {
  const tables = options.routeTables ?? true;
  const slots = slotsOf(prev);
  routeSlots.delete(prev);
  const routes = prev.routes.slice();
  const touched = new Set<number>();
  const leave = (idx: number): void => {
    const r = routes[idx]!;
    touched.add(r.routerIdx);
    slots.ofRouter.get(r.routerIdx)?.delete(idx);
  };
  for (const id of change.removes) {
    const idx = slots.byId.get(id);
    if (idx === undefined) continue;
    leave(idx);
    // An unreachable slot: no table lists it once its router's table is rebuilt.
    routes[idx] = { ...routes[idx]!, id: null, routerIdx: -1 };
    slots.byId.delete(id);
    slots.free.push(idx);
  }
  for (const r of change.upserts) {
    const had = slots.byId.get(r.id);
    const idx = had ?? slots.free.pop() ?? routes.length;
    const route = compileRoute(r, idx, prev.routerIndex, prev.portIndex);
    if (had !== undefined) leave(had);
    touched.add(route.routerIdx);
    let own = slots.ofRouter.get(route.routerIdx);
    if (own === undefined) slots.ofRouter.set(route.routerIdx, own = new Set());
    own.add(idx);
    routes[idx] = route;
    slots.byId.set(r.id, idx);
  }
  const routers = prev.routers.slice();
  for (const ri of touched) {
    const router = routers[ri];
    if (router === undefined) continue;
    const list = [...(slots.ofRouter.get(ri) ?? [])].sort((a, b) => a - b).map((i) => routes[i]!);
    routers[ri] = { ...router, routes: routeTable(tables, list) };
  }
  const next: CompiledTopology = { ...prev, routes, routers };
  routeSlots.set(next, slots);
  return next;
}

/**
 * The route change between two documents when routes are all that differ (other lists compared by
 * element identity, as the ZooKeeper reader shares unchanged objects between builds), else null.
 */
export function routeChangeBetween(prev: TopologyDoc, next: TopologyDoc): RouteChange | null {
  for (const kind of ['bridges', 'routers', 'ports', 'chains', 'portGroups', 'ipAddrGroups'] as const) {
    const a = prev[kind] ?? [];
    const b = next[kind] ?? [];
    if (a.length !== b.length) return null;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return null;
  }
  const a = prev.routes ?? [];
  const b = next.routes ?? [];
  // Both lists usually keep their order (the ZooKeeper reader's is stable): walk them side by side,
  // and fall back to matching by id only when the walk loses track.
  const upserts: RouteJson[] = [];
  const removes: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) { i++; j++; continue; }
    if (x.id === y.id) { upserts.push(y); i++; j++; continue; }
    if (b[j + 1] === x) { upserts.push(y); j++; continue; }
    if (a[i + 1] === y) { removes.push(x.id); i++; continue; }
    return byId(a, b);
  }
  for (; i < a.length; i++) removes.push(a[i]!.id);
  for (; j < b.length; j++) upserts.push(b[j]!);
  return { upserts, removes };
}

function byId(prev: readonly RouteJson[], next: readonly RouteJson[]): RouteChange {
  const before = new Map<string, RouteJson>();
  for (const r of prev) before.set(r.id, r);
  const upserts: RouteJson[] = [];
  for (const r of next) {
    const old = before.get(r.id);
    before.delete(r.id);
    if (old !== r) upserts.push(r);
  }
  return { upserts, removes: [...before.keys()] };
}

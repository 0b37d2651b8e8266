// The compiled topology: every device is an integer index into flat arrays, so the simulation never
// looks anything up by UUID string. Built once per topology version by compile.ts, then read-only.
import type { CCondition } from '../rules/condition.js';
import type { RouteTable } from '../routing/route-table.js';

export const enum DeviceKind { Bridge = 0, Router = 1 }

export interface CPort {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly deviceKind: DeviceKind;
  /** Index into bridges[] or routers[] per deviceKind. */
  readonly deviceIdx: number;
  readonly adminUp: boolean;
  /** Peer port index for interior ports, -1 for exterior ports. */
  readonly peer: number;
  readonly exterior: boolean;
  readonly hostId: string | null;
  readonly interfaceName: string | null;
  /** Bridge port VLAN id (VLAN-aware bridge interior port), -1 when unset. */
  readonly vlanId: number;
  /** Chain indexes, -1 when unset. */
  readonly inChain: number;
  readonly outChain: number;
  /** Port group indexes this port belongs to (sorted). */
  readonly portGroups: readonly number[];
  /** Router ports only (0 on bridge ports): address, network and MAC as numbers. */
  readonly portAddr: number;
  readonly netAddr: number;
  readonly netLen: number;
  readonly mac: number;
}

export interface CBridge {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly adminUp: boolean;
  readonly inChain: number;
  readonly outChain: number;
  /**
   * Seeded ARP table: IPv4 → MAC. Every IPv4-keyed map here is keyed by the address as a signed int32
   * (`ip | 0`): callers look up with `| 0`, so an address above 2^31 is never boxed into a heap number
   * on the hot path.
   */
  readonly arpTable: ReadonlyMap<number, number>;
  readonly ports: readonly number[];
  readonly exteriorPorts: readonly number[];
  /** Interior ports whose peer is a router port: MAC of the router port → bridge port index. */
  readonly routerPortByMac: ReadonlyMap<number, number>;
  /**
   * The same, as parallel arrays for the per-packet check: a bridge has few router ports, and comparing
   * 24-bit MAC halves never boxes a 48-bit MAC the way a Map key would.
   */
  readonly routerPorts: Int32Array;
  readonly routerPortMacHi: Int32Array;
  readonly routerPortMacLo: Int32Array;
  /** Router port addresses reachable through this bridge: IPv4 → router port MAC (ARP answers). */
  readonly routerMacByIp: ReadonlyMap<number, number>;
  /** VLAN-aware bridge: VLAN id → interior port carrying it. */
  readonly vlanPorts: ReadonlyMap<number, number>;
}

export interface CRouter {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly adminUp: boolean;
  readonly inChain: number;
  readonly outChain: number;
  readonly arpTable: ReadonlyMap<number, number>;
  readonly ports: readonly number[];
  /** Router port addresses: IPv4 (int32 key) → port index (local delivery, ARP replies, echo replies). */
  readonly localAddrs: ReadonlyMap<number, number>;
  readonly routes: RouteTable;
}

export const enum RouteType { Normal = 0, Blackhole = 1, Reject = 2, Local = 3 }

export interface CRoute {
  readonly idx: number;
  /** Explicit routes carry their UUID; implicit ones (port address / port network) are null. */
  readonly id: string | null;
  readonly routerIdx: number;
  readonly type: RouteType;
  readonly dst: number;
  readonly dstLen: number;
  readonly src: number;
  readonly srcLen: number;
  /** Port index, -1 for blackhole/reject. */
  readonly nextHopPort: number;
  /** Gateway IPv4, 0 when the destination itself is the next hop. */
  readonly nextHopGateway: number;
  readonly weight: number;
}

export const enum RuleType {
  Accept = 0, Drop = 1, Reject = 2, Continue = 3, Return = 4, Jump = 5,
  Dnat = 6, Snat = 7, RevDnat = 8, RevSnat = 9,
}

export const enum FlowAction { Accept = 0, Continue = 1, Return = 2 }

export interface CNatTarget {
  readonly addrFrom: number;
  readonly addrTo: number;
  readonly portFrom: number;
  readonly portTo: number;
}

export interface CRule {
  readonly idx: number;
  readonly id: string;
  readonly chainIdx: number;
  /** Position in its chain, 0-based. */
  readonly position: number;
  readonly type: RuleType;
  readonly cond: CCondition;
  /** Jump target chain index, -1 otherwise. */
  readonly jumpChain: number;
  readonly natTargets: readonly CNatTarget[];
  readonly flowAction: FlowAction;
}

export interface CChain {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly rules: readonly CRule[];
}

export interface CPortGroup {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly ports: readonly number[];
}

export interface CIpAddrGroup {
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly addrs: ReadonlySet<number>;
}

export interface CompiledTopology {
  readonly ports: readonly CPort[];
  readonly bridges: readonly CBridge[];
  readonly routers: readonly CRouter[];
  readonly routes: readonly CRoute[];
  readonly chains: readonly CChain[];
  readonly rules: readonly CRule[];
  readonly portGroups: readonly CPortGroup[];
  readonly ipAddrGroups: readonly CIpAddrGroup[];
  /** UUID → index, for the edges only (API, CLI, conditions). */
  readonly portIndex: ReadonlyMap<string, number>;
  readonly bridgeIndex: ReadonlyMap<string, number>;
  readonly routerIndex: ReadonlyMap<string, number>;
  readonly chainIndex: ReadonlyMap<string, number>;
  readonly portGroupIndex: ReadonlyMap<string, number>;
  readonly ipAddrGroupIndex: ReadonlyMap<string, number>;
  /**
   * Global device numbering used by traversal bookkeeping (traversedDevice, device-scoped trace
   * conditions): bridges are 0..B-1, routers B..B+R-1, ports B+R..B+R+P-1.
   */
  readonly deviceCount: number;
}

/** Global device number of a bridge, router or port (see CompiledTopology.deviceCount). */
export function bridgeDevice(_t: CompiledTopology, idx: number): number { return idx; }
export function routerDevice(t: CompiledTopology, idx: number): number { return t.bridges.length + idx; }
export function portDevice(t: CompiledTopology, idx: number): number { return t.bridges.length + t.routers.length + idx; }

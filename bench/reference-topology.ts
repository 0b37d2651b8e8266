// The reference topology of the benchmarks (and of tests that want a realistic network):
//
//   internet ── uplink ─ [provider router] ── 169.254.0.0/30 ── [tenant router] ─┬─ 10.0.1.0/24 ─ [bridge A] ─ vmA1..vmA8
//                         10,000 routes                          default route  └─ 10.0.2.0/24 ─ [bridge B] ─ vmB1..vmB8
//
// The tenant router and both bridges filter in and out through 20-rule chains whose first rules are
// the sort operators write (block telnet, SMB, bogon sources, ...) and never match the benchmark
// flows, so every packet walks the whole chain before the final accept. vmA1 has a floating IP:
// static NAT on the tenant router (dnat + rev_snat inbound, rev_dnat + snat outbound). ARP tables are
// seeded so routed packets find every next-hop MAC without an ARP exchange.
import type { ChainJson, PortJson, RouteJson, RuleJson, TopologyDoc } from '../model/topology/doc.js';

const RANDOM_ROUTES = 10_000;

/** Readable deterministic UUIDs: the first group names the kind, the last group numbers it. */
function uuid(kind: number, n: number): string {
  return `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}
const K_DEVICE = 0xde1ce, K_PORT = 0xb0b, K_ROUTE = 0x7007e, K_CHAIN = 0xc4a1, K_RULE = 0x7e1e, K_GROUP = 0x9709, K_HOST = 0x4057;

function mac(a: number, b: number): string {
  return `fa:16:3e:00:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}`;
}

export interface RefVm { readonly port: string; readonly mac: string; readonly ip: string }

function vms(bridge: 1 | 2): RefVm[] {
  return Array.from({ length: 8 }, (_, i) => ({
    port: uuid(K_PORT, bridge * 0x100 + i + 1),
    mac: mac(bridge, 0x10 + i + 1),
    ip: `10.0.${bridge}.${11 + i}`,
  }));
}

const vmsA = vms(1);
const vmsB = vms(2);

/** Well-known ids and addresses, so benches and tests can build packets for the reference topology. */
export const REF = {
  hostId: uuid(K_HOST, 1),
  providerRouter: uuid(K_DEVICE, 1),
  tenantRouter: uuid(K_DEVICE, 2),
  bridgeA: uuid(K_DEVICE, 3),
  bridgeB: uuid(K_DEVICE, 4),
  /** Provider uplink: the exterior port towards the internet. */
  uplinkPort: uuid(K_PORT, 1),
  uplinkMac: mac(0xff, 1),
  uplinkIp: '198.51.100.2',
  /** The upstream router the provider routes to (seeded in the provider's ARP table). */
  upstreamIp: '198.51.100.1',
  upstreamMac: 'de:ad:be:ef:00:01',
  providerToTenantPort: uuid(K_PORT, 2),
  providerToTenantMac: mac(0xff, 2),
  providerToTenantIp: '169.254.0.1',
  tenantToProviderPort: uuid(K_PORT, 3),
  tenantToProviderMac: mac(0xfe, 3),
  tenantToProviderIp: '169.254.0.2',
  /** Tenant router ports on bridges A and B: the VMs' default gateways (eth dst of routed packets). */
  tenantPortA: uuid(K_PORT, 4),
  gatewayAMac: mac(0xfe, 4),
  gatewayAIp: '10.0.1.1',
  tenantPortB: uuid(K_PORT, 5),
  gatewayBMac: mac(0xfe, 5),
  gatewayBIp: '10.0.2.1',
  /** Bridge ports linked to the tenant router. */
  bridgeAUplink: uuid(K_PORT, 6),
  bridgeBUplink: uuid(K_PORT, 7),
  vmsA: vmsA as readonly RefVm[],
  vmsB: vmsB as readonly RefVm[],
  vm1Port: vmsA[0]!.port, vm1Mac: vmsA[0]!.mac, vm1Ip: vmsA[0]!.ip,
  vm2Port: vmsA[1]!.port, vm2Mac: vmsA[1]!.mac, vm2Ip: vmsA[1]!.ip,
  vmB1Port: vmsB[0]!.port, vmB1Mac: vmsB[0]!.mac, vmB1Ip: vmsB[0]!.ip,
  /** vm1's floating IP (static NAT on the tenant router). */
  floatingIp: '203.0.113.10',
  /** An internet host none of the chains or extra routes single out. */
  internetIp: '8.8.8.8',
  /** L4 ports the benchmark flows use; the filler rules never match them. */
  flowSrcPort: 40000,
  flowDstPort: 80,
  tenantInChain: uuid(K_CHAIN, 1),
  tenantOutChain: uuid(K_CHAIN, 2),
  bridgeAInChain: uuid(K_CHAIN, 3),
  bridgeAOutChain: uuid(K_CHAIN, 4),
  bridgeBInChain: uuid(K_CHAIN, 5),
  bridgeBOutChain: uuid(K_CHAIN, 6),
  blocklistGroup: uuid(K_GROUP, 1),
  randomRoutes: RANDOM_ROUTES,
} as const;

let ruleSeq = 0;
const rule = (type: RuleJson['type'], cond: Omit<RuleJson, 'id' | 'type'> = {}): RuleJson => ({ id: uuid(K_RULE, ++ruleSeq), type, ...cond });

/** Typical operator rules; none matches IPv4 TCP/UDP/ICMP between the reference VMs and the internet. */
function fillerRules(n: number): RuleJson[] {
  const all: RuleJson[] = [
    rule('drop', { nwProto: 6, tpDst: { start: 23, end: 23 } }),
    rule('drop', { nwProto: 6, tpDst: { start: 445, end: 445 } }),
    rule('drop', { nwProto: 17, tpDst: { start: 137, end: 139 } }),
    rule('reject', { nwProto: 6, tpDst: { start: 3389, end: 3389 } }),
    rule('drop', { dlType: 0x0800, nwSrcAddress: '192.0.2.0', nwSrcLength: 24 }),
    rule('drop', { dlType: 0x0800, nwSrcAddress: '198.18.0.0', nwSrcLength: 15 }),
    rule('drop', { dlType: 0x0800, nwDstAddress: '100.64.0.0', nwDstLength: 10 }),
    rule('drop', { dlSrc: 'de:ad:00:00:00:00', dlSrcMask: 'ffff.0000.0000' }),
    rule('drop', { nwProto: 47 }),
    rule('drop', { nwProto: 50 }),
    rule('drop', { nwProto: 17, tpDst: { start: 1900, end: 1900 } }),
    rule('drop', { nwProto: 6, tpSrc: { start: 6660, end: 6669 } }),
    rule('drop', { ipAddrGroupSrc: REF.blocklistGroup }),
    rule('drop', { nwProto: 6, tpDst: { start: 25, end: 25 } }),
    rule('drop', { dlType: 0x88cc }),
    rule('drop', { fragmentPolicy: 'nonheader', nwDstAddress: '10.0.0.0', nwDstLength: 8, nwProto: 17, tpDst: { start: 4789, end: 4789 } }),
    rule('drop', { nwTos: 0xfc }),
    rule('drop', { nwProto: 17, tpDst: { start: 11211, end: 11211 } }),
    rule('drop', { nwProto: 6, tpDst: { start: 2375, end: 2376 } }),
    rule('drop', { vlan: 4000 }),
  ];
  return all.slice(0, n);
}

function filterChain(id: string, name: string, tail: RuleJson[]): ChainJson {
  return { id, name, rules: [...fillerRules(19 - tail.length), ...tail, rule('accept')] };
}

/** xorshift32: the same 10,000 routes on every run. */
function rng(seed: number): () => number {
  let x = seed;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

/** Ranges the random provider routes must not cover (they would steal the benchmark traffic). */
const RESERVED: [number, number][] = [
  [0x00000000, 8], [0x0a000000, 8], [0x7f000000, 8], [0xa9fe0000, 16], [0xc6336400, 24], [0xcb007100, 24],
  [0x08080800, 24], [0xe0000000, 3],
];

function overlapsReserved(dst: number, len: number): boolean {
  return RESERVED.some(([net, l]) => {
    const m = Math.min(len, l);
    const mask = m === 0 ? 0 : (0xffffffff << (32 - m)) >>> 0;
    return ((dst & mask) >>> 0) === ((net & mask) >>> 0);
  });
}

function ip(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function providerRoutes(): RouteJson[] {
  const next = rng(0x5eed);
  const routes: RouteJson[] = [];
  const seen = new Set<string>();
  let n = 0;
  while (routes.length < RANDOM_ROUTES) {
    const r = next() % 100;
    const len = r < 80 ? 24 : r < 95 ? 16 + (next() % 8) : 25 + (next() % 4);
    const dst = (next() & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
    const key = `${dst}/${len}`;
    if (overlapsReserved(dst, len) || seen.has(key)) continue;
    seen.add(key);
    routes.push({
      id: uuid(K_ROUTE, 0x1000 + ++n), routerId: REF.providerRouter,
      dstNetworkAddr: ip(dst), dstNetworkLength: len,
      nextHopPort: REF.uplinkPort, nextHopGateway: REF.upstreamIp, weight: 100,
    });
  }
  return routes;
}

/** A fresh copy of the reference topology document (about 10,000 routes; build it once per bench). */
export function referenceTopology(): TopologyDoc {
  ruleSeq = 0;
  const routerPort = (id: string, device: string, addr: string, net: string, len: number, portMac: string, extra: Partial<PortJson> = {}): PortJson =>
    ({ id, deviceId: device, portAddress: addr, networkAddress: net, networkLength: len, portMac, ...extra });
  const vmPort = (vm: RefVm, bridge: string, i: number): PortJson =>
    ({ id: vm.port, name: `${bridge === REF.bridgeA ? 'a' : 'b'}-vm${i + 1}`, deviceId: bridge, hostId: REF.hostId, interfaceName: `tap${vm.port.slice(-6)}` });

  const ports: PortJson[] = [
    routerPort(REF.uplinkPort, REF.providerRouter, REF.uplinkIp, '198.51.100.0', 24, REF.uplinkMac, { name: 'uplink', hostId: REF.hostId, interfaceName: 'eth1' }),
    routerPort(REF.providerToTenantPort, REF.providerRouter, REF.providerToTenantIp, '169.254.0.0', 30, REF.providerToTenantMac, { name: 'provider-to-tenant', peerId: REF.tenantToProviderPort }),
    routerPort(REF.tenantToProviderPort, REF.tenantRouter, REF.tenantToProviderIp, '169.254.0.0', 30, REF.tenantToProviderMac, { name: 'tenant-to-provider', peerId: REF.providerToTenantPort }),
    routerPort(REF.tenantPortA, REF.tenantRouter, REF.gatewayAIp, '10.0.1.0', 24, REF.gatewayAMac, { name: 'tenant-a', peerId: REF.bridgeAUplink }),
    routerPort(REF.tenantPortB, REF.tenantRouter, REF.gatewayBIp, '10.0.2.0', 24, REF.gatewayBMac, { name: 'tenant-b', peerId: REF.bridgeBUplink }),
    { id: REF.bridgeAUplink, name: 'a-router', deviceId: REF.bridgeA, peerId: REF.tenantPortA },
    { id: REF.bridgeBUplink, name: 'b-router', deviceId: REF.bridgeB, peerId: REF.tenantPortB },
    ...vmsA.map((vm, i) => vmPort(vm, REF.bridgeA, i)),
    ...vmsB.map((vm, i) => vmPort(vm, REF.bridgeB, i)),
  ];

  const fip = { nwDstAddress: REF.floatingIp, nwDstLength: 32 };
  const chains: ChainJson[] = [
    filterChain(REF.tenantInChain, 'tenant-router-in', [
      rule('dnat', { ...fip, natTargets: [{ addressFrom: REF.vm1Ip, addressTo: REF.vm1Ip }], flowAction: 'accept' }),
      rule('rev_snat', { ...fip, flowAction: 'accept' }),
    ]),
    filterChain(REF.tenantOutChain, 'tenant-router-out', [
      rule('rev_dnat', { nwSrcAddress: REF.vm1Ip, nwSrcLength: 32, flowAction: 'accept' }),
      rule('snat', {
        nwSrcAddress: REF.vm1Ip, nwSrcLength: 32, outPorts: [REF.tenantToProviderPort],
        natTargets: [{ addressFrom: REF.floatingIp, addressTo: REF.floatingIp }], flowAction: 'accept',
      }),
    ]),
    filterChain(REF.bridgeAInChain, 'bridge-a-in', []),
    filterChain(REF.bridgeAOutChain, 'bridge-a-out', []),
    filterChain(REF.bridgeBInChain, 'bridge-b-in', []),
    filterChain(REF.bridgeBOutChain, 'bridge-b-out', []),
  ];

  const vmArp = (list: readonly RefVm[]): { ip: string; mac: string }[] => list.map((vm) => ({ ip: vm.ip, mac: vm.mac }));
  return {
    routers: [
      {
        id: REF.providerRouter, name: 'provider',
        arpTable: [{ ip: REF.upstreamIp, mac: REF.upstreamMac }, { ip: REF.tenantToProviderIp, mac: REF.tenantToProviderMac }],
      },
      {
        id: REF.tenantRouter, name: 'tenant',
        inboundFilterId: REF.tenantInChain, outboundFilterId: REF.tenantOutChain,
        arpTable: [{ ip: REF.providerToTenantIp, mac: REF.providerToTenantMac }, ...vmArp(vmsA), ...vmArp(vmsB)],
      },
    ],
    bridges: [
      { id: REF.bridgeA, name: 'net-a', inboundFilterId: REF.bridgeAInChain, outboundFilterId: REF.bridgeAOutChain, arpTable: vmArp(vmsA) },
      { id: REF.bridgeB, name: 'net-b', inboundFilterId: REF.bridgeBInChain, outboundFilterId: REF.bridgeBOutChain, arpTable: vmArp(vmsB) },
    ],
    ports,
    routes: [
      {
        id: uuid(K_ROUTE, 1), routerId: REF.providerRouter, dstNetworkAddr: '0.0.0.0', dstNetworkLength: 0,
        nextHopPort: REF.uplinkPort, nextHopGateway: REF.upstreamIp,
      },
      {
        id: uuid(K_ROUTE, 2), routerId: REF.providerRouter, dstNetworkAddr: REF.floatingIp, dstNetworkLength: 32,
        nextHopPort: REF.providerToTenantPort, nextHopGateway: REF.tenantToProviderIp,
      },
      {
        id: uuid(K_ROUTE, 3), routerId: REF.providerRouter, dstNetworkAddr: '10.0.0.0', dstNetworkLength: 16,
        nextHopPort: REF.providerToTenantPort, nextHopGateway: REF.tenantToProviderIp,
      },
      {
        id: uuid(K_ROUTE, 4), routerId: REF.tenantRouter, dstNetworkAddr: '0.0.0.0', dstNetworkLength: 0,
        nextHopPort: REF.tenantToProviderPort, nextHopGateway: REF.providerToTenantIp,
      },
      ...providerRoutes(),
    ],
    chains,
    ipAddrGroups: [{ id: REF.blocklistGroup, name: 'blocklist', addresses: ['192.0.2.66', '198.18.7.7', '100.64.1.1'] }],
  };
}

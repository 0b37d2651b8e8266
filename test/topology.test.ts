// Topology documents: validation (schema and cross-references, every error naming its JSON path),
// compilation into indexed structures (implicit routes, bridge/router lookup maps), and the shipped
// example and reference topologies.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { z } from 'zod';
import { parseIp, parseMac } from '../model/addr.js';
import { compileTopology, deviceNumberOf, DEFAULT_ROUTE_WEIGHT, LOCAL_ROUTE_WEIGHT } from '../engine/topology/compile.js';
import { DeviceKind, FlowAction, RouteType, RuleType } from '../engine/topology/compiled.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import { checkCondition, formatErrors, loadTopology, readTopologyFile, type IdKind } from '../model/topology/load.js';
import { conditionShape, ConditionSchema, PortSchema, RouteSchema, RuleSchema, TopologyDocSchema } from '../model/topology/schema.js';
import { REF, referenceTopology } from '../bench/reference-topology.js';

const id = (kind: string, n: number): string => `${kind.padStart(8, '0')}-0000-4000-8000-${n.toString().padStart(12, '0')}`;
const R1 = id('a', 1), R2 = id('a', 2);
const B1 = id('b', 1), B2 = id('b', 2);
const P = (n: number): string => id('c', n);
const C1 = id('d', 1), C2 = id('d', 2);
const RULE = (n: number): string => id('e', n);
const RT = (n: number): string => id('f', n);
const PG1 = id('1', 1), IG1 = id('2', 1);

/**
 * Router R1: P1 exterior 192.168.0.1/24, P2 ↔ B1's P10 (10.0.1.1/24), P3 ↔ R2's P20.
 * Bridge B1: P10 (to R1), P11 and P12 exterior, P13 ↔ B2's P30 carrying VLAN 7.
 * Router R2: P20 (169.254.0.2/30). Bridge B2: P30 (VLAN trunk end), P31 exterior.
 */
function baseDoc(): TopologyDoc {
  return {
    routers: [
      { id: R1, name: 'r1', inboundFilterId: C1, arpTable: [{ ip: '192.168.0.254', mac: '02:00:00:00:00:fe' }] },
      { id: R2, name: 'r2' },
    ],
    bridges: [
      { id: B1, name: 'b1', outboundFilterId: C2, arpTable: [{ ip: '10.0.1.11', mac: 'fa:16:3e:00:00:11' }] },
      { id: B2, name: 'b2', adminStateUp: false },
    ],
    ports: [
      { id: P(1), deviceId: R1, portAddress: '192.168.0.1', networkAddress: '192.168.0.0', networkLength: 24, portMac: '02:00:00:00:00:01', hostId: id('9', 1) },
      { id: P(2), deviceId: R1, peerId: P(10), portAddress: '10.0.1.1', networkAddress: '10.0.1.0', networkLength: 24, portMac: '02:00:00:00:00:02' },
      { id: P(3), deviceId: R1, peerId: P(20), portAddress: '169.254.0.1', networkAddress: '169.254.0.0', networkLength: 30, portMac: '02:00:00:00:00:03' },
      { id: P(10), deviceId: B1, peerId: P(2) },
      { id: P(11), deviceId: B1, name: 'vm1', inboundFilterId: C2, interfaceName: 'tap1' },
      { id: P(12), deviceId: B1, adminStateUp: false },
      { id: P(13), deviceId: B1, peerId: P(30), vlanId: 7 },
      { id: P(20), deviceId: R2, peerId: P(3), portAddress: '169.254.0.2', networkAddress: '169.254.0.0', networkLength: 30, portMac: '02:00:00:00:00:20' },
      { id: P(30), deviceId: B2, peerId: P(13) },
      { id: P(31), deviceId: B2 },
    ],
    routes: [
      { id: RT(1), routerId: R1, dstNetworkAddr: '0.0.0.0', dstNetworkLength: 0, nextHopPort: P(1), nextHopGateway: '192.168.0.254' },
      { id: RT(2), routerId: R1, type: 'blackhole', dstNetworkAddr: '10.66.0.0', dstNetworkLength: 16, weight: 5 },
      { id: RT(3), routerId: R2, dstNetworkAddr: '0.0.0.0', dstNetworkLength: 0, srcNetworkAddr: '10.0.0.0', srcNetworkLength: 8, nextHopPort: P(20), nextHopGateway: '169.254.0.1' },
    ],
    chains: [
      {
        id: C1, name: 'in',
        rules: [
          { id: RULE(1), type: 'drop', nwProto: 6, tpDst: { start: 23, end: 23 }, inPorts: [P(1)] },
          { id: RULE(2), type: 'jump', jumpChainId: C2 },
          { id: RULE(3), type: 'dnat', nwDstAddress: '192.168.0.10', nwDstLength: 32, natTargets: [{ addressFrom: '10.0.1.11', addressTo: '10.0.1.11' }] },
          { id: RULE(4), type: 'snat', natTargets: [{ addressFrom: '192.168.0.20', addressTo: '192.168.0.21', portFrom: 1024 }], flowAction: 'continue' },
          { id: RULE(5), type: 'accept', traversedDevice: B1, portGroup: PG1, ipAddrGroupSrc: IG1 },
        ],
      },
      { id: C2, name: 'out', rules: [{ id: RULE(6), type: 'rev_dnat', flowAction: 'return' }, { id: RULE(7), type: 'return' }] },
    ],
    portGroups: [{ id: PG1, name: 'g', portIds: [P(31), P(11)] }],
    ipAddrGroups: [{ id: IG1, name: 'ips', addresses: ['10.0.1.11', '10.0.1.12'] }],
  };
}

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function errorsOf(mutate: (d: Doc) => void): { path: string; message: string }[] {
  const doc = structuredClone(baseDoc()) as Doc;
  mutate(doc);
  const r = loadTopology(doc);
  return r.ok ? [] : r.errors;
}

t.test('the base document, the example and the reference topology are valid', async (t) => {
  const base = loadTopology(baseDoc());
  t.ok(base.ok, base.ok ? 'base' : formatErrors(base.errors));
  const ex = readTopologyFile(new URL('../examples/topology.json', import.meta.url).pathname);
  t.ok(ex.ok, ex.ok ? 'examples/topology.json' : formatErrors(ex.errors));
  const ref = loadTopology(referenceTopology());
  t.ok(ref.ok, ref.ok ? 'reference topology' : formatErrors(ref.errors.slice(0, 5)));
  t.same(loadTopology({}), { ok: true, doc: {} }, 'every list is optional');
});

t.test('every validation error names the JSON path of the offending field', async (t) => {
  const cases: [string, (d: Doc) => void, string, RegExp][] = [
    // schema: unknown fields
    ['unknown top-level field', (d) => { d.switches = []; }, 'switches', /unknown field "switches"/],
    ['unknown port field', (d) => { d.ports[3].mtu = 1500; }, 'ports[3].mtu', /unknown field/],
    ['unknown condition field', (d) => { d.chains[0].rules[0].nwSrcAdress = '1.2.3.4'; }, 'chains[0].rules[0].nwSrcAdress', /unknown field/],
    ['unknown nat target field', (d) => { d.chains[0].rules[2].natTargets[0].ip = 'x'; }, 'chains[0].rules[2].natTargets[0].ip', /unknown field/],
    ['unknown port range field', (d) => { d.chains[0].rules[0].tpDst.step = 1; }, 'chains[0].rules[0].tpDst.step', /unknown field/],
    // schema: formats and ranges
    ['bad UUID', (d) => { d.bridges[0].id = 'bridge-1'; }, 'bridges[0].id', /UUID/],
    ['bad IPv4', (d) => { d.ports[0].portAddress = '192.168.0.256'; }, 'ports[0].portAddress', /IPv4/],
    ['IPv4 with leading zero', (d) => { d.routes[0].nextHopGateway = '192.168.00.1'; }, 'routes[0].nextHopGateway', /IPv4/],
    ['bad MAC', (d) => { d.ports[0].portMac = '02:00:00:00:01'; }, 'ports[0].portMac', /MAC/],
    ['bad ARP MAC', (d) => { d.routers[0].arpTable[0].mac = '0200.0000.00fe'; }, 'routers[0].arpTable[0].mac', /MAC/],
    ['bad MAC mask', (d) => { d.chains[0].rules[0].dlSrc = 'aa:bb:cc:dd:ee:ff'; d.chains[0].rules[0].dlSrcMask = 'ff:ff:ff:00:00:00'; }, 'chains[0].rules[0].dlSrcMask', /ffff\.ffff\.0000/],
    ['prefix length 33', (d) => { d.routes[0].dstNetworkLength = 33; }, 'routes[0].dstNetworkLength', /0 to 32/],
    ['negative prefix length', (d) => { d.chains[0].rules[2].nwDstLength = -1; }, 'chains[0].rules[2].nwDstLength', /0 to 32/],
    ['port range start > end', (d) => { d.chains[0].rules[0].tpDst = { start: 80, end: 79 }; }, 'chains[0].rules[0].tpDst.end', /start must not exceed end/],
    ['port above 65535', (d) => { d.chains[0].rules[0].tpDst = { start: 1, end: 65536 }; }, 'chains[0].rules[0].tpDst.end', /0 to 65535/],
    ['fractional port', (d) => { d.chains[0].rules[0].tpSrc = { start: 1.5, end: 2 }; }, 'chains[0].rules[0].tpSrc.start', /integer/],
    ['vlan 4096', (d) => { d.ports[6].vlanId = 4096; }, 'ports[6].vlanId', /0 to 4095/],
    ['condition vlan 4096', (d) => { d.chains[0].rules[0].vlan = 4096; }, 'chains[0].rules[0].vlan', /0 to 4095/],
    ['negative weight', (d) => { d.routes[0].weight = -1; }, 'routes[0].weight', /from 0/],
    ['dlType too big', (d) => { d.chains[0].rules[0].dlType = 65536; }, 'chains[0].rules[0].dlType', /0 to 65535/],
    ['nwProto too big', (d) => { d.chains[0].rules[0].nwProto = 256; }, 'chains[0].rules[0].nwProto', /0 to 255/],
    ['nwTos too big', (d) => { d.chains[0].rules[0].nwTos = 300; }, 'chains[0].rules[0].nwTos', /0 to 255/],
    ['nat port too big', (d) => { d.chains[0].rules[3].natTargets[0].portFrom = 70000; }, 'chains[0].rules[3].natTargets[0].portFrom', /0 to 65535/],
    ['unknown route type', (d) => { d.routes[1].type = 'drop'; }, 'routes[1].type', /normal|blackhole/],
    ['unknown rule type', (d) => { d.chains[0].rules[0].type = 'allow'; }, 'chains[0].rules[0].type', /accept/],
    ['unknown fragment policy', (d) => { d.chains[0].rules[0].fragmentPolicy = 'first'; }, 'chains[0].rules[0].fragmentPolicy', /any/],
    ['wrong type', (d) => { d.bridges[0].adminStateUp = 'yes'; }, 'bridges[0].adminStateUp', /boolean/],
    ['missing required field', (d) => { delete d.ports[4].deviceId; }, 'ports[4].deviceId', /string/],
    ['list that is not a list', (d) => { d.routes = {}; }, 'routes', /array/],
    // references and semantics
    ['duplicate id within a kind', (d) => { d.ports[5].id = P(11); }, 'ports[5].id', /duplicate id .* ports\[4\]/],
    ['duplicate id across kinds', (d) => { d.chains[1].id = B2; }, 'chains[1].id', /duplicate id .* bridges\[1\]/],
    ['duplicate rule id', (d) => { d.chains[1].rules[0].id = RULE(1); }, 'chains[1].rules[0].id', /duplicate id .* chains\[0\]\.rules\[0\]/],
    ['port on a missing device', (d) => { d.ports[4].deviceId = id('b', 99); }, 'ports[4].deviceId', /does not exist/],
    ['port on a chain', (d) => { d.ports[4].deviceId = C1; }, 'ports[4].deviceId', /is a chain, not a bridge or router/],
    ['dangling peer', (d) => { d.ports[4].peerId = P(99); }, 'ports[4].peerId', /port .* does not exist/],
    ['peer that does not link back', (d) => { d.ports[4].peerId = P(31); }, 'ports[4].peerId', /does not link back/],
    ['port peered with itself', (d) => { d.ports[4].peerId = P(11); }, 'ports[4].peerId', /own peer/],
    ['inbound filter that is not a chain', (d) => { d.bridges[0].inboundFilterId = P(1); }, 'bridges[0].inboundFilterId', /is a port, not a chain/],
    ['missing outbound filter', (d) => { d.routers[1].outboundFilterId = id('d', 99); }, 'routers[1].outboundFilterId', /chain .* does not exist/],
    ['port filter that is missing', (d) => { d.ports[4].inboundFilterId = id('d', 98); }, 'ports[4].inboundFilterId', /does not exist/],
    ['route on a missing router', (d) => { d.routes[0].routerId = B1; }, 'routes[0].routerId', /is a bridge, not a router/],
    ['route out of another router\'s port', (d) => { d.routes[0].nextHopPort = P(20); }, 'routes[0].nextHopPort', /does not belong to router/],
    ['route out of a missing port', (d) => { d.routes[0].nextHopPort = P(98); }, 'routes[0].nextHopPort', /does not exist/],
    ['normal route without next hop', (d) => { delete d.routes[0].nextHopPort; }, 'routes[0].nextHopPort', /needs nextHopPort/],
    ['blackhole route with a next hop', (d) => { d.routes[1].nextHopPort = P(1); }, 'routes[1].nextHopPort', /blackhole route has no next hop/],
    ['route with host bits', (d) => { d.routes[1].dstNetworkAddr = '10.66.1.0'; }, 'routes[1].dstNetworkAddr', /host bits .* 10\.66\.0\.0\/16/],
    ['route source with host bits', (d) => { d.routes[2].srcNetworkAddr = '10.1.0.0'; }, 'routes[2].srcNetworkAddr', /host bits/],
    ['jump to a missing chain', (d) => { d.chains[0].rules[1].jumpChainId = id('d', 97); }, 'chains[0].rules[1].jumpChainId', /does not exist/],
    ['jump without a target', (d) => { delete d.chains[0].rules[1].jumpChainId; }, 'chains[0].rules[1].jumpChainId', /needs jumpChainId/],
    ['jump to its own chain', (d) => { d.chains[0].rules[1].jumpChainId = C1; }, 'chains[0].rules[1].jumpChainId', /itself/],
    ['jumpChainId on a non-jump rule', (d) => { d.chains[0].rules[0].jumpChainId = C2; }, 'chains[0].rules[0].jumpChainId', /jump rules only/],
    ['snat without targets', (d) => { delete d.chains[0].rules[3].natTargets; }, 'chains[0].rules[3].natTargets', /needs at least one/],
    ['dnat with no targets', (d) => { d.chains[0].rules[2].natTargets = []; }, 'chains[0].rules[2].natTargets', /needs at least one/],
    ['natTargets on accept', (d) => { d.chains[0].rules[4].natTargets = [{ addressFrom: '1.1.1.1', addressTo: '1.1.1.1' }]; }, 'chains[0].rules[4].natTargets', /dnat and snat rules only/],
    ['flowAction on drop', (d) => { d.chains[0].rules[0].flowAction = 'accept'; }, 'chains[0].rules[0].flowAction', /NAT rules only/],
    ['nat address range reversed', (d) => { d.chains[0].rules[3].natTargets[0].addressTo = '192.168.0.19'; }, 'chains[0].rules[3].natTargets[0].addressTo', /below addressFrom/],
    ['nat port range reversed', (d) => { d.chains[0].rules[3].natTargets[0].portTo = 1000; }, 'chains[0].rules[3].natTargets[0].portTo', /below portFrom/],
    ['port group with a missing port', (d) => { d.portGroups[0].portIds.push(P(77)); }, 'portGroups[0].portIds[2]', /does not exist/],
    ['condition inPorts', (d) => { d.chains[0].rules[0].inPorts = [P(1), B1]; }, 'chains[0].rules[0].inPorts[1]', /is a bridge, not a port/],
    ['condition outPorts', (d) => { d.chains[1].rules[1].outPorts = [P(66)]; }, 'chains[1].rules[1].outPorts[0]', /does not exist/],
    ['condition portGroup', (d) => { d.chains[0].rules[4].portGroup = IG1; }, 'chains[0].rules[4].portGroup', /not a port group/],
    ['condition inPortGroup', (d) => { d.chains[0].rules[4].inPortGroup = id('1', 9); }, 'chains[0].rules[4].inPortGroup', /does not exist/],
    ['condition outPortGroup', (d) => { d.chains[0].rules[4].outPortGroup = id('1', 9); }, 'chains[0].rules[4].outPortGroup', /does not exist/],
    ['condition ipAddrGroupSrc', (d) => { d.chains[0].rules[4].ipAddrGroupSrc = PG1; }, 'chains[0].rules[4].ipAddrGroupSrc', /not a IP address group/],
    ['condition ipAddrGroupDst', (d) => { d.chains[0].rules[4].ipAddrGroupDst = id('2', 9); }, 'chains[0].rules[4].ipAddrGroupDst', /does not exist/],
    ['condition traversedDevice', (d) => { d.chains[0].rules[4].traversedDevice = C2; }, 'chains[0].rules[4].traversedDevice', /is a chain, not a bridge, router or port/],
    ['prefix length without address', (d) => { d.chains[0].rules[0].nwSrcLength = 8; }, 'chains[0].rules[0].nwSrcLength', /needs nwSrcAddress/],
    ['mask without MAC', (d) => { d.chains[0].rules[0].dlDstMask = 'ffff.ffff.0000'; }, 'chains[0].rules[0].dlDstMask', /needs dlDst/],
    ['router port without address', (d) => { delete d.ports[1].portAddress; }, 'ports[1].portAddress', /router port needs portAddress/],
    ['router port without network', (d) => { delete d.ports[1].networkLength; }, 'ports[1].networkLength', /router port needs networkLength/],
    ['router port without MAC', (d) => { delete d.ports[0].portMac; }, 'ports[0].portMac', /router port needs portMac/],
    ['router port with a multicast MAC', (d) => { d.ports[0].portMac = '01:00:5e:00:00:01'; }, 'ports[0].portMac', /multicast/],
    ['router port outside its network', (d) => { d.ports[0].portAddress = '192.168.1.1'; }, 'ports[0].portAddress', /outside the port network/],
    ['router port network with host bits', (d) => { d.ports[0].networkAddress = '192.168.0.1'; }, 'ports[0].networkAddress', /host bits/],
    ['router port with a VLAN', (d) => { d.ports[0].vlanId = 5; }, 'ports[0].vlanId', /only bridge ports/],
    ['bridge port with a router field', (d) => { d.ports[4].portAddress = '10.0.1.5'; }, 'ports[4].portAddress', /router ports only/],
    ['exterior bridge port with a VLAN', (d) => { d.ports[4].vlanId = 5; }, 'ports[4].vlanId', /interior/],
  ];
  for (const [what, mutate, path, message] of cases) {
    const errors = errorsOf(mutate);
    const hit = errors.find((e) => e.path === path);
    t.ok(hit, `${what}: an error at ${path} (got ${JSON.stringify(errors)})`);
    if (hit) t.match(hit.message, message, `${what}: message`);
  }
});

t.test('the document root and files', async (t) => {
  for (const bad of [5, null, [], 'x']) {
    const r = loadTopology(bad);
    t.notOk(r.ok, `${JSON.stringify(bad)} is rejected`);
    if (!r.ok) t.equal(r.errors[0]!.path, '', 'at the root');
  }
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-topo-'));
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "bridges": [ }');
  const r = readTopologyFile(broken);
  t.notOk(r.ok);
  if (!r.ok) {
    t.equal(r.errors[0]!.path, '');
    t.match(r.errors[0]!.message, /not valid JSON/);
  }
  const missing = readTopologyFile(join(dir, 'nope.json'));
  t.notOk(missing.ok);
  if (!missing.ok) t.match(missing.errors[0]!.message, /cannot read .*nope\.json/);
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify(baseDoc()));
  t.ok(readTopologyFile(good).ok, 'a valid file loads');
  t.equal(formatErrors([{ path: '', message: 'a' }, { path: 'ports[1].id', message: 'b' }]), 'a\nports[1].id: b');
});

t.test('several errors are reported together', async (t) => {
  const errors = errorsOf((d) => { d.ports[4].deviceId = id('b', 99); d.routes[0].nextHopPort = P(98); });
  t.same(errors.map((e) => e.path).sort(), ['ports[4].deviceId', 'routes[0].nextHopPort']);
});

t.test('checkCondition validates trace conditions against a topology', async (t) => {
  const kinds = new Map<string, IdKind>([[P(1), 'port'], [B1, 'bridge'], [PG1, 'portGroup']]);
  const kindOf = (x: string): IdKind | undefined => kinds.get(x);
  t.same(checkCondition({ inPorts: [P(1)], portGroup: PG1, traversedDevice: B1 }, '', kindOf), []);
  const errs = checkCondition({ inPorts: [B1], nwDstLength: 8 }, 'condition', kindOf);
  t.same(errs.map((e) => e.path).sort(), ['condition.inPorts[0]', 'condition.nwDstLength']);
});

t.test('schemas: strict, described, and extensible by trace conditions', async (t) => {
  const described = (shape: Record<string, z.ZodType>, where: string): void => {
    for (const [k, s] of Object.entries(shape)) t.ok(s.description, `${where}.${k} has a description`);
  };
  described(conditionShape, 'condition');
  described(PortSchema.shape, 'port');
  described(RouteSchema.shape, 'route');
  described(RuleSchema.shape, 'rule');
  described(TopologyDocSchema.shape, 'topology');
  t.ok(ConditionSchema.safeParse({ nwSrcAddress: '10.0.0.0', nwSrcLength: 8, invNwSrc: true }).success);
  t.notOk(ConditionSchema.safeParse({ nope: 1 }).success, 'unknown condition fields are rejected');
  const TraceCondition = z.strictObject({ ...conditionShape, id: z.string(), limit: z.int().optional() });
  t.ok(TraceCondition.safeParse({ id: 'x', limit: 3, tpDst: { start: 80, end: 80 } }).success);
  t.notOk(TraceCondition.safeParse({ id: 'x', tpDst: { start: 81, end: 80 } }).success, 'the range check comes along');
  t.ok(z.toJSONSchema(TopologyDocSchema), 'the document schema converts to JSON Schema');
});

/** IPv4-keyed maps of the compiled topology use the address as an int32 (see compiled.ts). */
const ip32 = (a: string): number => parseIp(a) | 0;

t.test('compile: devices, ports and indexes follow array order', async (t) => {
  const topo = compileTopology(baseDoc());
  t.equal(topo.deviceCount, 2 + 2 + 10);
  t.same([...topo.portIndex.values()], [...Array(10).keys()]);
  t.equal(topo.bridgeIndex.get(B2), 1);
  t.equal(topo.routerIndex.get(R2), 1);
  t.equal(topo.chainIndex.get(C2), 1);
  t.equal(topo.portGroupIndex.get(PG1), 0);
  t.equal(topo.ipAddrGroupIndex.get(IG1), 0);

  const p = (n: number) => topo.ports[topo.portIndex.get(P(n))!]!;
  t.match(p(1), {
    deviceKind: DeviceKind.Router, deviceIdx: 0, peer: -1, exterior: true, adminUp: true, hostId: id('9', 1),
    portAddr: parseIp('192.168.0.1'), netAddr: parseIp('192.168.0.0'), netLen: 24, mac: parseMac('02:00:00:00:00:01'),
    vlanId: -1, inChain: -1, outChain: -1,
  });
  t.match(p(2), { peer: p(10).idx, exterior: false });
  t.match(p(10), { deviceKind: DeviceKind.Bridge, deviceIdx: 0, peer: p(2).idx, portAddr: 0, mac: 0, netLen: 0 });
  t.match(p(11), { name: 'vm1', inChain: 1, interfaceName: 'tap1', hostId: null });
  t.equal(p(12).adminUp, false);
  t.equal(p(13).vlanId, 7);
  t.same(p(11).portGroups, [0]);
  t.same(p(31).portGroups, [0]);
  t.same(p(12).portGroups, []);
  t.same(topo.portGroups[0]!.ports, [p(11).idx, p(31).idx], 'group members sorted by index');

  const [b1, b2] = topo.bridges;
  t.same(b1!.ports, [3, 4, 5, 6]);
  t.same(b1!.exteriorPorts, [4, 5]);
  t.equal(b1!.outChain, 1);
  t.equal(b1!.inChain, -1);
  t.same([...b1!.routerPortByMac], [[parseMac('02:00:00:00:00:02'), p(10).idx]]);
  t.same([...b1!.routerMacByIp], [[ip32('10.0.1.1'), parseMac('02:00:00:00:00:02')]]);
  t.same([...b1!.vlanPorts], [[7, p(13).idx]]);
  t.same([...b1!.arpTable], [[ip32('10.0.1.11'), parseMac('fa:16:3e:00:00:11')]]);
  t.equal(b2!.adminUp, false);
  t.same(b2!.exteriorPorts, [p(31).idx]);
  t.equal(b2!.routerPortByMac.size, 0);
  t.equal(b2!.vlanPorts.size, 0, 'the VLAN id sits on the other end of the trunk');

  const [r1, r2] = topo.routers;
  t.same(r1!.ports, [0, 1, 2]);
  t.equal(r1!.inChain, 0);
  t.same([...r1!.localAddrs].sort(), [[ip32('10.0.1.1'), 1], [ip32('169.254.0.1'), 2], [ip32('192.168.0.1'), 0]].sort());
  t.same([...r1!.arpTable], [[ip32('192.168.0.254'), parseMac('02:00:00:00:00:fe')]]);
  t.same(r2!.ports, [p(20).idx]);

  t.same([...topo.ipAddrGroups[0]!.addrs], [parseIp('10.0.1.11'), parseIp('10.0.1.12')]);
  t.equal(deviceNumberOf(topo, B2), 1);
  t.equal(deviceNumberOf(topo, R1), 2);
  t.equal(deviceNumberOf(topo, P(1)), 4);
  t.equal(deviceNumberOf(topo, P(31)), 13);
  t.equal(deviceNumberOf(topo, C1), -1, 'a chain is not a device');
});

t.test('compile: explicit routes, then implicit local and network routes per router port', async (t) => {
  const topo = compileTopology(baseDoc());
  t.equal(topo.routes.length, 3 + 2 * 4);
  t.match(topo.routes[0], { idx: 0, id: RT(1), routerIdx: 0, type: RouteType.Normal, dst: 0, dstLen: 0, nextHopPort: 0, nextHopGateway: parseIp('192.168.0.254'), weight: DEFAULT_ROUTE_WEIGHT, src: 0, srcLen: 0 });
  t.match(topo.routes[1], { id: RT(2), type: RouteType.Blackhole, nextHopPort: -1, nextHopGateway: 0, weight: 5 });
  t.match(topo.routes[2], { id: RT(3), routerIdx: 1, src: parseIp('10.0.0.0'), srcLen: 8 });
  const implicit = topo.routes.slice(3);
  t.ok(implicit.every((r, i) => r.id === null && r.idx === 3 + i && r.src === 0 && r.srcLen === 0 && r.nextHopGateway === 0));
  for (const port of topo.ports.filter((p) => p.deviceKind === DeviceKind.Router)) {
    const own = implicit.filter((r) => r.nextHopPort === port.idx);
    t.match(own, [
      { type: RouteType.Local, dst: port.portAddr, dstLen: 32, weight: LOCAL_ROUTE_WEIGHT, routerIdx: port.deviceIdx },
      { type: RouteType.Normal, dst: port.netAddr, dstLen: port.netLen, weight: DEFAULT_ROUTE_WEIGHT, routerIdx: port.deviceIdx },
    ], `port ${port.id}`);
  }
  const r1 = topo.routers[0]!.routes;
  t.equal(r1.size, 2 + 2 * 3, 'each router table holds its own routes only');
  t.equal(topo.routers[1]!.routes.size, 1 + 2);
  const kind = (dst: string, src = '1.2.3.4') => topo.routes[r1.lookup(parseIp(dst), parseIp(src), 0)]!;
  t.match(kind('10.0.1.1'), { type: RouteType.Local, nextHopPort: 1 }, 'port address: local');
  t.match(kind('10.0.1.77'), { type: RouteType.Normal, nextHopPort: 1, nextHopGateway: 0 }, 'port network: on-link');
  t.match(kind('10.66.3.4'), { type: RouteType.Blackhole }, 'explicit blackhole');
  t.match(kind('8.8.8.8'), { id: RT(1) }, 'default');
  const r2 = topo.routers[1]!.routes;
  t.equal(r2.lookup(parseIp('8.8.8.8'), parseIp('192.168.1.1'), 0), -1, 'source-specific default does not match other sources');
  t.equal(topo.routes[r2.lookup(parseIp('8.8.8.8'), parseIp('10.9.9.9'), 0)]!.id, RT(3));
});

t.test('compile without route tables (the daemon\'s main thread): the same ids and routes, no lookups', async (t) => {
  const full = compileTopology(baseDoc());
  const lean = compileTopology(baseDoc(), { routeTables: false });
  t.same([...lean.portIndex], [...full.portIndex], 'ports resolve the same');
  t.same(lean.routes, full.routes, 'the same route list');
  t.same(lean.routers.map((r) => r.routes.size), full.routers.map((r) => r.routes.size));
  t.throws(() => lean.routers[0]!.routes.lookup(parseIp('8.8.8.8'), 0, 0), /route tables were not built/, 'a lookup is a bug, and says so');
});

t.test('compile: chains and rules', async (t) => {
  const topo = compileTopology(baseDoc());
  t.equal(topo.rules.length, 7);
  t.same(topo.chains.map((c) => c.rules.map((r) => r.idx)), [[0, 1, 2, 3, 4], [5, 6]]);
  t.same(topo.rules.map((r) => [r.chainIdx, r.position]), [[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [1, 1]]);
  t.same(topo.rules.map((r) => r.type), [RuleType.Drop, RuleType.Jump, RuleType.Dnat, RuleType.Snat, RuleType.Accept, RuleType.RevDnat, RuleType.Return]);
  t.same(topo.rules.map((r) => r.jumpChain), [-1, 1, -1, -1, -1, -1, -1]);
  t.same(topo.rules[2]!.natTargets, [{ addrFrom: parseIp('10.0.1.11'), addrTo: parseIp('10.0.1.11'), portFrom: 0, portTo: 0 }]);
  t.same(topo.rules[3]!.natTargets, [{ addrFrom: parseIp('192.168.0.20'), addrTo: parseIp('192.168.0.21'), portFrom: 1024, portTo: 1024 }], 'portTo defaults to portFrom');
  t.same(topo.rules.map((r) => r.flowAction), [FlowAction.Accept, FlowAction.Accept, FlowAction.Accept, FlowAction.Continue, FlowAction.Accept, FlowAction.Return, FlowAction.Accept]);
  t.same([...topo.rules[0]!.cond.inPorts], [0], 'condition port ids become indexes');
  t.equal(topo.rules[4]!.cond.traversedDevice, deviceNumberOf(topo, B1), 'traversedDevice uses the global numbering');
  t.equal(topo.rules[4]!.cond.portGroup, 0);
  t.equal(topo.rules[4]!.cond.ipAddrGroupSrc, 0);
});

t.test('the example and reference topologies compile to what they describe', async (t) => {
  const ex = readTopologyFile(new URL('../examples/topology.json', import.meta.url).pathname);
  if (!ex.ok) return t.fail(formatErrors(ex.errors));
  const topo = compileTopology(ex.doc);
  t.equal(topo.routers.length, 1);
  t.equal(topo.bridges.length, 2);
  t.equal(topo.bridges.reduce((n, b) => n + b.exteriorPorts.length, 0), 4, 'four VMs');

  const ref = compileTopology(referenceTopology());
  t.equal(ref.bridges.length, 2);
  t.same(ref.bridges.map((b) => b.exteriorPorts.length), [8, 8]);
  t.equal(ref.routers[0]!.routes.size, REF.randomRoutes + 3 + 2 * 2);
  t.equal(ref.routers[1]!.routes.size, 1 + 2 * 3);
  for (const c of ref.chains) t.equal(c.rules.length, 20, `chain ${c.name} has 20 rules`);
  t.equal(ref.rules[ref.chains[0]!.rules.at(-1)!.idx]!.type, RuleType.Accept, 'chains end with accept');
  const tenant = ref.routers[ref.routerIndex.get(REF.tenantRouter)!]!;
  const provider = ref.routers[ref.routerIndex.get(REF.providerRouter)!]!;
  const via = (rt: typeof tenant, dst: string) => ref.routes[rt.routes.lookup(parseIp(dst), parseIp(REF.vm1Ip), 1)]!;
  t.equal(via(tenant, REF.internetIp).nextHopPort, ref.portIndex.get(REF.tenantToProviderPort));
  t.equal(via(tenant, REF.vmB1Ip).nextHopPort, ref.portIndex.get(REF.tenantPortB));
  t.equal(via(provider, REF.internetIp).nextHopPort, ref.portIndex.get(REF.uplinkPort));
  t.equal(via(provider, REF.floatingIp).nextHopPort, ref.portIndex.get(REF.providerToTenantPort));
  t.equal(provider.arpTable.get(ip32(REF.upstreamIp)), parseMac(REF.upstreamMac));
  const bridgeA = ref.bridges[ref.bridgeIndex.get(REF.bridgeA)!]!;
  t.equal(bridgeA.routerMacByIp.get(ip32(REF.gatewayAIp)), parseMac(REF.gatewayAMac));
  t.equal(bridgeA.arpTable.get(ip32(REF.vm2Ip)), parseMac(REF.vm2Mac));
});

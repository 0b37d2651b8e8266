// Rules layer: CONDITION fields, chain semantics, NAT and connection tracking, through the same entry
// points the devices call (matchCondition, runChain, commitConntrack, isForwardFlow).
import t from 'tap';
import { ipToString, parseIp } from '../model/addr.js';
import { PacketContext } from '../engine/context.js';
import { ETH_IPV4, Frag } from '../engine/packet.js';
import { chainVerdict, ChainAction, runChain } from '../engine/rules/chain.js';
import { compileCondition, describeCondition, matchCondition, refsFromTopology } from '../engine/rules/condition.js';
import { commitConntrack, isForwardFlow } from '../engine/rules/conntrack.js';
import { flowHash } from '../engine/rules/flow-hash.js';
import { MAX_PROBES } from '../engine/rules/nat.js';
import { CT_TTL_MS, NAT_TTL_MS, type SimStateTables } from '../engine/state/types.js';
import type { CompiledTopology } from '../engine/topology/compiled.js';
import type { ChainJson, ConditionJson, RuleJson } from '../model/topology/doc.js';
import { fillPacket, stateTables, miniTopology, type MiniSpec, type PktFields } from './helpers/mini-topology.js';

// ---------------------------------------------------------------------------------------------
// A bridge b1 (exterior p1, p2; p3 linked to router port p4) and a router r1 (exterior p5).

const BASE: MiniSpec = {
  bridges: [{ id: 'b1', name: 'br' }],
  routers: [{ id: 'r1', name: 'rt' }],
  ports: [
    { id: 'p1', device: 'b1' }, { id: 'p2', device: 'b1' }, { id: 'p3', device: 'b1', peer: 'p4' },
    { id: 'p4', device: 'r1', peer: 'p3' }, { id: 'p5', device: 'r1' },
  ],
  portGroups: [{ id: 'g1', portIds: ['p1', 'p5'] }, { id: 'g2', portIds: ['p2'] }],
  ipAddrGroups: [{ id: 'ig1', addresses: ['10.0.0.1', '10.0.0.9', '200.1.1.1', '255.255.255.254'] }],
};

interface Setup {
  pkt: PktFields;
  ingress?: string; inPort?: string; outPort?: string;
  traversed?: string[]; rewritten?: boolean; forward?: 0 | 1;
}

function context(topo: CompiledTopology, state: SimStateTables = stateTables(), now = 1_000_000): PacketContext {
  const ctx = new PacketContext(topo, state);
  ctx.begin(now);
  return ctx;
}

function prepare(ctx: PacketContext, s: Setup): PacketContext {
  const topo = ctx.topo;
  ctx.begin(ctx.nowMs);
  fillPacket(ctx.pkt, s.pkt);
  ctx.origPkt.copyFrom(ctx.pkt);
  const port = (id: string | undefined): number => (id === undefined ? -1 : topo.portIndex.get(id)!);
  ctx.ingressPort = port(s.ingress ?? 'p1');
  ctx.inPort = s.inPort === undefined ? ctx.ingressPort : port(s.inPort);
  ctx.outPort = port(s.outPort);
  for (const d of s.traversed ?? []) {
    const b = topo.bridgeIndex.get(d);
    const r = topo.routerIndex.get(d);
    ctx.markTraversed(b !== undefined ? b : r !== undefined ? topo.bridges.length + r
      : topo.bridges.length + topo.routers.length + topo.portIndex.get(d)!);
  }
  ctx.nwDstRewritten = s.rewritten === true;
  if (s.forward !== undefined) ctx.forwardFlow = s.forward;
  return ctx;
}

const baseTopo = miniTopology(BASE);
const refs = refsFromTopology(baseTopo);
const cctx = context(baseTopo);

function matches(cond: ConditionJson, s: Setup): boolean {
  return matchCondition(compileCondition(cond, refs), prepare(cctx, s));
}

const ip = (f: PktFields = {}): PktFields => ({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', ...f });

interface FieldCase { name: string; cond: ConditionJson; inv?: keyof ConditionJson; hit: Setup; miss: Setup }

const FIELD_CASES: FieldCase[] = [
  { name: 'matchForwardFlow', cond: { matchForwardFlow: true }, hit: { pkt: ip(), forward: 1 }, miss: { pkt: ip(), forward: 0 } },
  { name: 'matchReturnFlow', cond: { matchReturnFlow: true }, hit: { pkt: ip(), forward: 0 }, miss: { pkt: ip(), forward: 1 } },
  { name: 'inPorts', cond: { inPorts: ['p1', 'p2'] }, inv: 'invInPorts',
    hit: { pkt: ip(), inPort: 'p2' }, miss: { pkt: ip(), inPort: 'p3' } },
  { name: 'outPorts', cond: { outPorts: ['p5'] }, inv: 'invOutPorts',
    hit: { pkt: ip(), outPort: 'p5' }, miss: { pkt: ip() } },
  { name: 'portGroup (exterior ingress port)', cond: { portGroup: 'g1' }, inv: 'invPortGroup',
    hit: { pkt: ip(), ingress: 'p1', inPort: 'p3' }, miss: { pkt: ip(), ingress: 'p2', inPort: 'p1' } },
  { name: 'inPortGroup', cond: { inPortGroup: 'g1' }, inv: 'invInPortGroup',
    hit: { pkt: ip(), ingress: 'p2', inPort: 'p1' }, miss: { pkt: ip(), ingress: 'p1', inPort: 'p3' } },
  { name: 'outPortGroup', cond: { outPortGroup: 'g2' }, inv: 'invOutPortGroup',
    hit: { pkt: ip(), outPort: 'p2' }, miss: { pkt: ip(), outPort: 'p1' } },
  { name: 'ipAddrGroupSrc', cond: { ipAddrGroupSrc: 'ig1' }, inv: 'invIpAddrGroupSrc',
    hit: { pkt: ip({ nwSrc: '10.0.0.9' }) }, miss: { pkt: ip({ nwSrc: '10.0.0.2' }) } },
  { name: 'ipAddrGroupSrc, addresses above 2^31', cond: { ipAddrGroupSrc: 'ig1' }, inv: 'invIpAddrGroupSrc',
    hit: { pkt: ip({ nwSrc: '255.255.255.254' }) }, miss: { pkt: ip({ nwSrc: '200.1.1.2' }) } },
  { name: 'ipAddrGroupDst', cond: { ipAddrGroupDst: 'ig1' }, inv: 'invIpAddrGroupDst',
    hit: { pkt: ip({ nwDst: '10.0.0.1' }) }, miss: { pkt: ip({ nwDst: '10.0.0.3' }) } },
  { name: 'dlType', cond: { dlType: ETH_IPV4 }, inv: 'invDlType', hit: { pkt: ip() }, miss: { pkt: {} } },
  { name: 'dlSrc with mask', cond: { dlSrc: '02:00:00:00:aa:bb', dlSrcMask: 'ffff.ffff.0000' }, inv: 'invDlSrc',
    hit: { pkt: { ethSrc: 0x02000000cccc } }, miss: { pkt: { ethSrc: 0x02000001aabb } } },
  { name: 'dlSrc high bits only', cond: { dlSrc: '01:00:00:00:00:00', dlSrcMask: '0100.0000.0000' }, inv: 'invDlSrc',
    hit: { pkt: { ethSrc: 0xff1234567890 } }, miss: { pkt: { ethSrc: 0xfe1234567890 } } },
  { name: 'dlDst exact', cond: { dlDst: 'aa:bb:cc:dd:ee:ff' }, inv: 'invDlDst',
    hit: { pkt: { ethDst: 0xaabbccddeeff } }, miss: { pkt: { ethDst: 0xaabbccddeefe } } },
  { name: 'nwTos', cond: { nwTos: 16 }, inv: 'invNwTos', hit: { pkt: ip({ tos: 16 }) }, miss: { pkt: ip({ tos: 0 }) } },
  { name: 'nwProto', cond: { nwProto: 17 }, inv: 'invNwProto', hit: { pkt: ip({ proto: 'udp' }) }, miss: { pkt: ip({ proto: 'tcp' }) } },
  { name: 'nwSrc prefix', cond: { nwSrcAddress: '10.1.0.0', nwSrcLength: 16 }, inv: 'invNwSrc',
    hit: { pkt: ip({ nwSrc: '10.1.2.3' }) }, miss: { pkt: ip({ nwSrc: '10.2.0.1' }) } },
  { name: 'nwSrc high addresses', cond: { nwSrcAddress: '200.0.0.0', nwSrcLength: 8 }, inv: 'invNwSrc',
    hit: { pkt: ip({ nwSrc: '200.255.1.1' }) }, miss: { pkt: ip({ nwSrc: '201.0.0.0' }) } },
  { name: 'nwDst host (length defaults to 32)', cond: { nwDstAddress: '192.168.1.1' }, inv: 'invNwDst',
    hit: { pkt: ip({ nwDst: '192.168.1.1' }) }, miss: { pkt: ip({ nwDst: '192.168.1.2' }) } },
  { name: 'tpSrc range', cond: { tpSrc: { start: 1000, end: 2000 } }, inv: 'invTpSrc',
    hit: { pkt: ip({ tpSrc: 2000 }) }, miss: { pkt: ip({ tpSrc: 999 }) } },
  { name: 'tpDst (udp)', cond: { tpDst: { start: 80, end: 80 } }, inv: 'invTpDst',
    hit: { pkt: ip({ proto: 'udp', tpDst: 80 }) }, miss: { pkt: ip({ proto: 'udp', tpDst: 81 }) } },
  { name: 'tpSrc is the ICMP type', cond: { tpSrc: { start: 8, end: 8 } }, inv: 'invTpSrc',
    hit: { pkt: ip({ proto: 'icmp', tpSrc: 8 }) }, miss: { pkt: ip({ proto: 'icmp', tpSrc: 0 }) } },
  { name: 'tpDst is the ICMP code', cond: { tpDst: { start: 3, end: 4 } }, inv: 'invTpDst',
    hit: { pkt: ip({ proto: 'icmp', tpSrc: 3, tpDst: 4 }) }, miss: { pkt: ip({ proto: 'icmp', tpSrc: 3, tpDst: 1 }) } },
  { name: 'traversedDevice', cond: { traversedDevice: 'r1' }, inv: 'invTraversedDevice',
    hit: { pkt: ip(), traversed: ['b1', 'r1'] }, miss: { pkt: ip(), traversed: ['b1'] } },
  { name: 'vlan', cond: { vlan: 10 }, hit: { pkt: { vlan: 10 } }, miss: { pkt: { vlan: 11 } } },
  { name: 'vlan on an untagged frame', cond: { vlan: 10 }, hit: { pkt: { vlan: 10 } }, miss: { pkt: {} } },
  { name: 'noVlan', cond: { noVlan: true }, hit: { pkt: ip() }, miss: { pkt: ip({ vlan: 5 }) } },
  { name: 'matchNwDstRewritten', cond: { matchNwDstRewritten: true },
    hit: { pkt: ip(), rewritten: true }, miss: { pkt: ip(), rewritten: false } },
  { name: 'L3 fields never match non-IP frames', cond: { nwSrcAddress: '0.0.0.0', nwSrcLength: 0 }, inv: 'invNwSrc',
    hit: { pkt: ip() }, miss: { pkt: {} } },
  { name: 'ports need TCP/UDP/ICMP', cond: { tpDst: { start: 0, end: 65535 } }, inv: 'invTpDst',
    hit: { pkt: ip({ proto: 'tcp' }) }, miss: { pkt: ip({ proto: 47 }) } },
  { name: 'ports need an L4 header (later fragment)', cond: { tpDst: { start: 0, end: 65535 }, fragmentPolicy: 'any' },
    inv: 'invTpDst', hit: { pkt: ip({ fragment: Frag.First }) }, miss: { pkt: ip({ fragment: Frag.Later }) } },
  { name: 'ip address group on non-IP', cond: { ipAddrGroupDst: 'ig1' }, inv: 'invIpAddrGroupDst',
    hit: { pkt: ip({ nwDst: '10.0.0.9' }) }, miss: { pkt: {} } },
  { name: 'unknown port id matches no port', cond: { inPorts: ['nope', 'p2'] }, inv: 'invInPorts',
    hit: { pkt: ip(), inPort: 'p2' }, miss: { pkt: ip(), inPort: 'p1' } },
  { name: 'several fields AND together', cond: { nwProto: 6, tpDst: { start: 22, end: 22 }, nwSrcAddress: '10.0.0.0', nwSrcLength: 8 },
    inv: 'invTpDst', hit: { pkt: ip({ proto: 'tcp', tpDst: 22 }) }, miss: { pkt: ip({ proto: 'tcp', tpDst: 23 }) } },
];

t.test('each CONDITION field, inverted by its inv flag and by condInvert', async (t) => {
  for (const c of FIELD_CASES) {
    t.equal(matches(c.cond, c.hit), true, `${c.name}: hit`);
    t.equal(matches(c.cond, c.miss), false, `${c.name}: miss`);
    t.equal(matches({ ...c.cond, condInvert: true }, c.hit), false, `${c.name}: condInvert hit`);
    t.equal(matches({ ...c.cond, condInvert: true }, c.miss), true, `${c.name}: condInvert miss`);
    if (c.inv !== undefined) {
      t.equal(matches({ ...c.cond, [c.inv]: true }, c.hit), false, `${c.name}: ${c.inv} hit`);
      t.equal(matches({ ...c.cond, [c.inv]: true }, c.miss), true, `${c.name}: ${c.inv} miss`);
      t.equal(matches({ ...c.cond, [c.inv]: true, condInvert: true }, c.miss), false, `${c.name}: both inversions`);
    }
  }
});

t.test('absent and empty fields match everything', async (t) => {
  for (const s of [{ pkt: {} }, { pkt: ip() }, { pkt: ip({ fragment: Frag.Later }) }, { pkt: ip({ vlan: 3 }) }]) {
    t.equal(matches({}, s), true);
    t.equal(matches({ inPorts: [], outPorts: [] }, s), true);
    t.equal(matches({ condInvert: true }, s), false);
  }
  // One inverted field fails while the others pass: the AND is false.
  t.equal(matches({ nwProto: 6, invNwProto: true, tpDst: { start: 22, end: 22 } }, { pkt: ip({ proto: 'tcp', tpDst: 22 }) }), false);
  // Both flow flags can never hold together.
  t.equal(matches({ matchForwardFlow: true, matchReturnFlow: true }, { pkt: ip(), forward: 1 }), false);
  t.equal(matches({ matchForwardFlow: true, matchReturnFlow: true }, { pkt: ip(), forward: 0 }), false);
});

t.test('fragment policy matrix (checked first, never inverted)', async (t) => {
  const frags = [Frag.None, Frag.First, Frag.Later] as const;
  const table: [ConditionJson, boolean[]][] = [
    [{ fragmentPolicy: 'any' }, [true, true, true]],
    [{ fragmentPolicy: 'header' }, [true, true, false]],
    [{ fragmentPolicy: 'nonheader' }, [false, false, true]],
    [{ fragmentPolicy: 'unfragmented' }, [true, false, false]],
    [{}, [true, true, true]], // default any
    [{ tpDst: { start: 0, end: 65535 } }, [true, true, false]], // default header with tpDst
    [{ tpSrc: { start: 0, end: 65535 } }, [true, true, false]], // default header with tpSrc
    [{ nwProto: 6 }, [true, true, true]], // L3 field alone keeps the default any
  ];
  for (const [cond, want] of table) {
    frags.forEach((f, i) => {
      t.equal(matches(cond, { pkt: ip({ fragment: f }) }), want[i], `${JSON.stringify(cond)} frag=${f}`);
      // condInvert flips the body only: a fragment the policy refuses never matches.
      if (!want[i]) t.equal(matches({ ...cond, condInvert: true }, { pkt: ip({ fragment: f }) }), false, `${JSON.stringify(cond)} inverted frag=${f}`);
    });
  }
  // Non-IP frames count as unfragmented.
  t.equal(matches({ fragmentPolicy: 'unfragmented' }, { pkt: {} }), true);
  t.equal(matches({ fragmentPolicy: 'nonheader' }, { pkt: {} }), false);
});

t.test('describeCondition names the set fields', async (t) => {
  const c = compileCondition({ nwProto: 6, tpDst: { start: 80, end: 80 }, invNwSrc: true, nwSrcAddress: '10.0.0.0', nwSrcLength: 8 }, refs);
  t.equal(describeCondition(c), 'nwProto=6 !nwSrc=10.0.0.0/8 tpDst=80..80');
  t.equal(describeCondition(compileCondition({ condInvert: true }, refs)), 'not (any packet)');
});

// ---------------------------------------------------------------------------------------------
// Chains

function chainTopo(chains: ChainJson[]): CompiledTopology {
  return miniTopology({ ...BASE, chains });
}

const TCP = { nwProto: 6 };
const UDP = { nwProto: 17 };

function run(topo: CompiledTopology, chainId: string, pkt: PktFields = ip(), ctx = context(topo)): ChainAction {
  prepare(ctx, { pkt, ingress: 'p5' });
  return runChain(ctx, topo.chainIndex.get(chainId)!, 'r1', 'rt');
}

const ruleId = (topo: CompiledTopology): string | undefined => topo.rules[chainVerdict.ruleIdx]?.id;

t.test('chain: accept, drop, reject decide; continue and non-matching rules go on', async (t) => {
  const topo = chainTopo([{ id: 'c', rules: [
    { id: 'skip', type: 'drop', nwProto: 1 },
    { id: 'cont', type: 'continue' },
    { id: 'acc', type: 'accept', ...UDP },
    { id: 'rej', type: 'reject', nwProto: 47 },
    { id: 'drp', type: 'drop' },
  ] }]);
  t.equal(run(topo, 'c', ip({ proto: 'udp' })), ChainAction.Accept);
  t.equal(ruleId(topo), 'acc');
  t.equal(chainVerdict.reason, 'none');
  t.equal(run(topo, 'c', ip({ proto: 47 })), ChainAction.Reject);
  t.equal(ruleId(topo), 'rej');
  t.equal(chainVerdict.reason, 'chain_reject');
  t.equal(run(topo, 'c', ip({ proto: 'tcp' })), ChainAction.Drop);
  t.equal(ruleId(topo), 'drp');
  t.equal(chainVerdict.reason, 'chain_drop');
  t.equal(run(topo, 'c', ip({ proto: 'icmp' })), ChainAction.Drop);
  t.equal(ruleId(topo), 'skip');
});

t.test('chain: falling off the end or return at top level accepts; no chain accepts', async (t) => {
  const topo = chainTopo([
    { id: 'empty' },
    { id: 'c', rules: [{ id: 'ret', type: 'return', ...TCP }, { id: 'drp', type: 'drop', ...UDP }] },
  ]);
  t.equal(run(topo, 'empty'), ChainAction.Accept);
  t.equal(chainVerdict.ruleIdx, -1);
  t.equal(run(topo, 'c', ip({ proto: 'tcp' })), ChainAction.Accept);
  t.equal(ruleId(topo), 'ret');
  t.equal(run(topo, 'c', ip({ proto: 'udp' })), ChainAction.Drop);
  t.equal(run(topo, 'c', ip({ proto: 'icmp' })), ChainAction.Accept);
  t.equal(chainVerdict.ruleIdx, -1);
  const ctx = context(topo);
  t.equal(runChain(ctx, -1, 'r1', 'rt'), ChainAction.Accept);
});

t.test('chain: jump, return and falling off a jumped-to chain continue after the jump', async (t) => {
  const topo = chainTopo([
    { id: 'a', rules: [{ id: 'j', type: 'jump', jumpChainId: 'b' }, { id: 'a-acc', type: 'accept', ...UDP }, { id: 'a-drop', type: 'drop' }] },
    { id: 'b', rules: [
      { id: 'b-ret', type: 'return', ...UDP },
      { id: 'b-acc', type: 'accept', ...TCP },
      { id: 'b-jump', type: 'jump', jumpChainId: 'c', nwProto: 1 },
      { id: 'b-drop', type: 'drop', nwProto: 1 },
    ] },
    { id: 'c', rules: [{ id: 'c-ret', type: 'return', tpSrc: { start: 8, end: 8 } }, { id: 'c-acc', type: 'accept' }] },
  ]);
  t.equal(run(topo, 'a', ip({ proto: 'udp' })), ChainAction.Accept, 'b returns, a accepts udp');
  t.equal(ruleId(topo), 'a-acc');
  t.equal(run(topo, 'a', ip({ proto: 'tcp' })), ChainAction.Accept, 'decided inside b');
  t.equal(ruleId(topo), 'b-acc');
  t.equal(run(topo, 'a', ip({ proto: 47 })), ChainAction.Drop, 'b falls off, a drops');
  t.equal(ruleId(topo), 'a-drop');
  t.equal(run(topo, 'a', ip({ proto: 'icmp', tpSrc: 8 })), ChainAction.Drop, 'c returns to b, b drops');
  t.equal(ruleId(topo), 'b-drop');
  t.equal(run(topo, 'a', ip({ proto: 'icmp', tpSrc: 0 })), ChainAction.Accept, 'decided two levels down');
  t.equal(ruleId(topo), 'c-acc');
});

t.test('chain: a jump to a chain already visited is skipped (Midolman): loops end, a repeated jump runs once', async (t) => {
  const topo = chainTopo([
    { id: 'a', rules: [{ id: 'a-j', type: 'jump', jumpChainId: 'b' }, { id: 'a-drop', type: 'drop', nwProto: 6 }] },
    { id: 'b', rules: [{ id: 'b-acc', type: 'accept', ...UDP }, { id: 'b-j', type: 'jump', jumpChainId: 'a' }] },
    { id: 'self', rules: [{ id: 's-j', type: 'jump', jumpChainId: 'self' }, { id: 's-rej', type: 'reject' }] },
    { id: 'twice', rules: [
      { id: 't-j1', type: 'jump', jumpChainId: 'once' }, { id: 't-j2', type: 'jump', jumpChainId: 'once' },
      { id: 't-drop', type: 'drop' },
    ] },
    { id: 'once', rules: [{ id: 'o-acc', type: 'accept', nwProto: 47 }] },
  ]);
  t.equal(run(topo, 'a', ip({ proto: 'tcp' })), ChainAction.Drop, 'b jumps back to a: skipped, b falls off, a drops TCP');
  t.equal(chainVerdict.jumpLoop, true);
  t.equal(chainVerdict.reason, 'chain_drop');
  t.equal(ruleId(topo), 'a-drop');
  t.equal(run(topo, 'a', ip({ proto: 17 })), ChainAction.Accept, 'decided in b before the loop');
  t.equal(run(topo, 'a', ip({ proto: 1 })), ChainAction.Accept, 'nothing decides: accept');
  t.equal(run(topo, 'self'), ChainAction.Reject, 'a jump to itself is skipped; the next rule decides');
  t.equal(chainVerdict.jumpLoop, true);
  t.equal(ruleId(topo), 's-rej');
  // The visited marks are cleared after each evaluation, however it ended.
  t.equal(run(topo, 'b', ip({ proto: 'udp' })), ChainAction.Accept);
  t.equal(chainVerdict.jumpLoop, false);
  t.equal(run(topo, 'twice'), ChainAction.Drop);
  t.equal(chainVerdict.jumpLoop, true, 'the second jump to the same chain is skipped, as in Midolman');
  t.equal(ruleId(topo), 't-drop');
  t.equal(run(topo, 'twice', ip({ proto: 47 })), ChainAction.Accept, 'the first jump still runs it');
});

t.test('chain: traced packets record chain and rule steps; untraced record none', async (t) => {
  const topo = chainTopo([
    { id: 'a', name: 'outer', rules: [{ id: 'j', type: 'jump', jumpChainId: 'b' }] },
    { id: 'b', name: 'inner', rules: [{ id: 'deny', type: 'drop', ...TCP }] },
  ]);
  const ctx = context(topo);
  run(topo, 'a', ip({ proto: 'tcp' }), ctx);
  t.equal(ctx.steps.length, 0);
  ctx.forceTrace = true;
  run(topo, 'a', ip({ proto: 'tcp' }), ctx);
  const steps = ctx.steps.map((s) => [s.deviceType, s.deviceId]);
  t.same(steps, [['chain', 'a'], ['rule', 'j'], ['chain', 'b'], ['rule', 'deny']]);
  t.match(ctx.steps[0]!.message, /chain outer evaluated \(filter of router rt\)/);
  t.match(ctx.steps[2]!.message, /jump from chain outer/);
  t.match(ctx.steps[3]!.details, { kind: 'rule_matched', ruleId: 'deny', action: 'drop', type: 'drop', position: 1, condition: 'nwProto=6' });
  run(topo, 'a', ip({ proto: 'udp' }), ctx);
  t.match(ctx.steps.at(-1)!.message, /no rule of chain outer decided: accept/);
});

// ---------------------------------------------------------------------------------------------
// NAT: router r1 with inside port p5 and the bridge side p4; rules in chains run with inPort on r1.

function natTopo(chains: ChainJson[]): CompiledTopology { return chainTopo(chains); }

interface NatRun { action: ChainAction; src: string; dst: string; sport: number; dport: number; rewritten: boolean }

function natRun(ctx: PacketContext, chainId: string, pkt: PktFields, nowMs = ctx.nowMs): NatRun {
  ctx.nowMs = nowMs;
  prepare(ctx, { pkt, ingress: 'p5' });
  const action = runChain(ctx, ctx.topo.chainIndex.get(chainId)!, 'r1', 'rt');
  const p = ctx.pkt;
  return { action, src: ipToString(p.nwSrc >>> 0), dst: ipToString(p.nwDst >>> 0), sport: p.tpSrc, dport: p.tpDst, rewritten: ctx.nwDstRewritten };
}

const rule = (r: Omit<RuleJson, 'id'> & { id?: string }): RuleJson => ({ id: r.id ?? `r-${r.type}`, ...r });

t.test('static NAT (floating IP) both ways keeps ports and no state', async (t) => {
  const state = stateTables();
  const topo = natTopo([
    { id: 'in', rules: [rule({ type: 'dnat', nwDstAddress: '200.0.0.10', natTargets: [{ addressFrom: '10.0.0.10', addressTo: '10.0.0.10', portFrom: 0, portTo: 0 }] })] },
    { id: 'out', rules: [rule({ type: 'snat', nwSrcAddress: '10.0.0.10', natTargets: [{ addressFrom: '200.0.0.10', addressTo: '200.0.0.10' }] })] },
  ]);
  const ctx = context(topo, state);
  t.match(natRun(ctx, 'in', { nwSrc: '1.2.3.4', nwDst: '200.0.0.10', tpSrc: 5555, tpDst: 22 }),
    { action: ChainAction.Accept, src: '1.2.3.4', dst: '10.0.0.10', sport: 5555, dport: 22, rewritten: true });
  t.match(natRun(ctx, 'out', { nwSrc: '10.0.0.10', nwDst: '1.2.3.4', tpSrc: 22, tpDst: 5555 }),
    { action: ChainAction.Accept, src: '200.0.0.10', dst: '1.2.3.4', sport: 22, dport: 5555, rewritten: false });
  // Works for any IP protocol, and the condition still filters.
  t.match(natRun(ctx, 'in', { nwSrc: '1.2.3.4', nwDst: '200.0.0.10', proto: 47 }), { dst: '10.0.0.10' });
  t.match(natRun(ctx, 'in', { nwSrc: '1.2.3.4', nwDst: '200.0.0.11' }), { dst: '200.0.0.11', rewritten: false });
  t.equal(state.nat.size(ctx.nowMs), 0);
});

t.test('dynamic DNAT with rev_dnat: the reply gets its original source back', async (t) => {
  const state = stateTables();
  const topo = natTopo([
    { id: 'in', rules: [
      rule({ type: 'rev_snat', flowAction: 'continue' }),
      rule({ type: 'dnat', nwDstAddress: '200.0.0.1', tpDst: { start: 80, end: 80 },
        natTargets: [{ addressFrom: '10.0.0.100', addressTo: '10.0.0.101', portFrom: 8080, portTo: 8081 }] }),
    ] },
    { id: 'out', rules: [rule({ type: 'rev_dnat' }), rule({ id: 'out-drop', type: 'drop', tpSrc: { start: 8080, end: 8081 } })] },
  ]);
  const ctx = context(topo, state);
  const fwd = natRun(ctx, 'in', { nwSrc: '1.1.1.1', nwDst: '200.0.0.1', tpSrc: 5555, tpDst: 80 });
  t.equal(fwd.action, ChainAction.Accept);
  t.ok(['10.0.0.100', '10.0.0.101'].includes(fwd.dst), `dst ${fwd.dst} in range`);
  t.ok(fwd.dport === 8080 || fwd.dport === 8081, `port ${fwd.dport} in range`);
  t.equal(fwd.sport, 5555);
  t.equal(fwd.rewritten, true);
  // The same flow keeps its binding.
  t.match(natRun(ctx, 'in', { nwSrc: '1.1.1.1', nwDst: '200.0.0.1', tpSrc: 5555, tpDst: 80 }), { dst: fwd.dst, dport: fwd.dport });
  // The reply from the backend is restored to come from the address the client used.
  ctx.forceTrace = true;
  t.match(natRun(ctx, 'out', { nwSrc: fwd.dst, nwDst: '1.1.1.1', tpSrc: fwd.dport, tpDst: 5555 }),
    { action: ChainAction.Accept, src: '200.0.0.1', sport: 80, dst: '1.1.1.1', dport: 5555 });
  t.match(ctx.steps.at(-1)!.details, { type: 'rev_dnat', binding: 'reverse binding', after: { nwSrc: '200.0.0.1', tpSrc: 80 } });
  ctx.forceTrace = false;
  // A packet from the backend that belongs to no DNAT'd flow is left alone: the next rule drops it.
  t.match(natRun(ctx, 'out', { nwSrc: fwd.dst, nwDst: '1.1.1.1', tpSrc: fwd.dport, tpDst: 5556 }),
    { action: ChainAction.Drop, src: fwd.dst });
  // Bindings expire unused, and each use refreshes them.
  const t0 = ctx.nowMs;
  natRun(ctx, 'in', { nwSrc: '1.1.1.1', nwDst: '200.0.0.1', tpSrc: 5555, tpDst: 80 }, t0 + NAT_TTL_MS - 1000);
  t.match(natRun(ctx, 'out', { nwSrc: fwd.dst, nwDst: '1.1.1.1', tpSrc: fwd.dport, tpDst: 5555 }, t0 + 2 * NAT_TTL_MS - 2000),
    { src: '200.0.0.1' }, 'refreshed by the forward packet');
  t.match(natRun(ctx, 'out', { nwSrc: fwd.dst, nwDst: '1.1.1.1', tpSrc: fwd.dport, tpDst: 5555 }, t0 + 4 * NAT_TTL_MS),
    { action: ChainAction.Drop, src: fwd.dst }, 'expired');
  t.equal(state.nat.size(t0 + 4 * NAT_TTL_MS), 0);
});

t.test('dynamic SNAT with rev_snat, distinct bindings, exhaustion', async (t) => {
  const state = stateTables();
  const topo = natTopo([
    { id: 'out', rules: [rule({ type: 'snat', nwSrcAddress: '10.0.0.0', nwSrcLength: 8,
      natTargets: [{ addressFrom: '200.0.0.1', addressTo: '200.0.0.1', portFrom: 40000, portTo: 40001 }] })] },
    { id: 'in', rules: [rule({ type: 'rev_snat', flowAction: 'return' }), rule({ id: 'in-drop', type: 'drop' })] },
  ]);
  const ctx = context(topo, state);
  const flow = (src: string, sport: number, dst = '8.8.8.8'): PktFields => ({ nwSrc: src, nwDst: dst, proto: 'udp', tpSrc: sport, tpDst: 53 });
  const a = natRun(ctx, 'out', flow('10.0.0.1', 1000));
  const b = natRun(ctx, 'out', flow('10.0.0.2', 1000));
  t.match(a, { action: ChainAction.Accept, src: '200.0.0.1', dst: '8.8.8.8', dport: 53 });
  t.match(b, { action: ChainAction.Accept, src: '200.0.0.1' });
  t.not(a.sport, b.sport, 'two flows never share a binding');
  t.same([a.sport, b.sport].sort(), [40000, 40001]);
  t.match(natRun(ctx, 'out', flow('10.0.0.1', 1000)), { sport: a.sport }, 'same flow, same binding');
  // The range is used up towards 8.8.8.8:53 ...
  t.match(natRun(ctx, 'out', flow('10.0.0.3', 1000)), { action: ChainAction.Drop });
  t.equal(chainVerdict.reason, 'nat_exhausted');
  t.equal(ruleId(topo), 'r-snat');
  // ... but not towards another destination.
  t.match(natRun(ctx, 'out', flow('10.0.0.3', 1000, '9.9.9.9')), { action: ChainAction.Accept, src: '200.0.0.1' });
  // Replies are restored (return at top level accepts); unknown replies fall through to the drop.
  t.match(natRun(ctx, 'in', { nwSrc: '8.8.8.8', nwDst: '200.0.0.1', proto: 'udp', tpSrc: 53, tpDst: b.sport }),
    { action: ChainAction.Accept, dst: '10.0.0.2', dport: 1000, src: '8.8.8.8', sport: 53 });
  t.match(natRun(ctx, 'in', { nwSrc: '8.8.8.8', nwDst: '200.0.0.1', proto: 'tcp', tpSrc: 53, tpDst: b.sport }),
    { action: ChainAction.Drop }, 'other protocol, no binding');
  // Once the bindings expire the ports are free again.
  t.match(natRun(ctx, 'out', flow('10.0.0.3', 1000), ctx.nowMs + NAT_TTL_MS + 1000), { action: ChainAction.Accept });
});

t.test('SNAT over several targets and large ranges probes a bounded number of candidates', async (t) => {
  const state = stateTables();
  const topo = natTopo([{ id: 'out', rules: [rule({ type: 'snat', natTargets: [
    { addressFrom: '200.0.0.1', addressTo: '200.0.0.2', portFrom: 0, portTo: 0 }, // keep the source port
    { addressFrom: '201.0.0.0', addressTo: '201.0.0.255', portFrom: 1024, portTo: 65535 },
  ] })] }]);
  const ctx = context(topo, state);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const r = natRun(ctx, 'out', { nwSrc: '10.0.0.1', nwDst: '8.8.8.8', tpSrc: 1000 + (i % 3), tpDst: 80 + Math.floor(i / 3) });
    t.equal(r.action, ChainAction.Accept);
    const a = parseIp(r.src);
    const keep = a === parseIp('200.0.0.1') || a === parseIp('200.0.0.2');
    t.ok(keep ? r.sport === 1000 + (i % 3) : a >= parseIp('201.0.0.0') && a <= parseIp('201.0.0.255') && r.sport >= 1024,
      `binding ${r.src}:${r.sport} lies in a target`);
    seen.add(`${r.src}:${r.sport}:${r.dport}`);
  }
  t.equal(seen.size, 200);
  t.ok(MAX_PROBES >= 64);
});

t.test('ICMP echo through SNAT keeps its identifier; unsupported packets pass untouched', async (t) => {
  const state = stateTables();
  const topo = natTopo([
    { id: 'out', rules: [rule({ type: 'snat', natTargets: [{ addressFrom: '200.0.0.1', addressTo: '200.0.0.3', portFrom: 1, portTo: 65535 }] })] },
    { id: 'in', rules: [rule({ type: 'rev_snat' }), rule({ id: 'in-drop', type: 'drop' })] },
  ]);
  const ctx = context(topo, state);
  const req = natRun(ctx, 'out', { nwSrc: '10.0.0.5', nwDst: '8.8.8.8', proto: 'icmp', tpSrc: 8, icmpId: 77 });
  t.equal(req.action, ChainAction.Accept);
  t.ok(req.src.startsWith('200.0.0.'));
  t.equal(ctx.pkt.icmpId, 77);
  t.equal(req.sport, 8, 'type untouched');
  t.match(natRun(ctx, 'in', { nwSrc: '8.8.8.8', nwDst: req.src, proto: 'icmp', tpSrc: 0, icmpId: 77 }),
    { action: ChainAction.Accept, dst: '10.0.0.5', sport: 0 });
  t.match(natRun(ctx, 'in', { nwSrc: '8.8.8.8', nwDst: req.src, proto: 'icmp', tpSrc: 0, icmpId: 78 }), { action: ChainAction.Drop });
  // ICMP errors and later fragments are not dynamically NATed: the rule does not apply.
  t.match(natRun(ctx, 'out', { nwSrc: '10.0.0.5', nwDst: '8.8.8.8', proto: 'icmp', tpSrc: 3, tpDst: 1 }), { action: ChainAction.Accept, src: '10.0.0.5' });
  t.match(natRun(ctx, 'out', { nwSrc: '10.0.0.5', nwDst: '8.8.8.8', fragment: Frag.Later }), { src: '10.0.0.5' });
  t.match(natRun(ctx, 'out', {}), { action: ChainAction.Accept }, 'non-IP');
});

t.test('NAT flowAction continue / return, full table, trace before → after', async (t) => {
  const topo = natTopo([
    { id: 'a', rules: [
      rule({ id: 'j', type: 'jump', jumpChainId: 'b' }),
      rule({ id: 'after', type: 'drop', matchNwDstRewritten: true, tpDst: { start: 9000, end: 9000 } }),
      rule({ id: 'last', type: 'accept' }),
    ] },
    { id: 'b', rules: [
      rule({ id: 'dn', type: 'dnat', flowAction: 'continue', natTargets: [{ addressFrom: '10.9.9.9', addressTo: '10.9.9.9', portFrom: 9000, portTo: 9000 }] }),
      rule({ id: 'sn', type: 'snat', flowAction: 'return', natTargets: [{ addressFrom: '7.7.7.7', addressTo: '7.7.7.7', portFrom: 7000, portTo: 7001 }] }),
      rule({ id: 'never', type: 'accept' }),
    ] },
  ]);
  const ctx = context(topo, stateTables());
  ctx.forceTrace = true;
  const r = natRun(ctx, 'a', { nwSrc: '10.0.0.1', nwDst: '5.5.5.5', tpSrc: 1234, tpDst: 80 });
  t.match(r, { action: ChainAction.Drop, src: '7.7.7.7', dst: '10.9.9.9', dport: 9000, rewritten: true });
  t.equal(ruleId(topo), 'after', 'dnat continued, snat returned to a, a matched nwDstRewritten');
  const nat = ctx.steps.filter((s) => s.details.kind === 'nat_applied');
  t.equal(nat.length, 2);
  t.match(nat[0]!.details, { kind: 'nat_applied', ruleId: 'dn', binding: 'new binding', action: 'continue',
    before: { nwSrc: '10.0.0.1', nwDst: '5.5.5.5', tpSrc: 1234, tpDst: 80 }, after: { nwDst: '10.9.9.9', tpDst: 9000 } });
  t.match(nat[1]!.details, { ruleId: 'sn', action: 'return', after: { nwSrc: '7.7.7.7' } });
  t.match(nat[0]!.message, /10\.0\.0\.1:1234 → 5\.5\.5\.5:80 into 10\.0\.0\.1:1234 → 10\.9\.9\.9:9000/);
  // A full NAT table is a drop with its own reason, not an exception.
  const tiny = context(topo, stateTables(1));
  t.match(natRun(tiny, 'a', { nwSrc: '10.0.0.1', nwDst: '5.5.5.5', tpSrc: 1234, tpDst: 80 }), { action: ChainAction.Drop });
  t.equal(chainVerdict.reason, 'state_table_full');
});

t.test('NAT zones: bindings made on one device are not seen by another', async (t) => {
  const state = stateTables();
  const topo = natTopo([
    { id: 'dn', rules: [rule({ type: 'dnat', natTargets: [{ addressFrom: '10.0.0.100', addressTo: '10.0.0.100', portFrom: 80, portTo: 80 }] })] },
    { id: 'rev', rules: [rule({ type: 'rev_dnat' }), rule({ id: 'no', type: 'drop' })] },
  ]);
  const ctx = context(topo, state);
  natRun(ctx, 'dn', { nwSrc: '1.1.1.1', nwDst: '200.0.0.1', tpSrc: 5000, tpDst: 80 });
  const reply = { pkt: { nwSrc: '10.0.0.100', nwDst: '1.1.1.1', tpSrc: 80, tpDst: 5000 } };
  prepare(ctx, { ...reply, ingress: 'p1' }); // entered the bridge: another zone
  t.equal(runChain(ctx, topo.chainIndex.get('rev')!, 'b1', 'br'), ChainAction.Drop);
  prepare(ctx, { ...reply, ingress: 'p5', inPort: 'p4' }); // another port of the router: same zone
  t.equal(runChain(ctx, topo.chainIndex.get('rev')!, 'p4', ''), ChainAction.Accept);
  t.equal(ipToString(ctx.pkt.nwSrc >>> 0), '200.0.0.1');
});

// ---------------------------------------------------------------------------------------------
// Connection tracking: bridge b1 (p1, p2 exterior), router r1 (p5 exterior).

function ctRun(ctx: PacketContext, ingress: string, pkt: PktFields): boolean {
  prepare(ctx, { pkt, ingress });
  return isForwardFlow(ctx);
}

t.test('conntrack: a reply is a return flow only after the forward packet was committed', async (t) => {
  const state = stateTables();
  const ctx = context(baseTopo, state);
  const fwd: PktFields = { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 40000, tpDst: 443 };
  const reply: PktFields = { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', tpSrc: 443, tpDst: 40000 };
  t.equal(ctRun(ctx, 'p2', reply), true, 'nothing committed yet');
  t.equal(ctRun(ctx, 'p1', fwd), true);
  t.equal(ctx.forwardFlow, 1, 'cached on the context');
  t.equal(commitConntrack(ctx, baseTopo.portIndex.get('p2')!), true);
  t.equal(ctRun(ctx, 'p2', reply), false, 'reply entering where the forward packet left');
  t.equal(ctx.forwardFlow, 0);
  t.equal(ctRun(ctx, 'p1', reply), false, 'any port of the same device');
  t.equal(ctRun(ctx, 'p5', reply), true, 'another device is another zone');
  t.equal(ctRun(ctx, 'p2', { ...reply, tpSrc: 444 }), true, 'another tuple');
  t.equal(ctRun(ctx, 'p2', { ...reply, proto: 'udp' }), true, 'another protocol');
  t.equal(ctRun(ctx, 'p1', fwd), true, 'the forward direction stays forward');
  // Expiry.
  ctx.nowMs += CT_TTL_MS + 1000;
  t.equal(ctRun(ctx, 'p2', reply), true, 'expired');
});

t.test('conntrack: commit keys on the packet as it leaves and only when forwardFlow was evaluated', async (t) => {
  const state = stateTables();
  const ctx = context(baseTopo, state);
  const p2 = baseTopo.portIndex.get('p2')!;
  const p5 = baseTopo.portIndex.get('p5')!;
  // Not evaluated by any rule: nothing is installed (Midolman tracks only asked-about flows).
  prepare(ctx, { pkt: { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1, tpDst: 2 }, ingress: 'p1' });
  commitConntrack(ctx, p2);
  t.equal(state.conntrack.size(ctx.nowMs), 0);
  // Rewritten on the way (as by NAT) and leaving through the router: the reply to the rewritten
  // tuple, entering the router, is the return flow.
  t.equal(ctRun(ctx, 'p1', { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1, tpDst: 2 }), true);
  ctx.pkt.nwSrc = parseIp('200.0.0.1');
  ctx.pkt.tpSrc = 7;
  commitConntrack(ctx, p5);
  t.equal(ctRun(ctx, 'p5', { nwSrc: '10.0.0.2', nwDst: '200.0.0.1', tpSrc: 2, tpDst: 7 }), false);
  t.equal(ctRun(ctx, 'p5', { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', tpSrc: 2, tpDst: 1 }), true);
  // ICMP echo: the reply (type 0) matches the request (type 8) by identifier.
  t.equal(ctRun(ctx, 'p1', { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 'icmp', tpSrc: 8, icmpId: 99 }), true);
  commitConntrack(ctx, p2);
  t.equal(ctRun(ctx, 'p2', { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', proto: 'icmp', tpSrc: 0, icmpId: 99 }), false);
  t.equal(ctRun(ctx, 'p2', { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', proto: 'icmp', tpSrc: 0, icmpId: 98 }), true);
  // Untracked protocols and non-IP frames are always forward, and commit nothing.
  const before = state.conntrack.size(ctx.nowMs);
  t.equal(ctRun(ctx, 'p1', { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 47 }), true);
  commitConntrack(ctx, p2);
  t.equal(ctRun(ctx, 'p1', {}), true);
  commitConntrack(ctx, p2);
  t.equal(state.conntrack.size(ctx.nowMs), before);
  // Generated packets are return flows and never commit.
  prepare(ctx, { pkt: { nwSrc: '10.0.0.9', nwDst: '10.0.0.8', tpSrc: 5, tpDst: 6 }, ingress: 'p1' });
  ctx.generating = true;
  t.equal(isForwardFlow(ctx), false);
  ctx.forwardFlow = 1;
  commitConntrack(ctx, p2);
  t.equal(state.conntrack.size(ctx.nowMs), before);
});

t.test('conntrack through chains: matchReturnFlow accepts replies only', async (t) => {
  const topo = chainTopo([{ id: 'c', rules: [
    rule({ id: 'ret', type: 'accept', matchReturnFlow: true }),
    rule({ id: 'fwd-ssh', type: 'accept', matchForwardFlow: true, tpDst: { start: 22, end: 22 } }),
    rule({ id: 'deny', type: 'drop' }),
  ] }]);
  const ctx = context(topo, stateTables());
  const go = (ingress: string, pkt: PktFields): ChainAction => {
    prepare(ctx, { pkt, ingress });
    return runChain(ctx, 0, 'b1', 'br');
  };
  t.equal(go('p1', { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 3333, tpDst: 22 }), ChainAction.Accept);
  commitConntrack(ctx, topo.portIndex.get('p2')!);
  t.equal(go('p2', { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', tpSrc: 22, tpDst: 3333 }), ChainAction.Accept);
  t.equal(topo.rules[chainVerdict.ruleIdx]!.id, 'ret');
  t.equal(go('p2', { nwSrc: '10.0.0.2', nwDst: '10.0.0.1', tpSrc: 22, tpDst: 3334 }), ChainAction.Drop);
});

// ---------------------------------------------------------------------------------------------

t.test('flowHash: stable per flow, spread across flows', async (t) => {
  const ctx = context(baseTopo);
  const h = (f: PktFields): number => flowHash(fillPacket(ctx.pkt, f));
  const a = h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1000, tpDst: 80 });
  t.equal(h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1000, tpDst: 80 }), a);
  t.ok(a === (a | 0), 'a signed int32 (never boxed)');
  t.equal(h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 'icmp', tpSrc: 8, icmpId: 5 }),
    h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 'icmp', tpSrc: 8, icmpId: 5 }));
  t.not(h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 'icmp', tpSrc: 8, icmpId: 5 }),
    h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', proto: 'icmp', tpSrc: 8, icmpId: 6 }));
  // 1000 flows differing only in source port land evenly in 4 ECMP buckets.
  const buckets = [0, 0, 0, 0];
  for (let i = 0; i < 1000; i++) buckets[(h({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1024 + i, tpDst: 80 }) >>> 0) % 4]!++;
  for (const b of buckets) t.ok(b > 180 && b < 320, `bucket ${b}`);
  t.not(h({ ethSrc: 1 }), h({ ethSrc: 2 }), 'non-IP frames hash on MACs');
});

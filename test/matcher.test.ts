// The trace-condition index against brute force: for random conditions (every indexed kind, several
// prefix lengths per address, inverted fields, whole-condition inversion) and random packets drawn
// from the same small value pools, ConditionMatcher.matchAtIngress must pick exactly the conditions
// that matchCondition accepts one by one. The pools are small so that most packets match something
// and the filter's two stages both run.
import t from 'tap';
import { compileTopology } from '../engine/topology/compile.js';
import { createStateTables } from '../engine/state/tables.js';
import { Simulator } from '../engine/simulator.js';
import { ConditionMatcher } from '../engine/trace/matcher.js';
import { compileCondition, matchCondition, refsFromTopology } from '../engine/rules/condition.js';
import { ETH_ARP, ETH_IPV4, ETH_QINQ, ETH_VLAN, Frag, Packet } from '../engine/packet.js';
import { buildFrameBytes } from '../engine/wire/build.js';
import { packetFromJson } from '../engine/packet-json.js';
import { parseFrame } from '../engine/wire/parse.js';
import type { TraceConditionJson } from '../model/trace.js';
import { Net } from './helpers/net.js';

const PORTS = ['p0', 'p1', 'p2', 'p3'];
const n = new Net().bridge('b');
for (const p of PORTS) n.port('b', p);
const topo = compileTopology(n.doc);

function rng(seed: number): (k: number) => number {
  let x = seed;
  return (k) => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) % k;
  };
}

const ADDRS = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '10.1.0.1', '192.168.0.9'];
const ADDR_INTS = ADDRS.map((a) => a.split('.').reduce((s, o) => s * 256 + Number(o), 0) | 0);
const LENGTHS = [8, 16, 24, 28, 32];
const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:01:00:01'];
const MAC_INTS = [0x020000000001, 0x020000000002, 0x020000010001];
const TP = [0, 3, 53, 80, 443];

/** screenBatch() on one frame: bytes[0, len) entering port index `port`. */
function screen(m: ConditionMatcher, bytes: Uint8Array, len: number, port: number): number {
  const out = new Uint8Array(1);
  m.screenBatch(bytes, Int32Array.of(0, len), 1, Int32Array.of(port), out);
  return out[0]!;
}

function randomCondition(r: (k: number) => number, i: number): TraceConditionJson {
  const c: TraceConditionJson = { id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}` };
  const kinds = 1 + r(3);
  for (let k = 0; k < kinds; k++) {
    const inv = r(6) === 0;
    switch (r(7)) {
      case 0: c.inPorts = [n.id(PORTS[r(PORTS.length)]!)]; if (r(3) === 0) c.inPorts.push(n.id(PORTS[r(PORTS.length)]!)); c.invInPorts = inv; break;
      case 1: c.nwSrcAddress = ADDRS[r(ADDRS.length)]; c.nwSrcLength = LENGTHS[r(LENGTHS.length)]; c.invNwSrc = inv; break;
      case 2: c.nwDstAddress = ADDRS[r(ADDRS.length)]; c.nwDstLength = LENGTHS[r(LENGTHS.length)]; c.invNwDst = inv; break;
      case 3: c.dlSrc = MACS[r(MACS.length)]; c.invDlSrc = inv; break;
      case 4: c.dlDst = MACS[r(MACS.length)]; c.invDlDst = inv; break;
      case 5: { const p = TP[r(TP.length)]!; c.tpDst = { start: p, end: r(4) === 0 ? p + 400 : p }; c.invTpDst = inv; break; }
      default: c.nwProto = [6, 17, 1][r(3)]; c.invNwProto = inv; break;
    }
  }
  if (r(12) === 0) c.condInvert = true;
  return c;
}

t.test('the index picks exactly the conditions brute force picks', async (t) => {
  const r = rng(20261124);
  const sim = new Simulator(topo, createStateTables({ shared: false }), 'h');
  const ctx = sim.ctx;
  const refs = refsFromTopology(topo);
  let packets = 0;
  let matchedPackets = 0;
  for (let round = 0; round < 20; round++) {
    const conditions = Array.from({ length: 1 + r(12) }, (_, i) => randomCondition(r, i));
    const m = new ConditionMatcher(topo, conditions.map((condition, slot) => ({ slot, condition })), new Int32Array(conditions.length));
    const compiled = conditions.map((c) => compileCondition(c, refs));
    for (let p = 0; p < 500; p++) {
      ctx.begin(0);
      const pkt = ctx.pkt;
      pkt.reset();
      pkt.ethSrc = MAC_INTS[r(MAC_INTS.length)]!;
      pkt.ethDst = MAC_INTS[r(MAC_INTS.length)]!;
      pkt.etherType = r(10) === 0 ? ETH_ARP : ETH_IPV4;
      pkt.nwSrc = ADDR_INTS[r(ADDR_INTS.length)]!;
      pkt.nwDst = ADDR_INTS[r(ADDR_INTS.length)]!;
      pkt.nwProto = r(2) === 0 ? 6 : 17;
      pkt.fragment = r(10) === 0 ? Frag.Later : Frag.None;
      pkt.tpSrc = 40000;
      pkt.tpDst = TP[r(TP.length)]! + (r(4) === 0 ? 1 : 0);
      ctx.ingressPort = ctx.inPort = topo.portIndex.get(n.id(PORTS[r(PORTS.length)]!))!;
      const expected = conditions.filter((_, i) => matchCondition(compiled[i]!, ctx)).map((c) => c.id);
      const got = m.matchAtIngress(ctx);
      packets++;
      if (expected.length > 0) matchedPackets++;
      if (got !== expected.length > 0 || [...ctx.conditionIds].sort().join() !== expected.sort().join()) {
        t.fail('matcher and brute force disagree', { conditions, packet: { ...pkt, buf: undefined }, inPort: ctx.inPort, expected, got: [...ctx.conditionIds] });
        return;
      }
    }
  }
  t.pass(`${packets} packets agree`);
  t.ok(matchedPackets > packets / 10 && matchedPackets < packets * 0.9, `both outcomes exercised (${matchedPackets} of ${packets} matched)`);
});

t.test('many indexed values still turn away packets that match none', async (t) => {
  // 3,000 /32 conditions fill the filter far beyond what it is sized for: correctness must not depend
  // on its false-positive rate, only the speed does.
  const conditions: TraceConditionJson[] = Array.from({ length: 3000 }, (_, i) => ({
    id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    nwSrcAddress: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, nwSrcLength: 32,
  }));
  const m = new ConditionMatcher(topo, conditions.map((condition, slot) => ({ slot, condition })), new Int32Array(conditions.length));
  const ctx = new Simulator(topo, createStateTables({ shared: false }), 'h').ctx;
  let wrong = 0;
  for (let i = 0; i < 6000; i++) {
    ctx.begin(0);
    ctx.pkt.reset();
    ctx.pkt.etherType = ETH_IPV4;
    ctx.pkt.nwSrc = ((172 << 24) | (16 << 16) | i) | 0; // the first 3,000 match their own condition
    ctx.ingressPort = ctx.inPort = 0;
    const hit = m.matchAtIngress(ctx);
    const want = i < 3000 ? [conditions[i]!.id] : [];
    if (hit !== want.length > 0 || ctx.conditionIds.join() !== want.join()) wrong++;
  }
  t.equal(wrong, 0);
});

t.test('screening a frame never turns away one the parsed packet would match', async (t) => {
  // screenBatch() reads header bytes itself (so a worker can run it over a batch before simulating); the
  // verdict 0 must imply that parseFrame() + matchAtIngress() match nothing. Frames: built from the
  // value pools, with VLAN tags, fragments, ICMP and other protocols, then sometimes one byte changed
  // or the frame cut short.
  const r = rng(778);
  // Frames also carry values no condition names, so that screening often says 0 and a wrong read of
  // one field shows up as a matching frame screened out.
  const PKT_ADDRS = [...ADDR_INTS, 0xac100001 | 0, 0x08080808, 0x01010101, 0x64400001, 0xcb007105 | 0];
  const PKT_MACS = [...MAC_INTS, 0x0a0000000001, 0x0a0000000002, 0x0a0000000003];
  const ctx = new Simulator(topo, createStateTables({ shared: false }), 'h').ctx;
  const src = new Packet();
  let frames = 0;
  let screenedOut = 0;
  for (let round = 0; round < 20; round++) {
    const conditions = Array.from({ length: 1 + r(6) }, (_, i) => randomCondition(r, i));
    const m = new ConditionMatcher(topo, conditions.map((condition, slot) => ({ slot, condition })), new Int32Array(conditions.length));
    for (let f = 0; f < 500; f++) {
      src.reset();
      src.ethSrc = PKT_MACS[r(PKT_MACS.length)]!;
      src.ethDst = PKT_MACS[r(PKT_MACS.length)]!;
      const tags = r(8) === 0 ? 1 + r(2) : 0;
      src.vlanCount = tags;
      for (let v = 0; v < tags; v++) { src.vlanIds[v] = 1 + r(100); src.vlanTpids[v] = v === 0 && tags === 2 ? ETH_QINQ : ETH_VLAN; }
      src.etherType = r(10) === 0 ? 0x86dd : ETH_IPV4;
      src.nwSrc = PKT_ADDRS[r(PKT_ADDRS.length)]! >>> 0;
      src.nwDst = PKT_ADDRS[r(PKT_ADDRS.length)]! >>> 0;
      src.ttl = 64;
      src.nwProto = [6, 17, 1, 47][r(4)]!;
      if (r(8) === 0) { src.fragOffset = 1 + r(100); src.fragment = Frag.Later; }
      src.tpSrc = src.nwProto === 1 ? (r(2) === 0 ? 8 : 3) : 40000;
      src.tpDst = src.nwProto === 1 ? (r(2) === 0 ? 3 : 0) : TP[r(TP.length)]!;
      let bytes = buildFrameBytes(src);
      if (r(4) === 0) { bytes = bytes.slice(); bytes[r(bytes.length)] = r(256); }
      const len = r(5) === 0 ? r(bytes.length + 1) : bytes.length;
      const port = topo.portIndex.get(n.id(PORTS[r(PORTS.length)]!))!;
      const verdict = screen(m, bytes, len, port);
      ctx.begin(0);
      if (parseFrame(bytes, 0, len, ctx.pkt) !== 'ok') continue;
      frames++;
      ctx.ingressPort = ctx.inPort = port;
      const matched = m.matchAtIngress(ctx);
      if (verdict === 0) screenedOut++;
      if (verdict === 0 && matched) {
        t.fail('a frame screened out matches', { conditions, frame: Buffer.from(bytes.subarray(0, len)).toString('hex'), port, ids: [...ctx.conditionIds] });
        return;
      }
    }
  }
  t.pass(`${frames} parsed frames: none screened out that matches`);
  t.ok(screenedOut > frames / 20, `some were screened out (${screenedOut})`);
});

t.test('frames whose indexed fields no condition names are screened out, tagged or not', async (t) => {
  const conditions: TraceConditionJson[] = [
    { id: '00000000-0000-4000-8000-000000000001', inPorts: [n.id('p0')] },
    { id: '00000000-0000-4000-8000-000000000002', nwSrcAddress: '10.0.0.1', nwSrcLength: 32 },
    { id: '00000000-0000-4000-8000-000000000003', nwDstAddress: '10.0.0.0', nwDstLength: 24, tpDst: { start: 80, end: 80 } },
    { id: '00000000-0000-4000-8000-000000000004', dlSrc: MACS[0] },
    { id: '00000000-0000-4000-8000-000000000005', dlDst: MACS[0] },
    { id: '00000000-0000-4000-8000-000000000006', nwProto: 6, tpDst: { start: 443, end: 443 } },
  ];
  const m = new ConditionMatcher(topo, conditions.map((condition, slot) => ({ slot, condition })), new Int32Array(conditions.length));
  const port = topo.portIndex.get(n.id('p1'))!;
  let out = 0;
  let tagged = 0;
  let qinq = 0;
  let tooMany = 0;
  for (let i = 0; i < 1000; i++) {
    const pkt = Object.assign(new Packet(), {
      ethSrc: 0x020000100000 + i, ethDst: 0x020000200000 + i, etherType: ETH_IPV4, ttl: 9,
      nwSrc: (0xc0a80000 + i) >>> 0, nwDst: (0xac100000 + i) >>> 0, nwProto: i % 2 === 0 ? 6 : 17, tpSrc: 1000, tpDst: 1024 + i,
    });
    const plain = buildFrameBytes(pkt);
    out += 1 - screen(m, plain, plain.length, port);
    pkt.vlanCount = 1; pkt.vlanIds[0] = 7; pkt.vlanTpids[0] = ETH_VLAN;
    const withTag = buildFrameBytes(pkt);
    tagged += 1 - screen(m, withTag, withTag.length, port);
    pkt.vlanCount = 2; pkt.vlanIds[1] = 8; pkt.vlanTpids[0] = ETH_QINQ; pkt.vlanTpids[1] = ETH_VLAN;
    const twoTags = buildFrameBytes(pkt);
    qinq += 1 - screen(m, twoTags, twoTags.length, port);
    // A third tag: the parser refuses the frame (too_many_vlans); screening leaves that to it.
    const three = new Uint8Array(twoTags.length + 4);
    three.set(twoTags.subarray(0, 20));
    three.set([0x81, 0x00, 0x00, 0x09], 20);
    three.set(twoTags.subarray(20), 24);
    tooMany += screen(m, three, three.length, port);
  }
  // The filter may let a few through by chance (stage two then decides); nearly all must be turned away.
  t.ok(out >= 990, `${out} of 1000 plain frames screened out`);
  t.ok(tagged >= 990, `${tagged} of 1000 802.1Q frames screened out`);
  t.ok(qinq >= 990, `${qinq} of 1000 802.1ad + 802.1Q frames screened out`);
  t.equal(tooMany, 1000, 'frames with three tags are left to the parser');
});

t.test('with no conditions every frame screens out; with an unindexed one none does', async (t) => {
  const bytes = buildFrameBytes(Object.assign(new Packet(), { ethSrc: MAC_INTS[0]!, ethDst: MAC_INTS[1]!, etherType: ETH_IPV4, nwSrc: ADDR_INTS[0]! >>> 0, nwDst: ADDR_INTS[1]! >>> 0, nwProto: 17, ttl: 9, tpSrc: 1, tpDst: 53 }));
  t.equal(screen(new ConditionMatcher(topo, [], new Int32Array(1)), bytes, bytes.length, 0), 0);
  const inverted = new ConditionMatcher(topo, [{ slot: 0, condition: { id: '00000000-0000-4000-8000-000000000001', nwProto: 6, invNwProto: true } }], new Int32Array(1));
  t.equal(screen(inverted, bytes, bytes.length, 0), 1, 'a condition the index cannot hold is tested on every packet');
});

t.test('screening reads L4 fields as the parser does: ICMP code, 0 for other protocols, none in later fragments', async (t) => {
  const cond = (id: number, tp: number): TraceConditionJson => ({ id: `00000000-0000-4000-8000-00000000000${id}`, tpDst: { start: tp, end: tp } });
  const frame = (fields: Partial<Packet>): Uint8Array => buildFrameBytes(Object.assign(new Packet(), {
    ethSrc: 0x0a0000000001, ethDst: 0x0a0000000002, etherType: ETH_IPV4, ttl: 9, nwSrc: 0x0a000001, nwDst: 0x0a000002, ...fields,
  }));
  const screenFor = (c: TraceConditionJson, bytes: Uint8Array): number =>
    screen(new ConditionMatcher(topo, [{ slot: 0, condition: c }], new Int32Array(1)), bytes, bytes.length, 0);
  const icmp = frame({ nwProto: 1, tpSrc: 8, tpDst: 3 });
  t.equal(screenFor(cond(1, 3), icmp), 1, 'ICMP code 3 is tpDst 3');
  t.equal(screenFor(cond(2, 8), icmp), 0, 'the ICMP type is not tpDst');
  const gre = frame({ nwProto: 47 });
  t.equal(screenFor(cond(3, 0), gre), 1, 'another protocol has tpDst 0');
  t.equal(screenFor(cond(4, 1), gre), 0);
  const udp = frame({ nwProto: 17, tpSrc: 7, tpDst: 53 });
  t.equal(screenFor(cond(5, 53), udp), 1);
  t.equal(screenFor(cond(6, 7), udp), 0, 'the source port is not tpDst');
  const later = frame({ nwProto: 17, fragment: Frag.Later, fragOffset: 1, payLen: 0 });
  t.equal(screenFor(cond(7, 0), later), 0, 'a later fragment has no L4 fields at all');
});

t.test('a condition scoped to a device inside a flood branch restarts the run traced, from the ingress port', async (t) => {
  // x floods to h2 and over its link to y's VLAN 10 port (the only interior link a flood crosses);
  // the condition is scoped to y, reached in the first branch while the branch to h2 still waits on
  // the fork stack.
  const net = new Net().bridge('x').bridge('y')
    .port('x', 'h1').port('x', 'xy').port('x', 'h2').port('y', 'yx', { vlanId: 10 }).port('y', 'h3')
    .link('xy', 'yx');
  const tp = compileTopology(net.doc);
  const cond: TraceConditionJson = { id: '00000000-0000-4000-8000-00000000000f', deviceType: 'bridge', deviceId: net.id('y') };
  const sim = new Simulator(tp, createStateTables({ shared: false }), 'h',
    new ConditionMatcher(tp, [{ slot: 0, condition: cond }], new Int32Array(1)));
  const ctx = sim.ctx;
  const pkt = new Packet();
  t.ok(packetFromJson({ ethSrc: '02:00:00:00:00:01', ethDst: 'ff:ff:ff:ff:ff:ff', nwSrc: '10.0.0.1', nwDst: '10.0.0.255', nwProto: 'udp', tpSrc: 1, tpDst: 2 }, pkt).ok);
  const frame = buildFrameBytes(pkt);
  sim.runFrame(tp.portIndex.get(net.id('h1'))!, frame, 0, frame.length, 0);
  t.equal(ctx.traced, true);
  t.same(ctx.conditionIds, [cond.id], 'the condition is recorded once');
  const name = (i: number) => tp.ports[ctx.emitPorts[i]!]!.name;
  t.same(Array.from({ length: ctx.emitCount }, (_, i) => name(i)), ['h3', 'h2'], 'each branch emitted once: the first run left nothing behind');
  t.equal(ctx.steps[0]!.deviceId, net.id('h1'), 'the trace starts at the ingress port');
  t.equal(ctx.steps.filter((s) => /^flooded/.test(s.message)).length, 2, 'one flood step per bridge');
  t.equal(ctx.devicesTraversed, 2);
});

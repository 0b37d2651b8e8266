// Scenario tests through the entry point `midotrace simulate` uses (simulateInputs): a network, the
// packets sent in order (state carries over), and what must come out. Each row names the behaviour.
import t from 'tap';
import { compileTopology } from '../engine/topology/compile.js';
import { loadTopology } from '../model/topology/load.js';
import { SimulationSession, type SimulateOutput } from '../cli/simulate.js';
import { icmpErrorFrame, Net, pk, quotedOf } from './helpers/net.js';
import { StepSchema } from '../api/doc-schemas.js';
import { STEP_KINDS, STEP_KIND_NAMES } from '../model/step.js';
import type { StepJson } from '../model/trace.js';
import { diffTraces } from '../model/trace-diff.js';

const MAC = {
  vm1: '02:00:00:00:00:01', vm2: '02:00:00:00:00:02', vm3: '02:00:00:00:00:03', vm4: '02:00:00:00:00:04',
  r1: '02:00:00:00:01:01', r2: '02:00:00:00:01:02', up: '02:00:00:00:01:03', gw: '02:00:00:00:09:09',
};

/** vm1, vm2 on bridge b1 (10.0.1.0/24); vm3 on b2 (10.0.2.0/24); router r links both and an uplink. */
function base(): Net {
  return new Net()
    .bridge('b1', { arpTable: [{ ip: '10.0.1.10', mac: MAC.vm1 }, { ip: '10.0.1.11', mac: MAC.vm2 }] })
    .bridge('b2', { arpTable: [{ ip: '10.0.2.10', mac: MAC.vm3 }] })
    .router('r', { arpTable: [{ ip: '192.168.0.1', mac: MAC.gw }] })
    .port('b1', 'vm1').port('b1', 'vm2').port('b2', 'vm3')
    .attach('r', 'b1', '10.0.1.1/24', MAC.r1)
    .attach('r', 'b2', '10.0.2.1/24', MAC.r2)
    .routerPort('r', 'uplink', '192.168.0.2/24', MAC.up)
    .route('r', '0.0.0.0/0', { via: 'uplink', nextHopGateway: '192.168.0.1' });
}

type Send = { in: string; packet?: unknown; frame?: string };

function session(n: Net, trace = true): (packets: Send[]) => SimulateOutput[] {
  const loaded = loadTopology(n.doc);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const s = new SimulationSession(compileTopology(loaded.doc), trace);
  return (packets) => s.run(packets.map((p) => ({ inPort: n.id(p.in), packet: p.packet, frame: p.frame })));
}

/** Every step any scenario recorded: the last test checks them against the published step kinds. */
const recorded: StepJson[] = [];

function run(n: Net, packets: Send[], trace = true): SimulateOutput[] {
  const out = session(n, trace)(packets);
  for (const r of out) recorded.push(...(r.trace?.steps ?? []));
  return out;
}

function outPorts(n: Net, r: SimulateOutput, generated = false): string[] {
  const names = new Map(n.doc.ports.map((p) => [p.id, p.name!]));
  return r.emitted.filter((e) => e.generated === generated).map((e) => names.get(e.portId)!).sort();
}

/** The fields of emitted packet JSON (SPEC §3) the assertions read. */
interface Pkt {
  ethSrc: string; ethDst: string; nwSrc: string; nwDst: string; ttl: number; nwProto: number; vlan?: number;
  icmpType: number; icmpCode: number; icmpId: number; tpSrc: number; tpDst: number; arp: { op: number; sha: string };
}

function stepText(r: SimulateOutput): string {
  return (r.trace?.steps ?? []).map((s) => s.message).join('\n');
}

t.test('bridge: flood an unknown destination, then forward once learned', async (t) => {
  const n = base().port('b1', 'vm4');
  const [first, reply, again] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm2', packet: pk.udp(MAC.vm2, MAC.vm1, '10.0.1.11', '10.0.1.10') },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
  ]);
  t.equal(first!.result, 'forward');
  t.same(outPorts(n, first!), ['vm2', 'vm4'], 'unknown destination floods to the other exterior ports');
  t.match(stepText(first!), /flooded/);
  t.same(outPorts(n, reply!), ['vm1'], 'the reply goes only where vm1 was learned');
  t.same(outPorts(n, again!), ['vm2'], 'vm2 was learned from its reply');
  t.equal(again!.devicesTraversed, 1);
});

t.test('bridge: multicast source MAC is dropped', async (t) => {
  const [r] = run(base(), [{ in: 'vm1', packet: pk.udp('01:00:5e:00:00:01', MAC.vm2, '10.0.1.10', '10.0.1.11') }]);
  t.equal(r!.result, 'drop');
  t.equal(r!.reason, 'multicast_src_mac');
  t.same(r!.emitted, []);
});

t.test('bridge: MAC migration moves the learned port', async (t) => {
  const n = base();
  const out = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm2', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') }, // vm1's MAC now behind vm2's port
    { in: 'vm2', packet: pk.udp(MAC.vm2, MAC.vm1, '10.0.1.11', '10.0.1.10') },
  ]);
  t.match(stepText(out[1]!), /moved from port/);
  t.equal(out[2]!.result, 'drop', 'the MAC is now behind the ingress port');
  t.equal(out[2]!.reason, 'same_port');
});

t.test('bridge: VLAN-tagged frames skip the bridge chains', async (t) => {
  const n = base().chain('deny-all', [{ type: 'drop' }]).set('bridges', 'b1', { inboundFilterId: new Net().id('deny-all') });
  const [tagged, untagged] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11', { vlan: 10 }) },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
  ]);
  t.equal(tagged!.result, 'forward', 'tagged frame is not filtered');
  t.equal(untagged!.result, 'drop', 'untagged frame hits the drop rule');
  t.equal(untagged!.reason, 'chain_drop');
});

t.test('bridge: ARP requests answered for a router port and from the seeded table', async (t) => {
  const n = base();
  const [forRouter, seeded] = run(n, [
    { in: 'vm1', packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.1') },
    { in: 'vm1', packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.11') },
  ]);
  for (const [r, mac] of [[forRouter!, MAC.r1], [seeded!, MAC.vm2]] as const) {
    t.equal(r.result, 'consumed');
    t.same(outPorts(n, r, true), ['vm1'], 'the reply leaves towards the asker');
    const reply = r.emitted[0]!.packet as unknown as Pkt;
    t.equal(reply.arp.op, 2);
    t.equal(reply.arp.sha, mac);
    t.equal(reply.ethDst, MAC.vm1);
  }
  t.equal(forRouter!.devicesTraversed, 2, 'the request crossed the bridge into the router');
});

t.test('bridge: a VLAN-aware bridge tags frames from its VLAN 10 port and untags them back', async (t) => {
  // Trunk bridge `vab` with a tagged host `trunk`; its interior port v10 (VLAN 10) links to the
  // VLAN-unaware bridge b10, where vmA lives.
  const n = new Net().bridge('vab').bridge('b10')
    .port('vab', 'trunk').port('vab', 'v10', { vlanId: 10 }).port('b10', 'up10').port('b10', 'vmA')
    .link('v10', 'up10');
  const [out, back] = run(n, [
    { in: 'vmA', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'trunk', packet: pk.udp(MAC.vm2, MAC.vm1, '10.0.1.11', '10.0.1.10', { vlan: 10 }) },
  ]);
  t.same(outPorts(n, out!), ['trunk']);
  t.equal((out!.emitted[0]!.packet as unknown as Pkt).vlan, 10, 'tagged with the VLAN of the port it came in by');
  t.match(stepText(out!), /pushed VLAN 10/);
  t.same(outPorts(n, back!), ['vmA']);
  t.equal((back!.emitted[0]!.packet as unknown as Pkt).vlan, undefined, 'untagged towards the VLAN port');
  t.match(stepText(back!), /popped VLAN 10 towards its VLAN interior port/);
});

t.test('router: forward across subnets, TTL 8 → 7, both MACs rewritten', async (t) => {
  const n = base();
  const [r] = run(n, [{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { ttl: 8 }) }]);
  t.equal(r!.result, 'forward');
  t.same(outPorts(n, r!), ['vm3']);
  const p = r!.emitted[0]!.packet as unknown as Pkt;
  t.equal(p.ttl, 7);
  t.equal(p.ethSrc, MAC.r2);
  t.equal(p.ethDst, MAC.vm3);
  t.equal(r!.devicesTraversed, 3);
  t.match(stepText(r!), /route chosen: 10\.0\.2\.0\/24/);
});

t.test('router: blackhole, reject and missing routes', async (t) => {
  const n = base()
    .route('r', '10.9.0.0/16', { type: 'blackhole' })
    .route('r', '10.8.0.0/16', { type: 'reject' })
    .set('routers', 'r', { arpTable: [] });
  n.doc.routes.splice(0, 1); // no default route
  const [black, reject, none] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.9.1.1') },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.8.1.1') },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '172.16.0.1') },
  ]);
  t.equal(black!.result, 'errorDrop');
  t.equal(black!.reason, 'blackhole_route');
  t.same(black!.emitted, [], 'blackhole sends no ICMP');
  // Midolman: REJECT → ICMP 3/13 + ShortDrop; no route → ICMP 3/0 + ShortDrop.
  for (const [r, code, reason] of [[reject!, 13, 'reject_route'], [none!, 0, 'no_route']] as const) {
    t.equal(r.result, 'shortDrop', `${reason} is a shortDrop`);
    t.equal(r.reason, reason);
    t.same(outPorts(n, r, true), ['vm1'], 'the ICMP error goes back to the sender');
    const icmp = r.emitted[0]!.packet as unknown as Pkt;
    t.equal(icmp.nwProto, 1);
    t.equal(icmp.icmpType, 3);
    t.equal(icmp.icmpCode, code);
    t.equal(icmp.nwSrc, '10.0.1.1');
    t.equal(icmp.nwDst, '10.0.1.10');
    t.equal(icmp.ethDst, MAC.vm1);
  }
});

t.test('router: ping to a router port gets an echo reply', async (t) => {
  const n = base();
  const [r] = run(n, [{ in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.1', { icmpId: 99 }) }]);
  t.equal(r!.result, 'consumed');
  const reply = r!.emitted[0]!.packet as unknown as Pkt;
  t.equal(reply.icmpType, 0);
  t.equal(reply.icmpId, 99);
  t.equal(reply.nwSrc, '10.0.2.1');
  t.equal(reply.nwDst, '10.0.1.10');
  t.same(outPorts(n, r!, true), ['vm1']);
});

t.test('router: TTL 1 gives ICMP time exceeded', async (t) => {
  const n = base();
  const [r] = run(n, [{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { ttl: 1 }) }]);
  t.equal(r!.result, 'errorDrop');
  t.equal(r!.reason, 'ttl_expired');
  const icmp = r!.emitted.find((e) => e.generated)!.packet as unknown as Pkt;
  t.equal(icmp.icmpType, 11);
  t.equal(icmp.icmpCode, 0);
});

t.test('router: no ICMP error about an ICMP error', async (t) => {
  const n = base();
  const [r] = run(n, [{ in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { icmpType: 3, icmpCode: 1, ttl: 1 }) }]);
  t.equal(r!.reason, 'ttl_expired');
  t.same(r!.emitted, [], 'nothing generated');
  t.match(r!.trace!.steps.find((s) => s.details.kind === 'icmp_suppressed'), { details: { icmpType: 11, icmpCode: 0, suppressed: true } });
});

t.test('router: VLAN 10 is dropped, VLAN 0 is popped', async (t) => {
  const n = new Net().router('r')
    .routerPort('r', 'a', '10.0.1.1/24', MAC.r1, { })
    .routerPort('r', 'b', '10.0.2.1/24', MAC.r2)
    .set('routers', 'r', { arpTable: [{ ip: '10.0.2.10', mac: MAC.vm3 }] });
  const [v10, v0] = run(n, [
    { in: 'a', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { vlan: 10 }) },
    { in: 'a', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { vlan: 0 }) },
  ]);
  t.equal(v10!.result, 'drop');
  t.equal(v10!.reason, 'router_vlan_tagged');
  t.equal(v0!.result, 'forward');
  t.equal((v0!.emitted[0]!.packet as Record<string, unknown>).vlan, undefined, 'priority tag removed');
});

t.test('router: port-group rule in post-routing', async (t) => {
  const n = base()
    .portGroup('web', ['vm1'])
    .chain('post', [{ type: 'drop', portGroup: new Net().id('web'), nwProto: 17 }])
    .set('routers', 'r', { outboundFilterId: new Net().id('post') });
  const [fromGroup, fromOther] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10') },
    { in: 'vm2', packet: pk.udp(MAC.vm2, MAC.r1, '10.0.1.11', '10.0.2.10') },
  ]);
  t.equal(fromGroup!.result, 'drop');
  t.equal(fromGroup!.reason, 'chain_drop');
  t.equal(fromOther!.result, 'forward');
});

t.test('chains: jump and return, and a jump loop', async (t) => {
  const id = (s: string) => new Net().id(s);
  const n = base()
    .chain('sub', [{ type: 'return', nwProto: 17 }, { type: 'drop' }])
    .chain('main', [{ type: 'jump', jumpChainId: id('sub') }, { type: 'drop', tpDst: { start: 53, end: 53 } }, { type: 'accept' }])
    .chain('loopA', [{ type: 'jump', jumpChainId: id('loopB') }])
    .chain('loopB', [{ type: 'jump', jumpChainId: id('loopA') }])
    .set('ports', 'vm1', { inboundFilterId: id('main') })
    .set('ports', 'vm2', { inboundFilterId: id('loopA') });
  const [udp53, udp80, tcp, loop] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm3, '10.0.1.10', '10.0.1.12', { tpDst: 53 }) },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm3, '10.0.1.10', '10.0.1.12', { tpDst: 80 }) },
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.vm3, '10.0.1.10', '10.0.1.12') },
    { in: 'vm2', packet: pk.udp(MAC.vm2, MAC.vm3, '10.0.1.11', '10.0.1.12') },
  ]);
  t.equal(udp53!.result, 'drop', 'return from sub continues after the jump; port 53 dropped');
  t.equal(udp80!.result, 'forward', 'return from sub, then accept');
  t.equal(tcp!.result, 'drop', 'sub drops non-UDP');
  t.equal(loop!.result, 'forward', 'a jump back into a chain already evaluated is skipped (Midolman): loopB falls off, accept');
  t.match(stepText(loop!), /already evaluated/);
});

t.test('chains: a jump loop is skipped and the next rule decides', async (t) => {
  const id = (s: string) => new Net().id(s);
  const n = base()
    .chain('loopA', [{ type: 'jump', jumpChainId: id('loopB') }, { type: 'drop', nwProto: 17 }])
    .chain('loopB', [{ type: 'jump', jumpChainId: id('loopA') }, { type: 'reject', nwProto: 6 }])
    .set('ports', 'vm1', { inboundFilterId: id('loopA') });
  const [udp, tcp, icmp] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm1', packet: pk.ping(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
  ]);
  t.equal(udp!.result, 'drop', 'after the skipped jump back, loopB returns and loopA drops UDP');
  t.equal(udp!.reason, 'chain_drop');
  t.equal(tcp!.reason, 'chain_reject', 'the rule after the skipped jump in loopB decides TCP');
  t.equal(icmp!.result, 'forward', 'no rule decides: accept');
});

t.test('conntrack: return flow accepted only after the forward packet', async (t) => {
  const id = (x: string) => new Net().id(x);
  // vm1 accepts only return flows; vm2 is down so nothing reaches vm1's bridge another way.
  const n = base()
    .chain('stateful', [{ type: 'accept', matchReturnFlow: true }, { type: 'drop' }])
    .set('ports', 'vm1', { outboundFilterId: id('stateful') })
    .set('ports', 'vm2', { adminStateUp: false });
  const reply = { in: 'vm3', packet: pk.tcp(MAC.vm3, MAC.r2, '10.0.2.10', '10.0.1.10', { tpSrc: 80, tpDst: 40000 }) };
  const [unsolicited, fwd, ret, otherFlow] = run(n, [
    reply,
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { tpSrc: 40000, tpDst: 80 }) },
    reply,
    { in: 'vm3', packet: pk.tcp(MAC.vm3, MAC.r2, '10.0.2.10', '10.0.1.10', { tpSrc: 80, tpDst: 40001 }) },
  ]);
  t.equal(unsolicited!.result, 'drop', 'before the forward packet, the reply is not a return flow');
  t.equal(fwd!.result, 'forward');
  t.equal(ret!.result, 'forward', 'after it, the reply is a return flow and accepted');
  t.same(outPorts(n, ret!), ['vm1']);
  t.match(stepText(ret!), /accept/);
  t.equal(otherFlow!.result, 'drop', 'another flow between the same hosts is not');
});

t.test('NAT: floating IP both ways', async (t) => {
  const id = (s: string) => new Net().id(s);
  const n = base()
    .chain('pre', [
      { type: 'dnat', nwDstAddress: '192.168.0.100', nwDstLength: 32, natTargets: [{ addressFrom: '10.0.1.10', addressTo: '10.0.1.10', portFrom: 0, portTo: 0 }], flowAction: 'accept' },
      { type: 'rev_snat', flowAction: 'continue' },
    ])
    .chain('post', [
      { type: 'snat', nwSrcAddress: '10.0.1.10', nwSrcLength: 32, outPorts: [id('uplink')], natTargets: [{ addressFrom: '192.168.0.100', addressTo: '192.168.0.100', portFrom: 0, portTo: 0 }], flowAction: 'accept' },
      { type: 'rev_dnat', flowAction: 'continue' },
    ])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') });
  const [out, inbound] = run(n, [
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { tpSrc: 40000, tpDst: 443 }) },
    { in: 'uplink', packet: pk.tcp(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.100', { tpSrc: 443, tpDst: 40000 }) },
  ]);
  t.equal(out!.result, 'forward');
  t.same(outPorts(n, out!), ['uplink']);
  t.equal((out!.emitted[0]!.packet as Record<string, unknown>).nwSrc, '192.168.0.100', 'source rewritten to the floating IP');
  t.equal(inbound!.result, 'forward');
  t.same(outPorts(n, inbound!), ['vm1']);
  t.equal((inbound!.emitted[0]!.packet as Record<string, unknown>).nwDst, '10.0.1.10', 'floating IP rewritten to the VM');
  t.match(stepText(out!), /192\.168\.0\.100/);
});

t.test('NAT: dynamic DNAT + SNAT round trip with reverse rules', async (t) => {
  const id = (s: string) => new Net().id(s);
  // A load-balancer-like DNAT of 192.168.0.50:80 to vm3:8080, and SNAT of everything leaving the uplink.
  const n = base()
    // Reverse rules first, as operators write them: a reply is restored and accepted, never NAT'd again.
    .chain('pre', [
      { type: 'rev_snat', flowAction: 'accept' },
      { type: 'dnat', nwDstAddress: '192.168.0.50', nwDstLength: 32, tpDst: { start: 80, end: 80 }, nwProto: 6,
        natTargets: [{ addressFrom: '10.0.2.10', addressTo: '10.0.2.10', portFrom: 8080, portTo: 8080 }], flowAction: 'accept' },
    ])
    .chain('post', [
      { type: 'rev_dnat', flowAction: 'accept' },
      { type: 'snat', outPorts: [id('uplink')], natTargets: [{ addressFrom: '192.168.0.60', addressTo: '192.168.0.60', portFrom: 10000, portTo: 10010 }], flowAction: 'accept' },
    ])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') });
  const send = session(n);
  const [req, reply, outb] = send([
    { in: 'uplink', packet: pk.tcp(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.50', { tpSrc: 5555, tpDst: 80 }) },
    { in: 'vm3', packet: pk.tcp(MAC.vm3, MAC.r2, '10.0.2.10', '8.8.8.8', { tpSrc: 8080, tpDst: 5555 }) },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '9.9.9.9', { tpSrc: 3333, tpDst: 53 }) },
  ]);
  const natPort = (outb!.emitted[0]!.packet as unknown as Pkt).tpSrc as number;
  const [back] = send([{ in: 'uplink', packet: pk.udp(MAC.gw, MAC.up, '9.9.9.9', '192.168.0.60', { tpSrc: 53, tpDst: natPort }) }]);
  const p = (r: SimulateOutput) => r.emitted[0]!.packet as unknown as Pkt;
  t.equal(req!.result, 'forward');
  t.equal(p(req!).nwDst, '10.0.2.10');
  t.equal(p(req!).tpDst, 8080);
  t.equal(reply!.result, 'forward');
  t.equal(p(reply!).nwSrc, '192.168.0.50', 'rev_dnat restores the original destination as source');
  t.equal(p(reply!).tpSrc, 80);
  t.equal(outb!.result, 'forward');
  t.equal(p(outb!).nwSrc, '192.168.0.60');
  t.ok(p(outb!).tpSrc >= 10000 && p(outb!).tpSrc <= 10010, 'SNAT port from the range');
  t.equal(back!.result, 'forward');
  t.equal(p(back!).nwDst, '10.0.1.10', 'rev_snat restores the VM address');
  t.equal(p(back!).tpDst, 3333);
});

t.test('admin state down drops at each device kind', async (t) => {
  for (const [kind, name, reason] of [['ports', 'vm1', 'port_admin_down'], ['bridges', 'b1', 'bridge_admin_down'], ['routers', 'r', 'router_admin_down']] as const) {
    const n = base().set(kind, name, { adminStateUp: false });
    const [r] = run(n, [{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10') }]);
    t.equal(r!.result, 'drop', `${name} down`);
    t.equal(r!.reason, reason);
  }
});

t.test('fragment policy matrix', async (t) => {
  const policies = ['any', 'header', 'nonheader', 'unfragmented'] as const;
  const frags = ['none', 'first', 'later'] as const;
  const expect: Record<string, Record<string, boolean>> = {
    any: { none: true, first: true, later: true },
    header: { none: true, first: true, later: false },
    nonheader: { none: false, first: false, later: true },
    unfragmented: { none: true, first: false, later: false },
  };
  const id = (s: string) => new Net().id(s);
  for (const policy of policies) {
    const n = base().chain('c', [{ type: 'drop', fragmentPolicy: policy }]).set('ports', 'vm1', { inboundFilterId: id('c') });
    // A later fragment has no L4 header, so it carries no ports.
    const out = run(n, frags.map((fragment) => ({ in: 'vm1', packet: { ethSrc: MAC.vm1, ethDst: MAC.vm2, nwSrc: '10.0.1.10', nwDst: '10.0.1.11', nwProto: 'udp', fragment, ...(fragment === 'later' ? {} : { tpSrc: 1, tpDst: 2 }) } })), false);
    frags.forEach((f, i) => t.equal(out[i]!.result === 'drop', expect[policy]![f], `${policy} × ${f}`));
  }
});

t.test('twelve-device loop guard', async (t) => {
  // Two routers whose routes for 10.9.0.0/16 point at each other: the packet bounces until the
  // budget stops it (TTL 64 would last longer).
  const n = new Net().router('r1').router('r2')
    .routerPort('r1', 'h1', '10.0.0.1/24', MAC.r1)
    .routerPort('r1', 'r1-r2', '10.1.0.1/30', '02:00:00:00:02:01').routerPort('r2', 'r2-r1', '10.1.0.2/30', '02:00:00:00:02:02')
    .link('r1-r2', 'r2-r1')
    .route('r1', '10.9.0.0/16', { via: 'r1-r2', nextHopGateway: '10.1.0.2' })
    .route('r2', '10.9.0.0/16', { via: 'r2-r1', nextHopGateway: '10.1.0.1' });
  const [r] = run(n, [{ in: 'h1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.0.10', '10.9.0.1') }]);
  t.equal(r!.result, 'errorDrop');
  t.equal(r!.reason, 'device_budget_exceeded');
  t.equal(r!.emitted.length, 0, 'what earlier flood branches emitted is discarded');
  t.equal(r!.devicesTraversed, 13);
  const last = r!.trace!.steps.at(-1)!;
  t.match(last, { stage: 'disposition', details: { reason: 'device_budget_exceeded' } });
  t.match(stepText(r!), /more than 12 devices/);
});

t.test('bridges in a ring do not loop: a flood goes to exterior ports only', async (t) => {
  const n = new Net().bridge('x').bridge('y').bridge('z')
    .port('x', 'h1').port('x', 'h2').port('x', 'xy').port('y', 'yx').port('y', 'yz').port('z', 'zy').port('z', 'zx').port('x', 'xz')
    .port('y', 'h3')
    .link('xy', 'yx').link('yz', 'zy').link('zx', 'xz');
  const [r] = run(n, [{ in: 'h1', packet: pk.udp(MAC.vm1, 'ff:ff:ff:ff:ff:ff', '10.0.0.1', '10.0.0.255') }]);
  t.equal(r!.result, 'forward');
  t.same(outPorts(n, r!), ['h2'], 'only the bridge\'s own other exterior port; not over the interior links');
  t.equal(r!.devicesTraversed, 1);
});

t.test('nested floods: branches run in port order, each from the packet as flooded', async (t) => {
  // x floods to h2 and over its link to y's VLAN 10 port; y tags the frame and floods again, to its
  // exterior ports h3 and h4. Depth first, in port order.
  const n = new Net().bridge('x').bridge('y')
    .port('x', 'h1').port('x', 'xy').port('x', 'h2').port('y', 'yx', { vlanId: 10 }).port('y', 'h3').port('y', 'h4')
    .link('xy', 'yx');
  const [r] = run(n, [{ in: 'h1', packet: pk.udp(MAC.vm1, 'ff:ff:ff:ff:ff:ff', '10.0.0.1', '10.0.0.255') }]);
  t.equal(r!.result, 'forward');
  const names = new Map(n.doc.ports.map((p) => [p.id, p.name!]));
  t.same(r!.emitted.map((e) => names.get(e.portId)), ['h3', 'h4', 'h2']);
  for (const e of r!.emitted) t.match(e.packet, { ethSrc: MAC.vm1, ethDst: 'ff:ff:ff:ff:ff:ff', nwDst: '10.0.0.255' });
  t.same(r!.emitted.map((e) => (e.packet as unknown as Pkt).vlan), [10, 10, undefined], 'tagged in y\'s branch only: h2 gets the frame as x flooded it');
  t.equal(r!.devicesTraversed, 2);
  const floods = r!.trace!.steps.filter((s) => /^flooded/.test(s.message)).map((s) => s.deviceName);
  t.same(floods, ['x', 'y']);
});

t.test('diff: two traces aligned device by device, and where and why they part', async (t) => {
  const id = (x: string) => new Net().id(x);
  const n = base()
    .chain('web-only', [{ type: 'accept', nwProto: 6, tpDst: { start: 80, end: 80 } }, { type: 'drop', nwProto: 6 }])
    .set('routers', 'r', { inboundFilterId: id('web-only') });
  const [web, ssh, flood, reply, known] = run(n, [
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { tpSrc: 40000, tpDst: 80 }) },
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { tpSrc: 40000, tpDst: 22 }) },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm2', packet: pk.udp(MAC.vm2, MAC.vm1, '10.0.1.11', '10.0.1.10') },
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
  ]);
  const d = diffTraces(web!.trace!, ssh!.trace!);
  t.equal(d.a.id, web!.trace!.id);
  t.match(d.firstDivergence, { deviceId: id('r'), why: /^another rule decided at router r: A: rule web-only\[1\] \(accept\) matched: accept; B: rule web-only\[2\] \(drop\)/ });
  const stepA = web!.trace!.steps.find((s) => s.step === d.firstDivergence!.stepA)!;
  t.equal(stepA.details.kind, 'rule_matched', 'stepA is the deciding step of A');
  t.same(d.steps.map((r) => [r.deviceName, r.a !== null, r.b !== null, r.same]),
    [['vm1', true, true, true], ['b1', true, true, true], ['b1-r', true, true, true], ['r-b1', true, true, true], ['r', true, true, false],
      ['r-b2', true, false, false], ['b2-r', true, false, false], ['b2', true, false, false], ['vm3', true, false, false]],
    'aligned by device: A goes on where B was dropped');

  const m = diffTraces(flood!.trace!, known!.trace!);
  t.match(m.firstDivergence, { deviceId: id('b1'), why: /^a MAC not yet learned at bridge b1 in A/ });
  t.ok(reply);
  t.equal(diffTraces(known!.trace!, known!.trace!).firstDivergence, null, 'a trace does not differ from itself');
  t.ok(diffTraces(known!.trace!, known!.trace!).steps.every((r) => r.same));
});

t.test('malformed frames are an errorDrop, never a crash', async (t) => {
  const n = base();
  const out = run(n, [{ in: 'vm1', frame: '0102' }, { in: 'vm1', frame: 'ffffffffffff020000000001080045' }]);
  for (const r of out) {
    t.equal(r.result, 'errorDrop');
    t.equal(r.reason, 'malformed_frame');
    t.ok(r.error?.code);
  }
});


// ---- P9: verdicts as Midolman's (MIDONET.md §2.3). Each table row names the behaviour. ----

t.test('router: TTL is checked on port routes only', async (t) => {
  const n = base()
    .route('r', '10.9.0.0/16', { type: 'blackhole' })
    .route('r', '10.8.0.0/16', { type: 'reject' });
  n.doc.routes.splice(0, 1); // no default route
  const rows = [
    { dst: '172.16.0.1', result: 'shortDrop', reason: 'no_route', icmp: [3, 0], why: 'towards no route: 3/0, not time exceeded' },
    { dst: '10.9.1.1', result: 'errorDrop', reason: 'blackhole_route', icmp: null, why: 'towards a blackhole: silent' },
    { dst: '10.8.1.1', result: 'shortDrop', reason: 'reject_route', icmp: [3, 13], why: 'towards a reject route: 3/13' },
    { dst: '10.0.2.10', result: 'errorDrop', reason: 'ttl_expired', icmp: [11, 0], why: 'towards a port route: time exceeded' },
  ] as const;
  const out = run(n, rows.map((r) => ({ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', r.dst, { ttl: 1 }) })));
  rows.forEach((row, i) => {
    const r = out[i]!;
    t.equal(r.result, row.result, row.why);
    t.equal(r.reason, row.reason, row.why);
    const gen = r.emitted.filter((e) => e.generated).map((e) => e.packet as unknown as Pkt);
    t.same(gen.map((p) => [p.icmpType, p.icmpCode]), row.icmp === null ? [] : [row.icmp], `${row.why} (ICMP)`);
  });
});

t.test('bridge: a gratuitous ARP is not answered from the ARP table; it floods', async (t) => {
  const n = base().port('b1', 'vm4');
  // vm1 announces 10.0.1.10, which b1's table maps to vm1's own MAC.
  const [garp, request] = run(n, [
    { in: 'vm1', packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.10') },
    { in: 'vm4', packet: pk.arpRequest(MAC.vm4, '10.0.1.12', '10.0.1.10') },
  ]);
  t.equal(garp!.result, 'forward', 'GARP floods');
  t.same(outPorts(n, garp!), ['vm2', 'vm4']);
  t.same(outPorts(n, garp!, true), [], 'no generated reply');
  t.match(stepText(garp!), /gratuitous ARP/);
  t.equal(request!.result, 'consumed', 'an ordinary request for the same address is still answered');
});

t.test('L2 broadcast: bridges flood to exterior ports only; routers drop non-ARP broadcasts', async (t) => {
  const n = base().port('b1', 'vm4');
  const bcast = 'ff:ff:ff:ff:ff:ff';
  const [subnet, limited, atRouter, arp] = run(n, [
    { in: 'vm1', packet: pk.udp(MAC.vm1, bcast, '10.0.1.10', '10.0.1.255') },
    { in: 'vm1', packet: pk.udp(MAC.vm1, bcast, '10.0.1.10', '255.255.255.255') },
    { in: 'uplink', packet: pk.udp(MAC.gw, bcast, '192.168.0.1', '10.0.2.10') },
    { in: 'vm1', packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.1') },
  ]);
  for (const [r, what] of [[subnet!, '10.0.1.255'], [limited!, '255.255.255.255']] as const) {
    t.equal(r.result, 'forward', what);
    t.same(outPorts(n, r), ['vm2', 'vm4'], `${what}: the bridge's other exterior ports, not the router`);
    t.same(r.emitted.filter((e) => e.generated), [], `${what}: the router ARPs for nothing`);
    t.equal(r.devicesTraversed, 1, `${what}: the router never sees it`);
  }
  t.equal(atRouter!.result, 'drop', 'a router port receiving a UDP broadcast drops it');
  t.equal(atRouter!.reason, 'router_l2_broadcast');
  t.equal(arp!.result, 'consumed', 'ARP for the router port still reaches the router');
  // Unicast to the router but addressed to the sender's subnet broadcast: no ICMP error (RFC 1812).
  const [directed] = run(n, [{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.1.255') }]);
  t.equal(directed!.reason, 'arp_unresolved');
  t.same(directed!.emitted.filter((e) => e.generated && (e.packet as unknown as Pkt).nwProto === 1), [], 'no ICMP error about a subnet broadcast');
});

t.test('router: an echo reply is routed like any packet the router originates', async (t) => {
  const id = (s: string) => new Net().id(s);
  // vm5 sits on b3, which both r (gateway .1) and r2 (.2) reach; r2 also owns 10.0.2.2 on b2.
  const two = (): Net => base()
    .bridge('b3', { arpTable: [{ ip: '10.0.3.10', mac: '02:00:00:00:00:05' }] }).port('b3', 'vm5')
    .attach('r', 'b3', '10.0.3.1/24', '02:00:00:00:03:01')
    .router('r2').attach('r2', 'b3', '10.0.3.2/24', '02:00:00:00:03:02').attach('r2', 'b2', '10.0.2.2/24', '02:00:00:00:03:03');
  // vm1 pings r2's address 10.0.3.2 through r; r2 answers vm1 by its own route (via r on b3).
  const n = two().route('r2', '10.0.1.0/24', { via: 'r2-b3', nextHopGateway: '10.0.3.1' });
  const [viaR, fromUplink] = run(n, [
    { in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.3.2', { icmpId: 5 }) },
    // A ping from the far side whose frame came from an unknown MAC: the reply goes to the gateway.
    { in: 'uplink', packet: pk.ping('02:00:00:00:07:77', MAC.up, '8.8.8.8', '10.0.2.1') },
  ]);
  t.equal(viaR!.result, 'consumed');
  t.same(outPorts(n, viaR!, true), ['vm1']);
  const reply = viaR!.emitted.find((e) => e.generated)!.packet as unknown as Pkt;
  t.equal(reply.nwSrc, '10.0.3.2');
  t.equal(reply.ethSrc, MAC.r1, 'r routed it last');
  t.equal(fromUplink!.result, 'consumed');
  t.same(outPorts(n, fromUplink!, true), ['uplink']);
  t.equal((fromUplink!.emitted.find((e) => e.generated)!.packet as unknown as Pkt).ethDst, MAC.gw, 'sent to the default gateway, not to the frame\'s source MAC');

  // vm3 (on b2) pings r2's 10.0.3.2 through r: r2 owns b2 too, so its reply goes straight there.
  const [direct] = run(two(), [{ in: 'vm3', packet: pk.ping(MAC.vm3, MAC.r2, '10.0.2.10', '10.0.3.2') }]);
  t.equal(direct!.result, 'consumed');
  const d = direct!.emitted.find((e) => e.generated)!;
  t.same(outPorts(two(), direct!, true), ['vm3']);
  t.equal((d.packet as unknown as Pkt).ethSrc, '02:00:00:00:03:03', 'from r2\'s own port on b2, not back through r');

  // No route back (r2 knows nothing of 10.0.1.0/24): consumed, nothing sent.
  const [noRoute] = run(two(), [{ in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.3.2') }]);
  t.equal(noRoute!.result, 'consumed');
  t.same(noRoute!.emitted, [], 'no echo reply without a route back');
  t.match(stepText(noRoute!), /no echo reply sent: no port route back/);

  // The post-routing filter sees the reply: a rule dropping echo replies suppresses it.
  const f = base().chain('post', [{ type: 'drop', nwProto: 1, tpSrc: { start: 0, end: 0 } }]).set('routers', 'r', { outboundFilterId: id('post') });
  const [filtered] = run(f, [{ in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.1') }]);
  t.equal(filtered!.result, 'consumed');
  t.same(filtered!.emitted, [], 'the post-routing filter dropped the reply');
});

/** `frame` (hex, untagged IPv4 UDP) with another UDP destination port: a flow that has no binding. */
function withUdpDstPort(frame: string, port: number): string {
  const b = Buffer.from(frame, 'hex');
  b.writeUInt16BE(port, 14 + (b[14]! & 0x0f) * 4 + 2);
  return b.toString('hex');
}

/** base() with dynamic SNAT of everything leaving the uplink to 192.168.0.60:10000-10010. */
function snatNet(): Net {
  const id = (s: string) => new Net().id(s);
  return base()
    .chain('pre', [{ type: 'rev_snat', flowAction: 'accept' }])
    .chain('post', [{ type: 'snat', outPorts: [id('uplink')], natTargets: [{ addressFrom: '192.168.0.60', addressTo: '192.168.0.60', portFrom: 10000, portTo: 10010 }], flowAction: 'accept' }])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') });
}

t.test('NAT: an ICMP error about a packet the router NATed goes to the original sender', async (t) => {
  // The gateway's MAC is unknown, so r answers 3/0 after its post-routing SNAT rewrote the source.
  const n = snatNet().set('routers', 'r', { arpTable: [] });
  const [r] = run(n, [{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '9.9.9.9', { tpSrc: 5000, tpDst: 53 }) }]);
  t.equal(r!.result, 'shortDrop');
  t.equal(r!.reason, 'arp_unresolved');
  const err = r!.emitted.find((e) => e.generated && (e.packet as unknown as Pkt).nwProto === 1)!;
  t.ok(err, 'an ICMP error was emitted');
  t.equal(n.doc.ports.find((p) => p.id === err.portId)!.name, 'vm1', 'out of the sender\'s port');
  const p = err.packet as unknown as Pkt;
  t.equal(p.nwDst, '10.0.1.10', 'addressed to the sender, not to the SNAT address');
  t.same(quotedOf(err.frame), { nwSrc: '10.0.1.10', nwDst: '9.9.9.9', nwProto: 17, tpSrc: 5000, tpDst: 53 }, 'quotes the packet as the sender sent it');
  t.equal(Buffer.from(err.frame, 'hex')[14 + 20 + 8 + 8], 64, 'with the TTL it arrived with');
});

t.test('NAT: an ICMP error from outside about a SNATed packet is reverse-translated to the VM', async (t) => {
  const send = session(snatNet());
  const [out] = send([{ in: 'vm1', packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '9.9.9.9', { tpSrc: 5000, tpDst: 53 }) }]);
  t.equal(out!.result, 'forward');
  const sent = out!.emitted[0]!;
  const natPort = (sent.packet as unknown as Pkt).tpSrc;
  // 9.9.9.9 answers port unreachable about the packet it got (192.168.0.60:natPort → 9.9.9.9:53).
  const [back, unknown] = send([
    { in: 'uplink', frame: icmpErrorFrame(MAC.gw, MAC.up, '9.9.9.9', '192.168.0.60', 3, 3, sent.frame) },
    { in: 'uplink', frame: icmpErrorFrame(MAC.gw, MAC.up, '9.9.9.9', '192.168.0.60', 3, 3, withUdpDstPort(sent.frame, 54)) },
  ]);
  t.equal(back!.result, 'forward', 'delivered, not routed to the SNAT address');
  t.same(outPorts(snatNet(), back!), ['vm1']);
  const e = back!.emitted[0]!;
  t.equal((e.packet as unknown as Pkt).nwDst, '10.0.1.10');
  t.equal((e.packet as unknown as Pkt).icmpType, 3);
  t.same(quotedOf(e.frame), { nwSrc: '10.0.1.10', nwDst: '9.9.9.9', nwProto: 17, tpSrc: 5000, tpDst: 53 }, 'the quoted header is the VM\'s own packet again');
  t.ok(natPort >= 10000 && natPort <= 10010);
  t.not(unknown!.result, 'forward', 'an error about a flow with no binding is not delivered to the VM');
});

t.test('NAT: a floating IP rewrites the quoted header of ICMP errors both ways', async (t) => {
  const id = (s: string) => new Net().id(s);
  const n = base()
    .chain('pre', [{ type: 'dnat', nwDstAddress: '192.168.0.100', nwDstLength: 32, natTargets: [{ addressFrom: '10.0.1.10', addressTo: '10.0.1.10', portFrom: 0, portTo: 0 }], flowAction: 'accept' }])
    .chain('post', [{ type: 'snat', nwSrcAddress: '10.0.1.10', nwSrcLength: 32, outPorts: [id('uplink')], natTargets: [{ addressFrom: '192.168.0.100', addressTo: '192.168.0.100', portFrom: 0, portTo: 0 }], flowAction: 'accept' }])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') });
  const send = session(n);
  const [out, inbound] = send([
    { in: 'vm1', packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { tpSrc: 40000, tpDst: 443 }) },
    { in: 'uplink', packet: pk.udp(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.100', { tpSrc: 53, tpDst: 7000 }) },
  ]);
  const [errIn, errOut] = send([
    // 8.8.8.8 complains about what it received from the floating IP.
    { in: 'uplink', frame: icmpErrorFrame(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.100', 3, 3, out!.emitted[0]!.frame) },
    // vm1 complains about what it received through the floating IP.
    { in: 'vm1', frame: icmpErrorFrame(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', 3, 3, inbound!.emitted[0]!.frame) },
  ]);
  t.equal(errIn!.result, 'forward');
  t.equal((errIn!.emitted[0]!.packet as unknown as Pkt).nwDst, '10.0.1.10');
  t.same(quotedOf(errIn!.emitted[0]!.frame), { nwSrc: '10.0.1.10', nwDst: '8.8.8.8', nwProto: 6, tpSrc: 40000, tpDst: 443 }, 'inbound: the quoted source is the VM again');
  t.equal(errOut!.result, 'forward');
  t.equal((errOut!.emitted[0]!.packet as unknown as Pkt).nwSrc, '192.168.0.100');
  t.same(quotedOf(errOut!.emitted[0]!.frame), { nwSrc: '8.8.8.8', nwDst: '192.168.0.100', nwProto: 17, tpSrc: 53, tpDst: 7000 }, 'outbound: the quoted destination is the floating IP');
});

t.test('NAT: two VMs pinging one host with the same ICMP id through one SNAT address both get out', async (t) => {
  const n = snatNet();
  const [a, b, reply] = run(n, [
    { in: 'vm1', packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { icmpId: 77 }) },
    { in: 'vm2', packet: pk.ping(MAC.vm2, MAC.r1, '10.0.1.11', '8.8.8.8', { icmpId: 77 }) },
    { in: 'uplink', packet: pk.ping(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.60', { icmpType: 0, icmpId: 77 }) },
  ]);
  for (const r of [a!, b!]) {
    t.equal(r.result, 'forward', r.reason);
    t.equal((r.emitted[0]!.packet as unknown as Pkt).nwSrc, '192.168.0.60');
    t.equal((r.emitted[0]!.packet as unknown as Pkt).icmpId, 77, 'the id is kept');
  }
  // One (address, id) towards one host now names two flows; as in Midolman the later one gets the replies.
  t.same(outPorts(n, reply!), ['vm2']);
});

t.test('trace match: a malformed frame shows only its own fields, never the previous packet\'s', async (t) => {
  const out = run(base(), [
    { in: 'vm1', packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { in: 'vm1', frame: '028e00506ae101000100000008004500001c0000000040110000c0a80001c0a800020035003500080000' },
    { in: 'vm1', frame: 'fffffffeffff6a1617e067e708060001080006aaaaaaaaaaaaaaaaaaaaaa' },
    { in: 'vm1', frame: '0102' },
    { in: 'vm1', frame: '02000000000102000000000208004500001c000000004011' },
  ]);
  t.equal(out[2]!.reason, 'malformed_frame');
  t.same(out[2]!.trace!.match, { ethSrc: '6a:16:17:e0:67:e7', ethDst: 'ff:ff:ff:fe:ff:ff', etherType: 0x0806 }, 'a truncated ARP: its L2 fields only');
  t.same(out[3]!.trace!.match, {}, 'shorter than an Ethernet header: no field at all');
  t.same(out[4]!.trace!.match, { ethSrc: '02:00:00:00:00:02', ethDst: '02:00:00:00:00:01', etherType: 0x0800 }, 'a truncated IPv4 header: L2 only');
});

t.test('NAT: ICMP errors through dynamic DNAT: rev_dnat restores the source and the quote; dnat forwards by the binding', async (t) => {
  const id = (s: string) => new Net().id(s);
  const n = base()
    .chain('pre', [{ type: 'dnat', nwDstAddress: '192.168.0.50', nwDstLength: 32,
      natTargets: [{ addressFrom: '10.0.2.10', addressTo: '10.0.2.10', portFrom: 8080, portTo: 8080 }], flowAction: 'accept' }])
    .chain('post', [{ type: 'rev_dnat', flowAction: 'accept' }])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') });
  const send = session(n);
  const [req, reply] = send([
    { in: 'uplink', packet: pk.tcp(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.50', { tpSrc: 5555, tpDst: 80 }) },
    { in: 'vm3', packet: pk.tcp(MAC.vm3, MAC.r2, '10.0.2.10', '8.8.8.8', { tpSrc: 8080, tpDst: 5555 }) },
  ]);
  t.equal(req!.result, 'forward');
  t.equal(reply!.result, 'forward');
  const [fromVm, fromClient] = send([
    // vm3 refuses what it received (8.8.8.8:5555 → 10.0.2.10:8080).
    { in: 'vm3', frame: icmpErrorFrame(MAC.vm3, MAC.r2, '10.0.2.10', '8.8.8.8', 3, 3, req!.emitted[0]!.frame) },
    // The client refuses the reply it received (192.168.0.50:80 → 8.8.8.8:5555).
    { in: 'uplink', frame: icmpErrorFrame(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.50', 3, 3, reply!.emitted[0]!.frame) },
  ]);
  t.equal(fromVm!.result, 'forward');
  t.equal((fromVm!.emitted[0]!.packet as unknown as Pkt).nwSrc, '192.168.0.50', 'rev_dnat: the error comes from the address the client knows');
  t.same(quotedOf(fromVm!.emitted[0]!.frame), { nwSrc: '8.8.8.8', nwDst: '192.168.0.50', nwProto: 6, tpSrc: 5555, tpDst: 80 }, 'and quotes what the client sent');
  t.equal(fromClient!.result, 'forward', 'dnat: the error finds the flow\'s binding');
  t.same(outPorts(n, fromClient!), ['vm3']);
  t.equal((fromClient!.emitted[0]!.packet as unknown as Pkt).nwDst, '10.0.2.10');
});

t.test('every step recorded above is of a published kind, with the fields and stage of that kind', async (t) => {
  const bad = recorded.filter((s) => !StepSchema.safeParse(s).success);
  t.same(bad.slice(0, 3), [], `${recorded.length} steps match the OpenAPI step schema`);
  t.same(recorded.filter((s) => s.stage !== STEP_KINDS[s.details.kind].stage).slice(0, 3), [], 'each kind has its stage');
  const seen = new Set(recorded.map((s) => s.details.kind));
  // arp_held: only the live datapath holds packets for ARP; tunnel_received: only the host a tunnel
  // delivers to records it (test/tunnel.test.ts); legacy: only old stored traces.
  t.same(STEP_KIND_NAMES.filter((k) => !seen.has(k)), ['tunnel_received', 'arp_held', 'legacy'], 'the scenarios reach every other kind the engine records');
});

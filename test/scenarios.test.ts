// Scenario tests through the entry point `midotrace simulate` uses (simulateInputs): a network, the
// packets sent in order (state carries over), and what must come out. Each row names the behaviour.
import t from 'tap';
import { compileTopology } from '../engine/topology/compile.js';
import { loadTopology } from '../model/topology/load.js';
import { SimulationSession, type SimulateOutput } from '../cli/simulate.js';
import { Net, pk } from './helpers/net.js';
import { StepSchema } from '../api/doc-schemas.js';
import { STEP_KINDS, STEP_KIND_NAMES } from '../model/step.js';
import type { StepJson } from '../model/trace.js';

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
  for (const [r, code, reason] of [[reject!, 13, 'reject_route'], [none!, 0, 'no_route']] as const) {
    t.equal(r.result, 'errorDrop');
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
  t.equal(loop!.result, 'drop', 'a jump loop is caught, not a crash');
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
  // Three bridges in a ring: a broadcast goes round until the budget stops it.
  const n = new Net().bridge('x').bridge('y').bridge('z')
    .port('x', 'h1').port('x', 'xy').port('y', 'yx').port('y', 'yz').port('z', 'zy').port('z', 'zx').port('x', 'xz')
    .link('xy', 'yx').link('yz', 'zy').link('zx', 'xz');
  const [r] = run(n, [{ in: 'h1', packet: pk.udp(MAC.vm1, 'ff:ff:ff:ff:ff:ff', '10.0.0.1', '10.0.0.255') }]);
  t.equal(r!.result, 'errorDrop');
  t.equal(r!.reason, 'device_budget_exceeded');
  t.equal(r!.emitted.length, 0, 'what earlier flood branches emitted is discarded');
  t.equal(r!.devicesTraversed, 13);
  const last = r!.trace!.steps.at(-1)!;
  t.match(last, { stage: 'disposition', deviceType: 'bridge', details: { reason: 'device_budget_exceeded' } });
  t.match(stepText(r!), /more than 12 devices/);
});

t.test('nested floods: branches run in port order, each from the packet as flooded', async (t) => {
  // x floods to h2 and to y; y floods again to h3 and h4. Depth first, in port order.
  const n = new Net().bridge('x').bridge('y')
    .port('x', 'h1').port('x', 'h2').port('x', 'xy').port('y', 'yx').port('y', 'h3').port('y', 'h4')
    .link('xy', 'yx');
  const [r] = run(n, [{ in: 'h1', packet: pk.udp(MAC.vm1, 'ff:ff:ff:ff:ff:ff', '10.0.0.1', '10.0.0.255') }]);
  t.equal(r!.result, 'forward');
  const names = new Map(n.doc.ports.map((p) => [p.id, p.name!]));
  t.same(r!.emitted.map((e) => names.get(e.portId)), ['h2', 'h3', 'h4']);
  for (const e of r!.emitted) t.match(e.packet, { ethSrc: MAC.vm1, ethDst: 'ff:ff:ff:ff:ff:ff', nwDst: '10.0.0.255' });
  t.equal(r!.devicesTraversed, 2);
  const floods = r!.trace!.steps.filter((s) => /^flooded/.test(s.message)).map((s) => s.deviceName);
  t.same(floods, ['x', 'y']);
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

t.test('every step recorded above is of a published kind, with the fields and stage of that kind', async (t) => {
  const bad = recorded.filter((s) => !StepSchema.safeParse(s).success);
  t.same(bad.slice(0, 3), [], `${recorded.length} steps match the OpenAPI step schema`);
  t.same(recorded.filter((s) => s.stage !== STEP_KINDS[s.details.kind].stage).slice(0, 3), [], 'each kind has its stage');
  const seen = new Set(recorded.map((s) => s.details.kind));
  // arp_held: only the live datapath holds packets for ARP; legacy: only old stored traces.
  t.same(STEP_KIND_NAMES.filter((k) => !seen.has(k)), ['arp_held', 'legacy'], 'the scenarios reach every other kind the engine records');
});

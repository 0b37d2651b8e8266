// ResultJsonWriter (the workers' byte-level SPEC §4 JSON) must write exactly what
// JSON.stringify(Simulator.resultJson()) writes, for every shape a result can take: forwards, floods,
// generated ARP/ICMP answers, VLAN tags, fragments, malformed frames, and random bytes.
import t from 'tap';
import { compileTopology } from '../engine/topology/compile.js';
import { loadTopology } from '../model/topology/load.js';
import { Simulator } from '../engine/simulator.js';
import { createStateTables } from '../engine/state/tables.js';
import { portIndexOfTopology, readInput } from '../engine/input.js';
import { ResultJsonWriter } from '../engine/result-json.js';
import { newTraceId } from '../engine/trace/trace-id.js';
import { Net, pk } from './helpers/net.js';

const MAC = { vm1: '02:00:00:00:00:01', vm2: '02:00:00:00:00:02', vm3: '02:00:00:00:00:03', r1: '02:00:00:00:01:01', r2: '02:00:00:00:01:02', up: '02:00:00:00:01:03', gw: '02:00:00:00:09:09' };

function network(): Net {
  return new Net()
    .bridge('b1', { arpTable: [{ ip: '10.0.1.10', mac: MAC.vm1 }, { ip: '10.0.1.11', mac: MAC.vm2 }] })
    .bridge('b2', { arpTable: [{ ip: '10.0.2.10', mac: MAC.vm3 }] })
    .router('r', { arpTable: [{ ip: '192.168.0.1', mac: MAC.gw }] })
    .port('b1', 'vm1').port('b1', 'vm2').port('b2', 'vm3').port('b2', 'vm4-"quoted"\u00e9')
    .attach('r', 'b1', '10.0.1.1/24', MAC.r1)
    .attach('r', 'b2', '10.0.2.1/24', MAC.r2)
    .routerPort('r', 'uplink', '192.168.0.2/24', MAC.up)
    .route('r', '0.0.0.0/0', { via: 'uplink', nextHopGateway: '192.168.0.1' });
}

/** A deterministic PRNG, so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

t.test('byte-level result JSON equals JSON.stringify(resultJson())', (t) => {
  const n = network();
  const loaded = loadTopology(n.doc);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const topo = compileTopology(loaded.doc);
  const ports = portIndexOfTopology(topo);
  const sim = new Simulator(topo, createStateTables({ shared: false, macCapacity: 1024, arpCapacity: 256, conntrackCapacity: 1024, natCapacity: 1024 }), 'h');
  sim.ctx.forceTrace = false;
  const w = new ResultJsonWriter();
  const inputs: { inPort: string; packet?: unknown; frame?: string }[] = [
    { inPort: n.id('vm1'), packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') },
    { inPort: n.id('vm2'), packet: pk.udp(MAC.vm2, 'ff:ff:ff:ff:ff:ff', '10.0.1.11', '10.0.1.255') },
    { inPort: n.id('vm1'), packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10') },
    { inPort: n.id('vm1'), packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.99') },
    { inPort: n.id('vm1'), packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.1.1') },
    { inPort: n.id('vm1'), packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { ttl: 1 }) },
    { inPort: n.id('vm1'), packet: pk.ping(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { icmpType: 13 }) },
    { inPort: n.id('vm1'), packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.1') },
    { inPort: n.id('vm1'), packet: pk.arpRequest(MAC.vm1, '10.0.1.10', '10.0.1.11') },
    { inPort: n.id('vm1'), packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11', { vlan: 7 }) },
    { inPort: n.id('vm1'), packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11', { vlan: [7, 9] }) },
    { inPort: n.id('vm1'), packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { fragment: 'first' }) },
    { inPort: n.id('vm1'), packet: { ethSrc: MAC.vm1, ethDst: MAC.r1, nwSrc: '10.0.1.10', nwDst: '10.0.2.10', nwProto: 'udp', fragment: 'later' } },
    { inPort: n.id('vm3'), packet: { ethSrc: MAC.vm3, ethDst: 'ff:ff:ff:ff:ff:ff', etherType: 0x88cc, payloadLength: 30 } },
    { inPort: n.id('vm3'), frame: '0200000000' },
    { inPort: n.id('vm3'), frame: '02000000000202000000000308004500' },
  ];
  const frames: { port: number; frame: Uint8Array }[] = [];
  for (const input of inputs) {
    const r = readInput(input, ports);
    if (!r.ok) throw new Error(`${JSON.stringify(input)}: ${r.message}`);
    frames.push({ port: r.port.idx, frame: r.frame });
  }
  // Mutations of the valid frames: flipped bytes and cut lengths reach the parser's every error.
  const rand = rng(1234);
  const base = frames.slice();
  for (let k = 0; k < 3000; k++) {
    const src = base[Math.floor(rand() * base.length)]!;
    const f = src.frame.slice(0, Math.max(0, Math.floor(rand() * (src.frame.length + 8))));
    for (let m = Math.floor(rand() * 4); m > 0 && f.length > 0; m--) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256);
    frames.push({ port: src.port, frame: f });
  }
  const seen = new Set<string>();
  const idsChoices: string[][] = [[], [newTraceId()], ['odd "id" \\ \u00e9\n', newTraceId()]];
  let mismatches = 0;
  frames.forEach((f, i) => {
    sim.runFrame(f.port, f.frame, 0, f.frame.length, 1_700_000_000_000 + i);
    const ids = idsChoices[i % idsChoices.length]!;
    w.reset();
    w.result(sim, ids);
    const got = Buffer.from(w.bytes()).toString('utf8');
    const want = JSON.stringify(sim.resultJson(ids));
    if (got !== want && mismatches++ < 3) t.equal(got, want, `frame ${i} (${Buffer.from(f.frame).toString('hex')})`);
    const j = JSON.parse(want) as { result: string; emitted: { generated: boolean; packet: Record<string, unknown> }[]; error?: { code: string } };
    seen.add(j.result);
    if (j.error !== undefined) seen.add(`error:${j.error.code}`);
    for (const e of j.emitted) {
      if (e.generated) seen.add('generated');
      for (const k of Object.keys(e.packet)) seen.add(Array.isArray(e.packet[k]) ? `${k}[]` : k);
    }
    if (ids.length > 0) seen.add('traceIds');
  });
  t.equal(mismatches, 0, `${frames.length} results written byte for byte as JSON.stringify writes them`);
  // The run must have reached the shapes it claims to check.
  for (const shape of ['forward', 'consumed', 'drop', 'errorDrop', 'generated', 'arp', 'vlan', 'vlan[]', 'fragment', 'icmpId', 'icmpType', 'tpSrc', 'error:eth_truncated', 'traceIds']) {
    t.ok(seen.has(shape), `covers ${shape}`);
  }
  // Appends after a reset() start over; bytes() is a copy that later writes leave alone.
  w.reset();
  w.raw('[1]');
  const first = w.bytes();
  w.reset();
  w.raw('[22]');
  t.equal(Buffer.from(first).toString(), '[1]');
  t.equal(Buffer.from(w.bytes()).toString(), '[22]');
  t.end();
});

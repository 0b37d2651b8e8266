// A worker's StepsTextCache reuses a recent packet's steps text when the packet's recorded steps
// (engine/trace/step-log.ts) are the same; steps recorded built are compared by their fields, details
// as STEP_KINDS declares them (sameConstructedDetails). These tests pin that the comparison misses no
// declared field, and that on real simulations (every kind the example network produces, flows
// taking turns, mutated frames) the text is always what encoding the rendered steps gives.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sameConstructedDetails, STEP_KINDS, STEP_KIND_NAMES, type FieldSpec, type StepDetails } from '../model/step.js';
import { compileTopology } from '../engine/topology/compile.js';
import { loadTopology } from '../model/topology/load.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { CompiledTopology } from '../engine/topology/compiled.js';
import { Simulator } from '../engine/simulator.js';
import { createStateTables } from '../engine/state/tables.js';
import { portIndexOfTopology, readInput } from '../engine/input.js';
import { traceRecord } from '../engine/trace/record.js';
import { encodeStepsText } from '../stores/sqlite/trace-wire.js';
import { StepsTextCache } from '../daemon/pool/steps-text.js';
import { pk } from './helpers/net.js';

const ROOT = join(import.meta.dirname, '..');

/** A value of each field type, and a different one. */
function sample(spec: FieldSpec, other: boolean): unknown {
  switch (spec) {
    case 'string': case 'string?': return other ? 'b' : 'a';
    case 'number': case 'number?': return other ? 2 : 1;
    case 'boolean': return other;
    case 'reason': return other ? 'no_route' : 'filtered';
    case 'string|null': return other ? null : 'a';
    case 'endpoint': return { nwSrc: '10.0.0.1', nwDst: '10.0.0.2', tpSrc: 1, tpDst: other ? 3 : 2 };
  }
}

function details(kind: string, fields: Record<string, FieldSpec>, change?: string, omit?: string): StepDetails {
  const d: Record<string, unknown> = { kind };
  for (const [f, spec] of Object.entries(fields)) if (f !== omit) d[f] = sample(spec, f === change);
  return d as StepDetails;
}

t.test('sameConstructedDetails tells apart every declared field of every kind', (t) => {
  let kinds = 0;
  for (const kind of STEP_KIND_NAMES) {
    const fields = STEP_KINDS[kind].fields as Record<string, FieldSpec>;
    if (kind === 'legacy') {
      t.notOk(sameConstructedDetails({ kind: 'legacy', a: 1 }, { kind: 'legacy', a: 1 }), 'legacy: never vouched for');
      continue;
    }
    kinds++;
    const a = details(kind, fields);
    t.ok(sameConstructedDetails(a, structuredClone(a)), `${kind}: equal copies`);
    for (const [f, spec] of Object.entries(fields)) {
      t.notOk(sameConstructedDetails(a, details(kind, fields, f)), `${kind}.${f} differs`);
      if (spec.endsWith('?')) {
        t.notOk(sameConstructedDetails(a, details(kind, fields, undefined, f)), `${kind}.${f} absent on one side`);
        t.ok(sameConstructedDetails(details(kind, fields, undefined, f), details(kind, fields, undefined, f)), `${kind}.${f} absent on both`);
      }
    }
  }
  t.equal(kinds, STEP_KIND_NAMES.length - 1);
  t.notOk(sameConstructedDetails({ kind: 'ttl_decremented', ttl: 3 }, { kind: 'vlan_pushed', vlan: 3 }), 'kinds differ');
  t.notOk(sameConstructedDetails({ kind: 'nope' } as unknown as StepDetails, { kind: 'nope' } as unknown as StepDetails), 'unknown kind');
  t.end();
});

/** The example network, compiled, with a simulator tracing every packet; `doc` to compile again. */
function exampleSim(): { doc: TopologyDoc; topo: CompiledTopology; sim: Simulator } {
  const loaded = loadTopology(JSON.parse(readFileSync(join(ROOT, 'examples', 'topology.json'), 'utf8')));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const topo = compileTopology(loaded.doc);
  const sim = new Simulator(topo, createStateTables({ shared: false, macCapacity: 1024, arpCapacity: 256, conntrackCapacity: 4096, natCapacity: 4096 }), 'h');
  sim.ctx.forceTrace = true;
  return { doc: loaded.doc, topo, sim };
}

t.test('on real simulations the cached text is always a fresh encoding, for flows taking turns and mutated frames', (t) => {
  const { topo, sim } = exampleSim();
  const ports = portIndexOfTopology(topo);
  const id = (n: number): string => `c0000000-0000-4000-8000-0000000000${String(n).padStart(2, '0')}`;
  const WEB1 = 'fa:16:3e:00:01:11';
  const WEB2 = 'fa:16:3e:00:01:12';
  const R = '02:00:00:00:01:01';
  const UP = '02:00:00:00:00:01';
  const GW = '02:00:00:00:00:99';
  const inputs = [
    { inPort: id(13), packet: pk.tcp(WEB1, R, '10.0.1.11', '10.0.2.11') },
    { inPort: id(14), packet: pk.tcp(WEB2, R, '10.0.1.12', '10.0.2.11') },
    { inPort: id(13), packet: pk.tcp(WEB1, R, '10.0.1.11', '10.0.2.12') },
    { inPort: id(14), packet: pk.tcp(WEB2, R, '10.0.1.12', '10.0.2.12') },
    { inPort: id(13), packet: pk.udp(WEB1, R, '10.0.1.11', '8.8.8.8') }, // snat out of the uplink
    { inPort: id(1), packet: pk.tcp(GW, UP, '198.51.100.1', '203.0.113.10') }, // dnat in
    { inPort: id(1), packet: pk.tcp(GW, UP, '198.51.100.1', '10.0.2.11') }, // rejected
    { inPort: id(13), packet: pk.tcp(WEB1, R, '10.0.1.11', '10.0.2.11', { tpDst: 23 }) }, // dropped by rule
    { inPort: id(13), packet: pk.ping(WEB1, R, '10.0.1.11', '10.0.1.1') },
    { inPort: id(13), packet: pk.ping(WEB1, R, '10.0.1.11', '10.0.2.11', { ttl: 1 }) },
    { inPort: id(13), packet: pk.arpRequest(WEB1, '10.0.1.11', '10.0.1.1') },
    { inPort: id(13), packet: pk.udp(WEB1, 'ff:ff:ff:ff:ff:ff', '10.0.1.11', '10.0.1.255') },
    { inPort: id(13), packet: pk.udp(WEB1, WEB2, '10.0.1.11', '10.0.1.12', { vlan: 5 }) },
  ];
  const frames: { port: number; frame: Uint8Array }[] = inputs.map((input) => {
    const r = readInput(input, ports);
    if (!r.ok) throw new Error(`${JSON.stringify(input)}: ${r.message}`);
    return { port: r.port.idx, frame: r.frame };
  });
  // Flows in a fixed cycle (as a client's batch), then mutated frames mixed in at random.
  let seed = 99;
  const rand = (): number => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32; };
  const order: { port: number; frame: Uint8Array }[] = [];
  for (let k = 0; k < 400; k++) order.push(frames[k % 4]!);
  for (let k = 0; k < 2000; k++) {
    const src = frames[Math.floor(rand() * frames.length)]!;
    const f = src.frame.slice();
    if (rand() < 0.3) for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) f[Math.floor(rand() * f.length)] = Math.floor(rand() * 256);
    order.push({ port: src.port, frame: f });
  }
  const cache = new StepsTextCache();
  const kinds = new Set<string>();
  let wrong = 0;
  order.forEach((f, i) => {
    sim.runFrame(f.port, f.frame, 0, f.frame.length, 1_700_000_000_000 + i);
    const got = cache.text(sim.ctx);
    const rec = traceRecord(sim.ctx, `trace-${i}`, 1_700_000_000_000 + i);
    if (got !== encodeStepsText(rec) && wrong++ < 3) t.equal(got, encodeStepsText(rec), `packet ${i}`);
    for (const s of rec.steps) kinds.add(s.details.kind);
  });
  t.equal(wrong, 0, `${order.length} traces: each text equals a fresh encoding`);
  for (const k of ['port_received', 'bridge_received', 'mac_learned', 'router_received', 'route_chosen', 'rule_matched', 'nat_applied',
    'chain_evaluated', 'flooded', 'forwarded', 'to_peer', 'emitted', 'dropped', 'rejected', 'consumed', 'icmp_sent', 'ttl_decremented']) {
    t.ok(kinds.has(k), `covers ${k}`);
  }
  t.end();
});

t.test('a new topology lets go of the old one: the context\'s step log keeps no reference into it', (t) => {
  const { doc, topo, sim } = exampleSim();
  const r = readInput({ inPort: 'c0000000-0000-4000-8000-000000000013', packet: pk.tcp('fa:16:3e:00:01:11', '02:00:00:00:01:01', '10.0.1.11', '10.0.2.11') }, portIndexOfTopology(topo));
  if (!r.ok) throw new Error(r.message);
  sim.runFrame(r.port.idx, r.frame, 0, r.frame.length, 1_700_000_000_000);
  const held = (): number => [sim.ctx.log.as, sim.ctx.log.bs, sim.ctx.log.cs, sim.ctx.log.ds].flat().filter((v) => v !== null && v !== undefined).length;
  t.ok(held() > 20, 'a traced packet\'s entries point into the topology');
  sim.setTopology(compileTopology(doc));
  t.equal(held(), 0, 'none once the topology is replaced');
  t.end();
});


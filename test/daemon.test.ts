// The tracing pipeline on one host (issue P2): conditions reach the workers through shared memory,
// matching packets leave complete numbered traces in SQLite, limits hold across workers, and state is
// shared between workers.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Net, pk } from './helpers/net.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { FaultySink } from '../stores/faulty.js';
import type { SinkStats, TraceRecord, TraceSink } from '../model/stores.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { BatchResult } from '../daemon/pool/protocol.js';
import { decodeTraceBatch } from '../stores/sqlite/trace-wire.js';

/** A batch's traces, whichever way the workers handed them over (objects, or encoded for SQLite). */
const tracesOf = (r: BatchResult): { conditionIds: readonly string[] }[] => (r.encoded === null ? r.traces : decodeTraceBatch(r.encoded));

const MAC = { vm1: '02:00:00:00:00:01', vm2: '02:00:00:00:00:02', vm3: '02:00:00:00:00:03', r1: '02:00:00:00:01:01', r2: '02:00:00:00:01:02', up: '02:00:00:00:01:03', gw: '02:00:00:00:09:09' };

function network(): Net {
  const id = (s: string) => new Net().id(s);
  return new Net()
    .bridge('b1', { arpTable: [{ ip: '10.0.1.10', mac: MAC.vm1 }, { ip: '10.0.1.11', mac: MAC.vm2 }] })
    .bridge('b2', { arpTable: [{ ip: '10.0.2.10', mac: MAC.vm3 }] })
    .router('r', { arpTable: [{ ip: '192.168.0.1', mac: MAC.gw }] })
    .port('b1', 'vm1').port('b1', 'vm2').port('b2', 'vm3')
    .attach('r', 'b1', '10.0.1.1/24', MAC.r1)
    .attach('r', 'b2', '10.0.2.1/24', MAC.r2)
    .routerPort('r', 'uplink', '192.168.0.2/24', MAC.up)
    .route('r', '0.0.0.0/0', { via: 'uplink', nextHopGateway: '192.168.0.1' })
    // Floating IP 192.168.0.100 for vm1 (static NAT), and a stateful filter on vm1.
    .chain('pre', [
      { type: 'dnat', nwDstAddress: '192.168.0.100', nwDstLength: 32, natTargets: [{ addressFrom: '10.0.1.10', addressTo: '10.0.1.10', portFrom: 0, portTo: 0 }], flowAction: 'accept' },
      { type: 'rev_snat', flowAction: 'continue' },
    ])
    .chain('post', [
      { type: 'snat', nwSrcAddress: '10.0.1.10', nwSrcLength: 32, outPorts: [id('uplink')], natTargets: [{ addressFrom: '192.168.0.100', addressTo: '192.168.0.100', portFrom: 0, portTo: 0 }], flowAction: 'accept' },
      { type: 'rev_dnat', flowAction: 'continue' },
    ])
    .set('routers', 'r', { inboundFilterId: id('pre'), outboundFilterId: id('post') })
    // Dynamic SNAT for vm3 so replies must find a binding made by another worker.
    .chain('vm3-snat', [
      { type: 'snat', nwSrcAddress: '10.0.2.10', nwSrcLength: 32, natTargets: [{ addressFrom: '192.168.0.60', addressTo: '192.168.0.60', portFrom: 20000, portTo: 30000 }], flowAction: 'accept' },
    ])
    .chain('vm3-rev', [{ type: 'rev_snat', flowAction: 'accept' }])
    .set('ports', 'uplink', { outboundFilterId: id('vm3-snat'), inboundFilterId: id('vm3-rev') });
}

const n = network();
const vm1 = n.id('vm1');
const uplink = n.id('uplink');

async function sim(d: TestDaemon, inputs: unknown[], trace = false): Promise<SimulationResultJson[]> {
  const r = await d.daemon.simulate(inputs, trace);
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  return r.results;
}

const udpFromVm1 = (i = 0) => ({ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11', { tpSrc: 1000 + i }) });

t.test('a condition created in the store reaches every worker within a second', async (t) => {
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  const before = await sim(d, [udpFromVm1()]);
  t.same(before[0]!.traceIds, [], 'no condition, no trace');
  const created = await d.daemon.backends.conditions.create({ name: 'vm1-udp', nwProto: 17, inPorts: [vm1] });
  t.ok(created.ok);
  const condId = created.ok ? created.condition.id : '';
  const start = Date.now();
  const threads = new Set<number>();
  while (threads.size < 2 && Date.now() - start < 1000) {
    // Two batches at once land on both workers.
    const outs = await Promise.all([0, 1].map(() => d.daemon.pool.run({ ...packOne(d, udpFromVm1()), forceTrace: false, detail: false, nowMs: Date.now() })));
    for (const o of outs) if (o.ok && tracesOf(o.result).some((tr) => tr.conditionIds.includes(condId))) threads.add(o.result.threadId);
  }
  t.equal(threads.size, 2, `both workers traced within ${Date.now() - start} ms`);
  t.ok(Date.now() - start < 1000);
});

t.test('inPorts and matchReturnFlow conditions; steps numbered 1..n', async (t) => {
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  const c = await d.daemon.backends.conditions.create({ name: 'returns', matchReturnFlow: true, inPorts: [uplink] });
  t.ok(c.ok);
  await sleep(400);
  // vm1 → internet (forward), then the reply on the floating IP (return flow, entering at the uplink).
  const [fwd] = await sim(d, [{ inPort: vm1, packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { tpSrc: 40000, tpDst: 443 }) }]);
  t.equal(fwd!.result, 'forward');
  t.same(fwd!.traceIds, [], 'the forward packet is not a return flow');
  const [ret] = await sim(d, [{ inPort: uplink, packet: pk.tcp(MAC.gw, MAC.up, '8.8.8.8', '192.168.0.100', { tpSrc: 443, tpDst: 40000 }) }]);
  t.equal(ret!.result, 'forward');
  t.equal(ret!.traceIds.length, 1, 'the reply is traced');
  await d.daemon.backends.sink.flush();
  const trace = await d.daemon.backends.traces.get(ret!.traceIds[0]!);
  t.ok(trace);
  t.same(trace!.conditionIds, [c.ok ? c.condition.id : '']);
  t.same(trace!.steps.map((s) => s.step), Array.from({ length: trace!.numSteps }, (_, i) => i + 1), 'steps 1..n without gaps');
  t.equal(trace!.complete, true);
  t.equal(trace!.hostId, d.daemon.hostId);
  t.ok(trace!.steps.some((s) => /rev_dnat|rev_snat|NAT/i.test(s.message) || s.deviceType === 'rule'), 'NAT steps recorded');
});

t.test('a device-scoped condition records the path from the ingress port', async (t) => {
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  const c = await d.daemon.backends.conditions.create({ name: 'at-router', deviceType: 'router', deviceId: n.id('r'), nwDstAddress: '10.0.2.10', nwDstLength: 32 });
  t.ok(c.ok);
  await sleep(400);
  const [r] = await sim(d, [{ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10') }]);
  t.equal(r!.traceIds.length, 1);
  await d.daemon.backends.sink.flush();
  const trace = (await d.daemon.backends.traces.get(r!.traceIds[0]!))!;
  t.equal(trace.steps[0]!.deviceId, vm1, 'the trace starts at the ingress port, before the router');
  t.ok(trace.steps.some((s) => s.deviceType === 'bridge' && s.stage === 'reception'), 'the first bridge is in the trace');
  t.ok(trace.steps.some((s) => s.deviceType === 'router'), 'and the router');
  const [other] = await sim(d, [{ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, '10.0.1.10', '10.0.1.11') }]);
  t.same(other!.traceIds, [], 'a packet that never reaches the router is not traced');
});

t.test('limit 10 gives exactly 10 traces from 100 packets over 2 workers', async (t) => {
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  const c = await d.daemon.backends.conditions.create({ name: 'ten', limit: 10, nwProto: 17 });
  t.ok(c.ok);
  await sleep(400);
  const threads = new Set<number>();
  let traces = 0;
  const outs = await Promise.all(Array.from({ length: 100 }, (_, i) => d.daemon.pool.run({ ...packOne(d, udpFromVm1(i)), forceTrace: false, detail: false, nowMs: Date.now() })));
  for (const o of outs) {
    if (!o.ok) continue;
    threads.add(o.result.threadId);
    traces += tracesOf(o.result).length;
  }
  t.equal(threads.size, 2, 'the packets were spread over both workers');
  t.equal(traces, 10);
  t.equal(d.daemon.pool.hitsOf(c.ok ? c.condition.id : ''), 10);
});

t.test('limit 3 holds across two daemons sharing the SQLite file and across a restart (P9 item 12)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-limit-'));
  const shared = { sqlite: { path: join(dir, 'shared.db') } };
  const open: TestDaemon[] = [];
  const start = async (): Promise<TestDaemon> => { const d = await startTestDaemon(n.doc, { config: shared }); open.push(d); return d; };
  t.teardown(async () => { for (const d of open) await d.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await start();
  const b = await start();
  // Through the daemon's API view of the store: in force on this daemon when create() resolves.
  const c = await a.daemon.apiDeps().conditions.create({ name: 'three', limit: 3, nwProto: 17 });
  t.ok(c.ok);
  const condId = c.ok ? c.condition.id : '';
  const [first] = await sim(a, [udpFromVm1(0)]);
  t.equal(first!.traceIds.length, 1, 'the first packet after create() resolved is traced, with no wait');
  await sleep(400); // b learns of the condition by polling the file
  const ids: string[] = [...first!.traceIds];
  for (let i = 1; i < 5; i++) ids.push(...(await sim(i % 2 === 0 ? a : b, [udpFromVm1(i)]))[0]!.traceIds);
  t.equal(ids.length, 3, 'five packets over two hosts: three traces');
  await a.close();
  const a2 = await start();
  await sleep(100);
  const [late] = await sim(a2, [udpFromVm1(9)]);
  t.same(late!.traceIds, [], 'a restarted daemon does not start the count again');
  for (const d of [b, a2]) await d.daemon.backends.sink.flush();
  const listed = await b.daemon.backends.traces.list({ limit: 10, conditionId: condId });
  t.equal(listed.ok && listed.items.length, 3, 'three traces stored');
  t.equal(await a2.daemon.apiDeps().conditionHits(condId), 3, 'hits = traces stored, on every host');
  t.equal(await b.daemon.apiDeps().conditionHits(condId), 3);
  t.ok(await b.daemon.apiDeps().conditions.delete(condId));
  t.equal(await b.daemon.backends.hits.count(condId, 3), 0, 'a deleted condition\'s count goes with it');
});

t.test('a request and its reply on different workers share conntrack and NAT state', async (t) => {
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  const flows = 40;
  const reqs = await Promise.all(Array.from({ length: flows }, (_, i) => d.daemon.pool.run({
    ...packOne(d, { inPort: n.id('vm3'), packet: pk.udp(MAC.vm3, MAC.r2, '10.0.2.10', '9.9.9.9', { tpSrc: 5000 + i, tpDst: 53 }) }),
    forceTrace: false, detail: true, nowMs: Date.now(),
  })));
  const natPorts: number[] = [];
  const reqThread: number[] = [];
  for (const r of reqs) {
    if (!r.ok) throw new Error(r.message);
    const e = r.result.details![0]!;
    t.equal(e.result, 'forward');
    natPorts.push((e.emitted[0]!.packet as { tpSrc: number }).tpSrc);
    reqThread.push(r.result.threadId);
  }
  t.equal(new Set(natPorts).size, flows, 'every flow got its own SNAT port');
  const replies = await Promise.all(natPorts.map((p) => d.daemon.pool.run({
    ...packOne(d, { inPort: uplink, packet: pk.udp(MAC.gw, MAC.up, '9.9.9.9', '192.168.0.60', { tpSrc: 53, tpDst: p }) }),
    forceTrace: false, detail: true, nowMs: Date.now(),
  })));
  let crossed = 0;
  replies.forEach((r, i) => {
    if (!r.ok) throw new Error(r.message);
    const e = r.result.details![0]!;
    t.equal(e.result, 'forward', `reply ${i} forwarded`);
    const p = e.emitted[0]!.packet as { nwDst: string; tpDst: number };
    t.equal(p.nwDst, '10.0.2.10');
    t.equal(p.tpDst, 5000 + i);
    if (r.result.threadId !== reqThread[i]) crossed++;
  });
  t.ok(crossed > 0, `${crossed} replies ran on another worker than their request`);
});

t.test('a failing sink: simulation goes on, lost steps counted, traces incomplete', async (t) => {
  let faulty: FaultySink | null = null;
  const d = await startTestDaemon(n.doc, { wrapSink: (s) => (faulty = new FaultySink(s, { kind: 'fail' })) });
  t.teardown(() => d.close());
  const results = await sim(d, Array.from({ length: 50 }, (_, i) => udpFromVm1(i)), true);
  t.equal(results.length, 50);
  t.ok(results.every((r) => r.result === 'forward' && r.traceIds.length === 1));
  await d.daemon.backends.sink.flush();
  const stats = d.daemon.backends.sink.stats();
  t.ok(stats.stepsLost > 0, `${stats.stepsLost} steps counted lost`);
  const trace = await d.daemon.backends.traces.get(results[0]!.traceIds[0]!);
  t.ok(trace, 'the summary is kept');
  t.equal(trace!.complete, false, 'marked incomplete');
  t.ok(faulty);
});

/** A sink whose room() the test decides; the rest is the real sink's. */
class RoomGate implements TraceSink {
  constructor(private readonly inner: TraceSink, readonly room: () => Promise<void> | null) {
    if (inner.writeBatch !== undefined) this.writeBatch = (b) => inner.writeBatch!(b);
  }
  writeBatch?: TraceSink['writeBatch'];
  write(rec: TraceRecord): void { this.inner.write(rec); }
  flush(): Promise<void> { return this.inner.flush(); }
  close(): Promise<void> { return this.inner.close(); }
  stats(): SinkStats { return this.inner.stats(); }
}

t.test('a sink that asks for room holds API simulations back until it has some, and the wait is counted', async (t) => {
  let release: () => void = () => {};
  let asked = 0;
  const pressure = new Promise<void>((r) => { release = r; });
  const d = await startTestDaemon(n.doc, {
    wrapSink: (s) => new RoomGate(s, () => { asked++; return asked === 1 ? pressure : null; }),
  });
  t.teardown(() => d.close());
  let done = false;
  const running = sim(d, Array.from({ length: 100 }, (_, i) => udpFromVm1(i)), true).then((r) => { done = true; return r; });
  await sleep(100);
  t.equal(done, false, 'the request waits while the sink has no room');
  release();
  const results = await running;
  t.equal(results.length, 100);
  t.ok(asked >= 2, `asked before each batch (${asked} times)`);
  const waited = /^midotrace_sink_wait_seconds_total (\S+)$/m.exec(await d.daemon.metrics.text());
  t.ok(waited !== null && Number(waited[1]) >= 0.09, `midotrace_sink_wait_seconds_total ${waited?.[1]}`);
});

t.test('a stalled sink never holds up the simulation, and stopping drains it', async (t) => {
  const d = await startTestDaemon(n.doc, { wrapSink: (s) => new FaultySink(s, { kind: 'stall', ms: 60_000 }) });
  const results = await sim(d, Array.from({ length: 200 }, (_, i) => udpFromVm1(i)), true);
  t.equal(results.length, 200, 'all 200 traced packets simulated');
  t.equal(d.daemon.backends.sink.stats().queueDepth, 200, 'while the sink still holds every one of their traces');
  await d.daemon.stop();
  const { openSqliteTraceBackend } = await import('../stores/sqlite/trace-backend.js');
  const opened = openSqliteTraceBackend({ path: d.dbPath, retentionMs: 0 });
  if (!opened.ok) throw new Error(opened.message);
  const listed = await opened.backend.list({ limit: 1000 });
  t.equal(listed.ok && listed.items.length, 200, 'stopping flushed every accepted trace to SQLite');
  await opened.backend.close();
  await d.close();
});

import { encodeInputs } from '../daemon/pool/batch.js';
import { portIndexOf } from '../engine/input.js';
const ports = portIndexOf(n.doc);
function packOne(_d: TestDaemon, input: unknown) {
  const r = encodeInputs([input], ports, 1);
  if (!r.ok) throw new Error(`${r.path}: ${r.message}`);
  return r.tasks[0]!;
}

t.test('a trace stored through the workers\' encoding reads back as the offline simulator builds it', async (t) => {
  const { SimulationSession } = await import('../cli/simulate.js');
  const { compileTopology: compile } = await import('../engine/topology/compile.js');
  const d = await startTestDaemon(n.doc);
  t.teardown(() => d.close());
  t.ok(d.daemon.backends.sink.writeBatch, 'the SQLite sink takes encoded batches from the workers');
  // A routed, NATed packet: many kinds of steps, details with nested values.
  const input = { inPort: vm1, packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '8.8.8.8', { tpSrc: 40001, tpDst: 443 }) };
  const [r] = await sim(d, [input], true);
  await d.daemon.backends.sink.flush();
  const stored = (await d.daemon.backends.traces.get(r!.traceIds[0]!))!;
  const offline = new SimulationSession(compile(n.doc), true).run([input], false)[0]!.trace!;
  const content = (tr: typeof stored): unknown[] => tr.steps.map(({ step, stage, deviceType, deviceId, deviceName, message, details }) =>
    ({ step, stage, deviceType, deviceId, deviceName, message, details }));
  t.ok(stored.numSteps > 10, `${stored.numSteps} steps`);
  t.same(content(stored), content(offline), 'the same steps, messages and details');
  t.equal(stored.startedAt, stored.steps[0]!.timestamp, 'a trace starts at its first step');
  t.equal(offline.startedAt, offline.steps[0]!.timestamp, 'offline too');
  t.same({ ...stored, id: '', hostId: '', startedAt: '', steps: [] }, { ...offline, id: '', hostId: '', startedAt: '', steps: [] }, 'the same summary');
});

t.test('the API reads its own traces: a trace id it handed out is found at once, a stalled sink costs a bounded wait', async (t) => {
  let faulty: FaultySink | null = null;
  const d = await startTestDaemon(n.doc, { server: true, wrapSink: (s) => (faulty = new FaultySink(s, { kind: 'stall', ms: 400 })) });
  t.teardown(() => d.close());
  const base = `http://127.0.0.1:${d.daemon.port}`;
  const post = async (i: number): Promise<string> => {
    const r = await fetch(`${base}/simulations?trace=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([udpFromVm1(i)]) });
    return ((await r.json()) as { traceIds: string[] }[])[0]!.traceIds[0]!;
  };
  const id = await post(1);
  const got = await fetch(`${base}/traces/${id}`);
  t.equal(got.status, 200, 'GET right after the 200 finds the trace the sink still held');
  t.equal(((await got.json()) as { id: string }).id, id);
  const second = await post(2);
  const listed = (await (await fetch(`${base}/traces`)).json()) as { id: string }[];
  t.ok(listed.some((x) => x.id === second), 'so does a list');

  faulty!.setMode({ kind: 'stall', ms: 60_000 });
  const stuck = await post(3);
  const start = Date.now();
  t.equal((await fetch(`${base}/traces/${stuck}`)).status, 404, 'a sink that does not store it in time: 404');
  const waited = Date.now() - start;
  t.ok(waited >= 1500 && waited < 5000, `after a bounded wait (${waited} ms)`);
});

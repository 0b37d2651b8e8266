// The worker pool on its own: shared snapshots, crash recovery, batch results.
import t from 'tap';
import { SimPool } from '../daemon/pool/pool.js';
import { encodeInputs, packFrames } from '../daemon/pool/batch.js';
import { SharedSnapshot } from '../daemon/pool/snapshot.js';
import { compileTopology } from '../engine/topology/compile.js';
import { portIndexOf } from '../engine/input.js';
import { Net, pk } from './helpers/net.js';
import { Worker } from 'node:worker_threads';
import type { SnapshotWorkerData, SnapshotWorkerReply } from './helpers/snapshot-worker.js';

const n = new Net().bridge('b').port('b', 'p1').port('b', 'p2');
const ports = portIndexOf(n.doc);
const frameTask = (count: number) => {
  const r = encodeInputs(Array.from({ length: count }, (_, i) => ({ inPort: n.id('p1'), packet: pk.udp('02:00:00:00:00:01', '02:00:00:00:00:02', '10.0.0.1', '10.0.0.2', { tpSrc: 1000 + i }) })), ports, count);
  if (!r.ok) throw new Error(r.message);
  return r.tasks[0]!;
};

t.test("the main thread's port index numbers ports as the workers' compiled topology does", async (t) => {
  const doc = new Net().bridge('b').router('r').port('b', 'x').attach('r', 'b', '10.0.0.1/24', '02:00:00:00:01:01').port('b', 'y').doc;
  const fields = (p: { idx: number; id: string; name: string; exterior: boolean }) => [p.idx, p.id, p.name, p.exterior];
  t.same([...portIndexOf(doc).values()].map(fields), compileTopology(doc).ports.map(fields));
  t.ok([...portIndexOf(doc).values()].some((p) => !p.exterior), 'interior ports are told apart');
});

t.test('a crashed worker fails only its batch; the pool keeps serving', async (t) => {
  const pool = new SimPool({ threads: 2, hostId: 'h', faultInjection: true, state: { conntrackCapacity: 1024, natCapacity: 1024 } });
  t.teardown(() => pool.close());
  pool.setTopology(n.doc);
  pool.setConditions([]);
  const crashed = await pool.run({ ...frameTask(4), forceTrace: false, detail: false, nowMs: Date.now(), fault: 'exit' });
  t.equal(crashed.ok, false);
  t.equal(!crashed.ok && crashed.code, 'worker_failed');
  t.equal(pool.failedBatches >= 1, true);
  const after = await Promise.all([0, 1, 2, 3].map(() => pool.run({ ...frameTask(8), forceTrace: false, detail: false, nowMs: Date.now() })));
  t.ok(after.every((r) => r.ok && r.result.codes.length === 8 && r.result.codes.every((c) => c === 0)), 'later batches run on a replacement worker');
});

t.test('frames in a batch keep their order and per-frame ports', async (t) => {
  const pool = new SimPool({ threads: 1, hostId: 'h', state: { conntrackCapacity: 1024, natCapacity: 1024 } });
  t.teardown(() => pool.close());
  pool.setTopology(n.doc);
  pool.setConditions([]);
  const good = frameTask(1);
  const task = packFrames([good.data, new Uint8Array([1, 2, 3]), good.data], 0, 3, [n.id('p1'), n.id('p1'), 'not-a-port']);
  const r = await pool.run({ ...task, forceTrace: true, detail: true, nowMs: Date.now() });
  t.ok(r.ok);
  if (!r.ok) return;
  t.same([...r.result.codes], [0, 3, 255], 'forward, errorDrop (malformed), unknown port');
  t.equal(r.result.details![1]!.reason, 'malformed_frame');
  t.equal(r.result.traces.length, 2, 'forced traces for the two simulated frames');
});

t.test('shared snapshot: readers see whole versions only', async (t) => {
  const snap = SharedSnapshot.create(1 << 16);
  t.equal(snap.version(), 0);
  t.equal(snap.read().text, '');
  t.ok(snap.publish('{"a":1}'));
  const reader = new SharedSnapshot(snap.descriptor());
  t.same(reader.read(), { version: 1, text: '{"a":1}' });
  t.notOk(snap.publish('x'.repeat(1 << 17)), 'too big is refused');
  t.same(reader.read(), { version: 1, text: '{"a":1}' }, 'a refused publish changes nothing');
  for (let i = 0; i < 100; i++) snap.publish(JSON.stringify({ i, pad: 'y'.repeat(i * 10) }));
  const last = reader.read();
  t.equal(last.version, 101);
  t.equal(JSON.parse(last.text).i, 99);
});

const snapshotWorker = new URL('./helpers/snapshot-worker.ts', import.meta.url);
// Node 20 does not apply `--import tsx` to a worker's .ts entry: the worker registers tsx itself.
const snapshotBootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(snapshotWorker.href)}); });`;

t.test('shared snapshot across threads: readers racing a writer never see a torn version', async (t) => {
  // Small halves the writer overwrites constantly: each publish rewrites the half read two versions ago.
  const snap = SharedSnapshot.create(8192);
  const gate = new SharedArrayBuffer(8);
  const roles: SnapshotWorkerData['role'][] = ['writer', 'reader', 'reader'];
  const replies = await Promise.all(roles.map((role) => new Promise<SnapshotWorkerReply>((resolve, reject) => {
    const data: SnapshotWorkerData = { snapshot: snap.descriptor(), gate, role, versions: 200_000, workers: roles.length };
    const w = new Worker(snapshotBootstrap, { eval: true, workerData: data });
    w.on('message', resolve);
    w.on('error', reject);
    w.on('exit', (code) => reject(new Error(`snapshot worker exited (code ${code}) without a reply`)));
  })));
  const [writer, ...readers] = replies;
  t.equal(writer!.published, 200_000, 'the writer published every version');
  const reads = readers.reduce((a, r) => a + r.reads, 0);
  t.ok(reads > 1000, `readers read while the writer wrote (${reads} reads)`);
  t.equal(readers.reduce((a, r) => a + r.torn, 0), 0, 'no read mixed two versions');
  t.equal(readers.reduce((a, r) => a + r.backwards, 0), 0, 'versions never go back');
  t.equal(snap.read().version, 200_000);
});

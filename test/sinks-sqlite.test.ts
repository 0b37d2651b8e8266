// The SQLite trace backend: the shared conformance suite on a real file, then what only SQLite has
// (schema version, WAL, the retention sweeper, persistence) and the FaultySink wrapper around it.
import t from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultySink } from '../stores/faulty.js';
import { openSqliteConditionStore, openSqliteTraceBackend, SCHEMA_VERSION } from '../stores/sqlite/index.js';
import type { SqliteTraceBackend, SqliteTraceBackendOptions } from '../stores/sqlite/index.js';
import { traceBackendConformance } from './helpers/sink-conformance.js';
import { sleep, until } from './helpers/condition-store-conformance.js';
import { expectedSteps, expectedSummary, makeRecord } from './helpers/trace-records.js';
import { StepSchema } from '../api/doc-schemas.js';
import { encodeStepsText } from '../stores/sqlite/trace-wire.js';

const dir = mkdtempSync(join(tmpdir(), 'midotrace-sqlite-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(dir, `traces-${++files}.db`);

function open(opts: Partial<SqliteTraceBackendOptions> = {}): SqliteTraceBackend {
  const res = openSqliteTraceBackend({ path: freshPath(), retentionMs: 0, ...opts });
  if (!res.ok) throw new Error(res.message);
  return res.backend;
}

traceBackendConformance(t, 'sqlite', async (opts) => {
  const backend = open(opts);
  return { sink: backend, store: backend, close: () => backend.close() };
});

t.test('a file of a newer schema version is refused with a clear message', async (tt) => {
  const path = freshPath();
  const b = open({ path });
  await b.close();
  const raw = new Database(path);
  raw.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
  raw.close();
  const res = openSqliteTraceBackend({ path });
  tt.match(res, { ok: false, code: 'schema_too_new' });
  tt.match(res.ok ? '' : res.message, new RegExp(`schema version ${SCHEMA_VERSION + 1}.*up to ${SCHEMA_VERSION}`));
  tt.match(openSqliteConditionStore({ path }), { ok: false, code: 'schema_too_new' }, 'the condition store too');
});

t.test('a file without a schema gets one; a file that is not SQLite is refused', async (tt) => {
  const path = freshPath();
  new Database(path).close();
  const b = open({ path });
  await b.close();
  const raw = new Database(path, { readonly: true });
  tt.equal(raw.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(), String(SCHEMA_VERSION));
  tt.equal(raw.pragma('journal_mode', { simple: true }), 'wal', 'WAL is on');
  raw.close();

  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is not a database, just text that is long enough to have a header'.repeat(20));
  tt.match(openSqliteTraceBackend({ path: junk }), { ok: false, code: 'open_failed', message: /junk\.db/ });
  tt.match(openSqliteTraceBackend({ path: join(dir, 'no', 'such', 'dir.db') }), { ok: false, code: 'open_failed' });
});

t.test('traces survive closing and reopening the file', async (tt) => {
  const path = freshPath();
  const b1 = open({ path });
  const rec = makeRecord({ steps: 12, conditionIds: ['c0000000-0000-4000-8000-000000000001'] });
  b1.write(rec);
  await b1.close();
  const b2 = open({ path });
  tt.teardown(() => b2.close());
  tt.match(await b2.get(rec.id), { id: rec.id, numSteps: 12, complete: true });
  const byCond = await b2.list({ limit: 5, conditionId: 'c0000000-0000-4000-8000-000000000001' });
  tt.same(byCond.ok ? byCond.items.map((s) => s.id) : byCond, [rec.id]);
});

t.test('a trace stored before steps had kinds (details without kind) still reads, each step with its kind', async (tt) => {
  const path = freshPath();
  const b1 = open({ path });
  const rec = makeRecord({ steps: 1 });
  b1.write(rec);
  await b1.close();
  // The steps as the engine stored them before P8: [dt, stage, deviceType, deviceId, deviceName, message, details].
  const P = (n: number) => `7e000000-0000-4000-8000-00000000000${n}`;
  const old: [number, string, string, string, string, string, Record<string, unknown>][] = [
    [0, 'reception', 'port', P(1), 'vm1', 'port vm1 received the packet from outside', { exterior: true }],
    [0, 'reception', 'bridge', P(2), 'b1', 'bridge b1 received the packet', { inPortId: P(1), ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:01:01', vlan: -1 }],
    [0, 'processing', 'bridge', P(2), 'b1', 'learned 02:00:00:00:00:01 on port vm1', { mac: '02:00:00:00:00:01', portId: P(1), vlan: -1, previousPortId: null, full: false }],
    [1, 'disposition', 'bridge', P(2), 'b1', 'forwarded to port b1-r', { portId: P(3) }],
    [1, 'disposition', 'port', P(3), 'b1-r', 'forwarded to peer port r-b1', { peerId: P(4) }],
    [1, 'reception', 'port', P(4), 'r-b1', 'port r-b1 received the packet from its peer', { exterior: false }],
    [1, 'reception', 'router', P(5), 'r', 'router r received the packet on port r-b1', { inPortId: P(4), nwSrc: '10.0.1.10', nwDst: '8.8.8.8', ttl: 64 }],
    [1, 'processing', 'chain', P(6), 'pre', 'chain pre evaluated (inbound filter of router r)', { chainId: P(6), deviceId: P(5), rules: 2 }],
    [1, 'processing', 'rule', P(7), 'pre[1]', 'rule 1 (snat, new binding) rewrote 10.0.1.10:1 → 8.8.8.8:2 into 1.2.3.4:1 → 8.8.8.8:2, then accept',
      { ruleId: P(7), chainId: P(6), position: 1, type: 'snat', action: 'accept', binding: 'new binding', before: { nwSrc: '10.0.1.10', nwDst: '8.8.8.8', tpSrc: 1, tpDst: 2 }, after: { nwSrc: '1.2.3.4', nwDst: '8.8.8.8', tpSrc: 1, tpDst: 2 } }],
    [2, 'processing', 'router', P(5), 'r', 'route chosen: 0.0.0.0/0 via port up gateway 1.2.3.1', { routeId: P(8), type: 'normal', dst: '0.0.0.0/0', src: '0.0.0.0/0', weight: 100, nextHopPort: P(9), nextHopGateway: '1.2.3.1' }],
    [2, 'processing', 'router', P(5), 'r', 'TTL decremented to 63', { ttl: 63 }],
    [2, 'disposition', 'router', P(5), 'r', 'dropped: rejected by the post-routing filter', { reason: 'chain_reject' }],
    [2, 'disposition', 'router', P(5), 'r', 'dropped: no route to 9.9.9.9', { reason: 'no_route' }],
    [3, 'disposition', 'port', P(9), 'up', 'emitted from exterior port up', { hostId: null, interfaceName: null, generated: false }],
    [3, 'processing', 'bridge', P(2), 'b1', 'something a newer engine said', { odd: 1 }],
  ];
  const raw = new Database(path);
  const seq = raw.prepare('SELECT seq FROM traces WHERE id = ?').pluck().get(rec.id);
  // As a file of schema 1 held them: the steps inline in trace_steps, no shared step list.
  raw.prepare('INSERT OR REPLACE INTO trace_steps (trace_seq, steps, list_id) VALUES (?, ?, NULL)').run(seq, JSON.stringify(old));
  raw.prepare('UPDATE traces SET num_steps = ?, list_id = NULL WHERE seq = ?').run(old.length, seq);
  raw.close();

  const b2 = open({ path });
  tt.teardown(() => b2.close());
  const got = (await b2.get(rec.id))!;
  tt.same(got.steps.map((s) => s.details.kind), [
    'port_received', 'bridge_received', 'mac_learned', 'forwarded', 'to_peer', 'port_received', 'router_received',
    'chain_evaluated', 'nat_applied', 'route_chosen', 'ttl_decremented', 'rejected', 'dropped', 'emitted', 'legacy',
  ]);
  got.steps.forEach((s, i) => {
    const { kind: _kind, ...rest } = s.details;
    tt.same(rest, old[i]![6], `step ${i + 1}: the stored fields are kept as they were`);
    tt.equal(s.message, old[i]![5]);
  });
  const invalid = got.steps.filter((s) => !StepSchema.safeParse(s).success).map((s) => s.step);
  tt.same(invalid, [], 'and each one matches the OpenAPI step schema');
});

t.test('the sweeper deletes traces past retention, periodically', async (tt) => {
  let now = Date.UTC(2030, 5, 1);
  const b = open({ retentionMs: 60_000, firstSweepDelayMs: 10, sweepIntervalMs: 30, now: () => now });
  tt.teardown(() => b.close());
  const old = makeRecord({ startedAtMs: now - 120_000 });
  const fresh = makeRecord({ startedAtMs: now - 1_000 });
  b.write(old);
  b.write(fresh);
  await b.flush();
  await until(() => b.sweepStats().runs >= 1, 'first sweep');
  tt.equal(await b.get(old.id), null, 'older than retention: gone');
  tt.ok(await b.get(fresh.id), 'within retention: kept');
  now += 120_000;
  const runs = b.sweepStats().runs;
  // Two more runs: the first may have started before the clock moved.
  await until(() => b.sweepStats().runs > runs + 1, 'a later sweep');
  tt.equal(await b.get(fresh.id), null, 'aged out at a later sweep');
  tt.match(b.sweepStats(), { deleted: 2, errors: 0 });
});

t.test('retention 0 turns the sweeper off', async (tt) => {
  const b = open({ retentionMs: 0, firstSweepDelayMs: 1, sweepIntervalMs: 5 });
  tt.teardown(() => b.close());
  const ancient = makeRecord({ startedAtMs: 1_000 });
  b.write(ancient);
  await b.flush();
  await sleep(50);
  tt.equal(b.sweepStats().runs, 0);
  tt.ok(await b.get(ancient.id));
});

t.test('closing the backend flushes the queue first; the store refuses reads after', async (tt) => {
  const b = open();
  const recs = Array.from({ length: 500 }, (_, i) => makeRecord({ startedAtMs: 1_000_000 + i, steps: 4 }));
  for (const r of recs) b.write(r);
  await b.close();
  tt.match(b.stats(), { tracesWritten: 500, stepsWritten: 2_000, queueDepth: 0 });
  await tt.rejects(b.get(recs[0]!.id), /closed/);
});

t.test('FaultySink fail: traces become incomplete summaries, losses counted', async (tt) => {
  const b = open();
  const f = new FaultySink(b, { kind: 'fail' });
  tt.teardown(() => f.close());
  const r1 = makeRecord({ steps: 6 });
  f.write(r1);
  f.setMode({ kind: 'fail', lose: 'all' });
  const r2 = makeRecord({ steps: 4 });
  f.write(r2);
  f.setMode({ kind: 'pass' });
  const r3 = makeRecord({ steps: 2 });
  f.write(r3);
  await f.flush();
  tt.match(await b.get(r1.id), { numSteps: 0, complete: false, steps: [] }, 'summary kept, incomplete');
  tt.equal(await b.get(r2.id), null, 'lose all: nothing stored');
  tt.match(await b.get(r3.id), { numSteps: 2, complete: true }, 'pass again: whole');
  tt.match(f.stats(), { tracesWritten: 2, tracesIncomplete: 1, tracesLost: 1, stepsLost: 10, stepsWritten: 2, writeErrors: 2 });
});

t.test('FaultySink stall: writes arrive late; flush waits for them; close does not', async (tt) => {
  const b = open();
  const f = new FaultySink(b, { kind: 'stall', ms: 150 });
  const r1 = makeRecord({ steps: 3 });
  const started = Date.now();
  f.write(r1);
  tt.match(f.stats(), { queueDepth: 1, queuedSteps: 3 });
  await sleep(20);
  await b.flush();
  tt.equal(await b.get(r1.id), null, 'held back');
  await f.flush();
  tt.ok(Date.now() - started >= 140, 'flush waited for the stall');
  tt.match(await b.get(r1.id), { numSteps: 3 });
  f.setMode({ kind: 'stall', ms: 60_000 });
  const r2 = makeRecord({ steps: 1 });
  f.write(r2);
  const closing = Date.now();
  await f.close();
  tt.ok(Date.now() - closing < 5_000, 'close hands held records on at once');
  tt.match(f.stats(), { tracesWritten: 2, queueDepth: 0 });
});

t.test('a trace row names its step list (schema 5); a file of schema 4 keeps reading its traces after the upgrade', async (tt) => {
  const path = freshPath();
  const b = open({ path });
  const recs = [makeRecord({ steps: 5 }), makeRecord({ steps: 3 })]; // the second only shows each row names its own list
  for (const r of recs) b.write(r);
  await b.flush();
  await b.close();
  const raw = new Database(path);
  tt.equal(raw.prepare('SELECT count(*) FROM trace_steps').pluck().get(), 0, 'full traces write no trace_steps row');
  tt.equal(raw.prepare('SELECT count(*) FROM traces WHERE list_id IS NOT NULL').pluck().get(), 2, 'each row names its list');
  // The first trace as schema 4 stored it: a trace_steps row pointing at the list, no list_id column.
  const seq = raw.prepare('SELECT seq FROM traces WHERE id = ?').pluck().get(recs[0]!.id);
  raw.prepare("INSERT INTO trace_steps (trace_seq, steps, list_id) SELECT seq, '', list_id FROM traces WHERE seq = ?").run(seq);
  raw.exec('ALTER TABLE traces DROP COLUMN list_id');
  raw.prepare("UPDATE meta SET value = '4' WHERE key = 'schema_version'").run();
  raw.close();
  const b2 = open({ path });
  tt.teardown(() => b2.close());
  tt.same(await b2.get(recs[0]!.id), { ...expectedSummary(recs[0]!), steps: expectedSteps(recs[0]!) }, 'a schema 4 trace reads back whole');
  const r3 = makeRecord({ steps: 4 });
  b2.write(r3);
  await b2.flush();
  tt.same(await b2.get(r3.id), { ...expectedSummary(r3), steps: expectedSteps(r3) }, 'and new traces are stored in the new form');
});

t.test('traces with the same steps share one stored list; the sweeper deletes the lists it leaves unused', async (tt) => {
  let now = Date.UTC(2030, 5, 1);
  const path = freshPath();
  const b = open({ path, retentionMs: 60_000, firstSweepDelayMs: 60_000, sweepIntervalMs: 60_000, now: () => now });
  tt.teardown(() => b.close());
  const lists = (): number => {
    const raw = new Database(path, { readonly: true });
    try { return raw.prepare('SELECT count(*) FROM step_lists').pluck().get() as number; } finally { raw.close(); }
  };
  // One flow: 40 packets whose steps are the same; a second flow with other steps.
  const t0 = now - 120_000;
  const first = makeRecord({ startedAtMs: t0, steps: 6 });
  const flow = Array.from({ length: 40 }, (_, i) => ({ ...makeRecord({ startedAtMs: t0 + i }), steps: first.steps.map((s) => ({ ...s, timestampMs: s.timestampMs + i })) }));
  const other = makeRecord({ startedAtMs: now + 3_650_000, steps: 9 }); // still within retention after the sweep below
  for (const r of [...flow, other]) b.write(r);
  await b.flush();
  tt.equal(lists(), 2, 'two distinct step lists stored, not 41');
  for (const r of flow) tt.same(await b.get(r.id), { ...expectedSummary(r), steps: expectedSteps(r) });
  tt.same(await b.get(other.id), { ...expectedSummary(other), steps: expectedSteps(other) });
  const deleted = await b.delete(flow[0]!.id);
  tt.ok(deleted);
  tt.same((await b.get(flow[1]!.id))?.numSteps, 6, 'deleting one trace leaves its list to the others');

  now += 3_600_000 + 60_000; // the old flow's traces and its list are past retention (plus the hour)
  await b.sweepNow();
  tt.equal(await b.get(flow[1]!.id), null, 'the old traces are gone');
  tt.equal(lists(), 1, 'and so is the list only they used');
  tt.ok(await b.get(other.id), 'the newer trace and its list stay');
  const again = { ...makeRecord({ startedAtMs: now }), steps: first.steps };
  b.write(again);
  await b.flush();
  tt.equal((await b.get(again.id))?.steps.length, 6, 'a list dropped by the sweep is stored again when used');
});

t.test('steps from another host follow the trace\'s own, stored before or after it; deleted and swept with it', async (tt) => {
  const b = open();
  tt.teardown(() => b.close());
  const HOST_B = '7b000000-0000-4000-8000-00000000000b';
  const rec = makeRecord({ steps: 3 });
  const other = makeRecord({ steps: 2, startedAtMs: rec.startedAtMs + 5 });
  // The egress host's part may be stored first (two hosts, one file, no order between them).
  b.appendSteps({ traceId: rec.id, hostId: HOST_B, after: 3, steps: other.steps });
  await b.flush();
  tt.equal(await b.get(rec.id), null, 'a segment alone is no trace');
  b.write(rec);
  await b.flush();
  const got = (await b.get(rec.id))!;
  tt.equal(got.numSteps, 5);
  tt.same(got.steps.map((s) => [s.step, s.hostId]), [[1, rec.hostId], [2, rec.hostId], [3, rec.hostId], [4, HOST_B], [5, HOST_B]]);
  tt.same(got.steps.slice(3).map((s) => s.message), other.steps.map((s) => s.message), 'the segment\'s steps as recorded');
  tt.equal(got.steps[3]!.timestamp, new Date(other.steps[0]!.timestampMs).toISOString());
  tt.equal((await b.list({ limit: 10 })).ok, true);
  tt.ok(await b.delete(rec.id));
  b.write(rec);
  await b.flush();
  tt.equal((await b.get(rec.id))!.numSteps, 3, 'deleting the trace took its segments');
  b.appendSteps({ traceId: rec.id, hostId: HOST_B, after: 3, steps: other.steps });
  await b.flush();
  tt.equal(await b.deleteOlderThan(rec.startedAtMs + 60_000), 1);
  b.write(rec);
  await b.flush();
  tt.equal((await b.get(rec.id))!.numSteps, 3, 'the sweep took the old segment too');
  const before = b.stats().stepsLost;
  await b.close();
  b.appendSteps({ traceId: rec.id, hostId: HOST_B, after: 3, steps: other.steps });
  await b.flush().catch(() => {});
  tt.equal(b.stats().stepsLost, before + 2, 'a segment that cannot be stored is counted lost');
});

t.test('the write-ahead log is copied into the file beside the writer, and truncated past its limit', async (tt) => {
  const { statSync } = await import('node:fs');
  const size = (f: string): number => { try { return statSync(f).size; } catch { return 0; } };
  const write = async (b: SqliteTraceBackend, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) b.write(makeRecord({ steps: 4, conditionIds: ['c0000000-0000-4000-8000-000000000001'] }));
    await b.flush();
  };
  // The writer makes no checkpoint of its own below the limit: pages reach the file through the checkpoint thread.
  const path = freshPath();
  const b = open({ path });
  tt.teardown(() => b.close());
  const base = size(path);
  await write(b, 6000);
  tt.ok(size(`${path}-wal`) > 2 * 1024 * 1024, 'the log holds the writes');
  await until(() => size(path) > base + 2 * 1024 * 1024, 'pages copied into the file');
  tt.ok(size(path) > base + 2 * 1024 * 1024, `the file grew to ${size(path)} bytes beside the writer`);

  const small = freshPath();
  const s = open({ path: small, walLimitBytes: 256 * 1024 });
  tt.teardown(() => s.close());
  let maxWal = 0;
  for (let round = 0; round < 10; round++) { await write(s, 1500); maxWal = Math.max(maxWal, size(`${small}-wal`)); }
  tt.ok(maxWal <= 256 * 1024, `truncated past the limit: at most ${maxWal} bytes after a batch`);
  tt.equal(s.stats().tracesWritten, 15_000);
  tt.equal(s.stats().tracesLost, 0);
});

t.test('workers\' encoded batches are stored whole, however the queue cuts them into writes', async (tt) => {
  const { encodeHead } = await import('../stores/sqlite/trace-wire.js');
  // Writer batches of 3 traces: worker batches of 5, 4 and 7 are cut across writes, and writes mix them.
  const b = open({ maxBatchTraces: 3 });
  tt.teardown(() => b.close());
  const batches = [5, 4, 7].map((n) => {
    const recs = Array.from({ length: n }, (_, i) => makeRecord({ steps: 2 + (i % 3), conditionIds: i % 2 === 0 ? [] : ['c0000000-0000-4000-8000-00000000000' + i] }));
    let text = '';
    const ends = new Int32Array(n);
    const texts: string[] = [];
    const refs = new Int32Array(n);
    recs.forEach((r, i) => {
      text += encodeHead(r);
      ends[i] = text.length;
      const s = encodeStepsText(r);
      let k = texts.indexOf(s);
      if (k < 0) { k = texts.length; texts.push(s); }
      refs[i] = k;
    });
    return { recs, batch: { text, ends, steps: Int32Array.from(recs, (r) => r.steps.length), stepTexts: texts, stepRefs: refs } };
  });
  for (const x of batches) b.writeBatch(x.batch);
  await b.flush();
  for (const x of batches) {
    for (const r of x.recs) {
      const got = await b.get(r.id);
      tt.same(got && { ...got, steps: got.steps.map((s) => ({ ...s })) }, { ...expectedSummary(r), steps: expectedSteps(r) }, `trace ${r.id}`);
    }
  }
  tt.match(b.stats(), { tracesWritten: 16, writeErrors: 0, tracesLost: 0 }, 'in the writes as cut, none failed and retried');
});

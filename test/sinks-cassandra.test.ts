// The Cassandra trace backend: the shared conformance suite through the real cassandra-driver over
// TCP, against the CQL test server always and against a real cluster when
// MIDOTRACE_TEST_CASSANDRA=host:port is set; then what only Cassandra has (schema and version,
// TTLs, partition-bounded reads, prepared statements, consistency, in-flight bound, batching).
import t from 'tap';
import cassandra from 'cassandra-driver';
import { CqlTestServer } from '../tools/cql-test-server/src/server.js';
import { CassandraTraceBackend, DEFAULT_LAYOUT, openCassandraTraceBackend, SCHEMA_VERSION } from '../stores/cassandra/index.js';
import type { CassandraTraceBackendOptions } from '../stores/cassandra/index.js';
import { traceBackendConformance, pageAll } from './helpers/sink-conformance.js';
import { deleteConsistency } from '../stores/cassandra/trace-reader.js';
import { sortKey } from '../stores/cassandra/keys.js';
import type { TraceListResult, TraceQuery } from '../model/stores.js';
import type { TraceSummary } from '../model/trace.js';
import { expectedSteps, expectedSummary, HOST_A, HOST_B, makeRecord } from './helpers/trace-records.js';

const server = await CqlTestServer.start({ dataCenter: 'dc1' });
t.teardown(() => server.stop());

let keyspaces = 0;
const freshKeyspace = (): string => `midotrace_t${process.pid}_${++keyspaces}`;

/** Options for a backend on the test server; a new keyspace each time unless given. */
function opts(extra: Partial<CassandraTraceBackendOptions> = {}): CassandraTraceBackendOptions {
  return {
    contactPoints: [server.contactPoint], localDataCenter: 'dc1', keyspace: freshKeyspace(),
    reconnectBaseMs: 50, reconnectMaxMs: 500, ...extra,
  };
}

async function ready(o: CassandraTraceBackendOptions): Promise<CassandraTraceBackend> {
  // A real cluster may take a while to agree on a new keyspace's schema.
  const r = await openCassandraTraceBackend(o, 60_000);
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`);
  if (r.first.state !== 'ready') throw new Error(`not ready: ${r.first.error ?? r.first.state}`);
  return r.backend;
}

/** A plain driver client for looking at what the backend stored. */
function adminClient(contactPoint: string, dc: string): cassandra.Client {
  const c = new cassandra.Client({ contactPoints: [contactPoint], localDataCenter: dc });
  c.on('hostRemove', (h: cassandra.Host) => void (h as unknown as { shutdown(w: boolean): Promise<void> }).shutdown(false).catch(() => {}));
  return c;
}

const admin = adminClient(server.contactPoint, 'dc1');
t.teardown(() => admin.shutdown());

traceBackendConformance(t, 'cassandra (CQL test server)', async (o) => {
  const b = await ready(opts(o));
  return { sink: b, store: b, close: () => b.close() };
});

const REAL = process.env['MIDOTRACE_TEST_CASSANDRA'];
t.test('conformance against a real Cassandra cluster', {
  skip: REAL === undefined || REAL === ''
    ? 'set MIDOTRACE_TEST_CASSANDRA=host:port (and MIDOTRACE_TEST_CASSANDRA_DC, default datacenter1) to run it' : false,
}, async (tt) => {
  const dc = process.env['MIDOTRACE_TEST_CASSANDRA_DC'] ?? 'datacenter1';
  const real = adminClient(REAL!, dc);
  tt.teardown(() => real.shutdown());
  traceBackendConformance(tt, 'cassandra (real cluster)', async (o) => {
    const keyspace = freshKeyspace();
    const b = await ready({ ...opts(o), contactPoints: [REAL!], localDataCenter: dc, keyspace, writeConsistency: 'localQuorum' });
    return {
      sink: b, store: b,
      close: async () => { await b.close(); await real.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`); },
    };
  });
});

t.test('schema: keyspace with the configured replication, four tables with TTL and read repair off, a version row; created once', async (tt) => {
  const infos: object[] = [];
  const log = { info: (o: object) => infos.push(o), warn() {}, error() {} };
  const o = opts({ replication: { class: 'NetworkTopologyStrategy', dc1: 1 }, log });
  const b1 = await ready(o);
  await b1.close();
  const ks = await admin.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [o.keyspace]);
  tt.match(ks.first()?.['replication'], { class: /NetworkTopologyStrategy$/, dc1: '1' });
  const tables = await admin.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [o.keyspace]);
  tt.same(tables.rows.map((r) => r['table_name']).sort(), ['schema_meta', 'trace_buckets_v2', 'trace_index_v2', 'traces']);
  const meta = await admin.execute(`SELECT version, shards FROM ${o.keyspace}.schema_meta WHERE component = 'traces'`);
  tt.match(meta.first(), { version: SCHEMA_VERSION, shards: DEFAULT_LAYOUT.shards });
  for (const table of ['traces', 'trace_index_v2', 'trace_buckets_v2']) {
    const opt = server.tableOptions(o.keyspace, table);
    tt.equal(opt?.defaultTtl, 7 * 86_400, `${table}: default_time_to_live is the retention`);
    tt.match(Object.fromEntries(opt?.simple ?? []), { read_repair_chance: '0', dclocal_read_repair_chance: '0' }, `${table}: read repair off (3.11 spelling)`);
  }
  const b2 = await ready(o);
  await b2.close();
  tt.match(infos, [{ created: [o.keyspace, `${o.keyspace}.schema_meta`, `${o.keyspace}.traces`, `${o.keyspace}.trace_index_v2`, `${o.keyspace}.trace_buckets_v2`] }, { created: [] }],
    'the second start finds everything and sends no DDL');
});

t.test('a keyspace of a newer schema version is refused with a clear message', async (tt) => {
  const o = opts();
  await (await ready(o)).close();
  await admin.execute(`UPDATE ${o.keyspace}.schema_meta SET version = ? WHERE component = 'traces'`, [SCHEMA_VERSION + 1], { prepare: true });
  const r = await openCassandraTraceBackend(o);
  tt.match(r, { ok: false, code: 'schema_too_new' });
  tt.match(r.ok ? '' : r.message, new RegExp(`version ${SCHEMA_VERSION + 1}.*up to ${SCHEMA_VERSION}`));
});

t.test('without createSchema a missing keyspace is waited for, not created', async (tt) => {
  const o = opts({ createSchema: false });
  const r = await openCassandraTraceBackend(o, 2_000);
  tt.ok(r.ok, 'not a start error: someone may create it');
  if (!r.ok) return;
  tt.teardown(() => r.backend.close());
  tt.equal(r.first.state, 'connecting');
  tt.match(r.backend.health(), { ok: false, detail: /does not exist/ });
  const ks = await admin.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [o.keyspace]);
  tt.equal(ks.rowLength, 0);
});

t.test('every row carries the TTL; when it passes, traces, index and registry are gone', async (tt) => {
  const own = await CqlTestServer.start({ dataCenter: 'dc1' });
  const o = { ...opts({ ttlSeconds: 3_600 }), contactPoints: [own.contactPoint] };
  const b = await ready(o);
  const look = adminClient(own.contactPoint, 'dc1');
  tt.teardown(async () => { await b.close(); await look.shutdown(); await own.stop(); });
  const rec = makeRecord({ steps: 4, conditionIds: ['c0000000-0000-4000-8000-000000000001'] });
  b.write(rec);
  await b.flush();
  const ks = o.keyspace;
  const ttls = [
    ...(await look.execute(`SELECT ttl(host_id) AS t FROM ${ks}.traces WHERE id = ? AND step = 0`, [rec.id], { prepare: true })).rows,
    ...(await look.execute(`SELECT ttl(message) AS t FROM ${ks}.traces WHERE id = ?`, [rec.id], { prepare: true })).rows.slice(1),
  ].map((r) => r['t'] as number);
  tt.equal(ttls.length, 5, 'summary and four steps');
  tt.ok(ttls.every((s) => s > 3_500 && s <= 3_600), `trace rows: ${ttls.join(', ')}`);
  const listed = await b.list({ limit: 10, conditionId: 'c0000000-0000-4000-8000-000000000001' });
  tt.same(listed.ok ? listed.items.map((s) => s.id) : listed, [rec.id]);

  own.advanceClock(3_601_000);
  tt.equal(await b.get(rec.id), null, 'the trace expired');
  tt.match(await b.list({ limit: 10 }), { ok: true, items: [] }, 'and left the listing');
  own.advanceClock(3 * 3_600_000);
  const reg = await look.execute(`SELECT bucket FROM ${ks}.trace_buckets_v2 WHERE scope = 'all'`);
  tt.equal(reg.rowLength, 0, 'the bucket registry expires with its bucket\'s data');
});

t.test('a listing page reads the registry and one bucket\'s shards, whatever the table holds', async (tt) => {
  const SHARDS = 4;
  const b = await ready(opts({ layout: { bucketMs: 3_600_000, shards: SHARDS } }));
  tt.teardown(() => b.close());
  const HOUR = 3_600_000;
  const t0 = Date.UTC(2031, 0, 1);
  const COND = 'c0000000-0000-4000-8000-0000000000c1';
  for (let i = 0; i < 2_000; i++) {
    // 5 hours of traces; the condition only in the third hour.
    const at = t0 + Math.floor(i / 400) * HOUR + (i % 400) * 1000;
    b.write(makeRecord({ startedAtMs: at, steps: 1, conditionIds: Math.floor(i / 400) === 2 ? [COND] : [] }));
  }
  await b.flush();
  const requests = async (fn: () => Promise<unknown>): Promise<number> => {
    const before = server.stats.requests['EXECUTE'] ?? 0;
    await fn();
    return (server.stats.requests['EXECUTE'] ?? 0) - before;
  };
  // One registry page, then one or two rounds over the newest bucket's shards.
  const one = (n: number): boolean => n === 1 + SHARDS || n === 1 + 2 * SHARDS;
  tt.ok(one(await requests(() => b.list({ limit: 50 }))), 'newest page: registry + the newest bucket');
  tt.ok(one(await requests(() => b.list({ limit: 50, conditionId: COND }))), 'condition: only its bucket');
  tt.ok(one(await requests(() => b.list({ limit: 50, until: t0 + 2 * HOUR }))), 'until: starts in the right bucket');
  const paged = await pageAll(b, { limit: 150, since: t0 + HOUR + 200_000, until: t0 + 3 * HOUR + 100_000 });
  tt.equal(paged.length, 200 + 400 + 100, 'a range across buckets, paged');
  const got = await b.list({ limit: 1000, conditionId: COND });
  tt.equal(got.ok ? got.items.length : -1, 400);
});

t.test('statements are prepared once, then only executed', async (tt) => {
  const b = await ready(opts());
  tt.teardown(() => b.close());
  const burst = async (n: number): Promise<void> => {
    const recs = Array.from({ length: n }, (_, i) => makeRecord({ steps: 1 + (i % 3), conditionIds: [`c0000000-0000-4000-8000-00000000000${i % 3}`] }));
    for (const r of recs) b.write(r);
    await b.flush();
    await b.list({ limit: 5 });
    await b.list({ limit: 5, hostId: HOST_A });
    await b.get(recs[0]!.id);
    await b.delete(recs[1]!.id);
  };
  await burst(10);
  const prepares = server.stats.requests['PREPARE'] ?? 0;
  await burst(300);
  tt.equal(server.stats.requests['PREPARE'] ?? 0, prepares, 'no PREPARE after the first use of each statement');
});

t.test('consistency levels: writes and reads use the configured ones', async (tt) => {
  const seen: { kind: string; cl: number }[] = [];
  // The typings declare RequestTracker as an interface; the driver checks for its class.
  const Base = (cassandra.tracker as unknown as { RequestTracker: new () => object }).RequestTracker;
  class Tracker extends Base {
    onSuccess(_h: unknown, query: unknown, _p: unknown, o: cassandra.ExecutionOptions): void {
      seen.push({ kind: typeof query === 'string' && /^SELECT/.test(query) ? 'read' : 'write', cl: o.getConsistency() });
    }
    onError(): void {}
    shutdown(): void {}
  }
  const tracker = new Tracker() as unknown as cassandra.tracker.RequestTracker;
  const b = await ready(opts({ readConsistency: 'quorum', writeConsistency: 'localQuorum', clientOptions: { requestTracker: tracker } }));
  tt.teardown(() => b.close());
  seen.length = 0;
  const r = makeRecord({ steps: 2 });
  b.write(r);
  await b.flush();
  await b.get(r.id);
  await b.list({ limit: 3 });
  const cl = cassandra.types.consistencies;
  tt.ok(seen.some((s) => s.kind === 'write') && seen.some((s) => s.kind === 'read'));
  tt.same([...new Set(seen.filter((s) => s.kind === 'write').map((s) => s.cl))], [cl.localQuorum], 'writes');
  tt.same([...new Set(seen.filter((s) => s.kind === 'read').map((s) => s.cl))], [cl.quorum], 'reads');
});

t.test('in-flight writes stay within maxInFlight; each batch is one partition', async (tt) => {
  const b = await ready(opts({ maxInFlight: 4 }));
  tt.teardown(() => { server.setFault({ kind: 'none' }); return b.close(); });
  const client = b.session.client as unknown as Record<'execute' | 'batch', (...a: unknown[]) => Promise<unknown>>;
  let now = 0;
  let most = 0;
  const partitions: string[][] = [];
  for (const m of ['execute', 'batch'] as const) {
    const orig = client[m]!.bind(client);
    client[m] = async (...a: unknown[]) => {
      now++;
      most = Math.max(most, now);
      if (m === 'batch') partitions.push((a[0] as { query: string; params: unknown[] }[]).map(partitionOf));
      try { return await orig(...a); } finally { now--; }
    };
  }
  server.setFault({ kind: 'slow', delayMs: 5 });
  const recs = Array.from({ length: 200 }, (_, i) => makeRecord({ steps: 3, hostId: i % 2 ? HOST_A : HOST_B, conditionIds: i % 5 ? [] : ['c0000000-0000-4000-8000-0000000000aa'] }));
  for (const r of recs) b.write(r);
  await b.flush();
  tt.ok(most <= 4 && most >= 2, `at most ${most} requests in flight`);
  tt.match(b.stats(), { tracesWritten: 200, stepsWritten: 600, writeErrors: 0 });
  tt.ok(partitions.length > 0, `${partitions.length} batches`);
  tt.ok(partitions.every((keys) => new Set(keys).size === 1), 'every batch writes a single partition');
  tt.ok(partitions.some((keys) => keys.length > 50), 'index rows of many traces share a batch');
});

/** The partition a batched statement writes, from its text and leading values. */
function partitionOf(s: { query: string; params: unknown[] }): string {
  const p = s.params;
  if (/\.traces /.test(s.query)) return `traces:${String(p[0])}`;
  if (/\.trace_index_v2 /.test(s.query)) return `index:${String(p[0])}:${String(p[1])}:${String(p[2])}`;
  return `buckets:${String(p[0])}`;
}

t.test('a long trace is stored whole and in order across several requests', async (tt) => {
  const b = await ready(opts());
  tt.teardown(() => b.close());
  const r = makeRecord({ steps: 450, conditionIds: ['c0000000-0000-4000-8000-000000000009'] });
  b.write(r);
  await b.flush();
  tt.same(await b.get(r.id), { ...expectedSummary(r), steps: expectedSteps(r) });
});

t.test('reads before the first connection and after close fail with a message, never hang', async (tt) => {
  const down = await CqlTestServer.start({ dataCenter: 'dc1' });
  const point = down.contactPoint;
  await down.stop();
  const b = new CassandraTraceBackend({ ...opts(), contactPoints: [point] });
  await b.firstAttempt();
  await tt.rejects(b.list({ limit: 5 }), /not ready/);
  await tt.rejects(b.get('x'), /not ready/);
  tt.match(b.health(), { ok: false, state: 'connecting' });
  b.write(makeRecord({ steps: 3 }));
  await b.flush();
  tt.match(b.stats(), { tracesLost: 1, stepsLost: 3, tracesWritten: 0 });
  await b.close();
  await tt.rejects(b.get('x'), /closed/);
});

// ---- P14: at scale (partition bounds, pair scopes, page caps, retention, deletes, migration) ----

t.test('1,000 synthetic hosts: index partitions stay under the bound, pages with two filters stay bounded', async (tt) => {
  const own = await CqlTestServer.start({ dataCenter: 'dc1' });
  const layout = { bucketMs: 60_000, shards: 16 };
  const o = { ...opts({ layout, maxRowsScannedPerPage: 2_000, maxReadsPerPage: 64 }), contactPoints: [own.contactPoint] };
  const b = await ready(o);
  tt.teardown(async () => { await b.close(); await own.stop(); });
  const HOSTS = 1_000;
  const PER_HOST = 12;
  const hosts = Array.from({ length: HOSTS }, (_, i) => `0b000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const HOT = 'c0000000-0000-4000-8000-00000000a0a0';
  const RARE = 'c0000000-0000-4000-8000-00000000b0b0';
  const t0 = bucketStartOf(Date.now() - 10 * 60_000, layout.bucketMs);
  let written = 0;
  for (let i = 0; i < HOSTS * PER_HOST; i++) {
    const host = hosts[i % HOSTS]!;
    // 12,000 traces in one minute bucket; every third matches the hot condition, host 7 alone the rare one.
    b.write(makeRecord({
      startedAtMs: t0 + (i % 60_000), steps: 0, hostId: host, result: i % 5 === 0 ? 'drop' : 'forward',
      conditionIds: [...(i % 3 === 0 ? [HOT] : []), ...(host === hosts[7] && Math.floor(i / HOSTS) % 2 === 0 ? [RARE] : [])],
    }));
    written++;
  }
  await b.flush();
  tt.equal(b.stats().tracesWritten, written);

  // From the server's own counts: the busiest index partition against the layout's share.
  const parts = own.partitionRowCounts(o.keyspace, 'trace_index_v2');
  const rowsOf = (scope: string): number[] => parts.filter((p) => p.key[0]!.toString() === scope).map((p) => p.rows);
  const all = rowsOf('all');
  const mean = written / layout.shards;
  tt.equal(all.length, layout.shards, 'the all scope spreads over every shard of its bucket');
  tt.ok(Math.max(...all) <= mean * 1.25, `all: busiest shard ${Math.max(...all)} rows, mean ${mean.toFixed(0)} (hash shards, not the id's last digit)`);
  tt.ok(Math.max(...rowsOf(`cond:${HOT}`)) <= (written / 3 / layout.shards) * 1.3, 'the hot condition too');
  tt.same(rowsOf(`host:${hosts[3]}`), [PER_HOST], 'a host scope is one partition of that host\'s traces');
  tt.ok(Math.max(...parts.map((p) => p.rows)) <= mean * 1.25, `no partition of any scope above ${Math.round(mean * 1.25)} rows`);
  tt.comment(`${parts.length} index partitions; busiest ${Math.max(...parts.map((p) => p.rows))} rows; v1 (4 shards × 1 h) would put ${written / 4} in each all-scope partition`);

  const requests = async (fn: () => Promise<unknown>): Promise<number> => {
    const before = own.stats.requests['EXECUTE'] ?? 0;
    await fn();
    return (own.stats.requests['EXECUTE'] ?? 0) - before;
  };
  // Two filters read a pair scope: only matching rows, one host's partition.
  let page = { ok: true, items: [], nextCursor: null } as TraceListResult;
  const items = (): TraceSummary[] => (page.ok ? page.items : []);
  const pair = await requests(async () => { page = await b.list({ limit: 50, conditionId: RARE, hostId: hosts[7]! }); });
  tt.equal(items().length, PER_HOST / 2, 'conditionId + hostId: every match');
  tt.ok(pair <= 2, `conditionId + hostId: ${pair} requests (registry + one partition)`);
  const none = await requests(async () => { page = await b.list({ limit: 50, conditionId: RARE, hostId: hosts[8]! }); });
  tt.match(page, { ok: true, items: [], nextCursor: null });
  tt.ok(none <= 1, `a host with no match: ${none} request (the registry says so)`);
  const hr = await requests(async () => { page = await b.list({ limit: 50, hostId: hosts[5]!, result: 'drop' }); });
  tt.ok(items().length > 0 && items().every((s) => s.hostId === hosts[5] && s.result === 'drop'), 'hostId + result');
  tt.ok(hr <= 2, `hostId + result: ${hr} requests`);
  const cr = await requests(async () => { page = await b.list({ limit: 50, conditionId: HOT, result: 'drop' }); });
  tt.equal(items().length, 50);
  tt.ok(cr <= 1 + 2 * layout.shards, `conditionId + result: ${cr} requests`);

  // All three filters on a big scope with nothing to return: the scan cap ends the page short.
  let pages = 0;
  let reqs = 0;
  let cursor: string | undefined;
  const seen: string[] = [];
  do {
    const n = await requests(async () => { page = await b.list({ limit: 50, conditionId: HOT, hostId: hosts[1]!, result: 'drop', ...(cursor ? { cursor } : {}) }); });
    reqs = Math.max(reqs, n);
    pages++;
    if (!page.ok) break;
    seen.push(...items().map((s) => s.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined && pages < 50);
  tt.ok(reqs <= 64 + 1, `three filters: at most ${reqs} requests per page (cap 64)`);
  const expect = (await listAll(b, { limit: 1000, conditionId: HOT, hostId: hosts[1]! })).filter((x) => x.result === 'drop').length;
  tt.equal(seen.length, expect, 'following next links finds every match');
});

t.test('a page that reaches the scan cap comes back short with a cursor that keeps the position', async (tt) => {
  const layout = { bucketMs: 60_000, shards: 2 };
  const b = await ready(opts({ layout, maxRowsScannedPerPage: 40, maxReadsPerPage: 1_000 }));
  tt.teardown(() => b.close());
  const COND = 'c0000000-0000-4000-8000-00000000c0c0';
  const t0 = bucketStartOf(Date.now() - 30 * 60_000, 60_000);
  const recs = [];
  for (let i = 0; i < 400; i++) {
    // 20 minutes; one in 40 is a drop: the three-filter listing must discard most of what it reads.
    recs.push(makeRecord({ startedAtMs: t0 + i * 3_000, steps: 0, hostId: HOST_A, conditionIds: [COND], result: i % 40 === 7 ? 'drop' : 'forward' }));
  }
  for (const r of recs) b.write(r);
  await b.flush();
  const got: string[] = [];
  let short = 0;
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const p = await b.list({ limit: 5, conditionId: COND, hostId: HOST_A, result: 'drop', ...(cursor ? { cursor } : {}) });
    if (!p.ok) { tt.fail(p.message); return; }
    if (p.items.length < 5 && p.nextCursor !== null) short++;
    got.push(...p.items.map((s) => s.id));
    if (p.nextCursor === null) break;
    cursor = p.nextCursor;
  }
  tt.ok(short > 0, `${short} short pages`);
  const want = recs.filter((r) => r.result === 'drop').sort((a, c) => c.startedAtMs - a.startedAtMs).map((r) => r.id);
  tt.same(got, want, 'newest first, none skipped or repeated');
});

t.test('retention: since is clamped to now − retention, so expired buckets are never sliced', async (tt) => {
  let now = Date.now();
  const b = await ready(opts({ ttlSeconds: 3_600, layout: { bucketMs: 60_000, shards: 4 }, now: () => now }));
  tt.teardown(() => b.close());
  const old = makeRecord({ startedAtMs: now - 50 * 60_000, steps: 1 });
  const fresh = makeRecord({ startedAtMs: now - 5 * 60_000, steps: 1 });
  b.write(old);
  b.write(fresh);
  await b.flush();
  const ids = async (q: object = {}): Promise<string[]> => {
    const p = await b.list({ limit: 10, ...q });
    return p.ok ? p.items.map((s) => s.id) : [p.message];
  };
  tt.same(await ids(), [fresh.id, old.id], 'both within the hour');
  now += 20 * 60_000; // the server has not expired anything yet: only our clock moved
  const before = server.stats.requests['EXECUTE'] ?? 0;
  tt.same(await ids(), [fresh.id], 'the older one is past retention: not listed even though its rows are still there');
  const reqs = (server.stats.requests['EXECUTE'] ?? 0) - before;
  tt.ok(reqs <= 1 + 4, `${reqs} requests: the registry and the fresh bucket only`);
  tt.same(await ids({ since: now - 3 * 3_600_000 }), [fresh.id], 'an explicit older since is clamped too');
  now += 60 * 60_000;
  tt.same(await ids(), [], 'everything past retention');
});

t.test('DELETE is visible to the next read: deletes go out at a consistency that overlaps the reads', async (tt) => {
  const cl = cassandra.types.consistencies;
  tt.equal(deleteConsistency(cl.localQuorum, cl), cl.localQuorum);
  tt.equal(deleteConsistency(cl.quorum, cl), cl.quorum);
  tt.equal(deleteConsistency(cl.localOne, cl), cl.all);
  tt.equal(deleteConsistency(cl.one, cl), cl.all);
  tt.equal(deleteConsistency(cl.all, cl), cl.one);
  const seen: { query: string; cl: number }[] = [];
  const Base = (cassandra.tracker as unknown as { RequestTracker: new () => object }).RequestTracker;
  class Tracker extends Base {
    onSuccess(_h: unknown, query: unknown, _p: unknown, o: cassandra.ExecutionOptions): void {
      if (typeof query === 'string') seen.push({ query, cl: o.getConsistency() });
    }
    onError(): void {}
    shutdown(): void {}
  }
  const b = await ready(opts({ readConsistency: 'localQuorum', writeConsistency: 'localOne', clientOptions: { requestTracker: new Tracker() as unknown as cassandra.tracker.RequestTracker } }));
  tt.teardown(() => b.close());
  const r = makeRecord({ steps: 2, conditionIds: ['c0000000-0000-4000-8000-0000000000d1'] });
  b.write(r);
  await b.flush();
  seen.length = 0;
  tt.equal(await b.delete(r.id), true);
  const deletes = seen.filter((s) => /^DELETE/.test(s.query));
  tt.equal(deletes.length, 1 + 4 + 3, 'the partition and its 7 index rows (4 scopes + 3 per condition)');
  tt.ok(deletes.every((d) => d.cl === cl.localQuorum), 'every delete at LOCAL_QUORUM, like the reads');
  tt.equal(await b.get(r.id), null);
  tt.match(await b.list({ limit: 10, conditionId: 'c0000000-0000-4000-8000-0000000000d1' }), { ok: true, items: [] });
});

t.test('a version 1 keyspace is migrated: its traces listed through the new index, version row 2', async (tt) => {
  const own = await CqlTestServer.start({ dataCenter: 'dc1' });
  const look = adminClient(own.contactPoint, 'dc1');
  const ks = freshKeyspace();
  tt.teardown(async () => { await look.shutdown(); await own.stop(); });
  await writeV1Keyspace(look, ks);
  const COND = 'c0000000-0000-4000-8000-0000000000e1';
  const t0 = Date.now() - 3 * 3_600_000;
  const recs = Array.from({ length: 60 }, (_, i) => makeRecord({
    startedAtMs: t0 + i * 180_000, steps: 2, hostId: i % 2 ? HOST_A : HOST_B, conditionIds: i % 3 ? [] : [COND],
  }));
  for (const r of recs) await writeV1Trace(look, ks, r, 86_400);
  const infos: { migrated?: unknown }[] = [];
  const b = await ready({ ...opts({ log: { info: (x: object) => infos.push(x), warn() {}, error() {} } }), contactPoints: [own.contactPoint], keyspace: ks });
  tt.teardown(() => b.close());
  tt.match(infos, [{ migrated: { from: 1, rows: 60 } }]);
  const meta = await look.execute(`SELECT version FROM ${ks}.schema_meta WHERE component = 'traces'`);
  tt.equal(meta.first()?.['version'], SCHEMA_VERSION);
  tt.equal(own.tableOptions(ks, 'traces')?.defaultTtl, 7 * 86_400, 'the traces table got its default TTL');
  const listed = await pageAll(b, { limit: 25 });
  tt.same(listed, recs.map((r) => r.id).reverse(), 'every version 1 trace, newest first');
  const both = await pageAll(b, { limit: 25, conditionId: COND, hostId: HOST_B });
  tt.same([...both].sort(), recs.filter((r) => r.conditionIds.includes(COND) && r.hostId === HOST_B).map((r) => r.id).sort(), 'pair scopes filled too');
  const ttl = await look.execute(`SELECT ttl(host_id) AS t FROM ${ks}.trace_index_v2 WHERE scope = 'all' LIMIT 1 ALLOW FILTERING`);
  tt.ok((ttl.first()?.['t'] as number) <= 86_400, 'copied rows keep the TTL their version 1 row had left');
  tt.ok(await b.delete(recs[0]!.id), 'a migrated trace can be deleted');
  await b.close();
  const again = await ready({ ...opts(), contactPoints: [own.contactPoint], keyspace: ks });
  tt.equal((await pageAll(again, { limit: 100 })).length, 59, 'a second start migrates nothing again');
  await again.close();
});

function bucketStartOf(ms: number, width: number): number {
  return Math.floor(ms / width) * width;
}

async function listAll(b: CassandraTraceBackend, q: TraceQuery): Promise<TraceSummary[]> {
  const out: TraceSummary[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1_000; i++) {
    const p = await b.list(cursor !== undefined ? { ...q, cursor } : q);
    if (!p.ok) throw new Error(p.message);
    out.push(...p.items);
    if (p.nextCursor === null) return out;
    cursor = p.nextCursor;
  }
  throw new Error('too many pages');
}

/** The version 1 schema, exactly as release 0.1 created it. */
async function writeV1Keyspace(c: cassandra.Client, ks: string): Promise<void> {
  const TWCS = "compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': '6'} AND gc_grace_seconds = 86400";
  const SUMMARY = 'host_id text, started_at timestamp, ingress_port_id text, result text, match text, condition_ids frozen<list<text>>, num_steps int, complete boolean';
  await c.execute(`CREATE KEYSPACE ${ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': '1'}`);
  await c.execute(`CREATE TABLE ${ks}.schema_meta (component text PRIMARY KEY, version int, bucket_ms bigint, shards int, updated_at timestamp)`);
  await c.execute(`CREATE TABLE ${ks}.traces (id text, step int, ${SUMMARY}, at timestamp, stage text, device_type text, device_id text, device_name text, message text, details text, PRIMARY KEY (id, step)) WITH CLUSTERING ORDER BY (step ASC) AND ${TWCS}`);
  await c.execute(`CREATE TABLE ${ks}.trace_index (scope text, bucket bigint, shard int, sk blob, id text, ${SUMMARY}, PRIMARY KEY ((scope, bucket, shard), sk)) WITH CLUSTERING ORDER BY (sk DESC) AND ${TWCS}`);
  await c.execute(`CREATE TABLE ${ks}.trace_buckets (scope text, bucket bigint, PRIMARY KEY (scope, bucket)) WITH CLUSTERING ORDER BY (bucket DESC)`);
  await c.execute(`INSERT INTO ${ks}.schema_meta (component, version, bucket_ms, shards, updated_at) VALUES ('traces', 1, 3600000, 4, toTimestamp(now()))`);
}

/** One trace as version 1 wrote it: partition, `all` index row (hour bucket, id's last digit % 4), registry. */
async function writeV1Trace(c: cassandra.Client, ks: string, r: ReturnType<typeof makeRecord>, ttl: number): Promise<void> {
  const p = { prepare: true };
  const cols = 'host_id, started_at, ingress_port_id, result, match, condition_ids, num_steps, complete';
  const summary = [r.hostId, r.startedAtMs, r.ingressPortId, r.result, JSON.stringify(r.match), [...r.conditionIds], r.steps.length, true];
  await c.execute(`INSERT INTO ${ks}.traces (id, step, ${cols}) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`, [r.id, ...summary, ttl], p);
  for (const [i, s] of r.steps.entries()) {
    await c.execute(`INSERT INTO ${ks}.traces (id, step, at, stage, device_type, device_id, device_name, message, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
      [r.id, i + 1, s.timestampMs, s.stage, s.deviceType, s.deviceId, s.deviceName, s.message, JSON.stringify(s.details ?? {}), ttl], p);
  }
  const bucket = Math.floor(r.startedAtMs / 3_600_000);
  const shard = r.id.charCodeAt(r.id.length - 1) % 4;
  await c.execute(`INSERT INTO ${ks}.trace_index (scope, bucket, shard, sk, id, ${cols}) VALUES ('all', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
    [bucket, shard, sortKey(r.startedAtMs, r.id), r.id, ...summary, ttl], p);
  await c.execute(`INSERT INTO ${ks}.trace_buckets (scope, bucket) VALUES ('all', ?) USING TTL ?`, [bucket, ttl + 7_200], p);
}

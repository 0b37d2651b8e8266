// The Cassandra trace backend: the shared conformance suite through the real cassandra-driver over
// TCP, against the CQL test server always and against a real cluster when
// MIDOTRACE_TEST_CASSANDRA=host:port is set; then what only Cassandra has (schema and version,
// TTLs, partition-bounded reads, prepared statements, consistency, in-flight bound, batching).
import t from 'tap';
import cassandra from 'cassandra-driver';
import { CqlTestServer } from '../tools/cql-test-server/src/server.js';
import { CassandraTraceBackend, openCassandraTraceBackend, SCHEMA_VERSION, SHARDS } from '../stores/cassandra/index.js';
import type { CassandraTraceBackendOptions } from '../stores/cassandra/index.js';
import { traceBackendConformance, pageAll } from './helpers/sink-conformance.js';
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

t.test('schema: keyspace with the configured replication, four tables, a version row; created once', async (tt) => {
  const infos: object[] = [];
  const log = { info: (o: object) => infos.push(o), warn() {}, error() {} };
  const o = opts({ replication: { class: 'NetworkTopologyStrategy', dc1: 1 }, log });
  const b1 = await ready(o);
  await b1.close();
  const ks = await admin.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [o.keyspace]);
  tt.match(ks.first()?.['replication'], { class: /NetworkTopologyStrategy$/, dc1: '1' });
  const tables = await admin.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [o.keyspace]);
  tt.same(tables.rows.map((r) => r['table_name']).sort(), ['schema_meta', 'trace_buckets', 'trace_index', 'traces']);
  const meta = await admin.execute(`SELECT version, shards FROM ${o.keyspace}.schema_meta WHERE component = 'traces'`);
  tt.match(meta.first(), { version: SCHEMA_VERSION, shards: SHARDS });
  const b2 = await ready(o);
  await b2.close();
  tt.match(infos, [{ created: [o.keyspace, `${o.keyspace}.schema_meta`, `${o.keyspace}.traces`, `${o.keyspace}.trace_index`, `${o.keyspace}.trace_buckets`] }, { created: [] }],
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
  const reg = await look.execute(`SELECT bucket FROM ${ks}.trace_buckets WHERE scope = 'all'`);
  tt.equal(reg.rowLength, 0, 'the bucket registry expires a little later');
});

t.test('a listing page reads the registry and one bucket\'s shards, whatever the table holds', async (tt) => {
  const b = await ready(opts());
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
  tt.equal(await requests(() => b.list({ limit: 50 })), 1 + SHARDS, 'newest page: registry + the newest bucket');
  tt.equal(await requests(() => b.list({ limit: 50, conditionId: COND })), 1 + SHARDS, 'condition: only its bucket');
  tt.equal(await requests(() => b.list({ limit: 50, until: t0 + 2 * HOUR })), 1 + SHARDS, 'until: starts in the right bucket');
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
  if (/\.trace_index /.test(s.query)) return `index:${String(p[0])}:${String(p[1])}:${String(p[2])}`;
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

// Schema version 1 → 2: the listing index moves to trace_index_v2 / trace_buckets_v2 (hash shards,
// per-bucket width and shard count, composite scopes). Trace partitions (`traces`) stay where they
// are. The version 1 `all` scope holds every trace's summary, which is all a version 2 index row
// needs, so the migration reads it bucket by bucket and writes each trace's version 2 rows with the
// TTL its version 1 row has left; the version 1 tables are left to expire by their TTLs (no DROP: a
// daemon of the old release still running keeps writing there until it is upgraded, and a start
// with version 1 still recorded copies again: every write is idempotent).
//
// Cost: one read of every version 1 `all` row and 4 + 3·(conditions) writes per trace; at 100,000
// traces/s of retention that is large. On big clusters run the upgrade while tracing is quiet, or
// accept that traces from before it are reachable by id (GET /traces/{id}) but not listed: set the
// version row to 2 by hand to skip the copy (README "Running at scale").
import type cassandra from 'cassandra-driver';
import type { ResultName } from '../../model/result.js';
import type { MatchSummary } from '../../model/trace.js';
import type { PendingTrace } from '../queue.js';
import type { IndexLayout } from './keys.js';
import { runLimited, type Job } from './limiter.js';
import { statements, SUMMARY_COLS } from './rows.js';
import { indexRows, type Query } from './trace-writer.js';

/** Version 1's layout: hour buckets (bucket = hour number), four shards. */
const V1_SHARDS = 4;
const PAGE = 1_000;
const IN_FLIGHT = 32;

/** Copies the version 1 index into version 2; returns how many traces it copied. */
export async function migrateV1Index(
  client: cassandra.Client, ks: string, o: { consistency: number; layout: IndexLayout; ttlSeconds: number },
): Promise<number> {
  const q = statements(ks);
  const read = { prepare: true, consistency: o.consistency, fetchSize: PAGE };
  const write = { prepare: true, consistency: o.consistency, logged: false, isIdempotent: true };
  const buckets: number[] = [];
  let state: string | undefined;
  do {
    const rs = await client.execute(`SELECT bucket FROM ${ks}.trace_buckets WHERE scope = 'all'`, [], state !== undefined ? { ...read, pageState: state } : read);
    for (const r of rs.rows) buckets.push(Number(r['bucket']));
    state = rs.rows.length > 0 ? rs.pageState ?? undefined : undefined;
  } while (state !== undefined);
  let copied = 0;
  for (const bucket of buckets) {
    for (let shard = 0; shard < V1_SHARDS; shard++) {
      let pageState: string | undefined;
      do {
        const rs = await client.execute(
          `SELECT id, ${SUMMARY_COLS}, ttl(host_id) AS left FROM ${ks}.trace_index WHERE scope = 'all' AND bucket = ? AND shard = ?`,
          [bucket, shard], pageState !== undefined ? { ...read, pageState } : read);
        const rows = { index: new Map<string, Query[]>(), registry: new Map<string, { scope: string; row: Query }>() };
        const now = Date.now();
        for (const row of rs.rows) {
          const left = row['left'] as number | null;
          indexRows(q, pendingOf(row), o.layout, left ?? o.ttlSeconds, now, rows);
          copied++;
        }
        const jobs: Job[] = [...rows.registry.values()].map(({ row }) => () => client.execute(row.query, row.params, write));
        for (const qs of rows.index.values()) {
          for (let i = 0; i < qs.length; i += 100) {
            const chunk = qs.slice(i, i + 100);
            jobs.push(() => client.batch(chunk, write));
          }
        }
        const r = await runLimited(jobs, IN_FLIGHT, () => false);
        if (r.failed > 0) throw r.firstError;
        pageState = rs.pageState ?? undefined;
        if (rs.rows.length === 0) pageState = undefined;
      } while (pageState !== undefined);
    }
  }
  return copied;
}

function pendingOf(row: cassandra.types.Row): PendingTrace {
  return {
    rec: {
      id: row['id'] as string,
      hostId: row['host_id'] as string,
      conditionIds: (row['condition_ids'] as string[] | null) ?? [],
      startedAtMs: (row['started_at'] as Date).getTime(),
      ingressPortId: row['ingress_port_id'] as string,
      match: JSON.parse(row['match'] as string) as MatchSummary,
      result: row['result'] as ResultName,
      steps: [],
    },
    stepCount: row['num_steps'] as number,
    complete: row['complete'] === true,
  };
}

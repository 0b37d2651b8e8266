// TraceStore reads and deletes over the Cassandra schema (schema.ts). A listing reads one scope's
// registered hour buckets newest first and, in each, slices the SHARDS index partitions below the
// keyset bound, merging them by sort key: no scan, no ALLOW FILTERING, and a page costs a few
// partition slices whatever the table holds.
import type cassandra from 'cassandra-driver';
import type { Trace, TraceSummary } from '../../model/trace.js';
import { checkTraceQuery, encodeCursor } from '../cursor.js';
import type { TraceListResult, TraceQuery } from '../../model/stores.js';
import {
  BUCKET_MS, bucketOf, conditionScope, hostScope, MAX_BUCKET, MAX_SORT_KEY, MIN_BUCKET, MIN_SORT_KEY,
  resultScope, SCOPE_ALL, scopesOf, SHARDS, shardOf, sortKey,
} from './keys.js';
import { mapLimit, type Job } from '../limit.js';
import { statements, toStep, toSummary, type Statements } from './rows.js';
import type { CassandraSession } from './session.js';

type Row = cassandra.types.Row;

/** Index rows read per shard per round when a second filter may discard some. */
const FILTERED_READ = 100;
/** Traces deleted per round by deleteOlderThan. */
const DELETE_ROUND = 500;

interface Slice { rows: Row[]; exhausted: boolean }

export class CassandraTraceReader {
  private readonly session: CassandraSession;
  private readonly q: Statements;
  private readonly maxInFlight: number;

  constructor(session: CassandraSession, maxInFlight: number) {
    this.session = session;
    this.q = statements(session.keyspace);
    this.maxInFlight = maxInFlight;
  }

  async list(q: TraceQuery): Promise<TraceListResult> {
    const checked = checkTraceQuery(q);
    if (!checked.ok) return checked;
    const client = this.client();
    // The most selective filter picks the index scope; the others are checked on the rows read.
    let scope = SCOPE_ALL;
    let host = q.hostId;
    let result: string | undefined = q.result;
    if (q.conditionId !== undefined) scope = conditionScope(q.conditionId);
    else if (host !== undefined) { scope = hostScope(host); host = undefined; }
    else if (result !== undefined) { scope = resultScope(result); result = undefined; }
    const filtered = host !== undefined || result !== undefined;

    let upper = MAX_SORT_KEY;
    let upperMs = Infinity;
    if (q.until !== undefined) { upper = sortKey(Math.ceil(q.until)); upperMs = Math.ceil(q.until) - 1; }
    const c = checked.cursor;
    if (c !== null) {
      const ck = sortKey(c.startedAtMs, c.id);
      if (Buffer.compare(ck, upper) < 0) { upper = ck; upperMs = Math.min(upperMs, c.startedAtMs); }
    }
    const lower = q.since !== undefined ? sortKey(Math.ceil(q.since)) : MIN_SORT_KEY;
    if (Buffer.compare(lower, upper) >= 0) return { ok: true, items: [], nextCursor: null };
    const buckets = await this.buckets(client, scope,
      q.since !== undefined ? bucketOf(Math.ceil(q.since)) : MIN_BUCKET,
      upperMs === Infinity ? MAX_BUCKET : bucketOf(upperMs));

    // One more than asked tells whether another page exists.
    const need = q.limit + 1;
    const items: TraceSummary[] = [];
    for (const bucket of buckets) {
      let hi = upper;
      for (;;) {
        const want = need - items.length;
        const s = await this.slice(client, scope, bucket, lower, hi, filtered ? Math.max(want, FILTERED_READ) : want);
        for (const row of s.rows) {
          hi = row['sk'] as Buffer;
          if (host !== undefined && row['host_id'] !== host) continue;
          if (result !== undefined && row['result'] !== result) continue;
          items.push(toSummary(row['id'] as string, row));
          if (items.length === need) break;
        }
        if (items.length === need || s.exhausted) break;
      }
      if (items.length === need) break;
    }
    const more = items.length > q.limit;
    if (more) items.length = q.limit;
    const last = items[items.length - 1];
    return {
      ok: true, items,
      nextCursor: more && last !== undefined ? encodeCursor(Date.parse(last.startedAt), last.id) : null,
    };
  }

  async get(id: string): Promise<Trace | null> {
    const client = this.client();
    const rows = await this.allRows(client, this.q.selectTrace, [id]);
    const head = rows[0];
    if (head === undefined || head['step'] !== 0) return null;
    const summary = toSummary(id, head);
    // Rows past numSteps are left over from a failed attempt that was retried as a summary.
    const n = Math.min(summary.numSteps, rows.length - 1);
    const steps = new Array(n);
    for (let i = 0; i < n; i++) steps[i] = toStep(i + 1, summary.hostId, rows[i + 1]!);
    return { ...summary, steps };
  }

  async delete(id: string): Promise<boolean> {
    const client = this.client();
    const rs = await client.execute(this.q.selectSummary, [id], this.readOpts());
    const row = rs.first();
    if (row === null) return false;
    await this.deleteJob(client, id, row)();
    return true;
  }

  /**
   * Deletes traces started before `ms`, oldest buckets first, DELETE_ROUND at a time; then the
   * registry rows of buckets that lie wholly before `ms`. TTLs do this on their own in production;
   * this serves the API and tests.
   */
  async deleteOlderThan(ms: number): Promise<number> {
    const client = this.client();
    if (Number.isNaN(ms)) return 0;
    const cut = Math.ceil(Math.min(Math.max(ms, -(2 ** 53)), 2 ** 53));
    const cutoff = sortKey(cut);
    const buckets = (await this.buckets(client, SCOPE_ALL, MIN_BUCKET, bucketOf(cut - 1))).reverse();
    let total = 0;
    for (const bucket of buckets) {
      const scopes = new Set<string>([SCOPE_ALL]);
      let hi = cutoff;
      for (;;) {
        const s = await this.slice(client, SCOPE_ALL, bucket, MIN_SORT_KEY, hi, DELETE_ROUND);
        const jobs: Job[] = [];
        for (const row of s.rows) {
          hi = row['sk'] as Buffer;
          for (const sc of scopesOf(row['host_id'] as string, row['result'] as string, conditionIds(row))) scopes.add(sc);
          jobs.push(this.deleteJob(client, row['id'] as string, row));
        }
        await mapLimit(jobs, this.maxInFlight, (job) => job());
        total += jobs.length;
        if (s.exhausted) break;
      }
      if ((bucket + 1) * BUCKET_MS <= cut) {
        const jobs = [...scopes].map((sc): Job => () => client.execute(this.q.deleteBucket, [sc, bucket], this.writeOpts()));
        await mapLimit(jobs, this.maxInFlight, (job) => job());
      }
    }
    return total;
  }

  private client(): cassandra.Client {
    if (!this.session.ready) throw this.session.notReady();
    return this.session.client;
  }

  private readOpts(fetchSize = 5000): cassandra.QueryOptions {
    return { prepare: true, consistency: this.session.readConsistency, fetchSize, isIdempotent: true };
  }

  private writeOpts(): cassandra.QueryOptions {
    return { prepare: true, consistency: this.session.writeConsistency, isIdempotent: true };
  }

  /** A trace's index rows (from a row holding its summary columns), then its partition. */
  private deleteJob(client: cassandra.Client, id: string, row: Row): Job {
    const startedAtMs = (row['started_at'] as Date).getTime();
    const bucket = bucketOf(startedAtMs);
    const shard = shardOf(id);
    const sk = sortKey(startedAtMs, id);
    const scopes = scopesOf(row['host_id'] as string, row['result'] as string, conditionIds(row));
    return async () => {
      await Promise.all(scopes.map((sc) => client.execute(this.q.deleteIndex, [sc, bucket, shard, sk], this.writeOpts())));
      await client.execute(this.q.deleteTrace, [id], this.writeOpts());
    };
  }

  /** The scope's registered buckets in [lo, hi], newest first. */
  private async buckets(client: cassandra.Client, scope: string, lo: number, hi: number): Promise<number[]> {
    const rows = await this.allRows(client, this.q.selectBuckets, [scope, lo, hi]);
    return rows.map((r) => Number(r['bucket']));
  }

  /**
   * Up to `k` rows per shard of one bucket with lower <= sk < upper, merged newest first. The merge
   * is exact down to the smallest key where a shard may still hold unread rows; rows past that
   * point are dropped (read again next round) and `exhausted` is false.
   */
  private async slice(client: cassandra.Client, scope: string, bucket: number, lower: Buffer, upper: Buffer, k: number): Promise<Slice> {
    const opts = this.readOpts(k);
    const reads: Promise<cassandra.types.ResultSet>[] = [];
    for (let shard = 0; shard < SHARDS; shard++) {
      reads.push(client.execute(this.q.selectIndex, [scope, bucket, shard, lower, upper, k], opts));
    }
    const results = await settleAll(reads);
    let cutoff: Buffer | null = null;
    const rows: Row[] = [];
    for (const rs of results) {
      for (const r of rs.rows) rows.push(r);
      if (rs.rows.length >= k) {
        const least = rs.rows[rs.rows.length - 1]!['sk'] as Buffer;
        if (cutoff === null || Buffer.compare(least, cutoff) > 0) cutoff = least;
      }
    }
    rows.sort((a, b) => Buffer.compare(b['sk'] as Buffer, a['sk'] as Buffer));
    if (cutoff === null) return { rows, exhausted: true };
    let n = rows.length;
    while (n > 0 && Buffer.compare(rows[n - 1]!['sk'] as Buffer, cutoff) < 0) n--;
    rows.length = n;
    return { rows, exhausted: false };
  }

  /** Every row of a query, following the driver's pages. */
  private async allRows(client: cassandra.Client, query: string, params: unknown[]): Promise<Row[]> {
    const out: Row[] = [];
    let pageState: string | undefined;
    for (;;) {
      const opts = this.readOpts();
      if (pageState !== undefined) opts.pageState = pageState;
      const rs = await client.execute(query, params, opts);
      for (const r of rs.rows) out.push(r);
      if (rs.pageState === null || rs.pageState === undefined || rs.rows.length === 0) return out;
      pageState = rs.pageState;
    }
  }
}

function conditionIds(row: Row): string[] {
  return (row['condition_ids'] as string[] | null) ?? [];
}

/** Like Promise.all, but waits for every read before rejecting, so none rejects unobserved. */
async function settleAll<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const out: T[] = [];
  for (const r of rs) {
    if (r.status === 'rejected') throw r.reason;
    out.push(r.value);
  }
  return out;
}

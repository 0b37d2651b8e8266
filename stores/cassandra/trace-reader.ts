// TraceStore reads and deletes over the Cassandra schema (schema.ts). A listing picks the index scope
// of its filters (keys.ts: one per filter and per pair), walks that scope's registered buckets
// newest first and, in each, slices the bucket's shards below the keyset bound, merging them by sort
// key: no scan, no ALLOW FILTERING.
//
// Bounded work per page: at most `maxRowsScanned` index rows and `maxReads` partition reads. A page
// that reaches either bound comes back short, with a cursor at the position reached (a pure time
// bound when it stopped between buckets), so the client's next request goes on from there. Only
// the three-filter listing can read rows it does not return; the bounds matter most for sparse
// scopes, whose traces are spread thinly over many buckets.
//
// Retention: `since` is clamped to now − retention, so a listing never slices a partition whose
// rows have all expired (expired cells are tombstones until TTL + gc_grace, and a slice over tens of
// millions of them fails with TombstoneOverwhelming).
import type cassandra from 'cassandra-driver';
import type { StepJson, Trace, TraceSummary } from '../../model/trace.js';
import { checkTraceQuery, encodeCursor } from '../cursor.js';
import type { TraceListResult, TraceQuery } from '../../model/stores.js';
import {
  bucketStart, fromSortKey, MAX_BUCKET_MS, MAX_MS_KEY, MAX_SORT_KEY, MIN_MS, MIN_SORT_KEY, SCOPE_ALL, scopeFor, scopesOf,
  shardOf, sortKey,
} from './keys.js';
import { mapLimit, type Job } from '../limit.js';
import { SEGMENT_BASE, statements, toStep, toSummary, type Statements } from './rows.js';
import type { CassandraSession } from './session.js';

type Row = cassandra.types.Row;

/** Traces deleted per round by deleteOlderThan. */
const DELETE_ROUND = 500;
/** Registry entries fetched per request. */
const REGISTRY_PAGE = 100;

export interface ReaderOptions {
  maxInFlight: number;
  /** The data's TTL: listings never look further back than now − retentionMs. */
  retentionMs: number;
  now: () => number;
  /** Index rows a page may read (default 5,000). */
  maxRowsScanned?: number;
  /** Partition reads a page may make, registry pages included (default 512). */
  maxReads?: number;
}

/** One registry row: a bucket of a scope, with the layout it was written with. */
interface Entry { bucket: number; width: number; shards: number }
/** Buckets whose time ranges overlap, read together; [start, end) covers them all. */
interface Run { start: number; end: number; parts: { bucket: number; shard: number }[] }
interface Slice { rows: Row[]; exhausted: boolean }
/** Work done for one page. */
interface Budget { reads: number; rows: number }

/** Consistency a delete needs for the next read (at `read`) to see it: W + R > RF. */
export function deleteConsistency(read: number, c: typeof cassandra.types.consistencies): number {
  switch (read) {
    case c.one: case c.localOne: return c.all;
    case c.all: return c.one;
    default: return read; // quorum with quorum, localQuorum with localQuorum
  }
}

export class CassandraTraceReader {
  private readonly session: CassandraSession;
  private readonly q: Statements;
  private readonly o: Required<ReaderOptions>;
  private readonly deleteCl: number;

  constructor(session: CassandraSession, o: ReaderOptions, consistencies: typeof cassandra.types.consistencies) {
    this.session = session;
    this.q = statements(session.keyspace);
    this.o = { maxRowsScanned: 5_000, maxReads: 512, ...o };
    this.deleteCl = deleteConsistency(session.readConsistency, consistencies);
  }

  async list(q: TraceQuery): Promise<TraceListResult> {
    const checked = checkTraceQuery(q);
    if (!checked.ok) return checked;
    const client = this.client();
    const { scope, result } = scopeFor(q);

    let upper = MAX_SORT_KEY;
    let upperMs = MAX_MS_KEY;
    if (q.until !== undefined) { upper = sortKey(Math.ceil(q.until)); upperMs = Math.ceil(q.until) - 1; }
    const c = checked.cursor;
    if (c !== null) {
      const ck = c.id === '' ? sortKey(c.startedAtMs) : sortKey(c.startedAtMs, c.id);
      if (Buffer.compare(ck, upper) < 0) { upper = ck; upperMs = Math.min(upperMs, c.startedAtMs); }
    }
    const oldest = this.o.now() - this.o.retentionMs;
    const sinceMs = Math.max(q.since !== undefined ? Math.ceil(q.since) : MIN_MS, oldest);
    const lower = sortKey(sinceMs);
    if (Buffer.compare(lower, upper) >= 0) return { ok: true, items: [], nextCursor: null };

    const budget: Budget = { reads: 0, rows: 0 };
    const walk = new RegistryWalk(client, this.q, this.readOpts(REGISTRY_PAGE), scope, sinceMs, upperMs, budget);
    // One more than asked tells whether another page exists.
    const need = q.limit + 1;
    const items: TraceSummary[] = [];
    /** Everything at or above this key (within the range) has been looked at. */
    let reached = upper;
    let capped = false;
    for (;;) {
      const run = await walk.next();
      if (run === null) break;
      let hi = upper;
      for (;;) {
        const want = need - items.length;
        const per = Math.ceil(((result !== undefined ? 4 : 2) * want) / run.parts.length);
        const s = await this.slice(client, scope, run.parts, lower, hi, Math.max(result !== undefined ? 16 : 8, per), budget);
        for (const row of s.rows) {
          hi = row['sk'] as Buffer;
          reached = hi;
          if (result !== undefined && row['result'] !== result) continue;
          items.push(toSummary(row['id'] as string, row));
          if (items.length === need) break;
        }
        if (items.length === need) break;
        if (s.exhausted) {
          const start = sortKey(run.start);
          if (Buffer.compare(start, reached) < 0) reached = start;
          break;
        }
        if (this.spent(budget)) { capped = true; break; }
      }
      if (items.length === need || capped) break;
      if (this.spent(budget)) { capped = walk.mayHaveMore(); break; }
    }
    const more = items.length > q.limit;
    if (more) items.length = q.limit;
    const last = items[items.length - 1];
    let nextCursor: string | null = null;
    if (more && last !== undefined) nextCursor = encodeCursor(Date.parse(last.startedAt), last.id);
    else if (capped) {
      const at = fromSortKey(reached);
      nextCursor = encodeCursor(at.ms, at.id);
    }
    return { ok: true, items, nextCursor };
  }

  async get(id: string): Promise<Trace | null> {
    const client = this.client();
    const rows = await this.allRows(client, this.q.selectTrace, [id]);
    const head = rows[0];
    if (head === undefined || head['step'] !== 0) return null;
    const summary = toSummary(id, head);
    // Rows past numSteps are left over from a failed attempt that was retried as a summary.
    let own = 0;
    while (own + 1 < rows.length && (rows[own + 1]!['step'] as number) < SEGMENT_BASE) own++;
    const n = Math.min(summary.numSteps, own);
    const steps = new Array<StepJson>(n);
    for (let i = 0; i < n; i++) steps[i] = toStep(i + 1, summary.hostId, rows[i + 1]!);
    // Then what other hosts recorded for this trace, numbered on.
    for (let i = own + 1; i < rows.length; i++) {
      const r = rows[i]!;
      steps.push(toStep(steps.length + 1, (r['host_id'] as string | null) ?? summary.hostId, r));
    }
    return steps.length === n ? { ...summary, steps } : { ...summary, numSteps: steps.length, steps };
  }

  /**
   * Deletes the trace's partition and its index rows, at a consistency that makes the next read (at
   * the read consistency) see the delete. Each delete leaves 1 + (4 + 3·conditions) tombstones.
   */
  async delete(id: string): Promise<boolean> {
    const client = this.client();
    const rs = await client.execute(this.q.selectSummary, [id], this.readOpts());
    const row = rs.first();
    if (row === null) return false;
    await this.deleteJob(client, id, row, new Map())();
    return true;
  }

  /**
   * Deletes traces started before `ms`, oldest buckets first, DELETE_ROUND at a time; then the
   * registry rows of buckets that lie wholly before `ms`. TTLs do this on their own in production
   * (README "Running at scale": a mass delete writes tombstones that every read of those partitions
   * then skips until gc_grace_seconds); this serves the API and tests.
   */
  async deleteOlderThan(ms: number): Promise<number> {
    const client = this.client();
    if (Number.isNaN(ms)) return 0;
    const cut = Math.ceil(Math.min(Math.max(ms, -(2 ** 53)), 2 ** 53));
    const cutoff = sortKey(cut);
    const unbounded: Budget = { reads: -Infinity, rows: -Infinity };
    const runs: Run[] = [];
    const walk = new RegistryWalk(client, this.q, this.readOpts(REGISTRY_PAGE), SCOPE_ALL, MIN_MS, cut - 1, unbounded);
    for (let r = await walk.next(); r !== null; r = await walk.next()) runs.push(r);
    const cache = new Map<string, Entry[]>();
    let total = 0;
    for (const run of runs.reverse()) {
      let hi = cutoff;
      for (;;) {
        const s = await this.slice(client, SCOPE_ALL, run.parts, MIN_SORT_KEY, hi, DELETE_ROUND, unbounded);
        const jobs: Job[] = [];
        for (const row of s.rows) {
          hi = row['sk'] as Buffer;
          jobs.push(this.deleteJob(client, row['id'] as string, row, cache));
        }
        await mapLimit(jobs, this.o.maxInFlight, (job) => job());
        total += jobs.length;
        if (s.exhausted) break;
      }
    }
    // Registry rows of buckets wholly before the cut, for every scope a deleted trace was under.
    const gone: Job[] = [];
    for (const [scope, entries] of cache) {
      for (const e of entries) {
        if (e.bucket + e.width > cut) continue;
        gone.push(() => client.execute(this.q.deleteBucket, [scope.slice(0, scope.indexOf('#')), e.bucket, e.width, e.shards], this.deleteOpts()));
      }
    }
    await mapLimit(gone, this.o.maxInFlight, (job) => job());
    return total;
  }

  private spent(b: Budget): boolean {
    return b.reads >= this.o.maxReads || b.rows >= this.o.maxRowsScanned;
  }

  private client(): cassandra.Client {
    if (!this.session.ready) throw this.session.notReady();
    return this.session.client;
  }

  private readOpts(fetchSize = 5000): cassandra.QueryOptions {
    return { prepare: true, consistency: this.session.readConsistency, fetchSize, isIdempotent: true };
  }

  private deleteOpts(): cassandra.QueryOptions {
    return { prepare: true, consistency: this.deleteCl, isIdempotent: true };
  }

  /**
   * A trace's index rows (found through each scope's registry: the bucket width and shard count
   * in force when it was written), then its partition. `cache` holds registry lookups by scope and time.
   */
  private deleteJob(client: cassandra.Client, id: string, row: Row, cache: Map<string, Entry[]>): Job {
    const startedAtMs = (row['started_at'] as Date).getTime();
    const hostId = row['host_id'] as string;
    const sk = sortKey(startedAtMs, id);
    const scopes = scopesOf(hostId, row['result'] as string, conditionIds(row));
    return async () => {
      const deletes: Promise<unknown>[] = [];
      for (const scope of scopes) {
        for (const e of await this.entriesAt(client, scope.name, startedAtMs, cache)) {
          const shard = shardOf(hostId, id, e.shards);
          deletes.push(client.execute(this.q.deleteIndex, [scope.name, e.bucket, shard, sk], this.deleteOpts()));
        }
      }
      await settleAll(deletes);
      await client.execute(this.q.deleteTrace, [id], this.deleteOpts());
    };
  }

  /** Registry entries of `scope` whose bucket holds `ms`. */
  private async entriesAt(client: cassandra.Client, scope: string, ms: number, cache: Map<string, Entry[]>): Promise<Entry[]> {
    const hour = bucketStart(ms, MAX_BUCKET_MS);
    const key = `${scope}#${hour}`;
    let entries = cache.get(key);
    if (entries === undefined) {
      // Every bucket holding a time of this hour starts in it (widths divide an hour).
      const rows = await this.allRows(client, this.q.selectBuckets, [scope, hour, hour + MAX_BUCKET_MS - 1, 100_000]);
      entries = rows.map(entryOf);
      cache.set(key, entries);
    }
    return entries.filter((e) => e.bucket <= ms && ms < e.bucket + e.width);
  }

  /**
   * Up to `k` rows per partition with lower <= sk < upper, merged newest first. The merge is exact
   * down to the smallest key where a partition may still hold unread rows; rows past that point are
   * dropped (read again next round) and `exhausted` is false.
   */
  private async slice(
    client: cassandra.Client, scope: string, parts: Run['parts'], lower: Buffer, upper: Buffer, k: number, budget: Budget,
  ): Promise<Slice> {
    const opts = this.readOpts(k);
    const reads = parts.map((p) => client.execute(this.q.selectIndex, [scope, p.bucket, p.shard, lower, upper, k], opts));
    budget.reads += parts.length;
    const results = await settleAll(reads);
    let cutoff: Buffer | null = null;
    const rows: Row[] = [];
    for (const rs of results) {
      for (const r of rs.rows) rows.push(r);
      budget.rows += rs.rows.length;
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

/**
 * A scope's registry entries overlapping [loMs, hiMs], newest first, as runs of overlapping buckets,
 * fetched a page at a time as the listing goes back in time.
 */
class RegistryWalk {
  private readonly queue: Entry[] = [];
  private pageState: string | undefined;
  private done = false;

  constructor(
    private readonly client: cassandra.Client,
    private readonly q: Statements,
    private readonly opts: cassandra.QueryOptions,
    private readonly scope: string,
    private readonly loMs: number,
    private readonly hiMs: number,
    private readonly budget: Budget,
  ) {}

  mayHaveMore(): boolean { return this.queue.length > 0 || !this.done; }

  async next(): Promise<Run | null> {
    for (;;) {
      if (this.queue.length === 0 && !(await this.fetch())) return null;
      const first = this.queue.shift();
      if (first === undefined) continue;
      if (first.bucket + first.width <= this.loMs) continue; // wholly before the range
      const run: Run = { start: first.bucket, end: first.bucket + first.width, parts: [] };
      const members = [first];
      // Entries starting more than the widest bucket before the run cannot overlap it.
      for (let grew = true; grew;) {
        grew = false;
        while (!this.done && (this.queue.length === 0 || this.queue[this.queue.length - 1]!.bucket > run.start - MAX_BUCKET_MS)) {
          if (!(await this.fetch())) break;
        }
        for (let i = 0; i < this.queue.length; i++) {
          const e = this.queue[i]!;
          if (e.bucket <= run.start - MAX_BUCKET_MS) break;
          if (e.bucket + e.width <= run.start) continue;
          members.push(e);
          this.queue.splice(i--, 1);
          if (e.bucket < run.start) { run.start = e.bucket; grew = true; }
        }
      }
      const seen = new Set<string>();
      for (const e of members) {
        for (let shard = 0; shard < e.shards; shard++) {
          const key = `${e.bucket}/${shard}`;
          if (seen.has(key)) continue;
          seen.add(key);
          run.parts.push({ bucket: e.bucket, shard });
        }
      }
      return run;
    }
  }

  /** One more registry page; false when there is none. */
  private async fetch(): Promise<boolean> {
    if (this.done) return false;
    const opts = this.pageState !== undefined ? { ...this.opts, pageState: this.pageState } : this.opts;
    const lo = Math.max(MIN_MS, this.loMs - MAX_BUCKET_MS);
    const rs = await this.client.execute(this.q.selectBuckets, [this.scope, lo, this.hiMs, 1_000_000], opts);
    this.budget.reads++;
    for (const r of rs.rows) this.queue.push(entryOf(r));
    this.pageState = rs.pageState ?? undefined;
    if (this.pageState === undefined || rs.rows.length === 0) this.done = true;
    return rs.rows.length > 0;
  }
}

function entryOf(r: Row): Entry {
  return { bucket: Number(r['bucket']), width: Number(r['width_ms']), shards: Number(r['shards']) };
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

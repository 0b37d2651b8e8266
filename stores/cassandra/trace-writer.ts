// Stores QueuedSink batches: fire-and-forget from the simulation's point of view (the queue holds
// them), but every request is awaited here, bounded in number, and its failure reported to the
// queue, which counts it and retries per trace, then as a summary marked incomplete.
//
// A batch goes out in two waves. First each trace's partition (summary row + steps, one
// single-partition unlogged batch: one mutation, atomic, in step order) and the bucket registry
// rows; then the listing index rows, grouped so all rows of one index partition travel in one
// unlogged batch. Index rows are written only once the traces they point at are stored, so a
// listing never shows a trace that get() cannot find.
import type cassandra from 'cassandra-driver';
import type { BatchWriter, PendingTrace } from '../queue.js';
import { bucketStart, layoutFor, scopesOf, shardOf, sortKey, type IndexLayout } from './keys.js';
import { mapLimit, type Job } from '../limit.js';
import { segmentStep, statements, stepValues, summaryValues, type Statements } from './rows.js';
import type { StepSegment } from '../../model/stores.js';
import type { CassandraSession } from './session.js';

/** Rows per unlogged batch: one partition's mutation stays well under Cassandra's limits. */
const ROWS_PER_BATCH = 200;
const MAX_TTL_SECONDS = 630_720_000;

export interface Query { query: string; params: unknown[] }

/**
 * A registry row lives as long as the last trace its bucket can hold: the data's TTL counted from the
 * bucket's end. Not longer: a registry row past its bucket's data would send readers into partitions
 * holding only expired cells (tombstones).
 */
export function registryTtl(ttlSeconds: number, bucket: number, widthMs: number, nowMs: number): number {
  return Math.min(MAX_TTL_SECONDS, Math.max(1, ttlSeconds + Math.ceil((bucket + widthMs - nowMs) / 1000)));
}

/**
 * The index rows of one trace, by index partition (`scope|bucket|shard`), and its registry rows by
 * `scope|bucket|width|shards`. Shared with the version 1 → 2 migration.
 */
export function indexRows(
  q: Statements, p: PendingTrace, layout: IndexLayout, ttlSeconds: number, nowMs: number,
  into: { index: Map<string, Query[]>; registry: Map<string, { scope: string; row: Query }> },
): void {
  const r = p.rec;
  const sk = sortKey(r.startedAtMs, r.id);
  const summary = summaryValues(p);
  for (const scope of scopesOf(r.hostId, r.result, r.conditionIds)) {
    const l = layoutFor(scope, layout);
    const bucket = bucketStart(r.startedAtMs, l.bucketMs);
    const shard = shardOf(r.hostId, r.id, l.shards);
    const key = `${scope.name}|${bucket}|${shard}`;
    let g = into.index.get(key);
    if (g === undefined) { g = []; into.index.set(key, g); }
    g.push({ query: q.insertIndex, params: [scope.name, bucket, shard, sk, r.id, ...summary, ttlSeconds] });
    const reg = `${scope.name}|${bucket}|${l.bucketMs}|${l.shards}`;
    if (!into.registry.has(reg)) {
      into.registry.set(reg, {
        scope: scope.name,
        row: { query: q.insertBucket, params: [scope.name, bucket, l.bucketMs, l.shards, registryTtl(ttlSeconds, bucket, l.bucketMs, nowMs)] },
      });
    }
  }
}

export class CassandraTraceWriter implements BatchWriter {
  private readonly session: CassandraSession;
  private readonly q: Statements;
  private readonly ttl: number;
  private readonly layout: IndexLayout;
  private readonly now: () => number;
  private readonly maxInFlight: number;
  /** `scope|bucket` pairs this process has registered; written again after a restart (idempotent). */
  private readonly registered = new Set<string>();
  private aborted = false;
  private readonly isAborted = (): boolean => this.aborted;

  constructor(session: CassandraSession, ttlSeconds: number, maxInFlight: number, layout: IndexLayout, now: () => number) {
    this.session = session;
    this.q = statements(session.keyspace);
    this.ttl = Math.min(MAX_TTL_SECONDS, Math.max(1, Math.round(ttlSeconds)));
    this.layout = layout;
    this.now = now;
    this.maxInFlight = maxInFlight;
  }

  /** From now on every batch fails at once (closing: stop waiting for a slow cluster). */
  abort(): void { this.aborted = true; }

  /** Forget registered buckets (after deletes that may have removed registry rows). */
  forgetBuckets(): void { this.registered.clear(); }

  async writeBatch(batch: readonly PendingTrace[]): Promise<void> {
    if (this.aborted) throw new Error('cassandra trace writer is closing');
    // No node up (as the driver sees it; it keeps reconnecting in the background): fail without
    // asking the driver, which would build a NoHostAvailableError per request of the retry cascade.
    if (!this.session.healthy()) throw this.session.notReady();
    const client = this.session.client;
    // Everything is encoded before anything is sent: a record that cannot be encoded fails the
    // batch without a round trip, and the queue's per-trace retry isolates it.
    const first: Job[] = batch.map((p) => this.job(client, this.traceQueries(p)));
    const rows = { index: new Map<string, Query[]>(), registry: new Map<string, { scope: string; row: Query }>() };
    const now = this.now();
    for (const p of batch) indexRows(this.q, p, this.layout, this.ttl, now, rows);
    // Registry rows this process has not written yet, one batch per scope (partition).
    const newKeys: string[] = [];
    const byScope = new Map<string, Query[]>();
    for (const [key, { scope, row }] of rows.registry) {
      if (this.registered.has(key)) continue;
      newKeys.push(key);
      let g = byScope.get(scope);
      if (g === undefined) { g = []; byScope.set(scope, g); }
      g.push(row);
    }
    for (const qs of byScope.values()) first.push(this.job(client, chunks(qs, ROWS_PER_BATCH)));
    const second: Job[] = [];
    for (const qs of rows.index.values()) second.push(this.job(client, chunks(qs, ROWS_PER_BATCH)));

    await this.run(first);
    // Bounded memory over months of uptime: forgetting only costs rewriting a few registry rows.
    if (this.registered.size > 10_000) this.registered.clear();
    for (const key of newKeys) this.registered.add(key);
    await this.run(second);
  }

  close(): void {}

  /** Another host's steps for a trace (SPEC §10): rows of its partition, in one unlogged batch. */
  async appendSegment(seg: StepSegment): Promise<void> {
    if (this.aborted) throw new Error('cassandra trace writer is closing');
    if (!this.session.healthy()) throw this.session.notReady();
    const t0 = seg.steps[0]?.timestampMs ?? this.now();
    const rows: Query[] = seg.steps.slice(0, 64).map((s, i) => ({
      query: this.q.insertSegmentStep,
      params: [seg.traceId, segmentStep(seg.after, seg.hostId, i), seg.hostId, ...stepValues(s, t0), this.ttl],
    }));
    await this.job(this.session.client, [rows])();
  }

  private async run(jobs: Job[]): Promise<void> {
    await mapLimit(jobs, this.maxInFlight, (job) => job(), this.isAborted, 'cassandra trace writer is closing');
  }

  /** One request per chunk, sent one after the other (the last chunk of a trace holds its summary). */
  private job(client: cassandra.Client, chunked: Query[][]): Job {
    const opts = { prepare: true, consistency: this.session.writeConsistency, logged: false, isIdempotent: true };
    const send = (qs: Query[]): Promise<unknown> =>
      qs.length === 1 ? client.execute(qs[0]!.query, qs[0]!.params, opts) : client.batch(qs, opts);
    if (chunked.length === 1) return () => send(chunked[0]!);
    return async () => { for (const qs of chunked) await send(qs); };
  }

  /**
   * The trace's partition: steps, then the summary row, in chunks of ROWS_PER_BATCH rows. A
   * single-partition batch is one mutation whatever its size (Cassandra's batch size limits skip
   * it); very long traces are split only to keep each request moderate, the summary last so a
   * reader that sees it finds the steps too.
   */
  private traceQueries(p: PendingTrace): Query[][] {
    const r = p.rec;
    const rows: Query[] = [];
    const t0 = r.startedAtMs;
    for (let i = 0; i < p.stepCount; i++) {
      rows.push({ query: this.q.insertStep, params: [r.id, i + 1, ...stepValues(r.steps[i]!, t0), this.ttl] });
    }
    rows.push({ query: this.q.insertSummary, params: [r.id, ...summaryValues(p), this.ttl] });
    if (rows.length <= ROWS_PER_BATCH) return [rows];
    // Keep the summary in the last chunk.
    return chunks(rows, ROWS_PER_BATCH);
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

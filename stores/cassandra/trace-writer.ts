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
import { bucketOf, BUCKET_MS, scopesOf, shardOf, sortKey } from './keys.js';
import { mapLimit, type Job } from '../limit.js';
import { statements, stepValues, summaryValues, type Statements } from './rows.js';
import type { CassandraSession } from './session.js';

/** Rows per unlogged batch: one partition's mutation stays well under Cassandra's limits. */
const ROWS_PER_BATCH = 200;
/** Registry rows outlive their bucket's last trace: a bucket fills for an hour after its first write. */
const REGISTRY_EXTRA_SECONDS = Math.ceil(BUCKET_MS / 1000) * 2;
const MAX_TTL_SECONDS = 630_720_000;

interface Query { query: string; params: unknown[] }

export class CassandraTraceWriter implements BatchWriter {
  private readonly session: CassandraSession;
  private readonly q: Statements;
  private readonly ttl: number;
  private readonly registryTtl: number;
  private readonly maxInFlight: number;
  /** `scope|bucket` pairs this process has registered; written again after a restart (idempotent). */
  private readonly registered = new Set<string>();
  private aborted = false;
  private readonly isAborted = (): boolean => this.aborted;

  constructor(session: CassandraSession, ttlSeconds: number, maxInFlight: number) {
    this.session = session;
    this.q = statements(session.keyspace);
    this.ttl = Math.min(MAX_TTL_SECONDS, Math.max(1, Math.round(ttlSeconds)));
    this.registryTtl = Math.min(MAX_TTL_SECONDS, this.ttl + REGISTRY_EXTRA_SECONDS);
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
    const newBuckets = this.unregistered(batch);
    for (const qs of newBuckets.groups) first.push(this.job(client, chunks(qs, ROWS_PER_BATCH)));
    const second: Job[] = [];
    for (const qs of this.indexQueries(batch).values()) second.push(this.job(client, chunks(qs, ROWS_PER_BATCH)));

    await this.run(first);
    // Bounded memory over months of uptime: forgetting only costs rewriting a few registry rows.
    if (this.registered.size > 10_000) this.registered.clear();
    for (const key of newBuckets.keys) this.registered.add(key);
    await this.run(second);
  }

  close(): void {}

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

  /** Index rows of the batch, grouped by index partition (scope, bucket, shard). */
  private indexQueries(batch: readonly PendingTrace[]): Map<string, Query[]> {
    const groups = new Map<string, Query[]>();
    for (const p of batch) {
      const r = p.rec;
      const bucket = bucketOf(r.startedAtMs);
      const shard = shardOf(r.id);
      const sk = sortKey(r.startedAtMs, r.id);
      const summary = summaryValues(p);
      for (const scope of scopesOf(r.hostId, r.result, r.conditionIds)) {
        const key = `${scope}|${bucket}|${shard}`;
        let g = groups.get(key);
        if (g === undefined) { g = []; groups.set(key, g); }
        g.push({ query: this.q.insertIndex, params: [scope, bucket, shard, sk, r.id, ...summary, this.ttl] });
      }
    }
    return groups;
  }

  /** Registry rows for (scope, bucket) pairs this process has not written yet, one batch per scope (partition). */
  private unregistered(batch: readonly PendingTrace[]): { keys: string[]; groups: Query[][] } {
    const byScope = new Map<string, Query[]>();
    const keys = new Set<string>();
    for (const p of batch) {
      const r = p.rec;
      const bucket = bucketOf(r.startedAtMs);
      for (const scope of scopesOf(r.hostId, r.result, r.conditionIds)) {
        const key = `${scope}|${bucket}`;
        if (this.registered.has(key) || keys.has(key)) continue;
        let g = byScope.get(scope);
        if (g === undefined) { g = []; byScope.set(scope, g); }
        g.push({ query: this.q.insertBucket, params: [scope, bucket, this.registryTtl] });
        keys.add(key);
      }
    }
    return { keys: [...keys], groups: [...byScope.values()] };
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

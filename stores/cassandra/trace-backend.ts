// Production trace backend: Cassandra as both the daemon's TraceSink and the API's TraceStore. The
// sink never waits on the cluster: write() appends to the bounded QueuedSink, whose drain hands
// batches to CassandraTraceWriter; losses (full queue, failed writes, cluster down) are counted
// there and stored traces that lost steps say complete: false.
import { QueuedSink, type QueueOptions } from '../queue.js';
import type { SinkStats, StepSegment, TraceListResult, TraceQuery, TraceRecord, TraceSink, TraceStore } from '../../model/stores.js';
import type { Trace } from '../../model/trace.js';
import cassandra from 'cassandra-driver';
import { BackendUnavailableError } from '../../model/errors.js';
import { CassandraSession, errorText, type FirstAttempt, type SessionOptions } from './session.js';
import { checkLayout, DEFAULT_LAYOUT, type IndexLayout } from './keys.js';
import { CassandraTraceReader } from './trace-reader.js';
import { CassandraTraceWriter } from './trace-writer.js';

const DAY_SECONDS = 86_400;

export interface CassandraTraceBackendOptions extends SessionOptions, Omit<QueueOptions, 'onError'> {
  /** TTL of every trace row. Default 7 days (sink.retentionDays). */
  ttlSeconds?: number;
  /** Most concurrent write requests (cassandra.maxInFlight). Default 256. */
  maxInFlight?: number;
  /** How long close() waits for queued traces before giving up on them (counted lost). Default 10 s. */
  closeTimeoutMs?: number;
  /** Width and shard count of new index buckets (cassandra.indexBucketSeconds, cassandra.indexShards). */
  layout?: IndexLayout;
  /** Index rows one listing page may read before it comes back short (default 5,000). */
  maxRowsScannedPerPage?: number;
  /** Partition reads one listing page may make (default 512). */
  maxReadsPerPage?: number;
  /** Clock for the retention clamp of listings and registry TTLs (tests move it). */
  now?: () => number;
}

export interface CassandraHealth { ok: boolean; state: string; detail: string }

/** Segments (other hosts' steps) being written at once; beyond, they are counted lost. */
const MAX_PENDING_SEGMENTS = 10_000;

export class CassandraTraceBackend implements TraceSink, TraceStore {
  readonly session: CassandraSession;
  private readonly writer: CassandraTraceWriter;
  private readonly reader: CassandraTraceReader;
  private readonly queue: QueuedSink;
  private readonly closeTimeoutMs: number;
  private closing: Promise<void> | null = null;
  /** Segment writes under way (other hosts' steps), so flush() waits for them too. */
  private readonly segments = new Set<Promise<void>>();

  /** Starts connecting in the background; see openCassandraTraceBackend to wait for the first try. */
  constructor(o: CassandraTraceBackendOptions) {
    const maxInFlight = o.maxInFlight ?? 256;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new Error('options.maxInFlight must be a positive integer');
    const ttl = o.ttlSeconds ?? 7 * DAY_SECONDS;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new Error('options.ttlSeconds must be a positive number');
    this.closeTimeoutMs = o.closeTimeoutMs ?? 10_000;
    const layout = o.layout ?? DEFAULT_LAYOUT;
    const bad = checkLayout(layout);
    if (bad !== null) throw new Error(`options.layout: ${bad}`);
    const now = o.now ?? Date.now;
    this.session = new CassandraSession({ ...o, ttlSeconds: ttl, layout });
    this.writer = new CassandraTraceWriter(this.session, ttl, maxInFlight, layout, now);
    this.reader = new CassandraTraceReader(this.session, {
      maxInFlight, retentionMs: ttl * 1000, now,
      ...(o.maxRowsScannedPerPage !== undefined ? { maxRowsScanned: o.maxRowsScannedPerPage } : {}),
      ...(o.maxReadsPerPage !== undefined ? { maxReads: o.maxReadsPerPage } : {}),
    }, cassandra.types.consistencies);
    this.queue = new QueuedSink(this.writer, {
      ...(o.maxQueuedSteps !== undefined ? { maxQueuedSteps: o.maxQueuedSteps } : {}),
      ...(o.maxQueuedTraces !== undefined ? { maxQueuedTraces: o.maxQueuedTraces } : {}),
      ...(o.maxBatchTraces !== undefined ? { maxBatchTraces: o.maxBatchTraces } : {}),
      ...(o.maxBatchSteps !== undefined ? { maxBatchSteps: o.maxBatchSteps } : {}),
      // A down cluster fails every write of every batch: one log line per 10 s says so.
      onError: (err) => this.session.logThrottled('write', 'warn', { err: errorText(err) }, 'cassandra trace write failed'),
    });
    void this.session.start();
  }

  write(rec: TraceRecord): void { this.queue.write(rec); }

  appendSteps(seg: StepSegment): void {
    if (seg.steps.length === 0) return;
    // Bounded like the queue: segments a slow cluster cannot take are counted lost.
    if (this.segments.size >= MAX_PENDING_SEGMENTS) { this.queue.lose(seg.steps.length, new Error('segment queue full')); return; }
    const p = this.writer.appendSegment(seg).catch((err: unknown) => {
      this.queue.lose(seg.steps.length, err);
      this.session.logThrottled('write', 'warn', { err: errorText(err) }, 'cassandra trace write failed');
    });
    this.segments.add(p);
    void p.finally(() => this.segments.delete(p));
  }

  async flush(): Promise<void> { await Promise.all([this.queue.flush(), ...this.segments]); }
  stats(): SinkStats { return this.queue.stats(); }
  room(): Promise<void> | null { return this.queue.room(); }

  list(q: TraceQuery): Promise<TraceListResult> { return this.guard(() => this.reader.list(q)); }
  get(id: string): Promise<Trace | null> { return this.guard(() => this.reader.get(id)); }
  delete(id: string): Promise<boolean> { return this.guard(() => this.reader.delete(id)); }

  deleteOlderThan(ms: number): Promise<number> {
    // Registry rows of old buckets may go: registering them again costs little.
    return this.guard(() => this.reader.deleteOlderThan(ms).finally(() => this.writer.forgetBuckets()));
  }

  /** Settles after the first connection attempt. */
  firstAttempt(): Promise<FirstAttempt> { return this.session.firstAttempt; }

  health(): CassandraHealth {
    const s = this.queue.stats();
    const ok = this.session.healthy();
    return {
      ok, state: this.session.state,
      detail: `${this.session.describe()}; ${s.tracesWritten} traces written, ${s.tracesLost} lost, ` +
        `${s.stepsLost} steps lost, ${s.writeErrors} write errors, queue ${s.queueDepth}`,
    };
  }

  /** Drains the queue (for at most closeTimeoutMs; what is left then is counted lost), then disconnects. */
  close(): Promise<void> {
    if (this.closing === null) {
      const timer = setTimeout(() => this.writer.abort(), this.closeTimeoutMs);
      timer.unref();
      // Nothing to wait for while never connected: queued traces are lost at once.
      if (!this.session.ready) this.writer.abort();
      this.closing = this.queue.close().finally(() => clearTimeout(timer)).then(() => this.session.close());
    }
    return this.closing;
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing !== null) throw new Error('CassandraTraceBackend is closed');
    try {
      return await fn();
    } catch (err) {
      throw unavailable(err) ?? err;
    }
  }
}

const codes = cassandra.types.responseErrorCodes;
/** Coordinator answers that mean "not now" rather than "wrong request". */
const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  codes.unavailableException, codes.overloaded, codes.isBootstrapping, codes.readTimeout, codes.writeTimeout,
  codes.readFailure, codes.writeFailure,
]);

/**
 * A driver error that means Cassandra cannot serve right now, as the one error class every store
 * throws for that (model/errors.ts), so the API answers 503 `backend_unavailable` and not 500.
 * undefined for anything else (a bug or a bad request stays what it is).
 */
function unavailable(err: unknown): BackendUnavailableError | undefined {
  if (err instanceof BackendUnavailableError) return undefined;
  const e = cassandra.errors;
  if (err instanceof e.NoHostAvailableError || err instanceof e.OperationTimedOutError || err instanceof e.BusyConnectionError) {
    return new BackendUnavailableError(`cassandra cannot be reached: ${errorText(err)}`);
  }
  if (err instanceof e.ResponseError && TRANSIENT_CODES.has(err.code)) {
    return new BackendUnavailableError(`cassandra cannot serve the request now: ${errorText(err)}`);
  }
  return undefined;
}

export type OpenCassandraResult =
  | { ok: true; backend: CassandraTraceBackend; first: FirstAttempt }
  | { ok: false; code: string; message: string };

/**
 * Creates the backend and waits (at most `waitMs`, default 5 s) for the first connection attempt:
 * a keyspace this release cannot use is refused here, while a cluster that is merely unreachable is
 * not an error — the backend keeps retrying and reports unhealthy meanwhile.
 */
export async function openCassandraTraceBackend(o: CassandraTraceBackendOptions, waitMs = 5_000): Promise<OpenCassandraResult> {
  let backend: CassandraTraceBackend;
  try {
    backend = new CassandraTraceBackend(o);
  } catch (err) {
    return { ok: false, code: 'invalid_options', message: errorText(err) };
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<FirstAttempt>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'connecting', error: `no answer within ${waitMs} ms` }), waitMs);
  });
  const first = await Promise.race([backend.firstAttempt(), timeout]);
  clearTimeout(timer);
  if (first.state === 'failed') {
    await backend.close();
    return { ok: false, code: first.code ?? 'schema_mismatch', message: first.error ?? 'keyspace refused' };
  }
  return { ok: true, backend, first };
}

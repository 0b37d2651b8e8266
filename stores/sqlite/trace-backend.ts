// Offline-mode trace backend: the daemon's TraceSink and the API's TraceStore on one SQLite file,
// plus the retention sweeper. Every write (trace batches, deletes, sweeps) runs on the writer thread's
// own connection (writer-thread.ts), so better-sqlite3's synchronous calls and the WAL's fsyncs never
// hold the event loop; reads use this thread's connection. Traces are queued already encoded
// (trace-wire.ts): the workers encode them, or write() does for records handed over as objects.
import { Queue, type QueueOptions, type RecordShape } from '../queue.js';
import type { EncodedTraceBatch, SinkStats, StepSegment, TraceListResult, TraceQuery, TraceRecord, TraceSink, TraceStore } from '../../model/stores.js';
import type { Trace } from '../../model/trace.js';
import { openDb, type Db, type OpenDbError, type OpenDbOptions } from './db.js';
import { DELETE_CHUNK, SqliteTraceReader } from './trace-reader.js';
import { encodeHead, encodeStepsText, type EncodedTrace } from './trace-wire.js';
import { InlineWriter, ThreadWriter, type WriterPort } from './writer-port.js';
import { encodeSteps } from './step-codec.js';
import type { SegmentRow } from './trace-writer.js';

const ENCODED: RecordShape<EncodedTrace> = { steps: (e) => e.steps, complete: (e) => e.complete };

const DAY_MS = 86_400_000;
/** Segments (other hosts' steps) being written at once; beyond, they are counted lost. */
const MAX_PENDING_SEGMENTS = 10_000;

export interface SqliteTraceBackendOptions extends QueueOptions, OpenDbOptions {
  /** The SQLite file (created if absent). */
  path: string;
  /** Traces older than this are deleted by the sweeper. Default 7 days; 0 turns the sweeper off. */
  retentionMs?: number;
  /** How often the sweeper runs. Default 10 minutes. */
  sweepIntervalMs?: number;
  /** Delay before the first sweep after opening. Default 5 s. */
  firstSweepDelayMs?: number;
  /** Clock for the sweeper (tests). Default Date.now. */
  now?: () => number;
  /** Write on a thread of its own (default; not possible for ':memory:'). */
  writerThread?: boolean;
  /** With the writer thread: the write-ahead log is truncated once this large. Default 256 MiB (writer-port.ts). */
  walLimitBytes?: number;
}

export interface SweepStats { runs: number; deleted: number; errors: number }

export type OpenTraceBackendResult =
  | { ok: true; backend: SqliteTraceBackend }
  | { ok: false; code: OpenDbError; message: string };

export function openSqliteTraceBackend(opts: SqliteTraceBackendOptions): OpenTraceBackendResult {
  const opened = openDb(opts.path, opts);
  if (!opened.ok) return opened;
  const thread = opts.writerThread !== false && opts.path !== ':memory:';
  return { ok: true, backend: new SqliteTraceBackend(opened.db, opts, thread) };
}

export class SqliteTraceBackend implements TraceSink, TraceStore {
  private readonly db: Db;
  private readonly queue: Queue<EncodedTrace>;
  private readonly reader: SqliteTraceReader;
  private readonly writer: WriterPort;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  /** Segment writes under way, so flush() waits for them too. */
  private readonly segments = new Set<Promise<void>>();
  private sweeping: Promise<void> | null = null;
  private closed: Promise<void> | null = null;
  private readonly sweep: SweepStats = { runs: 0, deleted: 0, errors: 0 };

  /** Use openSqliteTraceBackend(), which reports a refused file as a value. */
  constructor(db: Db, opts: SqliteTraceBackendOptions, thread = false) {
    this.db = db;
    this.reader = new SqliteTraceReader(db);
    this.writer = thread ? new ThreadWriter({ path: opts.path, busyTimeoutMs: opts.busyTimeoutMs ?? 5000, ...(opts.walLimitBytes !== undefined ? { walLimitBytes: opts.walLimitBytes } : {}) }) : new InlineWriter(db, this.reader);
    // A thread writes a batch while this one fills the next: batches can be larger than the ~10 ms
    // of SQLite work an inline writer is held to.
    this.queue = new Queue(this.writer, ENCODED, thread ? { maxBatchTraces: 2048, maxBatchSteps: 32_768, ...opts } : opts);
    this.retentionMs = opts.retentionMs ?? 7 * DAY_MS;
    this.now = opts.now ?? Date.now;
    if (!Number.isFinite(this.retentionMs) || this.retentionMs < 0) {
      throw new Error('options.retentionMs must be a non-negative number');
    }
    if (this.retentionMs > 0) {
      const every = opts.sweepIntervalMs ?? 600_000;
      const first = setTimeout(() => this.sweepNow(), opts.firstSweepDelayMs ?? 5_000);
      const interval = setInterval(() => this.sweepNow(), every);
      first.unref();
      interval.unref();
      this.timers.push(first, interval);
    }
  }

  write(rec: TraceRecord): void {
    let head: string;
    try {
      if (!Array.isArray(rec.steps)) throw new TypeError(`trace ${String(rec.id)}: steps is not an array`);
      head = encodeHead(rec);
    } catch (err) {
      // Not a record (null, steps not an array): counted, never thrown.
      const steps = (rec as { steps?: unknown } | null)?.steps;
      this.queue.lose(Array.isArray(steps) ? steps.length : 0, err);
      return;
    }
    this.queue.write({ text: head, start: 0, end: head.length, stepsText: encodeStepsText(rec), steps: rec.steps.length, complete: rec.complete !== false });
  }

  writeBatch(batch: EncodedTraceBatch): void {
    let start = 0;
    for (let i = 0; i < batch.ends.length; i++) {
      const end = batch.ends[i]!;
      this.queue.write({ text: batch.text, start, end, stepsText: batch.stepTexts[batch.stepRefs[i]!]!, steps: batch.steps[i]!, complete: true });
      start = end;
    }
  }

  appendSteps(seg: StepSegment): void {
    if (seg.steps.length === 0) return;
    let row: SegmentRow;
    try {
      const atMs = seg.steps[0]!.timestampMs;
      row = { traceId: seg.traceId, hostId: seg.hostId, after: seg.after, atMs, steps: encodeSteps(seg.steps, seg.steps.length, atMs) };
    } catch (err) {
      this.queue.lose(seg.steps.length, err);
      return;
    }
    // Bounded like the trace queue: a store that cannot keep up loses segments, counted, not memory.
    if (this.segments.size >= MAX_PENDING_SEGMENTS) { this.queue.lose(seg.steps.length, new Error('segment queue full')); return; }
    const p = this.writer.appendSegment(row).catch((err: unknown) => { this.queue.lose(seg.steps.length, err); });
    this.segments.add(p);
    void p.finally(() => this.segments.delete(p));
  }

  async flush(): Promise<void> {
    await Promise.all([this.queue.flush(), ...this.segments]);
  }
  stats(): SinkStats { return this.queue.stats(); }
  room(): Promise<void> | null { return this.queue.room(); }
  sweepStats(): SweepStats { return { ...this.sweep }; }

  async list(q: TraceQuery): Promise<TraceListResult> { this.check(); return this.reader.list(q); }
  async get(id: string): Promise<Trace | null> { this.check(); return this.reader.get(id); }
  async delete(id: string): Promise<boolean> { this.check(); return this.writer.delete(id); }

  async deleteOlderThan(ms: number): Promise<number> {
    this.check();
    let total = 0;
    for (;;) {
      const n = await this.writer.deleteChunkOlderThan(ms);
      total += n;
      if (n < DELETE_CHUNK || this.closed !== null) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs one retention sweep now (unless one is running); resolves when it is done. */
  sweepNow(): Promise<void> {
    if (this.closed !== null || this.retentionMs === 0) return Promise.resolve();
    if (this.sweeping === null) {
      this.sweeping = this.deleteOlderThan(this.now() - this.retentionMs).then(
        (n) => { this.sweep.runs++; this.sweep.deleted += n; },
        () => { this.sweep.errors++; },
      ).finally(() => { this.sweeping = null; });
    }
    return this.sweeping;
  }

  close(): Promise<void> {
    if (this.closed === null) {
      for (const t of this.timers) clearTimeout(t);
      const sweeping = this.sweeping ?? Promise.resolve();
      this.closed = Promise.all([this.queue.close(), sweeping]).then(() => this.writer.close()).then(() => { this.db.close(); });
    }
    return this.closed;
  }

  private check(): void {
    if (this.closed !== null) throw new Error('SqliteTraceBackend is closed');
  }
}

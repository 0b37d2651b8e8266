// Offline-mode trace backend: one SQLite connection serving as both the daemon's TraceSink and the
// API's TraceStore, plus the retention sweeper. better-sqlite3 is synchronous: writes go through
// QueuedSink batches and big deletes are chunked, so neither holds the event loop for long.
import { QueuedSink, type QueueOptions } from '../queue.js';
import type { SinkStats, TraceListResult, TraceQuery, TraceRecord, TraceSink, TraceStore } from '../../model/stores.js';
import type { Trace } from '../../model/trace.js';
import { openDb, type Db, type OpenDbError, type OpenDbOptions } from './db.js';
import { DELETE_CHUNK, SqliteTraceReader } from './trace-reader.js';
import { SqliteTraceWriter } from './trace-writer.js';

const DAY_MS = 86_400_000;

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
}

export interface SweepStats { runs: number; deleted: number; errors: number }

export type OpenTraceBackendResult =
  | { ok: true; backend: SqliteTraceBackend }
  | { ok: false; code: OpenDbError; message: string };

export function openSqliteTraceBackend(opts: SqliteTraceBackendOptions): OpenTraceBackendResult {
  const opened = openDb(opts.path, opts);
  if (!opened.ok) return opened;
  return { ok: true, backend: new SqliteTraceBackend(opened.db, opts) };
}

export class SqliteTraceBackend implements TraceSink, TraceStore {
  private readonly db: Db;
  private readonly queue: QueuedSink;
  private readonly reader: SqliteTraceReader;
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private sweeping: Promise<void> | null = null;
  private closed: Promise<void> | null = null;
  private readonly sweep: SweepStats = { runs: 0, deleted: 0, errors: 0 };

  /** Use openSqliteTraceBackend(), which reports a refused file as a value. */
  constructor(db: Db, opts: SqliteTraceBackendOptions) {
    this.db = db;
    this.queue = new QueuedSink(new SqliteTraceWriter(db), opts);
    this.reader = new SqliteTraceReader(db);
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

  write(rec: TraceRecord): void { this.queue.write(rec); }
  flush(): Promise<void> { return this.queue.flush(); }
  stats(): SinkStats { return this.queue.stats(); }
  sweepStats(): SweepStats { return { ...this.sweep }; }

  async list(q: TraceQuery): Promise<TraceListResult> { this.check(); return this.reader.list(q); }
  async get(id: string): Promise<Trace | null> { this.check(); return this.reader.get(id); }
  async delete(id: string): Promise<boolean> { this.check(); return this.reader.delete(id); }

  async deleteOlderThan(ms: number): Promise<number> {
    this.check();
    let total = 0;
    for (;;) {
      const n = this.reader.deleteChunkOlderThan(ms);
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
      this.closed = Promise.all([this.queue.close(), sweeping]).then(() => { this.db.close(); });
    }
    return this.closed;
  }

  private check(): void {
    if (this.closed !== null) throw new Error('SqliteTraceBackend is closed');
  }
}

// The bounded queue in front of every trace backend. write() only appends; the queue drains in
// batches on later turns of the event loop, so a burst of traced packets costs the caller one array
// push each and a synchronous backend (better-sqlite3) never holds the loop for long.
import type { SinkStats, TraceRecord, TraceSink } from '../model/stores.js';

/**
 * One queued trace: the record (a TraceRecord, or a backend's encoded form of one) and how many of
 * its steps (a prefix) are to be stored.
 */
export interface PendingTrace<R = TraceRecord> {
  readonly rec: R;
  readonly stepCount: number;
  readonly complete: boolean;
}

/** What a backend supplies: store a batch, all or nothing if it can; throw or reject on failure. */
export interface BatchWriter<R = TraceRecord> {
  writeBatch(batch: readonly PendingTrace<R>[]): void | Promise<void>;
  close(): void | Promise<void>;
}

export interface QueueOptions {
  /** Steps held at most; beyond, new traces keep only the steps that fit. Default 200,000. */
  maxQueuedSteps?: number;
  /** Traces held at most; beyond, new traces are dropped whole. Default 50,000. */
  maxQueuedTraces?: number;
  /** Largest batch handed to the writer, in traces and in steps. Defaults 512 and 4,096 (about 10 ms of SQLite work). */
  maxBatchTraces?: number;
  maxBatchSteps?: number;
  /** Told about every failed backend write (for logs); must not throw. */
  onError?: (err: unknown) => void;
  /** The longest a room() promise stays pending, in ms. Default 1,000. */
  roomWaitMs?: number;
}

/** How the queue sees a record it holds: its step count and whether its producer lost steps. */
export interface RecordShape<R> {
  steps(rec: R): number;
  complete(rec: R): boolean;
}

const TRACE_RECORDS: RecordShape<TraceRecord> = {
  steps: (rec) => rec.steps.length,
  complete: (rec) => rec.complete !== false,
};

const DEFAULTS = { maxQueuedSteps: 200_000, maxQueuedTraces: 50_000, maxBatchTraces: 512, maxBatchSteps: 4_096, roomWaitMs: 1_000 };

interface FlushWaiter { seq: number; resolve: () => void }

/**
 * The bounded queue over records of type R (see RecordShape): the loss policy of SinkStats, batches
 * handed to a BatchWriter, flush and close.
 */
export class Queue<R> {
  private readonly writer: BatchWriter<R>;
  private readonly shape: RecordShape<R>;
  private readonly maxSteps: number;
  private readonly maxTraces: number;
  private readonly batchTraces: number;
  private readonly batchSteps: number;
  private readonly onError: (err: unknown) => void;
  private readonly roomWaitMs: number;

  /** items[head..] are queued; the array is reset whenever it empties. */
  private items: PendingTrace<R>[] = [];
  private head = 0;
  private queuedSteps = 0;
  private inFlightTraces = 0;
  private inFlightSteps = 0;
  private scheduled = false;
  private draining = false;
  /** Sequence numbers: enqueued so far, and stored (or counted lost) so far. */
  private enqueuedSeq = 0;
  private doneSeq = 0;
  private waiters: FlushWaiter[] = [];
  private closing: Promise<void> | null = null;
  /** Whether the last batch failed: the store is down or refusing, and waiting for it helps no one. */
  private failing = false;
  /** What room() hands out while the queue is over half full: one promise for every producer. */
  private roomWait: { promise: Promise<void>; resolve: () => void; timer: ReturnType<typeof setTimeout> } | null = null;

  private tracesWritten = 0;
  private tracesIncomplete = 0;
  private tracesLost = 0;
  private stepsWritten = 0;
  private stepsLost = 0;
  private writeErrors = 0;

  private readonly drainNow = (): void => { this.scheduled = false; void this.drain(); };

  constructor(writer: BatchWriter<R>, shape: RecordShape<R>, opts: QueueOptions = {}) {
    this.writer = writer;
    this.shape = shape;
    this.maxSteps = positive(opts.maxQueuedSteps, DEFAULTS.maxQueuedSteps, 'maxQueuedSteps', true);
    this.maxTraces = positive(opts.maxQueuedTraces, DEFAULTS.maxQueuedTraces, 'maxQueuedTraces', false);
    this.batchTraces = positive(opts.maxBatchTraces, DEFAULTS.maxBatchTraces, 'maxBatchTraces', false);
    this.batchSteps = positive(opts.maxBatchSteps, DEFAULTS.maxBatchSteps, 'maxBatchSteps', false);
    this.onError = opts.onError ?? (() => {});
    this.roomWaitMs = positive(opts.roomWaitMs, DEFAULTS.roomWaitMs, 'roomWaitMs', true);
  }

  write(rec: R): void {
    let n = 0;
    try {
      n = this.shape.steps(rec);
      if (this.closing !== null || this.queuedTraceCount() >= this.maxTraces) {
        this.tracesLost++;
        this.stepsLost += n;
        return;
      }
      const room = this.maxSteps - this.queuedSteps;
      const keep = n <= room ? n : room;
      if (keep < n) this.stepsLost += n - keep;
      this.items.push({ rec, stepCount: keep, complete: keep === n && this.shape.complete(rec) });
      this.queuedSteps += keep;
      this.enqueuedSeq++;
      if (!this.scheduled && !this.draining) { this.scheduled = true; setImmediate(this.drainNow); }
    } catch (err) {
      // Only a malformed record gets here (e.g. steps not an array): count it, never throw.
      this.tracesLost++;
      this.stepsLost += n;
      this.failed(err);
    }
  }

  /** Counts a trace its producer could not even hand over (e.g. it could not be encoded). */
  lose(steps: number, err: unknown): void {
    this.tracesLost++;
    this.stepsLost += steps;
    this.failed(err);
  }

  /**
   * Backpressure for producers that can wait (an API request can; a frame on the live datapath
   * cannot). null while the queue holds under half its bounds, while its store is failing, or once it
   * is closing; otherwise a promise that resolves once the queue has drained under a quarter of its
   * bounds, or after roomWaitMs at the latest (a store that slows to a crawl then loses traces,
   * counted, as it would without the wait: a producer is slowed, never stopped).
   */
  room(): Promise<void> | null {
    if (this.failing || this.closing !== null || !this.over(2)) return null;
    if (this.roomWait === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      const timer = setTimeout(this.openRoom, this.roomWaitMs);
      this.roomWait = { promise, resolve, timer };
    }
    return this.roomWait.promise;
  }

  /** Whether the queue holds at least 1/fraction of either bound. */
  private over(fraction: number): boolean {
    const traces = this.queuedTraceCount() + this.inFlightTraces;
    const steps = this.queuedSteps + this.inFlightSteps;
    return traces * fraction >= this.maxTraces || (this.maxSteps > 0 && steps * fraction >= this.maxSteps);
  }

  private readonly openRoom = (): void => {
    const w = this.roomWait;
    if (w === null) return;
    this.roomWait = null;
    clearTimeout(w.timer);
    w.resolve();
  };

  flush(): Promise<void> {
    if (this.doneSeq >= this.enqueuedSeq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ seq: this.enqueuedSeq, resolve }));
  }

  close(): Promise<void> {
    if (this.closing === null) {
      this.openRoom();
      this.closing = this.flush().then(() => this.writer.close());
    }
    return this.closing;
  }

  stats(): SinkStats {
    return {
      tracesWritten: this.tracesWritten,
      tracesIncomplete: this.tracesIncomplete,
      tracesLost: this.tracesLost,
      stepsWritten: this.stepsWritten,
      stepsLost: this.stepsLost,
      queueDepth: this.queuedTraceCount() + this.inFlightTraces,
      queuedSteps: this.queuedSteps + this.inFlightSteps,
      writeErrors: this.writeErrors,
    };
  }

  private queuedTraceCount(): number { return this.items.length - this.head; }

  private takeBatch(): PendingTrace<R>[] {
    const batch: PendingTrace<R>[] = [];
    let steps = 0;
    while (this.head < this.items.length && batch.length < this.batchTraces) {
      const p = this.items[this.head]!;
      if (batch.length > 0 && steps + p.stepCount > this.batchSteps) break;
      batch.push(p);
      steps += p.stepCount;
      this.head++;
    }
    if (this.head === this.items.length) { this.items = []; this.head = 0; }
    else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.queuedSteps -= steps;
    this.inFlightTraces = batch.length;
    this.inFlightSteps = steps;
    return batch;
  }

  private async drain(): Promise<void> {
    if (this.draining || this.queuedTraceCount() === 0) return;
    this.draining = true;
    const batch = this.takeBatch();
    try {
      await this.writer.writeBatch(batch);
      this.failing = false;
      for (const p of batch) this.stored(p, p.complete);
    } catch (err) {
      this.failing = true;
      this.failed(err);
      for (const p of batch) await this.retryOne(p);
    }
    this.inFlightTraces = 0;
    this.inFlightSteps = 0;
    this.doneSeq += batch.length;
    this.draining = false;
    this.wakeWaiters();
    if (this.roomWait !== null && (this.failing || !this.over(4))) this.openRoom();
    // Yield to the event loop between batches, even for a synchronous writer.
    if (this.queuedTraceCount() > 0 && !this.scheduled) { this.scheduled = true; setImmediate(this.drainNow); }
  }

  /** After a failed batch: the trace alone, then its summary alone, then give up. */
  private async retryOne(p: PendingTrace<R>): Promise<void> {
    try {
      await this.writer.writeBatch([p]);
      this.stored(p, p.complete);
      return;
    } catch (err) { this.failed(err); }
    const summary: PendingTrace<R> = { rec: p.rec, stepCount: 0, complete: false };
    try {
      await this.writer.writeBatch([summary]);
      this.stepsLost += p.stepCount;
      this.stored(summary, false);
    } catch (err) {
      this.failed(err);
      this.tracesLost++;
      this.stepsLost += p.stepCount;
    }
  }

  private stored(p: PendingTrace<R>, complete: boolean): void {
    this.tracesWritten++;
    this.stepsWritten += p.stepCount;
    if (!complete) this.tracesIncomplete++;
  }

  private failed(err: unknown): void {
    this.writeErrors++;
    try { this.onError(err); } catch { /* a logger must not stop the drain */ }
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: FlushWaiter[] = [];
    for (const w of this.waiters) {
      if (w.seq <= this.doneSeq) w.resolve(); else still.push(w);
    }
    this.waiters = still;
  }
}

function positive(v: number | undefined, dflt: number, name: string, zeroOk: boolean): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < (zeroOk ? 0 : 1)) {
    throw new Error(`options.${name} must be a ${zeroOk ? 'non-negative' : 'positive'} integer`);
  }
  return v;
}

/** The queue over TraceRecords: what every sink but the worker-fed SQLite one uses. */
export class QueuedSink extends Queue<TraceRecord> implements TraceSink {
  constructor(writer: BatchWriter, opts: QueueOptions = {}) { super(writer, TRACE_RECORDS, opts); }
}

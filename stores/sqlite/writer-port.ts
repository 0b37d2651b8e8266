// The daemon's side of the SQLite writer: every write of the trace tables goes through a WriterPort.
// ThreadWriter posts to the writer thread (writer-thread.ts); InlineWriter runs the same code on the
// caller's connection (an in-memory database cannot be shared with another thread).
import type { Worker } from 'node:worker_threads';
import { siblingModule, startThread } from '../../model/thread-entry.js';
import type { BatchWriter, PendingTrace } from '../queue.js';
import type { Db } from './db.js';
import type { EncodedTrace } from './trace-wire.js';
import { DELETE_CHUNK, SqliteTraceReader } from './trace-reader.js';
import { SqliteTraceWriter, type SegmentRow } from './trace-writer.js';

export interface WriterInit {
  path: string;
  busyTimeoutMs: number;
  /**
   * The writer truncates the write-ahead log once it is this large (checkpoint-thread.ts). Default
   * 256 MiB: a truncation holds the writer 0.1-0.2 s (it waits out the checkpoint and fsyncs), which
   * at 64 MiB came every 1.5 s of a 70,000 traces/s stream and cost ~8% of it.
   */
  walLimitBytes?: number;
  /** How often the checkpoint thread copies the log into the database. Default 1,000 ms: a page rewritten many times in a second (the right edge of every index) is copied once. */
  checkpointEveryMs?: number;
}

export type WriterRequest =
  | { seq: number; op: 'write'; texts: string[]; meta: Int32Array; stepTexts: string[] }
  | { seq: number; op: 'delete'; id: string }
  | { seq: number; op: 'append'; seg: SegmentRow }
  | { seq: number; op: 'deleteOlderThan'; ms: number }
  | { seq: number; op: 'close' };

export type WriterReply = { seq: number; ok: true; value: number } | { seq: number; ok: false; message: string };

export interface WriterPort extends BatchWriter<EncodedTrace> {
  writeBatch(batch: readonly PendingTrace<EncodedTrace>[]): void | Promise<void>;
  /** true when the trace existed. */
  delete(id: string): Promise<boolean>;
  /** Deletes up to one chunk (trace-reader.ts DELETE_CHUNK) of traces started before `ms`. */
  deleteChunkOlderThan(ms: number): Promise<number>;
  appendSegment(seg: SegmentRow): Promise<void>;
  close(): Promise<void>;
}

export class InlineWriter implements WriterPort {
  private readonly writer: SqliteTraceWriter;
  constructor(db: Db, private readonly reader: SqliteTraceReader) { this.writer = new SqliteTraceWriter(db); }
  writeBatch(batch: readonly PendingTrace<EncodedTrace>[]): void { this.writer.writeBatch(batch); }
  async delete(id: string): Promise<boolean> { return this.reader.delete(id); }
  async appendSegment(seg: SegmentRow): Promise<void> { this.writer.appendSegment(seg); }
  async deleteChunkOlderThan(ms: number): Promise<number> {
    const n = this.reader.deleteChunkOlderThan(ms);
    if (n < DELETE_CHUNK) this.writer.dropListsUnusedBefore(ms);
    return n;
  }
  async close(): Promise<void> {}
}

const THREAD = siblingModule(import.meta.url, 'writer-thread');

/** Int32s of ThreadWriter.writeBatch's meta per trace. */
export const META = 6;

type Pending = { resolve: (v: number) => void; reject: (e: Error) => void };

export class ThreadWriter implements WriterPort {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private dead: Error | null = null;
  private closed: Promise<void> | null = null;

  /**
   * Starts the thread; requests posted before it has opened the file wait in its port. The caller
   * has opened (and migrated) the file already, so the thread failing to open it is unexpected: its
   * requests then fail like any failed write.
   */
  constructor(init: WriterInit) {
    this.worker = startThread(THREAD, { workerData: init });
    // Referenced only while a request waits, so a backend nobody closed does not keep a process alive.
    this.worker.unref();
    this.worker.on('message', (r: WriterReply) => {
      if (r.seq === 0) { if (!r.ok) this.fail(new Error(r.message)); return; }
      const p = this.pending.get(r.seq);
      if (p === undefined) return;
      this.pending.delete(r.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (r.ok) p.resolve(r.value); else p.reject(new Error(r.message));
    });
    this.worker.on('error', (e) => this.fail(new Error(`SQLite writer thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`SQLite writer thread exited (${code})`)));
  }

  private fail(e: Error): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private send(m: WriterRequest): Promise<number> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const p = new Promise<number>((resolve, reject) => this.pending.set(m.seq, { resolve, reject }));
    this.worker.ref();
    this.worker.postMessage(m);
    return p;
  }

  /**
   * One message per batch: the texts holding the heads (a worker batch's one string, once, however
   * many of its traces this batch takes), each distinct steps text once (the same string objects the
   * workers' batches brought), and [text index, start, end, stepCount, steps << 1 | complete, steps
   * text index] per trace.
   */
  async writeBatch(batch: readonly PendingTrace<EncodedTrace>[]): Promise<void> {
    const meta = new Int32Array(batch.length * META);
    const stepIndex = new Map<string, number>();
    const stepTexts: string[] = [];
    const texts: string[] = [];
    let lastText: string | null = null;
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      // Traces of one worker batch come in a row: a pointer check finds their text.
      if (p.rec.text !== lastText) { lastText = p.rec.text; texts.push(lastText); }
      let ref = stepIndex.get(p.rec.stepsText);
      if (ref === undefined) { ref = stepTexts.length; stepTexts.push(p.rec.stepsText); stepIndex.set(p.rec.stepsText, ref); }
      const m = i * META;
      meta[m] = texts.length - 1;
      meta[m + 1] = p.rec.start;
      meta[m + 2] = p.rec.end;
      meta[m + 3] = p.stepCount;
      meta[m + 4] = (p.rec.steps << 1) | (p.complete ? 1 : 0);
      meta[m + 5] = ref;
    }
    await this.send({ seq: ++this.seq, op: 'write', texts, meta, stepTexts });
  }

  async delete(id: string): Promise<boolean> { return (await this.send({ seq: ++this.seq, op: 'delete', id })) === 1; }

  async appendSegment(seg: SegmentRow): Promise<void> { await this.send({ seq: ++this.seq, op: 'append', seg }); }

  deleteChunkOlderThan(ms: number): Promise<number> { return this.send({ seq: ++this.seq, op: 'deleteOlderThan', ms }); }

  close(): Promise<void> {
    if (this.closed === null) {
      this.closed = (this.dead !== null ? Promise.resolve(0) : this.send({ seq: ++this.seq, op: 'close' }).catch(() => 0))
        .then(async () => { await this.worker.terminate(); });
    }
    return this.closed;
  }
}

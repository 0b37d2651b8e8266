// A TraceSink wrapper that misbehaves on purpose, for tests of what the daemon and readers do when
// the trace backend fails or is slow. It wraps a real sink instead of adding flags to one.
import type { SinkStats, TraceRecord, TraceSink } from '../model/stores.js';

export type FaultMode =
  /** Pass every record straight through. */
  | { kind: 'pass' }
  /**
   * Every write fails: the steps are lost (counted here as lost and as write errors) and the inner
   * sink gets the summary alone, marked complete: false. With `lose: 'all'` not even the summary
   * reaches it (the trace counts as lost).
   */
  | { kind: 'fail'; lose?: 'steps' | 'all' }
  /** Hold each record for `ms` before handing it on, as a slow backend would. */
  | { kind: 'stall'; ms: number };

interface Held { timer: NodeJS.Timeout; rec: TraceRecord; done: () => void }

export class FaultySink implements TraceSink {
  private readonly inner: TraceSink;
  private mode: FaultMode;
  private held = 0;
  private heldSteps = 0;
  private readonly releases = new Set<Held>();
  /** One promise per held record, settled when it has been handed on. */
  private pending: Promise<void>[] = [];
  private stepsLost = 0;
  private tracesLost = 0;
  private writeErrors = 0;
  private closed = false;

  constructor(inner: TraceSink, mode: FaultMode = { kind: 'pass' }) {
    this.inner = inner;
    this.mode = mode;
  }

  setMode(mode: FaultMode): void { this.mode = mode; }

  write(rec: TraceRecord): void {
    const m = this.mode;
    if (this.closed || m.kind === 'pass') { this.inner.write(rec); return; }
    if (m.kind === 'fail') {
      this.writeErrors++;
      this.stepsLost += rec.steps.length;
      if (m.lose === 'all') { this.tracesLost++; return; }
      this.inner.write({ ...rec, steps: [], complete: false });
      return;
    }
    this.held++;
    this.heldSteps += rec.steps.length;
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => { done = resolve; });
    const entry: Held = { timer: setTimeout(() => this.release(entry), m.ms), rec, done };
    this.releases.add(entry);
    this.pending.push(finished);
  }

  /** The inner sink's: records held back by a fault are the fault's, not queue pressure. */
  room(): Promise<void> | null { return this.inner.room(); }

  async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const all = this.pending;
      this.pending = [];
      await Promise.all(all);
    }
    await this.inner.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Held records are handed on at once: closing must not wait out a long stall.
    for (const e of [...this.releases]) { clearTimeout(e.timer); this.release(e); }
    await this.flush();
    await this.inner.close();
  }

  stats(): SinkStats {
    const s = this.inner.stats();
    return {
      ...s,
      tracesLost: s.tracesLost + this.tracesLost,
      stepsLost: s.stepsLost + this.stepsLost,
      writeErrors: s.writeErrors + this.writeErrors,
      queueDepth: s.queueDepth + this.held,
      queuedSteps: s.queuedSteps + this.heldSteps,
    };
  }

  private release(e: Held): void {
    if (!this.releases.delete(e)) return;
    this.held--;
    this.heldSteps -= e.rec.steps.length;
    this.inner.write(e.rec);
    e.done();
  }
}

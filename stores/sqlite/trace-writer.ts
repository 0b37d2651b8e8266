// Stores batches of encoded traces (trace-wire.ts) in one transaction each. Statements are prepared
// once, here. Runs in the writer thread (writer-thread.ts), or inline for an in-memory database.
// A trace's whole steps go to step_lists once per distinct list (schema.ts, versions 3 and 5): the
// writer remembers the lists it stored, so a repeat costs a map lookup and the list's id in the
// trace's row instead of ~4 KB of SQLite pages per trace.
import type { BatchWriter, PendingTrace } from '../queue.js';
import type { Db, Stmt } from './db.js';
import { decodeHead, truncateSteps, unencodable, type EncodedTrace } from './trace-wire.js';

const HOUR_MS = 3_600_000;

/** A StepSegment as stored: its steps encoded (step-codec.ts) relative to atMs. */
export interface SegmentRow { traceId: string; hostId: string; after: number; atMs: number; steps: string }
/** Lists remembered at most; beyond, the memory starts afresh (a repeat is then stored once more). */
const MAX_LISTS = 20_000;

export class SqliteTraceWriter implements BatchWriter<EncodedTrace> {
  private readonly tx: (batch: readonly PendingTrace<EncodedTrace>[]) => void;
  private readonly dropLists: Stmt;
  private readonly insSegment: Stmt;
  /** Lists stored by this writer: steps text → row id and last use written to the row. */
  private readonly lists = new Map<string, { id: number | bigint; usedMs: number }>();

  constructor(db: Db) {
    const insTrace = db.prepare(
      'INSERT INTO traces (id, host_id, started_at_ms, ingress_port_id, result, match, condition_ids, ' +
      'num_steps, complete, list_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const insSteps = db.prepare('INSERT INTO trace_steps (trace_seq, steps) VALUES (?, ?)');
    // OR IGNORE: a condition listed twice on one trace is one join row.
    const insCond = db.prepare(
      'INSERT OR IGNORE INTO trace_conditions (condition_id, started_at_ms, trace_id, trace_seq) VALUES (?, ?, ?, ?)');

    const insList = db.prepare('INSERT INTO step_lists (steps, last_used_ms) VALUES (?, ?)');
    const touchList = db.prepare('UPDATE step_lists SET last_used_ms = ? WHERE id = ?');
    this.dropLists = db.prepare('DELETE FROM step_lists WHERE last_used_ms < ?');
    this.insSegment = db.prepare('INSERT INTO trace_segments (trace_id, after_step, host_id, at_ms, steps) VALUES (?, ?, ?, ?, ?)');
    const lists = this.lists;
    /** The id of the stored list `steps`, storing it (or refreshing its last use) as needed. */
    const listFor = (steps: string, startedAtMs: number, now: number): number | bigint => {
      const use = startedAtMs > now ? startedAtMs : now;
      const known = lists.get(steps);
      if (known !== undefined) {
        if (use <= known.usedMs + HOUR_MS) return known.id;
        // Refreshed hourly; a list another process's sweep deleted meanwhile is stored again.
        if (touchList.run(use, known.id).changes === 1) { known.usedMs = use; return known.id; }
      }
      if (lists.size >= MAX_LISTS) lists.clear();
      const id = insList.run(steps, use).lastInsertRowid;
      lists.set(steps, { id, usedMs: use });
      return id;
    };

    this.tx = db.transaction((batch: readonly PendingTrace<EncodedTrace>[]) => {
      const now = Date.now();
      for (const p of batch) {
        const r = decodeHead(p.rec.text, p.rec.start, p.rec.end);
        const steps = p.rec.stepsText;
        if (p.stepCount > 0 && unencodable(steps)) throw new Error(`trace ${r.id}: its steps could not be encoded`);
        // All its steps: a stored list the row points at. Some (a full queue kept only those): inline.
        const inline = p.stepCount > 0 && p.stepCount < p.rec.steps;
        const listId = p.stepCount > 0 && !inline ? listFor(steps, r.startedAtMs, now) : null;
        const seq = insTrace.run(r.id, r.hostId, r.startedAtMs, r.ingressPortId, r.result, r.match,
          r.conditionIds.length === 0 ? '[]' : JSON.stringify(r.conditionIds), p.stepCount, p.complete ? 1 : 0, listId,
        ).lastInsertRowid;
        if (inline) insSteps.run(seq, truncateSteps(steps, p.stepCount));
        for (const c of r.conditionIds) insCond.run(c, r.startedAtMs, r.id, seq);
      }
    });
  }

  writeBatch(batch: readonly PendingTrace<EncodedTrace>[]): void { this.tx(batch); }

  /** One segment of steps from another host (encodeSteps form, times from `atMs`). */
  appendSegment(seg: SegmentRow): void {
    this.insSegment.run(seg.traceId, seg.after, seg.hostId, seg.atMs, seg.steps);
  }

  /**
   * After a sweep deleted the traces started before `ms`: deletes the step lists no remaining trace
   * can use (last used more than an hour before `ms`, see schema.ts) and forgets them.
   */
  dropListsUnusedBefore(ms: number): number {
    const cutoff = ms - HOUR_MS;
    for (const [k, v] of this.lists) if (v.usedMs < cutoff) this.lists.delete(k);
    return this.dropLists.run(cutoff).changes;
  }

  /** The connection belongs to whoever opened it, which closes it. */
  close(): void {}
}

// TraceStore queries over the SQLite schema. Each filter combination gets its own statement (made
// on first use, then kept) so every one can use the index that leads with its filter.
import type { ResultName } from '../../model/result.js';
import type { MatchSummary, Trace, TraceSummary } from '../../model/trace.js';
import { checkTraceQuery, encodeCursor } from '../cursor.js';
import type { TraceListResult, TraceQuery } from '../../model/stores.js';
import type { Db, Stmt } from './db.js';
import { decodeSteps } from './step-codec.js';

interface TraceRow {
  seq: number; id: string; host_id: string; started_at_ms: number; ingress_port_id: string;
  result: string; match: string; condition_ids: string; num_steps: number; complete: number; list_id: number | null;
}

const TRACE_COLS = 't.seq, t.id, t.host_id, t.started_at_ms, t.ingress_port_id, t.result, t.match, ' +
  't.condition_ids, t.num_steps, t.complete, t.list_id';

/** Traces deleted per transaction by deleteOlderThan, so a big sweep yields to the event loop. */
export const DELETE_CHUNK = 500;

export class SqliteTraceReader {
  private readonly db: Db;
  private readonly listStmts = new Map<number, Stmt>();
  private readonly byId: Stmt;
  private readonly stepsOf: Stmt;
  private readonly listSteps: Stmt;
  private readonly oldest: Stmt;
  private readonly segmentsOf: Stmt;
  private readonly deleteTx: (rows: readonly TraceRow[]) => void;
  private readonly delSegmentsBefore: Stmt;

  constructor(db: Db) {
    this.db = db;
    this.byId = db.prepare(`SELECT ${TRACE_COLS} FROM traces t WHERE t.id = ?`);
    this.stepsOf = db.prepare(
      "SELECT COALESCE(l.steps, s.steps) FROM trace_steps s LEFT JOIN step_lists l ON l.id = s.list_id WHERE s.trace_seq = ?").pluck();
    this.listSteps = db.prepare('SELECT steps FROM step_lists WHERE id = ?').pluck();
    this.oldest = db.prepare(
      `SELECT ${TRACE_COLS} FROM traces t WHERE t.started_at_ms < ? ORDER BY t.started_at_ms, t.id LIMIT ${DELETE_CHUNK}`);
    this.segmentsOf = db.prepare('SELECT host_id, at_ms, steps FROM trace_segments WHERE trace_id = ? ORDER BY after_step, seq');
    const delSegments = db.prepare('DELETE FROM trace_segments WHERE trace_id = ?');
    this.delSegmentsBefore = db.prepare('DELETE FROM trace_segments WHERE at_ms < ?');
    const delSteps = db.prepare('DELETE FROM trace_steps WHERE trace_seq = ?');
    const delCond = db.prepare('DELETE FROM trace_conditions WHERE condition_id = ? AND started_at_ms = ? AND trace_id = ?');
    const delTrace = db.prepare('DELETE FROM traces WHERE seq = ?');
    this.deleteTx = db.transaction((rows: readonly TraceRow[]) => {
      for (const r of rows) {
        delSteps.run(r.seq);
        delSegments.run(r.id);
        for (const c of parseIds(r.condition_ids)) delCond.run(c, r.started_at_ms, r.id);
        delTrace.run(r.seq);
      }
    });
  }

  list(q: TraceQuery): TraceListResult {
    const checked = checkTraceQuery(q);
    if (!checked.ok) return checked;
    const c = checked.cursor;
    const params: unknown[] = [];
    let mask = 0;
    if (q.conditionId !== undefined) { mask |= 1; params.push(q.conditionId); }
    if (q.hostId !== undefined) { mask |= 2; params.push(q.hostId); }
    if (q.result !== undefined) { mask |= 4; params.push(q.result); }
    if (q.since !== undefined) { mask |= 8; params.push(q.since); }
    if (q.until !== undefined) { mask |= 16; params.push(q.until); }
    if (c !== null) { mask |= 32; params.push(c.startedAtMs, c.id); }
    // One extra row tells whether another page exists.
    params.push(q.limit + 1);
    const rows = this.listStmt(mask).all(...params) as TraceRow[];
    const more = rows.length > q.limit;
    if (more) rows.length = q.limit;
    const items = rows.map(toSummary);
    const last = rows[rows.length - 1];
    return { ok: true, items, nextCursor: more && last !== undefined ? encodeCursor(last.started_at_ms, last.id) : null };
  }

  get(id: string): Trace | null {
    const row = this.byId.get(id) as TraceRow | undefined;
    if (row === undefined) return null;
    // Schema 5 rows name their list; older ones, and truncated steps, are in trace_steps.
    const json = (row.list_id !== null ? this.listSteps.get(row.list_id) : this.stepsOf.get(row.seq)) as string | undefined;
    const steps = json === undefined || json === '' ? [] : decodeSteps(json, row.num_steps, row.started_at_ms, row.host_id);
    const segments = this.segmentsOf.all(id) as { host_id: string; at_ms: number; steps: string }[];
    if (segments.length === 0) return { ...toSummary(row), steps };
    // Other hosts' steps follow the ingress host's, numbered on from them.
    for (const g of segments) {
      for (const s of decodeSteps(g.steps, Number.MAX_SAFE_INTEGER, g.at_ms, g.host_id)) steps.push({ ...s, step: steps.length + 1 });
    }
    return { ...toSummary(row), numSteps: steps.length, steps };
  }

  delete(id: string): boolean {
    const row = this.byId.get(id) as TraceRow | undefined;
    if (row === undefined) return false;
    this.deleteTx([row]);
    return true;
  }

  /** One chunk of deleteOlderThan; returns how many it deleted (less than a chunk: done). */
  deleteChunkOlderThan(ms: number): number {
    const rows = this.oldest.all(ms) as TraceRow[];
    if (rows.length > 0) this.deleteTx(rows);
    // The last chunk: segments as old go too, whatever became of their traces.
    if (rows.length < DELETE_CHUNK) this.delSegmentsBefore.run(ms);
    return rows.length;
  }

  private listStmt(mask: number): Stmt {
    let s = this.listStmts.get(mask);
    if (s !== undefined) return s;
    // With a condition filter, walk the join table's index; otherwise the traces indexes.
    const k = (mask & 1) !== 0 ? 'c' : 't';
    const where: string[] = [];
    if ((mask & 1) !== 0) where.push('c.condition_id = ?');
    if ((mask & 2) !== 0) where.push('t.host_id = ?');
    if ((mask & 4) !== 0) where.push('t.result = ?');
    if ((mask & 8) !== 0) where.push(`${k}.started_at_ms >= ?`);
    if ((mask & 16) !== 0) where.push(`${k}.started_at_ms < ?`);
    if ((mask & 32) !== 0) where.push(`(${k}.started_at_ms, ${k === 'c' ? 'c.trace_id' : 't.id'}) < (?, ?)`);
    const from = k === 'c' ? 'trace_conditions c JOIN traces t ON t.seq = c.trace_seq' : 'traces t';
    const order = k === 'c' ? 'c.started_at_ms DESC, c.trace_id DESC' : 't.started_at_ms DESC, t.id DESC';
    s = this.db.prepare(
      `SELECT ${TRACE_COLS} FROM ${from}${where.length > 0 ? ' WHERE ' + where.join(' AND ') : ''} ` +
      `ORDER BY ${order} LIMIT ?`);
    this.listStmts.set(mask, s);
    return s;
  }
}

function toSummary(r: TraceRow): TraceSummary {
  return {
    id: r.id,
    hostId: r.host_id,
    conditionIds: parseIds(r.condition_ids),
    startedAt: new Date(r.started_at_ms).toISOString(),
    ingressPortId: r.ingress_port_id,
    match: JSON.parse(r.match) as MatchSummary,
    result: r.result as ResultName,
    numSteps: r.num_steps,
    complete: r.complete === 1,
  };
}

function parseIds(json: string): string[] {
  return JSON.parse(json) as string[];
}

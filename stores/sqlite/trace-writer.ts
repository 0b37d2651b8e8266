// Stores batches of traces in one transaction each. Statements are prepared once, here.
import type { BatchWriter, PendingTrace } from '../queue.js';
import type { Db } from './db.js';
import { encodeSteps } from './step-codec.js';

export class SqliteTraceWriter implements BatchWriter {
  private readonly tx: (batch: readonly PendingTrace[]) => void;

  constructor(db: Db) {
    const insTrace = db.prepare(
      'INSERT INTO traces (id, host_id, started_at_ms, ingress_port_id, result, match, condition_ids, ' +
      'num_steps, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const insSteps = db.prepare('INSERT INTO trace_steps (trace_seq, steps) VALUES (?, ?)');
    // OR IGNORE: a condition listed twice on one trace is one join row.
    const insCond = db.prepare(
      'INSERT OR IGNORE INTO trace_conditions (condition_id, started_at_ms, trace_id, trace_seq) VALUES (?, ?, ?, ?)');

    this.tx = db.transaction((batch: readonly PendingTrace[]) => {
      for (const p of batch) {
        const r = p.rec;
        const startedAtMs = Math.floor(r.startedAtMs);
        const seq = insTrace.run(r.id, r.hostId, startedAtMs, r.ingressPortId, r.result,
          JSON.stringify(r.match), JSON.stringify(r.conditionIds), p.stepCount, p.complete ? 1 : 0,
        ).lastInsertRowid;
        if (p.stepCount > 0) insSteps.run(seq, encodeSteps(r.steps, p.stepCount, startedAtMs));
        for (const c of r.conditionIds) insCond.run(c, startedAtMs, r.id, seq);
      }
    });
  }

  writeBatch(batch: readonly PendingTrace[]): void { this.tx(batch); }

  /** The connection belongs to SqliteTraceBackend, which closes it. */
  close(): void {}
}

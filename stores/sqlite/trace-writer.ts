// Stores batches of encoded traces (trace-wire.ts) in one transaction each. Statements are prepared
// once, here. Runs in the writer thread (writer-thread.ts), or inline for an in-memory database.
import type { BatchWriter, PendingTrace } from '../queue.js';
import type { Db } from './db.js';
import { decodeHead, truncateSteps, unencodable, type EncodedTrace } from './trace-wire.js';

export class SqliteTraceWriter implements BatchWriter<EncodedTrace> {
  private readonly tx: (batch: readonly PendingTrace<EncodedTrace>[]) => void;

  constructor(db: Db) {
    const insTrace = db.prepare(
      'INSERT INTO traces (id, host_id, started_at_ms, ingress_port_id, result, match, condition_ids, ' +
      'num_steps, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const insSteps = db.prepare('INSERT INTO trace_steps (trace_seq, steps) VALUES (?, ?)');
    // OR IGNORE: a condition listed twice on one trace is one join row.
    const insCond = db.prepare(
      'INSERT OR IGNORE INTO trace_conditions (condition_id, started_at_ms, trace_id, trace_seq) VALUES (?, ?, ?, ?)');

    this.tx = db.transaction((batch: readonly PendingTrace<EncodedTrace>[]) => {
      for (const p of batch) {
        const r = decodeHead(p.rec.head);
        let steps = p.rec.stepsText;
        if (p.stepCount > 0 && unencodable(steps)) throw new Error(`trace ${r.id}: its steps could not be encoded`);
        const seq = insTrace.run(r.id, r.hostId, r.startedAtMs, r.ingressPortId, r.result, r.match,
          r.conditionIds.length === 0 ? '[]' : JSON.stringify(r.conditionIds), p.stepCount, p.complete ? 1 : 0,
        ).lastInsertRowid;
        if (p.stepCount > 0) {
          if (p.stepCount < p.rec.steps) steps = truncateSteps(steps, p.stepCount);
          insSteps.run(seq, steps);
        }
        for (const c of r.conditionIds) insCond.run(c, r.startedAtMs, r.id, seq);
      }
    });
  }

  writeBatch(batch: readonly PendingTrace<EncodedTrace>[]): void { this.tx(batch); }

  /** The connection belongs to whoever opened it, which closes it. */
  close(): void {}
}

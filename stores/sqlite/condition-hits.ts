// The shared `limit` of trace conditions in offline mode: the same contract as ZooKeeper's
// (stores/zookeeper/condition-hits.ts), as one counter row per condition in the SQLite file. The
// increment and its bound are one statement, so processes sharing the file never claim past the limit.
import type { ConditionHits, HitClaim } from '../../model/stores.js';
import type { Db, Stmt } from './db.js';

export class SqliteConditionHits implements ConditionHits {
  private readonly s: { seed: Stmt; take: Stmt; read: Stmt; drop: Stmt };

  constructor(db: Db) {
    this.s = {
      seed: db.prepare('INSERT INTO condition_hits (condition_id, claimed) VALUES (?, 0) ON CONFLICT DO NOTHING'),
      take: db.prepare('UPDATE condition_hits SET claimed = claimed + 1 WHERE condition_id = ? AND claimed < ?'),
      read: db.prepare('SELECT claimed FROM condition_hits WHERE condition_id = ?').pluck(),
      drop: db.prepare('DELETE FROM condition_hits WHERE condition_id = ?'),
    };
  }

  async claim(id: string, limit: number): Promise<HitClaim> {
    if (limit <= 0) return 'exhausted';
    try {
      this.s.seed.run(id);
      return this.s.take.run(id, limit).changes === 1 ? 'kept' : 'exhausted';
    } catch {
      // SQLITE_BUSY past the busy timeout, or the file gone: no trace rather than one over the limit.
      return 'unavailable';
    }
  }

  async count(id: string, limit: number): Promise<number> {
    const n = this.s.read.get(id) as number | undefined;
    return Math.min(n ?? 0, limit);
  }

  async forget(id: string): Promise<void> {
    this.s.drop.run(id);
  }

}

// Offline-mode trace conditions, in the same SQLite file as the traces (own connection, own table).
//
// watch(): changes made through this store notify before the write resolves, so a daemon publishes a
// condition before its API answers 201/200 (P9 item 12: in force for every packet posted after). Changes made
// by another connection or process are noticed by polling `PRAGMA data_version` (which moves when
// anyone else commits to the file) every pollIntervalMs while someone watches; the
// `conditions_version` counter in `meta` then tells condition changes from trace writes, so a busy
// trace sink on the same file does not make watchers rebuild for nothing.
import { randomUUID } from 'node:crypto';
import type { TraceConditionJson } from '../../model/trace.js';
import type {
  ConditionListener, ConditionStore, CreateConditionResult, NewTraceCondition, PutConditionResult,
} from '../../model/stores.js';
import type { Transaction } from 'better-sqlite3';
import { openDb, type Db, type OpenDbError, type OpenDbOptions, type Stmt } from './db.js';
import { SqliteConditionHits } from './condition-hits.js';

export interface SqliteConditionStoreOptions extends OpenDbOptions {
  path: string;
  /** How often to look for changes by other connections while watched. Default 200 ms. */
  pollIntervalMs?: number;
  /** Clock for creationTimestampMs (tests). Default Date.now. */
  now?: () => number;
  /** Told when a listener throws (the others still run) or a poll fails. Default: a process warning. */
  onError?: (err: unknown) => void;
}

export type OpenConditionStoreResult =
  | { ok: true; store: SqliteConditionStore }
  | { ok: false; code: OpenDbError; message: string };

export function openSqliteConditionStore(opts: SqliteConditionStoreOptions): OpenConditionStoreResult {
  const opened = openDb(opts.path, opts);
  if (!opened.ok) return opened;
  return { ok: true, store: new SqliteConditionStore(opened.db, opts) };
}

interface CondRow { id: string; name: string | null; body: string }

export class SqliteConditionStore implements ConditionStore {
  private readonly db: Db;
  private readonly now: () => number;
  private readonly pollMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly s: {
    all: Stmt; byId: Stmt; byName: Stmt; insert: Stmt; update: Stmt; del: Stmt;
    version: Stmt; bump: Stmt;
  };
  // IMMEDIATE transactions: the uniqueness checks and the write see the same state, whoever else
  // writes to the file.
  private readonly createTx: Transaction<(cond: TraceConditionJson) => CreateConditionResult>;
  private readonly putTx: Transaction<(cond: TraceConditionJson) => PutConditionResult>;
  private readonly deleteTx: Transaction<(id: string) => boolean>;
  private readonly listeners = new Set<ConditionListener>();
  /** The `limit` counters, in the same file. */
  readonly hits: SqliteConditionHits;
  private poller: NodeJS.Timeout | null = null;
  private dataVersion = 0;
  private condVersion = '';
  private closed = false;

  /** Use openSqliteConditionStore(), which reports a refused file as a value. */
  constructor(db: Db, opts: SqliteConditionStoreOptions) {
    this.db = db;
    this.hits = new SqliteConditionHits(db);
    this.now = opts.now ?? Date.now;
    this.pollMs = opts.pollIntervalMs ?? 200;
    this.onError = opts.onError ??
      ((err) => process.emitWarning(`trace condition store: ${String(err)}`));
    this.s = {
      all: db.prepare('SELECT id, name, body FROM conditions ORDER BY seq'),
      byId: db.prepare('SELECT id, name, body FROM conditions WHERE id = ?'),
      byName: db.prepare('SELECT id, name, body FROM conditions WHERE name = ?'),
      insert: db.prepare('INSERT INTO conditions (id, name, body) VALUES (?, ?, ?)'),
      update: db.prepare('UPDATE conditions SET name = ?, body = ? WHERE id = ?'),
      del: db.prepare('DELETE FROM conditions WHERE id = ?'),
      version: db.prepare("SELECT value FROM meta WHERE key = 'conditions_version'").pluck(),
      bump: db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'conditions_version'"),
    };
    const s = this.s;
    this.createTx = db.transaction((cond: TraceConditionJson): CreateConditionResult => {
      if (s.byId.get(cond.id) !== undefined) return { ok: false, code: 'duplicate_id' };
      if (cond.name !== undefined && s.byName.get(cond.name) !== undefined) return { ok: false, code: 'duplicate_name' };
      s.insert.run(cond.id, cond.name ?? null, JSON.stringify(cond));
      s.bump.run();
      return { ok: true, condition: cond };
    });
    this.putTx = db.transaction((cond: TraceConditionJson): PutConditionResult => {
      const old = s.byId.get(cond.id) as CondRow | undefined;
      if (cond.name !== undefined) {
        const holder = s.byName.get(cond.name) as CondRow | undefined;
        if (holder !== undefined && holder.id !== cond.id) return { ok: false, code: 'duplicate_name' };
      }
      // A replace whose body has no creation time keeps the original one.
      if (cond.creationTimestampMs === undefined) {
        cond.creationTimestampMs = (old !== undefined ? parse(old).creationTimestampMs : undefined) ?? this.now();
      }
      if (old === undefined) s.insert.run(cond.id, cond.name ?? null, JSON.stringify(cond));
      else s.update.run(cond.name ?? null, JSON.stringify(cond), cond.id);
      s.bump.run();
      return { ok: true, created: old === undefined, condition: cond };
    });
    this.deleteTx = db.transaction((id: string): boolean => {
      if (s.del.run(id).changes === 0) return false;
      s.bump.run();
      return true;
    });
  }

  async list(): Promise<TraceConditionJson[]> {
    this.check();
    return this.readAll();
  }

  async get(id: string): Promise<TraceConditionJson | null> {
    this.check();
    const row = this.s.byId.get(id) as CondRow | undefined;
    return row === undefined ? null : parse(row);
  }

  async create(c: NewTraceCondition): Promise<CreateConditionResult> {
    this.check();
    const cond = { ...c, id: c.id ?? randomUUID() } as TraceConditionJson;
    if (cond.creationTimestampMs === undefined) cond.creationTimestampMs = this.now();
    const res = this.createTx.immediate(cond);
    if (res.ok) this.changed();
    return res.ok ? { ok: true, condition: clone(res.condition) } : res;
  }

  async put(id: string, c: NewTraceCondition): Promise<PutConditionResult> {
    this.check();
    if (c.id !== undefined && c.id !== id) return { ok: false, code: 'id_mismatch' };
    const cond = { ...c, id } as TraceConditionJson;
    const res = this.putTx.immediate(cond);
    if (res.ok) this.changed();
    return res.ok ? { ...res, condition: clone(res.condition) } : res;
  }

  async delete(id: string): Promise<boolean> {
    this.check();
    const gone = this.deleteTx.immediate(id);
    if (gone) this.changed();
    return gone;
  }

  watch(listener: ConditionListener): () => void {
    this.check();
    this.listeners.add(listener);
    if (this.poller === null) {
      this.dataVersion = this.readDataVersion();
      this.condVersion = this.s.version.get() as string;
      this.poller = setInterval(() => this.poll(), this.pollMs);
      this.poller.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.poller !== null) { clearInterval(this.poller); this.poller = null; }
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.poller !== null) { clearInterval(this.poller); this.poller = null; }
    this.listeners.clear();
    this.db.close();
  }

  private poll(): void {
    if (this.closed) return;
    try {
      const dv = this.readDataVersion();
      if (dv === this.dataVersion) return;
      this.dataVersion = dv;
      const cv = this.s.version.get() as string;
      if (cv === this.condVersion) return;
      this.condVersion = cv;
      this.notify();
    } catch (err) {
      // A locked or briefly unreadable file: try again on the next tick of the poller.
      this.onError(err);
    }
  }

  /** After our own commit: remember the version so the poller does not report it again. */
  private changed(): void {
    if (this.listeners.size === 0) return;
    this.condVersion = this.s.version.get() as string;
    this.notify();
  }

  private notify(): void {
    if (this.closed || this.listeners.size === 0) return;
    const all = this.readAll();
    for (const l of [...this.listeners]) {
      try { l(all.map(clone)); } catch (err) { this.onError(err); }
    }
  }

  private readAll(): TraceConditionJson[] {
    return (this.s.all.all() as CondRow[]).map(parse);
  }

  private readDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private check(): void {
    if (this.closed) throw new Error('SqliteConditionStore is closed');
  }
}

function parse(row: CondRow): TraceConditionJson {
  return JSON.parse(row.body) as TraceConditionJson;
}

function clone(c: TraceConditionJson): TraceConditionJson {
  return structuredClone(c);
}

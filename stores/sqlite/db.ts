// Opens the one SQLite file of offline mode (traces and trace conditions) and brings its schema to
// the version this code understands. The version lives in the `meta` table so that a later
// release can see what it is migrating from; a file from a newer release is refused, not guessed at.
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';

export type Db = Database.Database;
export type Stmt = Database.Statement<unknown[]>;

export type OpenDbError = 'schema_too_new' | 'open_failed';
export type OpenDbResult =
  | { ok: true; db: Db }
  | { ok: false; code: OpenDbError; message: string };

export interface OpenDbOptions {
  /** How long a statement waits for another connection's lock before failing. Default 5,000 ms. */
  busyTimeoutMs?: number;
}

export function openDb(path: string, opts: OpenDbOptions = {}): OpenDbResult {
  let db: Db;
  try {
    db = new Database(path, { timeout: opts.busyTimeoutMs ?? 5000 });
  } catch (err) {
    return { ok: false, code: 'open_failed', message: `cannot open SQLite file ${path}: ${errText(err)}` };
  }
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && path !== ':memory:') throw new Error(`journal_mode is ${String(mode)}, WAL refused`);
    // NORMAL under WAL: a power cut may lose the last transactions but never corrupts the file.
    db.pragma('synchronous = NORMAL');
    // Larger checkpoints rewrite hot index pages less often under a steady trace stream.
    db.pragma('wal_autocheckpoint = 4000');
    const found = migrate(db);
    if (found > SCHEMA_VERSION) {
      db.close();
      return {
        ok: false, code: 'schema_too_new',
        message: `${path} has schema version ${found}, but this midotrace understands versions up to ` +
          `${SCHEMA_VERSION}: upgrade midotrace or point it at another file`,
      };
    }
    return { ok: true, db };
  } catch (err) {
    db.close();
    return { ok: false, code: 'open_failed', message: `cannot use SQLite file ${path}: ${errText(err)}` };
  }
}

/** Applies missing migrations in one write transaction; returns the version found before. */
function migrate(db: Db): number {
  const run = db.transaction((): number => {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
    const found = row === undefined ? 0 : Number(row.value);
    if (!Number.isInteger(found) || found < 0) throw new Error(`meta.schema_version is ${row?.value ?? ''}`);
    if (found >= SCHEMA_VERSION) return found;
    for (let v = found + 1; v <= SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v - 1]!);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    return found;
  });
  // IMMEDIATE: two processes opening a fresh file at once must not both create the tables.
  return run.immediate();
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

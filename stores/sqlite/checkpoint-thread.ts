// Copies the write-ahead log into the database file beside the writer (PASSIVE checkpoints on a
// connection of its own), so the writer thread never stops to do it: with SQLite's automatic
// checkpoints, the copy and its fsync took about a third of the writer's time under a steady trace
// stream. The writer still truncates the log itself when it passes a size (writer-thread.ts), which
// also bounds it should this thread fall behind or fail.
import { parentPort, workerData } from 'node:worker_threads';
import { openDb } from './db.js';

export interface CheckpointInit { path: string; busyTimeoutMs: number; everyMs: number }

const init = workerData as CheckpointInit;
const port = parentPort!;
const opened = openDb(init.path, { busyTimeoutMs: init.busyTimeoutMs });
if (opened.ok) {
  const db = opened.db;
  const timer = setInterval(() => {
    // A checkpoint that cannot run now (a writer holds a lock it needs) runs next time.
    try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* next time */ }
  }, init.everyMs);
  port.on('message', () => { clearInterval(timer); db.close(); port.close(); });
} else {
  port.close();
}

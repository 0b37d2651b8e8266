// The SQLite writer thread: its own connection does every write of the trace tables (batches of
// traces, deletes, retention sweeps), so the daemon's event loop never waits on an INSERT, a
// checkpoint or an fsync. The daemon's thread keeps a connection for reads (WAL lets them run
// alongside). Messages are WriterRequest / WriterReply (writer-port.ts).
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { siblingModule, startThread } from '../../model/thread-entry.js';
import type { CheckpointInit } from './checkpoint-thread.js';
import { openDb } from './db.js';
import { DELETE_CHUNK, SqliteTraceReader } from './trace-reader.js';
import { SqliteTraceWriter } from './trace-writer.js';
import type { PendingTrace } from '../queue.js';
import type { EncodedTrace } from './trace-wire.js';
import { META, type WriterInit, type WriterReply, type WriterRequest } from './writer-port.js';

const init = workerData as WriterInit;
const CHECKPOINT = siblingModule(import.meta.url, 'checkpoint-thread');
const opened = openDb(init.path, { busyTimeoutMs: init.busyTimeoutMs });
const port = parentPort!;

if (!opened.ok) {
  port.postMessage({ seq: 0, ok: false, message: opened.message } satisfies WriterReply);
} else {
  const db = opened.db;
  // Checkpoints are the checkpoint thread's; this one only truncates the log past a size.
  db.pragma('wal_autocheckpoint = 0');
  const checkpointer = startThread(CHECKPOINT, { workerData: { path: init.path, busyTimeoutMs: init.busyTimeoutMs, everyMs: init.checkpointEveryMs ?? 1000 } satisfies CheckpointInit });
  checkpointer.unref();
  checkpointer.on('error', () => { /* the size limit below still bounds the log */ });
  const walLimit = init.walLimitBytes ?? 256 * 1024 * 1024;
  const walPath = `${init.path}-wal`;
  /**
   * Never throws: it runs after a write has committed, whose reply must say so. A truncation that
   * cannot run now (a reader or the checkpoint thread busy past the timeout) is tried after the next.
   */
  const boundWal = (): void => {
    try {
      if (statSync(walPath).size > walLimit) db.pragma('wal_checkpoint(TRUNCATE)');
    } catch { /* next time */ }
  };
  const writer = new SqliteTraceWriter(db);
  const reader = new SqliteTraceReader(db);
  port.postMessage({ seq: 0, ok: true, value: 0 } satisfies WriterReply);
  port.on('message', (m: WriterRequest) => {
    let reply: WriterReply;
    try {
      switch (m.op) {
        case 'write': writer.writeBatch(unpack(m.texts, m.meta, m.stepTexts)); reply = { seq: m.seq, ok: true, value: 0 }; break;
        case 'delete': reply = { seq: m.seq, ok: true, value: reader.delete(m.id) ? 1 : 0 }; break;
        case 'append': writer.appendSegment(m.seg); reply = { seq: m.seq, ok: true, value: 0 }; break;
        case 'deleteOlderThan': {
          const n = reader.deleteChunkOlderThan(m.ms);
          // The sweep's last chunk: the lists only those traces used can go too.
          if (n < DELETE_CHUNK) writer.dropListsUnusedBefore(m.ms);
          reply = { seq: m.seq, ok: true, value: n };
          break;
        }
        case 'close': {
          checkpointer.postMessage('close');
          db.close();
          reply = { seq: m.seq, ok: true, value: 0 };
          break;
        }
      }
      // Every write (batches, segments, deletes, sweeps) grows the log: each is followed by the bound.
      if (m.op !== 'close') boundWal();
    } catch (e) {
      reply = { seq: m.seq, ok: false, message: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply);
    if (m.op === 'close') port.close();
  });
}

/** The batch as posted (ThreadWriter.writeBatch). */
function unpack(texts: string[], meta: Int32Array, stepTexts: string[]): PendingTrace<EncodedTrace>[] {
  const n = meta.length / META;
  const out: PendingTrace<EncodedTrace>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const m = i * META;
    const flags = meta[m + 4]!;
    out[i] = {
      rec: { text: texts[meta[m]!]!, start: meta[m + 1]!, end: meta[m + 2]!, stepsText: stepTexts[meta[m + 5]!]!, steps: flags >>> 1, complete: true },
      stepCount: meta[m + 3]!, complete: (flags & 1) === 1,
    };
  }
  return out;
}

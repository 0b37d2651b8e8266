// The trace store as this daemon's API reads it. Traces reach the sink fire-and-forget, so a client
// that posts a traced packet and asks for its trace at once may ask before the sink has stored it, and
// get a 404 for an id the same daemon has just handed out. Reads therefore first wait, bounded, for
// what this daemon has already queued: the API reads its own writes, and a stalled backend costs a
// reader at most `waitMs`, never a hang.
import type { TraceSink, TraceStore } from '../model/stores.js';

export function readOwnTraces(store: TraceStore, sink: () => TraceSink, waitMs = 2000): TraceStore {
  const settle = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, waitMs); });
    try {
      // A flush that fails has counted its traces lost; the read answers from what was stored.
      await Promise.race([sink().flush().catch(() => undefined), bound]);
    } finally {
      clearTimeout(timer);
    }
  };
  // A read of one trace waits only when it misses; a list cannot tell what it misses, so it always
  // waits (an empty queue flushes at once).
  return {
    list: async (q) => { await settle(); return store.list(q); },
    get: async (id) => (await store.get(id)) ?? (await settle(), store.get(id)),
    delete: async (id) => (await store.delete(id)) || (await settle(), store.delete(id)),
    deleteOlderThan: (ms) => store.deleteOlderThan(ms),
  };
}

// Live mode: follows GET /traces/stream and reconnects with Last-Event-ID after a dropped connection,
// so no trace made meanwhile is missed and none is shown twice.
import { streamRequest } from './api.js';
import { SseParser } from '../../model/sse.js';
import type { TraceSummary } from './types.js';

export type FollowState = 'connecting' | 'live' | 'reconnecting';

const RETRY_MS = 2000;

/** Starts following; the returned function stops it. */
export function followTraces(query: URLSearchParams, onTrace: (t: TraceSummary) => void, onState: (s: FollowState) => void): () => void {
  const abort = new AbortController();
  let lastId: string | null = null;
  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      const parser = new SseParser((e) => {
        if (e.event !== 'trace') return;
        try { onTrace(JSON.parse(e.data) as TraceSummary); } catch { /* a malformed event is skipped */ }
      });
      try {
        const res = await streamRequest(`traces/stream?${query.toString()}`, lastId, abort.signal);
        if (res === 'unauthorized') return;
        if (res !== null) {
          onState('live');
          const reader = res.getReader();
          const text = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parser.push(text.decode(value, { stream: true }));
            lastId = parser.lastId ?? lastId;
          }
        }
      } catch { /* dropped: reconnect below */ }
      if (abort.signal.aborted) return;
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  };
  onState('connecting');
  void run();
  return () => abort.abort();
}

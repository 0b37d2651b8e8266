// Opens the storage chosen in the config: the trace sink/store and the condition store, each backend
// picked independently. Offline default: both in one SQLite file.
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { ConditionStore, TraceSink, TraceStore } from '../sinks/types.js';
import type { BackendHealth } from '../api/deps.js';
import { openSqliteTraceBackend } from '../sinks/sqlite/trace-backend.js';
import { openSqliteConditionStore } from '../sinks/sqlite/condition-store.js';
import { StartError } from './errors.js';

export interface Backends {
  sink: TraceSink;
  traces: TraceStore;
  conditions: ConditionStore;
  health(): BackendHealth[];
  /** Flushes the sink, then closes everything. */
  close(): Promise<void>;
}

const DAY_MS = 86_400_000;

export async function openBackends(config: Readonly<Config>, _hostId: string, log: Logger): Promise<Backends> {
  if (config.sink.backend !== 'sqlite') throw new StartError(`sink.backend ${config.sink.backend} is not available in this build`);
  if (config.conditions.store !== 'sqlite') throw new StartError(`conditions.store ${config.conditions.store} is not available in this build`);
  const tb = openSqliteTraceBackend({
    path: config.sqlite.path,
    retentionMs: config.sink.retentionDays * DAY_MS,
    maxQueuedTraces: config.sink.queueTraces,
    maxQueuedSteps: config.sink.queueSteps,
    onError: (err) => log.warn({ err }, 'trace sink write failed'),
  });
  if (!tb.ok) throw new StartError(`sqlite.path ${config.sqlite.path}: ${tb.message}`);
  const cs = openSqliteConditionStore({
    path: config.sqlite.path,
    onError: (err) => log.warn({ err }, 'condition store error'),
  });
  if (!cs.ok) {
    await tb.backend.close();
    throw new StartError(`sqlite.path ${config.sqlite.path}: ${cs.message}`);
  }
  const backend = tb.backend;
  const store = cs.store;
  const b: Backends = {
    sink: backend,
    traces: backend,
    conditions: store,
    health: () => {
      const s = backend.stats();
      return [
        { name: 'sink:sqlite', ok: true, detail: `${s.tracesWritten} traces written, ${s.stepsLost} steps lost, queue ${s.queueDepth}` },
        { name: 'conditions:sqlite', ok: true },
      ];
    },
    // b.sink, not backend: the daemon may have wrapped the sink, and the wrapper must drain first.
    close: async () => {
      await b.sink.close();
      await backend.close();
      await store.close();
    },
  };
  return b;
}

// Opens the storage chosen in the config: the trace sink/store and the condition store, each backend
// picked independently. Offline default: both in one SQLite file.
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { BackendHealth, ConditionBackend, ConditionHits, ConditionStore, TraceBackend, TraceSink, TraceStore } from '../model/stores.js';
import { openSqliteTraceBackend } from '../stores/sqlite/trace-backend.js';
import { openSqliteConditionStore } from '../stores/sqlite/condition-store.js';
import { StartError } from './errors.js';

export interface Backends {
  sink: TraceSink;
  traces: TraceStore;
  conditions: ConditionStore;
  hits: ConditionHits;
  health(): BackendHealth[];
  /** Drains the sink (possibly wrapped by the daemon), then closes everything. */
  close(): Promise<void>;
}

export type { ConditionBackend, TraceBackend } from '../model/stores.js';

const DAY_MS = 86_400_000;

export async function openTraceBackend(config: Readonly<Config>, log: Logger): Promise<TraceBackend> {
  switch (config.sink.backend) {
    case 'sqlite': {
      const r = openSqliteTraceBackend({
        path: config.sqlite.path,
        walLimitBytes: config.sqlite.walLimitMB * 1024 * 1024,
        retentionMs: config.sink.retentionDays * DAY_MS,
        maxQueuedTraces: config.sink.queueTraces,
        maxQueuedSteps: config.sink.queueSteps,
        onError: (err) => log.warn({ err }, 'trace sink write failed'),
      });
      if (!r.ok) throw new StartError(`sqlite.path ${config.sqlite.path}: ${r.message}`);
      const b = r.backend;
      return {
        sink: b, store: b,
        health: () => {
          const s = b.stats();
          return { name: 'sink:sqlite', ok: true, detail: `${s.tracesWritten} traces written, ${s.stepsLost} steps lost, queue ${s.queueDepth}` };
        },
        close: () => b.close(),
      };
    }
    case 'cassandra': {
      // Loaded only when chosen: offline mode never loads the driver.
      const { openCassandraTraceBackend } = await import('../stores/cassandra/index.js');
      const c = config.cassandra;
      // Starts even while Cassandra is down: the backend retries, reports unhealthy, and the queue
      // counts what it cannot store. Only a keyspace this release cannot use stops the start.
      const r = await openCassandraTraceBackend({
        contactPoints: [...c.contactPoints], localDataCenter: c.localDataCenter, keyspace: c.keyspace,
        replication: { ...c.replication }, tls: c.tls, readConsistency: c.readConsistency, writeConsistency: c.writeConsistency,
        maxInFlight: c.maxInFlight, ttlSeconds: config.sink.retentionDays * 86_400,
        layout: { bucketMs: c.indexBucketSeconds * 1000, shards: c.indexShards }, maxRowsScannedPerPage: c.maxRowsScannedPerPage,
        ...(c.username !== undefined ? { username: c.username, password: c.password ?? '' } : {}),
        maxQueuedTraces: config.sink.queueTraces, maxQueuedSteps: config.sink.queueSteps,
        log,
      });
      if (!r.ok) throw new StartError(`cassandra keyspace ${c.keyspace}: ${r.message}`);
      const b = r.backend;
      if (r.first.state !== 'ready') log.warn({ contactPoints: c.contactPoints, reason: r.first.error }, 'cassandra unreachable at start; retrying in the background');
      return {
        sink: b, store: b,
        health: () => { const h = b.health(); return { name: 'sink:cassandra', ok: h.ok, detail: h.detail }; },
        close: () => b.close(),
      };
    }
    default:
      throw new StartError(`sink.backend ${config.sink.backend} is not available in this build`);
  }
}

export async function openConditionBackend(config: Readonly<Config>, log: Logger): Promise<ConditionBackend> {
  switch (config.conditions.store) {
    case 'sqlite': {
      const r = openSqliteConditionStore({ path: config.sqlite.path, onError: (err) => log.warn({ err }, 'condition store error') });
      if (!r.ok) throw new StartError(`sqlite.path ${config.sqlite.path}: ${r.message}`);
      const store = r.store;
      return { store, hits: store.hits, health: () => ({ name: 'conditions:sqlite', ok: true }), close: () => store.close() };
    }
    case 'zookeeper': {
      // Loaded only when used: offline mode never loads the ZooKeeper client.
      const { openZkConditionBackend } = await import('./zk-open.js');
      return openZkConditionBackend(config, log);
    }
    default:
      throw new StartError(`conditions.store ${config.conditions.store} is not available in this build`);
  }
}

export async function openBackends(config: Readonly<Config>, _hostId: string, log: Logger): Promise<Backends> {
  const traces = await openTraceBackend(config, log);
  let conditions: ConditionBackend;
  try {
    conditions = await openConditionBackend(config, log);
  } catch (e) {
    await traces.close();
    throw e;
  }
  const b: Backends = {
    sink: traces.sink,
    traces: traces.store,
    conditions: conditions.store,
    hits: conditions.hits,
    health: () => [traces.health(), conditions.health()],
    // b.sink, not traces.sink: the daemon may have wrapped the sink, and the wrapper must drain first.
    close: async () => {
      await b.sink.close();
      await traces.close();
      await conditions.close();
    },
  };
  return b;
}

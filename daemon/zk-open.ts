// The daemon's ZooKeeper backends, as daemon/backends.ts and daemon/topology-source.ts open them.
// Neither throws when ZooKeeper is unreachable: each waits a moment for the first read, then returns
// a backend that reports itself down in health() and keeps retrying in the background, loading
// everything (and telling its watchers) once ZooKeeper answers. Bad settings do throw (StartError).
// Both backends of one daemon share one session: an ensemble serving every hypervisor host counts
// sessions (heartbeats, expiry tracking), and one per host is what Midolman holds too.
import type { Config } from './config.js';
import { StartError } from './errors.js';
import type { Logger } from './log.js';
import type { ConditionBackend, TopologySource } from '../model/stores.js';
import { ZkConditionStore } from '../stores/zookeeper/condition-store.js';
import { checkConnectString, checkZnodePath, normalizeRoot } from '../stores/zookeeper/paths.js';
import { ZkSession } from '../stores/zookeeper/session.js';
import { ZkTopologySource } from '../stores/zookeeper/topology-store.js';

/** How long start-up waits for the first read before going on without ZooKeeper. */
export const INITIAL_WAIT_MS = 2_000;

/** The session of each daemon's configuration (frozen, one object per daemon), while open. */
const sessions = new WeakMap<Readonly<Config>, ZkSession>();

function sessionFor(config: Readonly<Config>, s: { connect: string; sessionTimeoutMs: number }, log: Logger): ZkSession {
  const have = sessions.get(config);
  if (have !== undefined && !have.isClosed) return have.share();
  const session = new ZkSession({ connect: s.connect, sessionTimeoutMs: s.sessionTimeoutMs, log, name: 'daemon' });
  sessions.set(config, session);
  return session;
}

function settings(config: Readonly<Config>): { connect: string; root: string; sessionTimeoutMs: number } {
  const { connect, root, sessionTimeoutMs } = config.zookeeper;
  const badConnect = checkConnectString(connect);
  if (badConnect !== null) throw new StartError(`zookeeper.connect ${connect}: ${badConnect}`);
  const badRoot = checkZnodePath(root);
  if (badRoot !== null) throw new StartError(`zookeeper.root ${root}: ${badRoot}`);
  return { connect, root: normalizeRoot(root), sessionTimeoutMs };
}

export async function openZkConditionBackend(config: Readonly<Config>, log: Logger): Promise<ConditionBackend> {
  const s = settings(config);
  const store = new ZkConditionStore({ session: sessionFor(config, s, log), root: s.root, log });
  if (!(await store.ready(INITIAL_WAIT_MS))) {
    log.warn({ zookeeper: s.connect }, 'trace conditions: ZooKeeper not answering yet; starting without conditions and retrying');
  }
  return { store, hits: store.hits, health: () => store.health(), close: () => store.close() };
}

export async function openZkTopologySource(config: Readonly<Config>, log: Logger): Promise<TopologySource> {
  const s = settings(config);
  const z = config.zookeeper;
  const source = new ZkTopologySource({
    session: sessionFor(config, s, log), root: s.root, log,
    resyncJitterMs: z.resyncJitterMs, watchBuckets: z.watchTopologyBuckets,
  });
  if (!(await source.ready(INITIAL_WAIT_MS))) {
    log.warn({ zookeeper: s.connect }, 'topology: ZooKeeper not answering yet; starting with an empty topology and retrying');
  }
  return source;
}

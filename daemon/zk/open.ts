// The daemon's ZooKeeper backends, as daemon/backends.ts and daemon/topology-source.ts open them.
// Neither throws when ZooKeeper is unreachable: each waits a moment for the first read, then returns
// a backend that reports itself down in health() and keeps retrying in the background, loading
// everything (and telling its watchers) once ZooKeeper answers. Bad settings do throw (StartError).
import type { Config } from '../config.js';
import { StartError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ConditionBackend } from '../backends.js';
import type { TopologySource } from '../topology-source.js';
import { ZkConditionStore } from './condition-store.js';
import { checkConnectString, checkZnodePath, normalizeRoot } from './paths.js';
import { ZkSession } from './session.js';
import { ZkTopologySource } from './topology-store.js';

/** How long start-up waits for the first read before going on without ZooKeeper. */
export const INITIAL_WAIT_MS = 2_000;

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
  const session = new ZkSession({ connect: s.connect, sessionTimeoutMs: s.sessionTimeoutMs, log, name: 'conditions' });
  const store = new ZkConditionStore({ session, root: s.root, log });
  if (!(await store.ready(INITIAL_WAIT_MS))) {
    log.warn({ zookeeper: s.connect }, 'trace conditions: ZooKeeper not answering yet; starting without conditions and retrying');
  }
  return { store, health: () => store.health(), close: () => store.close() };
}

export async function openZkTopologySource(config: Readonly<Config>, log: Logger): Promise<TopologySource> {
  const s = settings(config);
  const session = new ZkSession({ connect: s.connect, sessionTimeoutMs: s.sessionTimeoutMs, log, name: 'topology' });
  const source = new ZkTopologySource({ session, root: s.root, log });
  if (!(await source.ready(INITIAL_WAIT_MS))) {
    log.warn({ zookeeper: s.connect }, 'topology: ZooKeeper not answering yet; starting with an empty topology and retrying');
  }
  return source;
}

// Small readers shared by the ZooKeeper topology tests.
import type { ZkClient } from '../../stores/zookeeper/client.js';
import { parseCurrent, TopologyPaths } from '../../stores/zookeeper/paths.js';
import type { ImportResult } from '../../stores/zookeeper/topology-import.js';

/** The import's success, or a thrown error naming why it failed. */
export function importOk(r: ImportResult): Extract<ImportResult, { ok: true }> {
  if (!r.ok) throw new Error(`import failed: ${r.code}: ${r.message}`);
  return r;
}

/** The `current` pointer under `root` and its znode version. */
export async function readCurrent(c: ZkClient, root: string) {
  const r = await c.get(new TopologyPaths(root).current);
  if (!r.ok) throw new Error(r.error.message);
  return { pointer: parseCurrent(r.value.data)!, version: r.value.stat.version };
}

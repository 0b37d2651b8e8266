// zk.topology_change.fanout_bytes (P14): bytes one daemon reads from ZooKeeper when one route changes,
// with the change manifest (the default: one watch on `current`, then the manifest and the new
// object) and, for comparison, with bucket watches (`bucketWatchesBytes`: `current`, the route's whole
// bucket listing, the new object). Real readers (ZkTopologySource) against a real ZooKeeper started
// by the test harness (loaded through tsx: test code is neither compiled nor shipped); bytes are reply
// payloads plus 96 bytes of header and Stat per reply. The bucket listing grows with the topology
// (≈ routes / 256 names), the manifest does not: `bucketWatchesBytesAt100k` scales the listing.
import { Writable } from 'node:stream';
import { createLogger } from '../daemon/log.js';
import { ZkClient } from '../stores/zookeeper/client.js';
import { ZkSession } from '../stores/zookeeper/session.js';
import { ZkTopologySource } from '../stores/zookeeper/topology-store.js';
import { importTopology } from '../stores/zookeeper/topology-import.js';
import { loadTopology } from '../model/topology/load.js';
import type { RouteJson, TopologyDoc } from '../model/topology/doc.js';
import type { BenchLine } from './types.js';

const ROUTES = 20_000;
const REPLY_OVERHEAD = 96;

interface ZkServer { connectString: string; stop(): Promise<void> }

async function startServer(): Promise<ZkServer> {
  const fromDist = !import.meta.url.endsWith('.ts');
  const url = new URL(`${fromDist ? '../..' : '..'}/test/helpers/zookeeper.ts`, import.meta.url).href;
  const { tsImport } = (await import('tsx/esm/api')) as { tsImport: (u: string, parent: string) => Promise<{ startZooKeeper(): Promise<ZkServer> }> };
  return (await tsImport(url, import.meta.url)).startZooKeeper();
}

const uuid = (k: number, i: number): string => `${k.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

function topology(): TopologyDoc {
  const router = { id: uuid(1, 0) };
  const routes: RouteJson[] = Array.from({ length: ROUTES }, (_, i) => ({
    id: uuid(3, i), routerId: router.id, type: 'blackhole', dstNetworkAddr: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, dstNetworkLength: 32,
  }));
  const r = loadTopology({ routers: [router], routes });
  if (!r.ok) throw new Error('bench topology is invalid');
  return r.doc;
}

/** Counts reply bytes of the reader's client from now on. */
function meter(source: ZkTopologySource): { bytes: () => number } {
  const zk = source.session.client!;
  let bytes = 0;
  const get = zk.get.bind(zk);
  const getChildren = zk.getChildren.bind(zk);
  zk.get = async (...a: Parameters<typeof get>) => {
    const r = await get(...a);
    if (r.ok) bytes += r.value.data.length + REPLY_OVERHEAD;
    return r;
  };
  zk.getChildren = async (...a: Parameters<typeof getChildren>) => {
    const r = await getChildren(...a);
    if (r.ok) bytes += r.value.children.reduce((n, c) => n + 4 + c.length, 4) + REPLY_OVERHEAD;
    return r;
  };
  return { bytes: () => bytes };
}

export async function benchZkFanout(): Promise<BenchLine[]> {
  const server = await startServer();
  const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
  const admin = await ZkClient.connect(server.connectString, { sessionTimeout: 10_000 });
  if (!admin.ok) throw new Error(admin.error.message);
  const sources: ZkTopologySource[] = [];
  try {
    const root = '/bench';
    const doc = topology();
    const imported = await importTopology(admin.value, root, doc);
    if (!imported.ok) throw new Error(imported.message);
    const readers = [false, true].map((watchBuckets) => {
      const session = new ZkSession({ connect: server.connectString, sessionTimeoutMs: 10_000, log, name: 'bench' });
      const s = new ZkTopologySource({ session, root, log, coalesceMs: 5, watchBuckets });
      sources.push(s);
      return s;
    });
    for (const s of readers) if (!(await s.ready(60_000))) throw new Error('reader not ready');
    const meters = readers.map(meter);
    const seen = readers.map(() => 0);
    readers.forEach((s, i) => s.watch(() => { seen[i]!++; }));
    const next = { ...doc, routes: [...doc.routes!] };
    next.routes[123] = { ...next.routes[123]!, dstNetworkAddr: '10.250.0.1' };
    const changed = await importTopology(admin.value, root, next);
    if (!changed.ok || changed.how !== 'incremental') throw new Error('expected an incremental import');
    const deadline = Date.now() + 10_000;
    while (seen.some((n) => n === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const [manifest, buckets] = meters.map((m) => m.bytes()) as [number, number];
    const listing = buckets - manifest; // roughly: the listing replaces the manifest read
    return [{
      bench: 'zk.topology_change.fanout_bytes', value: manifest, unit: 'bytes',
      routes: ROUTES, bucketWatchesBytes: buckets,
      bucketWatchesBytesAt100k: Math.round(buckets + listing * (100_000 / ROUTES - 1)),
      watchesPerDaemon: 1, watchesPerDaemonWithBucketWatches: 1 + 7 + 7 * 256,
    }];
  } finally {
    for (const s of sources) await s.close();
    await admin.value.close();
    await server.stop();
  }
}

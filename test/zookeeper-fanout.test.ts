// ZooKeeper fan-out at scale (P14 item 4): one route change seen by 500 daemons' sessions, with the
// bucket watches daemons held before change manifests and with the manifest. Its own server and an
// admin session with a long timeout: 500 sessions and a 20,000-route import load a small test JVM.
import t from 'tap';
import { ZkClient } from '../stores/zookeeper/client.js';
import { bucketOf, parseCurrent, TopologyPaths } from '../stores/zookeeper/paths.js';
import { importTopology } from '../stores/zookeeper/topology-import.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import { testNet } from './helpers/api-deps.js';
import { Net } from './helpers/net.js';
import { startZooKeeper, runIfZooKeeper } from './helpers/zookeeper.js';
import { importOk, readCurrent } from './helpers/zk-topology.js';

await runIfZooKeeper(t, run);

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const admin = await ZkClient.connect(zk.connectString, { sessionTimeout: 30_000 });
  if (!admin.ok) throw new Error(admin.error.message);
  const c = admin.value;
  t.teardown(() => c.close());
  const ok = importOk;
  const currentOf = (root: string) => readCurrent(c, root);
  const net = testNet();
  const doc = net.doc;

  t.test('fan-out of one route change to 500 daemons: bytes and time with bucket watches and with the manifest', async (t) => {
    const root = '/fanout';
    const ROUTES = 20_000;
    const DAEMONS = 500;
    const big = structuredClone(doc) as Required<TopologyDoc>;
    const router = net.id('r');
    big.routes = Array.from({ length: ROUTES }, (_, i) => ({
      id: new Net().id(`route-${i}`), routerId: router, dstNetworkAddr: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, dstNetworkLength: 32, type: 'blackhole' as const,
    }));
    const started = Date.now();
    ok(await importTopology(c, root, big));
    t.comment(`imported ${ROUTES} routes in ${Date.now() - started} ms`);
    const paths = new TopologyPaths(root);
    const gen = (await currentOf(root)).pointer.generation;
    const target = big.routes[123]!;
    const bucketPath = paths.bucket(gen, 'routes', bucketOf(target.id));
    const bucketSize = (await c.getChildren(bucketPath)).ok ? ((await c.getChildren(bucketPath)) as { value: { children: string[] } }).value.children.length : 0;
    const dirs = (await c.getChildren(paths.kind(gen, 'routes'))).ok ? 256 : 0;

    // 500 sessions, each holding the watches a daemon holds that this change fires, and doing on the
    // event exactly the reads ZkTopologySource does (see its file comment): measured reply payloads.
    const clients: ZkClient[] = [];
    t.teardown(() => Promise.all(clients.map((x) => x.close())));
    for (let i = 0; i < DAEMONS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, DAEMONS - i) }, () => ZkClient.connect(zk.connectString, { sessionTimeout: 20_000 })));
      for (const r of batch) { if (!r.ok) throw new Error(r.error.message); clients.push(r.value); }
    }
    const STAT = 80; // a reply's Stat, besides its header (16 bytes)
    const measure = async (mode: 'buckets' | 'manifest', change: () => Promise<number>): Promise<{ bytes: number; requests: number; ms: number }> => {
      let bytes = 0;
      let requests = 0;
      let done = 0;
      let finished!: () => void;
      const all = new Promise<void>((resolve) => { finished = resolve; });
      const count = (n: number): void => { bytes += n + 16 + STAT; requests++; };
      await Promise.all(clients.map(async (z) => {
        let revision = -1;
        const onCurrent = async (): Promise<void> => {
          const cur = await z.get(paths.current);
          if (!cur.ok) return;
          count(cur.value.data.length);
          const next = parseCurrent(cur.value.data)!;
          if (mode === 'manifest') {
            const m = await z.get(paths.manifest(gen, next.revision));
            if (m.ok) {
              count(m.value.data.length);
              const man = JSON.parse(m.value.data.toString()) as { added: string[] };
              for (const a of man.added) { const o = await z.get(`${paths.generation(gen)}/${a}`); if (o.ok) count(o.value.data.length); }
            }
          }
          revision = next.revision;
          if (mode === 'manifest' && ++done === DAEMONS) finished();
        };
        const onBucket = async (): Promise<void> => {
          const l = await z.getChildren(bucketPath);
          if (!l.ok) return;
          count(l.value.children.reduce((n, x) => n + 4 + x.length, 4));
          const added = l.value.children.filter((x) => x.startsWith(target.id) && !x.endsWith(known));
          for (const a of added) { const o = await z.get(`${bucketPath}/${a}`); if (o.ok) count(o.value.data.length); }
          if (++done === DAEMONS) finished();
        };
        await z.get(paths.current, () => void onCurrent());
        if (mode === 'buckets') await z.getChildren(bucketPath, () => void onBucket());
        void revision;
      }));
      const t0 = await change();
      await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
      return { bytes, requests, ms: Date.now() - t0 };
    };
    let known = '';
    const edit = (n: number) => async (): Promise<number> => {
      const next = structuredClone(big);
      next.routes[123] = { ...target, dstNetworkLength: 32, dstNetworkAddr: `10.99.0.${n}` };
      const listing = await c.getChildren(bucketPath);
      known = listing.ok ? listing.value.children.find((x) => x.startsWith(target.id))!.slice(target.id.length) : '';
      const t0 = Date.now();
      t.equal(ok(await importTopology(c, root, next)).how, 'incremental');
      return t0;
    };
    const before = await measure('buckets', edit(1));
    const after = await measure('manifest', edit(2));
    t.ok(before.requests >= DAEMONS * 3 && after.requests >= DAEMONS * 3, 'every session read the change');
    t.ok(after.bytes * 5 < before.bytes, `manifest: ${(after.bytes / DAEMONS).toFixed(0)} B per daemon vs ${(before.bytes / DAEMONS).toFixed(0)} B with bucket watches`);
    t.comment(`one route change at ${ROUTES} routes (bucket of ${bucketSize} objects), ${DAEMONS} sessions: ` +
      `bucket watches ${before.bytes} B total, ${(before.bytes / DAEMONS).toFixed(0)} B/daemon, ${before.requests} requests, ${before.ms} ms; ` +
      `manifest ${after.bytes} B total, ${(after.bytes / DAEMONS).toFixed(0)} B/daemon, ${after.requests} requests, ${after.ms} ms; ` +
      `watches per daemon: ${1 + 7 + dirs * 7} at most with bucket watches, 1 with the manifest`);
  });
}

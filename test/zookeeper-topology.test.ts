// Topology in a real ZooKeeper (issue P4): import/export round trips, incremental changes in one
// transaction, generation switches, imports that fail half-way and leave the old topology intact,
// a running daemon following imports, and the `midotrace topology` commands.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { buildProgram } from '../cli/main.js';
import { UserError } from '../cli/exit.js';
import { ZkClient, type ZkOp } from '../stores/zookeeper/client.js';
import type { ZkOps } from '../stores/zookeeper/batch.js';
import { bucketOf, contentHash, TopologyPaths } from '../stores/zookeeper/paths.js';
import { exportTopology, importTopology } from '../stores/zookeeper/topology-import.js';
import { ZkTopologySource } from '../stores/zookeeper/topology-store.js';
import { ZkSession } from '../stores/zookeeper/session.js';
import { createLogger } from '../daemon/log.js';
import { loadTopology } from '../model/topology/load.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import { IP, MAC, testNet } from './helpers/api-deps.js';
import { startTestDaemon } from './helpers/daemon.js';
import { Net, pk } from './helpers/net.js';
import { until } from './helpers/condition-store-conformance.js';
import { fourLetter, startZooKeeper, runIfZooKeeper } from './helpers/zookeeper.js';
import { importOk, readCurrent } from './helpers/zk-topology.js';

await runIfZooKeeper(t, run);

/** The document as export gives it back: validated, empty lists dropped, each list ordered by id. */
function normalized(doc: TopologyDoc): TopologyDoc {
  const r = loadTopology(structuredClone(doc));
  if (!r.ok) throw new Error('test document is invalid');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r.doc) as [string, { id: string }[]][]) {
    if (v.length > 0) out[k] = [...v].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  return out as TopologyDoc;
}

/** A client that fails the Nth transaction (counting from 1), as if the importer died there. */
function failingAt(zk: ZkOps, n: number): ZkOps & { transactions: number } {
  const w = {
    transactions: 0,
    get: zk.get.bind(zk),
    getChildren: zk.getChildren.bind(zk),
    exists: zk.exists.bind(zk),
    create: zk.create.bind(zk),
    setData: zk.setData.bind(zk),
    remove: zk.remove.bind(zk),
    transaction: async (ops: readonly ZkOp[]) => {
      w.transactions++;
      if (w.transactions === n) {
        return { ok: false as const, error: { code: 'CONNECTION_LOSS' as const, zkCode: -4, path: null, message: 'injected: connection lost' } };
      }
      return zk.transaction(ops);
    },
  };
  return w;
}

/** The server's watch count (`mntr`). */
async function watchCount(port: number): Promise<number> {
  const out = await fourLetter(port, 'mntr');
  const m = /zk_watch_count\s+(\d+)/.exec(out);
  return m === null ? -1 : Number(m[1]);
}

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const admin = await ZkClient.connect(zk.connectString, { sessionTimeout: 4_000 });
  if (!admin.ok) throw new Error(admin.error.message);
  const c = admin.value;
  t.teardown(() => c.close());
  const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-zktopo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const ok = importOk;
  const currentOf = (root: string) => readCurrent(c, root);
  const exported = async (root: string): Promise<TopologyDoc> => {
    const r = await exportTopology(c, root);
    if (!r.ok) throw new Error(r.message);
    return r.doc;
  };
  const generations = async (root: string): Promise<string[]> => {
    const r = await c.getChildren(new TopologyPaths(root).generations);
    return r.ok ? r.value.children : [];
  };

  const net = testNet();
  // Tunnel zones are stored like every other kind (SPEC §10: file and ZooKeeper).
  const doc = { ...net.doc, tunnelZones: [{ id: net.id('zone'), name: 'underlay', type: 'vxlan' as const, hosts: [{ hostId: '7a000000-0000-4000-8000-00000000000a', ipAddress: '10.9.0.1' }] }] };

  t.test('import then export round-trips the document, one znode per object', async (t) => {
    const root = '/roundtrip';
    const r = ok(await importTopology(c, root, doc));
    t.equal(r.how, 'full', 'the first import writes a generation');
    t.equal(r.revision, 1);
    t.same(r.counts, { bridges: 2, routers: 1, ports: 8, routes: 0, chains: 0, portGroups: 0, ipAddrGroups: 0, tunnelZones: 1 });
    const { pointer } = await currentOf(root);
    t.equal(pointer.generation, r.generation);
    const vm1 = doc.ports.find((p) => p.name === 'vm1')!;
    const bucket = `${root}/topology/generations/${r.generation}/ports/${bucketOf(vm1.id)}`;
    const listed = await c.getChildren(bucket);
    const name = listed.ok ? listed.value.children.find((n) => n.startsWith(vm1.id)) : undefined;
    t.match(name, new RegExp(`^${vm1.id}\\.[0-9a-f]{16}$`), 'named <id>.<content hash>');
    const node = await c.get(`${bucket}/${name}`);
    t.same(node.ok && JSON.parse(node.value.data.toString()), vm1, 'the port znode holds the port');
    t.equal(name, `${vm1.id}.${contentHash(node.ok ? node.value.data : Buffer.alloc(0))}`);
    t.same(await exported(root), normalized(doc));
    const again = ok(await importTopology(c, root, doc));
    t.equal(again.how, 'unchanged', 're-importing the same document changes nothing');
    t.equal(again.revision, 1);
    t.same(await exportTopology(c, '/never-imported'), { ok: true, doc: {}, generation: null, revision: 0, problems: [] });
  });

  t.test('a small change is one transaction; a large one switches generations and cleans old ones', async (t) => {
    const root = '/changes';
    const first = ok(await importTopology(c, root, doc));
    const changed = structuredClone(doc) as Required<TopologyDoc>;
    changed.ports.find((p) => p.name === 'vm3')!.name = 'vm3-renamed';
    changed.bridges.push({ id: new Net().id('extra-bridge'), name: 'extra' });
    changed.ports = changed.ports.filter((p) => p.name !== 'vm2');
    const inc = ok(await importTopology(c, root, changed));
    t.match(inc, { how: 'incremental', generation: first.generation, revision: 2, created: 1, updated: 1, removed: 1 });
    t.same(await exported(root), normalized(changed));

    const full = ok(await importTopology(c, root, doc, { maxTxnOps: 2 }));
    t.equal(full.how, 'full', 'a change bigger than one transaction writes a new generation');
    t.not(full.generation, first.generation);
    t.equal(full.revision, 3);
    t.same(await exported(root), normalized(doc));
    t.same(await generations(root), [first.generation, full.generation], 'the previous generation is kept');
    const third = ok(await importTopology(c, root, changed, { mode: 'full' }));
    t.same(third.cleaned, [first.generation], 'older ones are removed');
    t.same(await generations(root), [full.generation, third.generation]);
  });

  t.test('a broken import changes nothing', async (t) => {
    const root = '/broken';
    ok(await importTopology(c, root, doc));
    const before = await currentOf(root);
    const gensBefore = await generations(root);

    const invalid = structuredClone(doc) as Required<TopologyDoc>;
    invalid.ports[0]!.deviceId = new Net().id('no-such-bridge');
    const refused = await importTopology(c, root, invalid);
    t.match(refused, { ok: false, code: 'invalid_topology', message: /ports\[0\]\.deviceId/ });

    const bigger = structuredClone(doc) as Required<TopologyDoc>;
    for (let i = 0; i < 40; i++) bigger.bridges.push({ id: new Net().id(`b${i}`), name: `bridge-${i}` });
    for (const failAt of [1, 8, 12]) {
      const faulty = failingAt(c, failAt);
      const r = await importTopology(faulty, root, bigger, { mode: 'full', maxTxnOps: 10 });
      t.match(r, { ok: false, code: 'zookeeper', message: /injected/ }, `failing transaction ${failAt} of a full import`);
      t.ok(faulty.transactions >= failAt);
    }
    const incremental = await importTopology(failingAt(c, 1), root, bigger);
    t.match(incremental, { ok: false, code: 'zookeeper' }, 'failing the one transaction of an incremental import');

    const huge = structuredClone(doc) as Required<TopologyDoc>;
    huge.bridges[0]!.name = 'x'.repeat(1_100_000);
    t.match(await importTopology(c, root, huge), { ok: false, code: 'too_large', message: /bridges\/.* is \d+ bytes/ });

    t.same(await currentOf(root), before, '`current` was never touched');
    t.same(await generations(root), gensBefore, 'partial generations were removed');
    t.same(await exported(root), normalized(doc), 'the old topology is intact');

    // Another import sneaking in between our read of `current` and our commit: a clean conflict.
    let raced = false;
    const racing: ZkOps = {
      get: c.get.bind(c), getChildren: c.getChildren.bind(c), exists: c.exists.bind(c), create: c.create.bind(c),
      setData: c.setData.bind(c), remove: c.remove.bind(c),
      transaction: async (ops) => {
        if (!raced) {
          raced = true;
          ok(await importTopology(c, root, bigger));
        }
        return c.transaction(ops);
      },
    };
    const renamed = structuredClone(doc) as Required<TopologyDoc>;
    renamed.bridges[0]!.name = 'renamed';
    const lost = await importTopology(racing, root, renamed);
    t.match(lost, { ok: false, code: 'conflict' }, 'the slower import is refused');
    t.same(await exported(root), normalized(bigger), 'the winner is intact');
  });

  t.test('a running daemon follows imports within a second; broken imports do not reach it', async (t) => {
    const root = '/live';
    const td = await startTestDaemon(doc, {
      // Bucket watches: this test writes objects into ZooKeeper by hand and expects them seen at once.
      config: { topology: { source: 'zookeeper' }, zookeeper: { connect: zk.connectString, root, sessionTimeoutMs: 4_000, resyncJitterMs: 0, watchTopologyBuckets: true }, workers: { threads: 1, batchSize: 64 } },
    });
    t.teardown(() => td.close());
    const d = td.daemon;
    const vm1 = net.id('vm1');
    const send = (inPort: string, i = 0) => d.simulate([{ inPort, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 3000 + i }) }], false);
    t.match(await send(vm1), { ok: false, code: 'unknown_port' }, 'nothing imported yet: an empty topology');
    t.match(d.health().backends.find((b) => b.name === 'topology:zookeeper'), { ok: true, detail: /no topology imported yet/ });

    const timeUntil = async (what: string, cond: () => Promise<boolean>, limitMs = 3_000): Promise<number> => {
      const start = Date.now();
      while (!(await cond())) {
        if (Date.now() - start > limitMs) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return Date.now() - start;
    };
    ok(await importTopology(c, root, doc));
    // The first packet ever also warms up the worker (a few hundred ms, seconds on a busy machine),
    // so only the later changes are held to a second.
    const ms = await timeUntil('import seen', async () => (await send(vm1)).ok, 15_000);
    t.comment(`the first import reached the (cold) workers in ${ms} ms`);
    t.match(await send(vm1), { ok: true, results: [{ result: 'forward' }] });

    const grown = new Net();
    Object.assign(grown.doc, structuredClone(doc));
    grown.port('br', 'vm5');
    const vm5 = grown.id('vm5');
    const inc = ok(await importTopology(c, root, grown.doc));
    t.equal(inc.how, 'incremental');
    const ms2 = await timeUntil('incremental change seen', async () => (await send(vm5)).ok);
    t.ok(ms2 < 1_000, `one new port reached the workers in ${ms2} ms`);

    // A route-only change reaches the workers as a delta: they recompile one router, not the document.
    const toVm4 = async (): Promise<string> => {
      const r = await d.simulate([{ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.r, IP.vm1, IP.vm4, { tpSrc: 4000 }) }], false);
      return r.ok ? r.results[0]!.result : r.code;
    };
    const plain = await toVm4();
    t.comment(`vm1 to vm4 before the route: ${plain}`);
    const routed = structuredClone(grown.doc);
    routed.routes = [...(routed.routes ?? []), { id: new Net().id('bh-vm4'), routerId: net.id('r'), type: 'blackhole', dstNetworkAddr: IP.vm4, dstNetworkLength: 32 }];
    t.equal(ok(await importTopology(c, root, routed)).how, 'incremental');
    const ms4 = await timeUntil('route change seen', async () => (await toVm4()) !== plain);
    t.comment(`after: ${await toVm4()}`);
    t.ok(d.pool.deltasSinceFull >= 1, `a blackhole route reached the workers as a route delta in ${ms4} ms`);
    t.ok((await importTopology(c, root, grown.doc)).ok);
    await timeUntil('route removed', async () => (await toVm4()) === plain);
    t.ok(d.pool.deltasSinceFull >= 2, 'and its removal too');

    const faulty = failingAt(c, 2);
    const bigger = structuredClone(grown.doc);
    bigger.ports = bigger.ports.filter((p) => p.id !== vm5);
    t.match(await importTopology(faulty, root, bigger, { mode: 'full', maxTxnOps: 4 }), { ok: false });
    await new Promise((r) => setTimeout(r, 300));
    t.ok((await send(vm5)).ok, 'a failed import leaves the daemon on the old topology');

    // Something invalid written straight into the current generation is refused as a whole.
    const paths = new TopologyPaths(root);
    const gen = (await currentOf(root)).pointer.generation;
    const rogue = new Net().id('rogue-port');
    const rogueBucket = paths.bucket(gen, 'ports', bucketOf(rogue));
    await c.create(rogueBucket);
    await c.create(`${rogueBucket}/${rogue}`, Buffer.from(JSON.stringify({ id: rogue, deviceId: new Net().id('missing') })));
    await until(() => /refused/.test(d.health().backends.find((b) => b.name === 'topology:zookeeper')?.detail ?? ''), 'refusal noticed', 3_000);
    t.ok((await send(vm5)).ok, 'the daemon keeps the last valid topology');
    await c.remove(`${rogueBucket}/${rogue}`);
    await until(() => !/refused/.test(d.health().backends.find((b) => b.name === 'topology:zookeeper')?.detail ?? ''), 'recovered', 3_000);
    t.pass('removing the bad object clears the refusal');

    const switched = ok(await importTopology(c, root, doc, { mode: 'full' }));
    t.equal(switched.how, 'full');
    const ms3 = await timeUntil('generation switch seen', async () => !(await send(vm5)).ok);
    t.ok(ms3 < 1_000, `a whole new generation reached the workers in ${ms3} ms`);
    t.match(await send(vm5), { ok: false, code: 'unknown_port' });
  });

  t.test('a reader swaps generations whole and ignores events from other generations', async (t) => {
    const root = '/reader';
    ok(await importTopology(c, root, doc));
    const session = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 4_000, log, name: 'reader' });
    const source = new ZkTopologySource({ session, root, log, coalesceMs: 5, watchBuckets: true });
    t.teardown(() => source.close());
    t.ok(await source.ready(5_000));
    let fired = 0;
    source.watch(() => fired++);
    const loaded = await source.load();
    t.same(loaded.ok && normalized(loaded.doc), normalized(doc));
    const old = source.current!;
    const changed = structuredClone(doc) as Required<TopologyDoc>;
    changed.bridges[0]!.name = 'br-new';
    ok(await importTopology(c, root, changed, { mode: 'full' }));
    await until(() => source.current?.generation !== old.generation, 'switched', 3_000);
    const after = await source.load();
    t.same(after.ok && normalized(after.doc), normalized(changed));
    const firedAfterSwitch = fired;
    t.ok(firedAfterSwitch >= 1);
    // Changing the now-previous generation (its buckets are still watched) does not disturb the reader.
    const prev = new TopologyPaths(root).object(old.generation, 'bridges', new Net().id('stray'), '0123456789abcdef');
    t.ok((await c.create(prev, Buffer.from('{"broken"'), { parents: true })).ok);
    await new Promise((r) => setTimeout(r, 200));
    t.equal(fired, firedAfterSwitch, 'no change reported');
    t.same((await source.load()).ok, true);

    // A malformed object written by hand into the served generation: refused with its znode and field.
    const badId = new Net().id('bad-shape');
    const badPath = new TopologyPaths(root).object(source.current!.generation, 'ports', badId, 'fedcba9876543210');
    t.ok((await c.create(badPath, Buffer.from(JSON.stringify({ id: badId, deviceId: 'not-a-uuid' })), { parents: true })).ok);
    await until(() => fired > firedAfterSwitch, 'bad object seen', 3_000);
    const refused = await source.load();
    t.match(refused, { ok: false, message: new RegExp(`ports/${badId} \\(${badPath}\\): deviceId: must be a UUID`) });
    t.ok((await c.remove(badPath)).ok);
    await until(() => fired > firedAfterSwitch + 1, 'removal seen', 3_000);
    t.match(await source.load(), { ok: true }, 'valid again once it is gone');
  });

  t.test('manifests: a reader holds one watch, follows incremental imports by their delta, and re-lists when one is missing', async (t) => {
    const root = '/manifest';
    ok(await importTopology(c, root, doc));
    const session = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 4_000, log, name: 'manifest-reader' });
    const source = new ZkTopologySource({ session, root, log, coalesceMs: 5 });
    t.teardown(() => source.close());
    t.ok(await source.ready(5_000));
    const watches = await watchCount(zk.port);
    let fired = 0;
    source.watch(() => fired++);
    const grown = new Net();
    Object.assign(grown.doc, structuredClone(doc));
    grown.port('br', 'vm7');
    const before = { ...source.stats };
    t.equal(ok(await importTopology(c, root, grown.doc)).how, 'incremental');
    await until(() => fired === 1, 'the change seen', 3_000);
    const loaded = await source.load();
    t.same(loaded.ok && normalized(loaded.doc), normalized(grown.doc));
    t.same({ listings: source.stats.listings - before.listings, manifests: source.stats.manifests - before.manifests, reads: source.stats.reads - before.reads },
      { listings: 0, manifests: 1, reads: 1 }, 'one manifest and the one new object: no directory listed');
    t.ok(watches <= 2, `the server holds ${watches} watch(es) for this reader (current, and the admin's none)`);

    const shrunk = structuredClone(doc);
    ok(await importTopology(c, root, shrunk));
    await until(() => fired === 2, 'removal seen', 3_000);
    // A bump of current with no manifest (by hand): the reader lists the generation again.
    const p2 = await currentOf(root);
    await c.setData(new TopologyPaths(root).current, Buffer.from(JSON.stringify({ ...p2.pointer, revision: p2.pointer.revision + 5 })), p2.version);
    const loads = source.stats.fullLoads;
    await until(() => source.stats.fullLoads > loads, 'a full listing after a missing manifest', 3_000);
    t.same((await source.load()).ok && normalized((await source.load() as { doc: TopologyDoc }).doc), normalized(shrunk));
  });

  t.test('a generation switch is listed after a random wait up to resyncJitterMs, not at once', async (t) => {
    const root = '/jitter';
    ok(await importTopology(c, root, doc));
    const session = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 4_000, log, name: 'jitter-reader' });
    const source = new ZkTopologySource({ session, root, log, coalesceMs: 5, resyncJitterMs: 1_000, random: () => 0.6 });
    t.teardown(() => source.close());
    t.ok(await source.ready(5_000), 'the first load does not wait');
    const old = source.current!.generation;
    const changed = structuredClone(doc) as Required<TopologyDoc>;
    changed.bridges[0]!.name = 'br-jitter';
    const t0 = Date.now();
    ok(await importTopology(c, root, changed, { mode: 'full' }));
    await until(() => source.current?.generation !== old, 'switched', 5_000);
    const waited = Date.now() - t0;
    t.ok(waited >= 550, `switched after ${waited} ms (jitter 0.6 × 1000 ms)`);
    t.equal(source.stats.fullLoads, 2);
  });

  t.test('midotrace topology import / export', async (t) => {
    async function cli(args: string[]): Promise<{ code: number; out: string[]; message: string }> {
      const out: string[] = [];
      const program = buildProgram((s) => out.push(s));
      try {
        await program.parseAsync(args, { from: 'user' });
        return { code: 0, out, message: '' };
      } catch (e) {
        if (e instanceof UserError) return { code: e.exitCode, out, message: e.message };
        if (e instanceof CommanderError) return { code: 1, out, message: e.message };
        throw e;
      }
    }
    const file = join(dir, 'topology.json');
    writeFileSync(file, JSON.stringify(doc));
    const where = ['--zookeeper', `${zk.connectString}/cli/chroot`, '--root', '/mido'];
    const imported = await cli(['topology', 'import', file, ...where]);
    t.equal(imported.code, 0, imported.message);
    t.match(imported.out[0], /imported .* new generation g-0000000000, revision 1; 2 bridges, 1 routers, 8 ports/);
    const cur = await c.get('/cli/chroot/mido/topology/current');
    t.ok(cur.ok, 'written under the chroot, which was created');

    const out = join(dir, 'exported.json');
    const exp = await cli(['topology', 'export', ...where, '-o', out]);
    t.equal(exp.code, 0, exp.message);
    t.same(JSON.parse(readFileSync(out, 'utf8')), normalized(doc));
    const toStdout = await cli(['topology', 'export', ...where]);
    t.same(JSON.parse(toStdout.out.join('\n')), normalized(doc));

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...doc, bridges: [{ id: 'nope' }] }));
    const refused = await cli(['topology', 'import', bad, ...where]);
    t.equal(refused.code, 1);
    t.match(refused.message, /invalid topology .*nothing imported:\n\s+bridges\[0\]\.id: must be a UUID/);
    const still = await c.get('/cli/chroot/mido/topology/current');
    t.same(still.ok && still.value.stat.version, cur.ok && cur.value.stat.version, 'ZooKeeper untouched');

    const config = join(dir, 'midotrace.yaml');
    writeFileSync(config, `zookeeper:\n  connect: "${zk.connectString}/cli/chroot"\n  root: /mido\n`);
    const fromConfig = await cli(['--json', 'topology', 'import', file, '--config', config]);
    t.equal(fromConfig.code, 0, fromConfig.message);
    t.match(JSON.parse(fromConfig.out[0]!), { ok: true, how: 'unchanged', root: '/mido' }, 'settings from --config');

    const unreachable = await cli(['topology', 'export', '--zookeeper', '127.0.0.1:1', '--session-timeout', '1000']);
    t.equal(unreachable.code, 2, 'exit 2 when ZooKeeper cannot be reached');
    t.match(unreachable.message, /cannot reach ZooKeeper/);
    const badFlag = await cli(['topology', 'export', '--root', 'relative']);
    t.equal(badFlag.code, 1);
    t.match(badFlag.message, /--root relative: must start with \//);
  });
}

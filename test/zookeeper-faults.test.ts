// A daemon on ZooKeeper through faults (issue P4), one daemon followed through its whole life:
// ZooKeeper unreachable at start (the daemon starts, reports down, loads everything once it answers);
// ZooKeeper stopped mid-run (simulation and tracing go on with the last snapshot) and restarted
// (resync, including changes made while the daemon was cut off); a forced session expiry (new
// session, full resync, watches re-armed); condition writes cut off by a frozen ZooKeeper (a 503 that
// says whether the write may still land, and no write reported failed that lands later).
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../daemon/log.js';
import { ZkClient } from '../stores/zookeeper/client.js';
import { ZkConditionStore } from '../stores/zookeeper/condition-store.js';
import { ZkSession } from '../stores/zookeeper/session.js';
import { ZkTopologySource } from '../stores/zookeeper/topology-store.js';
import { importTopology } from '../stores/zookeeper/topology-import.js';
import type { TopologyDoc } from '../model/topology/doc.js';
import type { BackendHealth } from '../model/stores.js';
import { IP, MAC, testNet } from './helpers/api-deps.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { Net, pk } from './helpers/net.js';
import { startTcpProxy, startZooKeeper, runIfZooKeeper } from './helpers/zookeeper.js';
import { waitUntil } from './helpers/wait.js';

await runIfZooKeeper(t, run);

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const proxy = await startTcpProxy(zk.port);
  t.teardown(() => proxy.close());
  const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
  const admin = await ZkClient.connect(zk.connectString, { sessionTimeout: 10_000, spinDelay: 100 });
  if (!admin.ok) throw new Error(admin.error.message);
  const c = admin.value;
  t.teardown(() => c.close());
  const root = '/faults';

  // Conditions are written through a store of our own (another host, as far as the daemon knows).
  const otherHost = new ZkConditionStore({
    session: new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 10_000, log, name: 'other-host', spinDelayMs: 100, retryMinMs: 50 }),
    root,
    log,
  });
  t.teardown(() => otherHost.close());
  await otherHost.ready(10_000);

  const net = testNet();
  const doc: TopologyDoc = net.doc;
  const vm1 = net.id('vm1');
  let seq = 0;
  const udpFrom = (inPort: string) => ({ inPort, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 5000 + (seq++ % 50_000) }) });

  // Set-up failures throw: the root test may not assert between awaits before its subtests exist.
  if (!(await importTopology(c, root, doc)).ok) throw new Error('topology import failed');
  const late = await otherHost.create({ name: 'late', nwProto: 17, inPorts: [vm1] });
  if (!late.ok) throw new Error('condition not stored');
  const lateId = late.condition.id;

  let td: TestDaemon | null = null;
  t.teardown(async () => {
    await td?.close();
  });
  const daemon = () => td!.daemon;
  const zkHealth = (): BackendHealth[] => daemon().health().backends.filter((b) => b.name.endsWith(':zookeeper'));
  const allUp = (): boolean => zkHealth().length === 2 && zkHealth().every((b) => b.ok);
  const allDown = (): boolean => zkHealth().every((b) => !b.ok);
  /** Simulates one packet from `inPort`; null when the port is unknown. */
  const send = async (inPort: string): Promise<{ result: string; traceIds: string[] } | null> => {
    const r = await daemon().simulate([udpFrom(inPort)], false);
    if (!r.ok) {
      if (r.code === 'unknown_port') return null;
      throw new Error(`${r.code}: ${r.message}`);
    }
    return r.results[0]!;
  };
  /** The conditions the workers match a UDP packet from vm1 with (every test condition matches it). */
  const workerConditions = async (): Promise<string[]> => {
    const r = await send(vm1);
    if (r === null || r.traceIds.length === 0) return [];
    await daemon().backends.sink.flush();
    const trace = await daemon().backends.traces.get(r.traceIds[0]!);
    return [...(trace?.conditionIds ?? [])].sort();
  };
  const tracedBy = async (conditionId: string): Promise<boolean> => (await workerConditions()).includes(conditionId);
  const sources = () => ({
    topology: daemon().topologySource as ZkTopologySource,
    conditions: daemon().backends.conditions as ZkConditionStore,
  });

  await t.test('ZooKeeper unreachable at start: the daemon starts, reports it, and loads everything once it answers', async (t) => {
    await zk.kill();
    const started = Date.now();
    td = await startTestDaemon(doc, {
      config: {
        topology: { source: 'zookeeper' },
        conditions: { store: 'zookeeper' },
        // Through the proxy, so later tests can cut this daemon off alone.
        zookeeper: { connect: proxy.connectString, root, sessionTimeoutMs: 6_000, resyncJitterMs: 0 },
        workers: { threads: 1, batchSize: 64 },
      },
    });
    const took = Date.now() - started;
    t.ok(took < 8_000, `started in ${took} ms without ZooKeeper`);
    t.equal(daemon().health().ok, false, '/healthz reports the daemon unhealthy');
    t.match(zkHealth(), [
      { name: 'topology:zookeeper', ok: false, detail: /no session yet/ },
      { name: 'conditions:zookeeper', ok: false, detail: /no session yet/ },
    ]);
    t.equal(await send(vm1), null, 'an empty topology meanwhile');
    t.ok(sources().topology instanceof ZkTopologySource && sources().conditions instanceof ZkConditionStore);
    t.equal(sources().topology.session, sources().conditions.session, 'one ZooKeeper session for both backends');

    await zk.start();
    const ms = await waitUntil('both ZooKeeper backends healthy', allUp, 15_000);
    t.comment(`backends healthy ${ms} ms after ZooKeeper started`);
    await waitUntil('the topology loaded', async () => (await send(vm1)) !== null, 5_000);
    await waitUntil('the stored condition published to the workers', () => tracedBy(lateId), 5_000);
    t.ok(daemon().health().ok, 'healthy');
  });

  await t.test('ZooKeeper stopped mid-run: simulation and tracing go on; a restart resyncs what changed meanwhile', async (t) => {
    const before = sources().topology.session.anyClient!.sessionId;
    await zk.kill();
    await waitUntil('the daemon notices', allDown, 10_000);
    t.equal(daemon().health().ok, false);
    t.match(await send(vm1), { result: 'forward' }, 'still simulating on the last snapshot');
    t.ok(await tracedBy(lateId), 'and tracing with the last conditions');
    t.same((await daemon().backends.conditions.list()).map((x) => x.id), [lateId], 'the API lists the last snapshot');

    // Keep the daemon cut off while ZooKeeper comes back and another host changes things.
    proxy.cut();
    await zk.start();
    await waitUntil('the other host reconnects', () => otherHost.session.connected && c.state === 'connected', 10_000);
    const away = await otherHost.create({ name: 'made-while-away', nwProto: 17, inPorts: [vm1] });
    t.ok(away.ok);
    const awayId = away.ok ? away.condition.id : '';
    t.ok(await otherHost.delete(lateId));
    const grown = new Net();
    Object.assign(grown.doc, structuredClone(doc));
    grown.port('br', 'vm5');
    const imported = await importTopology(c, root, grown.doc);
    t.match(imported, { ok: true, how: 'incremental' });
    t.equal(await send(grown.id('vm5')), null, 'not seen while cut off');
    proxy.heal();

    await waitUntil('backends healthy again', allUp, 10_000);
    t.equal(sources().topology.session.anyClient!.sessionId, before, 'the same session resumed');
    await waitUntil('the port added while away', async () => (await send(grown.id('vm5'))) !== null, 3_000);
    await waitUntil('the condition added while away', () => tracedBy(awayId), 3_000);
    await waitUntil('the condition deleted while away', async () => !(await tracedBy(lateId)), 3_000);
    t.same(await workerConditions(), [awayId], 'the workers hold exactly the conditions in ZooKeeper');
    t.pass('changes made while the daemon was cut off arrived on reconnection');
  });

  await t.test('a forced session expiry: a new session, full resync, watches re-armed', async (t) => {
    const src = sources();
    const old = src.topology.session.anyClient!;
    const oldId = old.sessionId;
    proxy.cut();
    // End the daemon's session from elsewhere while it cannot hear about it.
    const thief = await ZkClient.connect(zk.connectString, { sessionTimeout: 6_000, session: old.session });
    if (!thief.ok) throw new Error(thief.error.message);
    await thief.value.close();
    // Changes the expired sessions' watches can never report.
    const during = await otherHost.create({ name: 'made-during-expiry', nwProto: 17, inPorts: [vm1] });
    t.ok(during.ok);
    const duringId = during.ok ? during.condition.id : '';
    const shrunk = structuredClone(doc);
    t.match(await importTopology(c, root, shrunk), { ok: true, removed: 1 }, 'vm5 removed');
    proxy.heal();

    await waitUntil('a new session', () => src.topology.session.connected && src.topology.session.anyClient!.sessionId !== oldId, 15_000);
    t.equal(src.conditions.session, src.topology.session, 'still one session for both backends');
    await waitUntil('healthy', allUp, 5_000);
    await waitUntil('the topology resynced', async () => (await send(new Net().id('vm5'))) === null, 3_000);
    await waitUntil('the conditions resynced', () => tracedBy(duringId), 3_000);
    t.pass('changes made while the session was dead arrived with the new one');

    // The new session's watches work: later changes keep arriving.
    const after = await otherHost.create({ name: 'after-expiry', nwProto: 17, inPorts: [vm1] });
    t.ok(after.ok);
    await waitUntil('a later condition', () => tracedBy(after.ok ? after.condition.id : ''), 3_000);
    const grown = new Net();
    Object.assign(grown.doc, structuredClone(doc));
    grown.port('br', 'vm6');
    t.ok((await importTopology(c, root, grown.doc)).ok);
    await waitUntil('a later topology change', async () => (await send(grown.id('vm6'))) !== null, 3_000);
    t.pass('watches were re-armed');
  });

  await t.test('condition writes cut off by a frozen ZooKeeper: a bounded 503, and no write reported failed lands later', async (t) => {
    const { createApp } = await import('../api/app.js');
    const { startApiServer } = await import('../api/server.js');
    const deps = daemon().apiDeps();
    const app = createApp(deps);
    app.silent = true;
    const server = await startApiServer(app, '127.0.0.1:0', { bodyLimitBytes: deps.bodyLimitBytes });
    t.teardown(() => server.close());
    const base = `http://127.0.0.1:${server.port}`;
    const post = (body: unknown) => fetch(`${base}/trace_conditions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000),
    });
    const ROUNDS = 4;
    const outcomes: { name: string; code: string; location: string | null }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await waitUntil('healthy before freezing', allUp, 30_000);
      const name = `frozen-${round}`;
      zk.freeze();
      const started = Date.now();
      let res: Response;
      try {
        res = await post({ name, nwProto: 17, inPorts: [vm1] });
      } finally {
        zk.thaw();
      }
      const took = Date.now() - started;
      const body = await res.json() as { code: string; message: string };
      t.equal(res.status, 503, `round ${round}: ${res.status} ${body.code} after ${took} ms`);
      t.ok(took < 15_000, 'within the session timeout, not a hang');
      t.ok(body.code === 'backend_unavailable' || body.code === 'write_outcome_unknown', body.message);
      if (body.code === 'write_outcome_unknown') t.match(res.headers.get('location'), /^\/trace_conditions\/[0-9a-f-]{36}$/, 'says where it would be');
      outcomes.push({ name, code: body.code, location: res.headers.get('location') });
    }
    await waitUntil('healthy after the last thaw', allUp, 30_000);
    // A write the server still held in its socket buffer when it froze is applied once it resumes.
    await new Promise((r) => setTimeout(r, 3_000));
    const dir = `${root}/trace-conditions`;
    const names = new Set<string>();
    const kids = await c.getChildren(dir);
    if (!kids.ok) throw new Error(kids.error.message);
    for (const k of kids.value.children) {
      const got = await c.get(`${dir}/${k}`);
      if (got.ok) names.add((JSON.parse(got.value.data.toString()) as { name?: string }).name ?? '');
    }
    let landed = 0;
    for (const o of outcomes) {
      if (names.has(o.name)) {
        landed++;
        t.equal(o.code, 'write_outcome_unknown', `${o.name} landed after all: it was never reported as failed`);
        t.equal((await post({ name: o.name })).status, 409, `${o.name}: a retry by name says it landed`);
        t.equal((await fetch(base + o.location!)).status, 200, `${o.name}: and it is where the 503 said`);
      } else {
        t.equal((await post({ name: o.name, nwProto: 17 })).status, 201, `${o.name} did not land: a retry stores it`);
      }
    }
    t.comment(`${landed} of ${ROUNDS} cut-off writes landed later; ${outcomes.filter((o) => o.code === 'write_outcome_unknown').length} were answered write_outcome_unknown`);
  });
}

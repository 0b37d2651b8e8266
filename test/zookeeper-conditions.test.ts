// Trace conditions in a real ZooKeeper (issue P4): the shared ConditionStore suite, conditions written
// by other clients, the REST API writing through to ZooKeeper and on to the workers, and two daemons
// (two hosts) sharing one condition and one trace store.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { createLogger } from '../daemon/log.js';
import { ZkClient } from '../stores/zookeeper/client.js';
import { ZkConditionStore } from '../stores/zookeeper/condition-store.js';
import { ZkSession } from '../stores/zookeeper/session.js';
import { ZkConditionHits } from '../stores/zookeeper/condition-hits.js';
import { openSqliteTraceBackend } from '../stores/sqlite/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeRecord } from './helpers/trace-records.js';
import { importTopology } from '../stores/zookeeper/topology-import.js';
import { encodeName } from '../stores/zookeeper/paths.js';
import type { TraceConditionJson, TraceSummary } from '../model/trace.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import { conditionStoreConformance, until } from './helpers/condition-store-conformance.js';
import { startZooKeeper, runIfZooKeeper } from './helpers/zookeeper.js';
import { IP, MAC, startTestApi, testNet } from './helpers/api-deps.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { pk } from './helpers/net.js';
import { waitUntil } from './helpers/wait.js';

await runIfZooKeeper(t, run);

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const log = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
  const admin = await ZkClient.connect(zk.connectString, { sessionTimeout: 4_000 });
  if (!admin.ok) throw new Error(admin.error.message);
  const c = admin.value;
  t.teardown(() => c.close());

  let roots = 0;
  function openStore(root: string): ZkConditionStore {
    const session = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 4_000, log, name: 'test' });
    return new ZkConditionStore({ session, root, log, coalesceMs: 5 });
  }

  /** node-zookeeper-client used directly, as another program would. */
  async function rawClient(): Promise<zookeeper.Client> {
    const raw = zookeeper.createClient(zk.connectString, { sessionTimeout: 4_000 });
    await new Promise<void>((resolve) => {
      raw.once('connected', () => resolve());
      raw.connect();
    });
    return raw;
  }
  const rawCreate = (raw: zookeeper.Client, path: string, data: string): Promise<void> =>
    new Promise((resolve, reject) => raw.create(path, Buffer.from(data), (e) => (e ? reject(e) : resolve())));
  const rawRemove = (raw: zookeeper.Client, path: string): Promise<void> =>
    new Promise((resolve, reject) => raw.remove(path, -1, (e) => (e ? reject(e) : resolve())));

  conditionStoreConformance(t, 'zookeeper', async () => {
    const root = `/conformance-${++roots}`;
    const store = openStore(root);
    await store.ready(10_000);
    const peers: ZkConditionStore[] = [];
    return {
      store,
      peer: async () => {
        const p = openStore(root);
        peers.push(p);
        await p.ready(10_000);
        return p;
      },
      close: async () => {
        await store.close();
        for (const p of peers) await p.close();
      },
    };
  });

  t.test('a condition written straight into ZooKeeper by another client is validated and picked up', async (t) => {
    const root = '/raw-writes';
    const store = openStore(root);
    t.teardown(() => store.close());
    t.ok(await store.ready(10_000), 'first read done');
    const seen: TraceConditionJson[][] = [];
    store.watch((all) => seen.push(all));
    const raw = await rawClient();
    t.teardown(() => raw.close());

    const id = randomUUID();
    await rawCreate(raw, `${root}/trace-conditions/${id}`, JSON.stringify({ name: 'from-raw', nwProto: 17 }));
    await until(() => seen.some((l) => l.some((x) => x.id === id)), 'raw create seen', 3_000);
    t.same(seen.at(-1), [{ id, name: 'from-raw', nwProto: 17 }], 'the znode name is the id');
    t.same(await store.get(id), { id, name: 'from-raw', nwProto: 17 });

    // Invalid bodies are never published, whoever wrote them.
    const bad = [randomUUID(), randomUUID(), randomUUID()];
    await rawCreate(raw, `${root}/trace-conditions/${bad[0]}`, '{not json');
    await rawCreate(raw, `${root}/trace-conditions/${bad[1]}`, JSON.stringify({ nwProto: 'udp' }));
    await rawCreate(raw, `${root}/trace-conditions/${bad[2]}`, JSON.stringify({ id: randomUUID(), nwProto: 6 }));
    await rawCreate(raw, `${root}/trace-conditions/not-a-uuid`, JSON.stringify({ nwProto: 6 }));
    await until(() => /3 invalid/.test(store.health().detail ?? ''), 'invalid znodes noticed', 3_000);
    t.same((await store.list()).map((x) => x.id), [id], 'list skips invalid znodes');
    t.same(seen.at(-1)!.map((x) => x.id), [id], 'and so does watch');
    t.equal(await store.get(bad[0]!), null);

    // A raw condition's name is taken even without an index entry.
    t.same(await store.create({ name: 'from-raw' }), { ok: false, code: 'duplicate_name' });

    // An index entry whose condition was removed behind our back does not block the name forever.
    const made = await store.create({ name: 'indexed', nwProto: 1 });
    t.ok(made.ok);
    const madeId = made.ok ? made.condition.id : '';
    await rawRemove(raw, `${root}/trace-conditions/${madeId}`);
    t.ok((await c.exists(`${root}/trace-condition-names/${encodeName('indexed')}`)).ok, 'stale index entry left by the raw delete');
    const again = await store.create({ name: 'indexed', nwProto: 2 });
    t.ok(again.ok, 'the stale name is reclaimed');
    const held = await c.get(`${root}/trace-condition-names/${encodeName('indexed')}`);
    t.equal(held.ok && held.value.data.toString(), again.ok ? again.condition.id : '', 'index now points at the new holder');

    // Raw updates and deletes reach watchers too.
    await new Promise<void>((resolve, reject) =>
      raw.setData(`${root}/trace-conditions/${id}`, Buffer.from(JSON.stringify({ name: 'renamed-raw', nwProto: 6 })), -1, (e) => (e ? reject(e) : resolve())),
    );
    await until(() => seen.at(-1)!.some((x) => x.name === 'renamed-raw'), 'raw update seen', 3_000);
    await rawRemove(raw, `${root}/trace-conditions/${id}`);
    await until(() => !seen.at(-1)!.some((x) => x.id === id), 'raw delete seen', 3_000);
    t.pass('raw update and delete seen');
  });

  t.test('bursts are coalesced, and rapid changes between an event and its re-read are never lost', async (t) => {
    const root = '/bursts';
    const store = openStore(root);
    t.teardown(() => store.close());
    await store.ready(10_000);
    const seen: TraceConditionJson[][] = [];
    store.watch((all) => seen.push(all));
    const raw = await rawClient();
    t.teardown(() => raw.close());
    const ids = Array.from({ length: 40 }, () => randomUUID());
    await Promise.all(ids.map((id, i) => rawCreate(raw, `${root}/trace-conditions/${id}`, JSON.stringify({ nwProto: i % 256 }))));
    await until(() => seen.at(-1)?.length === 40, 'all 40 seen', 5_000);
    t.ok(seen.length < 40, `40 creates reached the listener in ${seen.length} calls`);

    // 200 rewrites of one condition as fast as the server takes them: the last one always arrives.
    const target = ids[0]!;
    const writes: Promise<void>[] = [];
    for (let v = 0; v < 200; v++) {
      writes.push(new Promise((resolve, reject) =>
        raw.setData(`${root}/trace-conditions/${target}`, Buffer.from(JSON.stringify({ nwProto: 6, tpDst: { start: v, end: v } })), -1, (e) => (e ? reject(e) : resolve())),
      ));
    }
    await Promise.all(writes);
    const last = (): TraceConditionJson | undefined => seen.at(-1)?.find((x) => x.id === target);
    await until(() => last()?.tpDst?.start === 199, 'the last rewrite', 5_000);
    t.same(last(), { id: target, nwProto: 6, tpDst: { start: 199, end: 199 } });
    const calls = seen.length;
    await new Promise((r) => setTimeout(r, 200));
    t.equal(seen.length, calls, 'and nothing after it');
  });

  t.test('name uniqueness holds across two stores racing for one name', async (t) => {
    const root = '/race';
    const a = openStore(root);
    const b = openStore(root);
    t.teardown(async () => {
      await a.close();
      await b.close();
    });
    await Promise.all([a.ready(10_000), b.ready(10_000)]);
    let wins = 0;
    for (let i = 0; i < 10; i++) {
      const [ra, rb] = await Promise.all([a.create({ name: `n${i}` }), b.create({ name: `n${i}` })]);
      const ok = [ra, rb].filter((r) => r.ok).length;
      t.equal(ok, 1, `exactly one store got n${i}`);
      t.ok([ra, rb].some((r) => !r.ok && r.code === 'duplicate_name'));
      wins += ra.ok ? 1 : 0;
    }
    t.equal((await a.list()).length, 10);
    t.comment(`store a won ${wins} of 10`);
  });

  t.test('backends sharing one session: a late one loads at once; the session ends with the last', async (t) => {
    // As a daemon's condition store and topology source share theirs (daemon/zk-open.ts).
    const root = '/shared-session';
    const session = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 4_000, log, name: 'shared' });
    const a = new ZkConditionStore({ session, root, log, coalesceMs: 5 });
    t.ok(await a.ready(10_000));
    t.ok(session.connected);
    const b = new ZkConditionStore({ session: session.share(), root, log, coalesceMs: 5 });
    t.ok(await b.ready(1_000), 'a backend joining a session already up reads at once');
    let seen: string[] = [];
    b.watch((list) => { seen = list.map((x) => x.name ?? ''); });
    t.ok((await a.create({ name: 'shared-1' })).ok);
    await until(() => seen.includes('shared-1'), 'the second backend follows changes');

    await a.close();
    t.ok(session.connected && !session.isClosed, 'the session outlives the first backend to close');
    t.equal(session.listenerCount('up'), 1, 'and no longer calls it');
    const other = openStore(root);
    t.teardown(() => other.close());
    await other.ready(10_000);
    t.ok((await other.create({ name: 'shared-2' })).ok);
    await until(() => seen.includes('shared-2'), 'the remaining backend still gets watch events');

    await b.close();
    t.ok(session.isClosed, 'the last close ends the session');
  });

  t.test('writes fail fast while ZooKeeper is unreachable; reads answer from the snapshot', async (t) => {
    const session = new ZkSession({ connect: '127.0.0.1:1', sessionTimeoutMs: 2_000, log, name: 'nowhere', attemptTimeoutMs: 200, retryMinMs: 50 });
    const store = new ZkConditionStore({ session, root: '/nowhere', log });
    t.teardown(() => store.close());
    t.equal(await store.ready(300), false);
    t.equal(store.health().ok, false);
    t.match(store.health().detail, /no session yet/);
    t.same(await store.list(), []);
    await t.rejects(store.create({ name: 'x' }), { code: 'backend_unavailable' });
  });

  const net = testNet();
  const vm1 = net.id('vm1');
  const udp = (i = 0) => ({ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 2000 + i }) });

  t.test('CRUD through the API lands in ZooKeeper and reaches the workers', async (t) => {
    const root = '/api';
    const api = await startTestApi({ config: { conditions: { store: 'zookeeper' }, zookeeper: { connect: zk.connectString, root, sessionTimeoutMs: 4_000 } } });
    t.teardown(() => api.close());
    const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(api.url + path, {
        method,
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T };
    };
    const simulate = async (i: number): Promise<SimulationResultJson> => (await call<SimulationResultJson>('POST', '/simulations', udp(i))).body;
    const health = await call<{ backends: { name: string; ok: boolean }[] }>('GET', '/healthz');
    t.equal(health.status, 200);
    t.match(health.body.backends, [{ name: 'topology:file', ok: true }, { name: 'sink:sqlite', ok: true }, { name: 'conditions:zookeeper', ok: true }]);
    t.same((await simulate(0)).traceIds, [], 'nothing traced before the condition');

    const created = await call<TraceConditionJson>('POST', '/trace_conditions', { name: 'vm1-udp', nwProto: 17, inPorts: [vm1] });
    t.equal(created.status, 201);
    const id = created.body.id;
    const node = await c.get(`${root}/trace-conditions/${id}`);
    t.ok(node.ok, 'the condition has its znode');
    t.same(node.ok && JSON.parse(node.value.data.toString()), created.body, 'holding exactly what the API returned');

    // P9 item 12: in force on the daemon that answered 201 for the very next packet, no wait.
    const traced = await simulate(1);
    t.equal(traced.traceIds.length, 1, 'the first packet posted after the 201 is traced');
    const trace = (await call<TraceSummary>('GET', `/traces/${traced.traceIds[0]}`)).body;
    t.same(trace.conditionIds, [id]);

    t.equal((await call('POST', '/trace_conditions', { name: 'vm1-udp' })).status, 409, 'names stay unique');
    const put = await call<TraceConditionJson>('PUT', `/trace_conditions/${id}`, { name: 'vm1-tcp', nwProto: 6, inPorts: [vm1] });
    t.equal(put.status, 200);
    const after = await c.get(`${root}/trace-conditions/${id}`);
    t.match(after.ok && JSON.parse(after.value.data.toString()), { name: 'vm1-tcp', nwProto: 6 }, 'PUT rewrote the znode');
    t.ok((await c.exists(`${root}/trace-condition-names/${encodeName('vm1-tcp')}`)).ok);
    t.same(await c.exists(`${root}/trace-condition-names/${encodeName('vm1-udp')}`), { ok: true, value: null }, 'the old name was released');
    t.same((await simulate(100)).traceIds, [], 'after the 200, the replaced condition no longer matches UDP');

    t.equal((await call('DELETE', `/trace_conditions/${id}`)).status, 204);
    t.same(await c.exists(`${root}/trace-conditions/${id}`), { ok: true, value: null }, 'DELETE removed the znode');
    t.same((await call<unknown[]>('GET', '/trace_conditions')).body, []);
  });

  t.test('two daemons (two hosts) trace a packet matched by one shared condition into one trace store', async (t) => {
    const root = '/two-hosts';
    const imported = await importTopology(c, root, net.doc);
    t.ok(imported.ok, 'topology imported');
    const dir = mkdtempSync(join(tmpdir(), 'midotrace-zk2-'));
    const shared = join(dir, 'traces.db');
    const hosts = [randomUUID(), randomUUID()];
    const daemons: TestDaemon[] = [];
    t.teardown(async () => {
      for (const d of daemons) await d.close();
      rmSync(dir, { recursive: true, force: true });
    });
    for (const hostId of hosts) {
      daemons.push(
        await startTestDaemon(testNet().doc, {
          config: {
            hostId,
            topology: { source: 'zookeeper' },
            conditions: { store: 'zookeeper' },
            zookeeper: { connect: zk.connectString, root, sessionTimeoutMs: 4_000 },
            sqlite: { path: shared },
            workers: { threads: 1, batchSize: 64 },
          },
        }),
      );
    }
    const [a, b] = daemons as [TestDaemon, TestDaemon];
    for (const d of daemons) t.ok(d.daemon.health().ok, `daemon ${d.daemon.hostId} healthy`);
    const made = await a.daemon.backends.conditions.create({ name: 'shared', nwProto: 17, inPorts: [vm1] });
    t.ok(made.ok);
    const condId = made.ok ? made.condition.id : '';
    const traceOn = async (d: TestDaemon): Promise<string> => {
      const start = Date.now();
      for (let i = 0; Date.now() - start < 2_000; i++) {
        const r = await d.daemon.simulate([udp(300 + i)], false);
        if (!r.ok) throw new Error(r.message);
        const id = r.results[0]!.traceIds[0];
        if (id !== undefined) return id;
      }
      throw new Error(`host ${d.daemon.hostId} never traced`);
    };
    const ids = [await traceOn(a), await traceOn(b)];
    await a.daemon.backends.sink.flush();
    await b.daemon.backends.sink.flush();
    const listed = await a.daemon.backends.traces.list({ limit: 10, conditionId: condId });
    t.ok(listed.ok);
    if (!listed.ok) return;
    t.same(new Set(listed.items.map((s) => s.id)), new Set(ids), 'both traces are in the shared store');
    t.same(new Set(listed.items.map((s) => s.hostId)), new Set(hosts), 'one from each host');
    for (const s of listed.items) t.same(s.conditionIds, [condId]);
  });

  t.test('limit 3 over two hosts and a restart: three traces, hits 3 everywhere (P9 item 12)', async (t) => {
    const root = '/limit-hosts';
    const dir = mkdtempSync(join(tmpdir(), 'midotrace-zkl-'));
    const open: TestDaemon[] = [];
    const start = async (hostId: string): Promise<TestDaemon> => {
      const d = await startTestDaemon(testNet().doc, {
        config: {
          hostId, conditions: { store: 'zookeeper' }, zookeeper: { connect: zk.connectString, root, sessionTimeoutMs: 4_000 },
          sqlite: { path: join(dir, 'traces.db') }, workers: { threads: 1, batchSize: 64 },
        },
      });
      open.push(d);
      return d;
    };
    t.teardown(async () => {
      for (const d of open) await d.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const a = await start(randomUUID());
    const b = await start(randomUUID());
    const made = await a.daemon.apiDeps().conditions.create({ name: 'three', limit: 3, nwProto: 17, inPorts: [vm1] });
    t.ok(made.ok);
    const condId = made.ok ? made.condition.id : '';
    await sleep(300); // b hears of the condition through its watch
    const traced: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await (i % 2 === 0 ? a : b).daemon.simulate([udp(500 + i)], false);
      if (r.ok) traced.push(...r.results[0]!.traceIds);
    }
    t.equal(traced.length, 3, 'five packets on two hosts: three traces');
    await a.close();
    const a2 = await start(a.daemon.hostId);
    const late = await a2.daemon.simulate([udp(600)], false);
    t.same(late.ok && late.results[0]!.traceIds, [], 'after a restart the count goes on');
    for (const d of [b, a2]) await d.daemon.backends.sink.flush();
    const listed = await b.daemon.backends.traces.list({ limit: 10, conditionId: condId });
    t.equal(listed.ok && listed.items.length, 3, 'three traces stored');
    t.equal(await a2.daemon.apiDeps().conditionHits(condId), 3, 'hits = stored');
    t.equal(await b.daemon.apiDeps().conditionHits(condId), 3);
    const st = await c.exists(`${root}/trace-condition-hits/${condId}`);
    t.ok(st.ok && st.value !== null && st.value.cversion >= 3, 'units are sequential znodes under trace-condition-hits');
    t.ok(await a2.daemon.apiDeps().conditions.delete(condId));
    t.same(await c.exists(`${root}/trace-condition-hits/${condId}`), { ok: true, value: null }, 'a deleted condition\'s units go with it');
  });

  t.test('500 racing sessions claim a limit of 100, half of them restarted midway: 100 stored, hits 100', async (t) => {
    const root = '/limit-race';
    const SESSIONS = 500;
    const LIMIT = 100;
    const condId = randomUUID();
    const dir = mkdtempSync(join(tmpdir(), 'midotrace-zkr-'));
    const opened = openSqliteTraceBackend({ path: join(dir, 'traces.db'), retentionMs: 86_400_000 });
    if (!opened.ok) throw new Error(opened.message);
    const traces = opened.backend;
    const sessions = new Set<ZkSession>();
    t.teardown(async () => {
      await Promise.all([...sessions].map((s) => s.close()));
      await traces.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const connect = async (): Promise<ZkSession> => {
      const s = new ZkSession({ connect: zk.connectString, sessionTimeoutMs: 10_000, log, name: 'race', attemptTimeoutMs: 10_000 });
      sessions.add(s);
      s.start();
      await waitUntil('the session to connect', () => s.connected, 30_000);
      return s;
    };
    const started = Date.now();
    const first = await Promise.all(Array.from({ length: SESSIONS }, () => connect()));
    const connectedMs = Date.now() - started;
    let kept = 0;
    let seq = 0;
    // Each session is a host: it claims, and stores a trace only when its claim is kept.
    const claimAndStore = async (s: ZkSession): Promise<void> => {
      const claim = await new ZkConditionHits(s, root).claim(condId, LIMIT);
      if (claim !== 'kept') return;
      kept++;
      traces.write(makeRecord({ conditionIds: [condId], steps: 1, startedAtMs: Date.now() + seq++ }));
    };
    const raceStart = Date.now();
    await Promise.all(first.map(async (s, i) => {
      await claimAndStore(s);
      if (i % 2 === 1) return claimAndStore(s);
      // Half the hosts restart midway: a new session (a new daemon), then claim again.
      sessions.delete(s);
      await s.close();
      await claimAndStore(await connect());
    }));
    const raceMs = Date.now() - raceStart;
    await traces.flush();
    const listed = await traces.list({ limit: 1000, conditionId: condId });
    const stored = listed.ok ? listed.items.length : -1;
    t.equal(stored, LIMIT, `${SESSIONS * 2} claims from ${SESSIONS + SESSIONS / 2} sessions: ${stored} traces stored`);
    t.equal(kept, stored);
    const counter = new ZkConditionHits(first[1]!, root);
    t.equal(await counter.count(condId, LIMIT), stored, 'hits = what was stored');
    t.comment(`${SESSIONS} sessions connected in ${connectedMs} ms; ${SESSIONS * 2} claims (${SESSIONS / 2} after a restart) in ${raceMs} ms`);
  });
}


// The ZooKeeper test harness and the promise wrapper (stores/zookeeper/client.ts) against a real server.
import { existsSync } from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { type ZkClient, type ZkOptions, type ZkResult, type ZkStat, type ZkWatchEvent, ZkClient as Zk } from '../stores/zookeeper/client.js';
import { fourLetter, startTcpProxy, startZooKeeper, runIfZooKeeper } from './helpers/zookeeper.js';

await runIfZooKeeper(t, run);

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const clients: ZkClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });

  const FAST: ZkOptions = { sessionTimeout: 4_000, spinDelay: 100 };
  async function connect(opts: ZkOptions & { connectString?: string } = FAST): Promise<ZkClient> {
    const r = await Zk.connect(opts.connectString ?? zk.connectString, opts);
    if (!r.ok) throw new Error(`connect failed: ${r.error.message}\n${zk.log()}`);
    clients.push(r.value);
    return r.value;
  }

  /** Records the wrapper's events in order. */
  function record(client: ZkClient): string[] {
    const seen: string[] = [];
    for (const e of ['connected', 'disconnected', 'expired'] as const) client.on(e, () => seen.push(e));
    return seen;
  }

  async function until(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server log:\n${zk.log().split('\n').slice(-15).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const isAbsent = (r: ZkResult<ZkStat | null>): boolean => r.ok && r.value === null;

  function watchOnce(): { watcher: (e: ZkWatchEvent) => void; fired: Promise<ZkWatchEvent>; count: () => number } {
    let n = 0;
    let resolve!: (e: ZkWatchEvent) => void;
    const fired = new Promise<ZkWatchEvent>((r) => (resolve = r));
    return {
      watcher: (e) => {
        n++;
        resolve(e);
      },
      fired,
      count: () => n,
    };
  }

  const c = await connect();

  t.test('the harness: a standalone server on a loopback port that answers ruok', async (t) => {
    t.match(zk.connectString, /^127\.0\.0\.1:\d+$/);
    t.equal(await fourLetter(zk.port, 'ruok'), 'imok');
    t.ok(existsSync(zk.dataDir));
    t.match(await fourLetter(zk.port, 'srvr'), /Zookeeper version: 3\.8/);
  });

  t.test('create (with parents), get, exists, children, setData with versions, remove', async (t) => {
    const created = await c.create('/crud/a/b', Buffer.from('leaf'), { parents: true });
    t.same(created, { ok: true, value: '/crud/a/b' });
    const again = await c.create('/crud/a/b', Buffer.from('x'), { parents: true });
    t.equal(!again.ok && again.error.code, 'NODE_EXISTS');
    t.equal(!again.ok && again.error.zkCode, -110);

    const got = await c.get('/crud/a/b');
    t.ok(got.ok);
    if (!got.ok) return;
    t.equal(got.value.data.toString(), 'leaf');
    t.equal(got.value.stat.version, 0);
    t.equal(got.value.stat.ephemeralOwner, null);

    t.same(await c.exists('/crud/nope'), { ok: true, value: null });
    const st = await c.exists('/crud/a');
    t.equal(st.ok && st.value?.numChildren, 1);

    await c.create('/crud/a/c');
    const kids = await c.getChildren('/crud/a');
    t.same(kids.ok && kids.value.children, ['b', 'c']);

    const set = await c.setData('/crud/a/b', Buffer.from('v1'), 0);
    t.equal(set.ok && set.value.version, 1);
    const stale = await c.setData('/crud/a/b', Buffer.from('v2'), 0);
    t.equal(!stale.ok && stale.error.code, 'BAD_VERSION');
    t.equal(!stale.ok && stale.error.zkCode, -103);
    const kept = await c.get('/crud/a/b');
    t.equal(kept.ok && kept.value.data.toString(), 'v1');

    const missing = await c.get('/crud/missing');
    t.equal(!missing.ok && missing.error.code, 'NO_NODE');
    t.equal(!missing.ok && missing.error.path, '/crud/missing');
    const notEmpty = await c.remove('/crud/a');
    t.equal(!notEmpty.ok && notEmpty.error.code, 'NOT_EMPTY');
    const badPath = await c.create('no-leading-slash');
    t.equal(!badPath.ok && badPath.error.code, 'BAD_ARGUMENTS');

    const seq1 = await c.create('/crud/seq-', Buffer.alloc(0), { mode: 'persistent_sequential' });
    const seq2 = await c.create('/crud/seq-', Buffer.alloc(0), { mode: 'persistent_sequential' });
    t.match(seq1.ok && seq1.value, /^\/crud\/seq-\d{10}$/);
    t.ok(seq1.ok && seq2.ok && seq2.value > seq1.value, 'sequence numbers grow');

    const eph = await c.create('/crud/eph', Buffer.alloc(0), { mode: 'ephemeral' });
    t.ok(eph.ok);
    const ephStat = await c.exists('/crud/eph');
    t.equal(ephStat.ok && ephStat.value?.ephemeralOwner, c.sessionId);

    t.same(await c.removeRecursive('/crud'), { ok: true, value: undefined });
    t.same(await c.exists('/crud'), { ok: true, value: null });
    const gone = await c.removeRecursive('/crud');
    t.equal(!gone.ok && gone.error.code, 'NO_NODE');
  });

  t.test('watches fire once, for data, children, creation and deletion', async (t) => {
    await c.create('/w/node', Buffer.from('0'), { parents: true });
    const data = watchOnce();
    await c.get('/w/node', data.watcher);
    await c.setData('/w/node', Buffer.from('1'));
    t.same(await data.fired, { type: 'dataChanged', path: '/w/node' });
    await c.setData('/w/node', Buffer.from('2'));

    const kids = watchOnce();
    await c.getChildren('/w', kids.watcher);
    await c.create('/w/child');
    t.same(await kids.fired, { type: 'childrenChanged', path: '/w' });

    const creation = watchOnce();
    t.same(await c.exists('/w/later', creation.watcher), { ok: true, value: null });
    await c.create('/w/later');
    t.same(await creation.fired, { type: 'created', path: '/w/later' });

    const deletion = watchOnce();
    await c.exists('/w/later', deletion.watcher);
    await c.remove('/w/later');
    t.same(await deletion.fired, { type: 'deleted', path: '/w/later' });

    // A second client's change is seen too; and each watch fired exactly once.
    const other = await connect();
    const remote = watchOnce();
    await c.get('/w/node', remote.watcher);
    await other.setData('/w/node', Buffer.from('from other'));
    t.same(await remote.fired, { type: 'dataChanged', path: '/w/node' });
    await new Promise((r) => setTimeout(r, 200));
    t.equal(data.count(), 1);
    t.equal(kids.count(), 1);
    await c.removeRecursive('/w');
  });

  t.test('a transaction applies all operations or none', async (t) => {
    await c.create('/tx', Buffer.from('v0'));
    const ok = await c.transaction([
      { op: 'check', path: '/tx', version: 0 },
      { op: 'create', path: '/tx/a', data: Buffer.from('a') },
      { op: 'setData', path: '/tx', data: Buffer.from('v1'), version: 0 },
    ]);
    t.ok(ok.ok);
    if (!ok.ok) return;
    t.same(
      ok.value.map((r) => r.op),
      ['check', 'create', 'setData'],
    );
    t.same(ok.value[1], { op: 'create', path: '/tx/a' });
    const third = ok.value[2];
    t.equal(third?.op === 'setData' && third.stat.version, 1);

    // Version 0 matters: node-zookeeper-client sends it as -1 ("any") unless the wrapper pins it.
    const failed = await c.transaction([
      { op: 'create', path: '/tx/b' },
      { op: 'setData', path: '/tx', data: Buffer.from('v2'), version: 0 },
      { op: 'remove', path: '/tx/a' },
    ]);
    t.equal(!failed.ok && failed.error.code, 'BAD_VERSION');
    t.equal(!failed.ok && failed.error.opIndex, 1);
    t.equal(!failed.ok && failed.error.path, '/tx');
    t.same(await c.exists('/tx/b'), { ok: true, value: null }, 'the create before the failure was not applied');
    const a = await c.exists('/tx/a');
    t.ok(a.ok && a.value !== null, 'the remove after it neither');
    const data = await c.get('/tx');
    t.equal(data.ok && data.value.data.toString(), 'v1');
    await c.removeRecursive('/tx');
  });

  t.test('session closed elsewhere while this client is partitioned: expired, then a new session', async (t) => {
    const proxy = await startTcpProxy(zk.port);
    const victim = await connect({ ...FAST, connectString: proxy.connectString });
    t.teardown(async () => {
      await victim.close();
      await proxy.close();
    });
    await victim.create('/exp-a', Buffer.alloc(0), { mode: 'ephemeral' });
    const oldSession = victim.sessionId;
    const seen = record(victim);
    proxy.cut(); // the victim cannot take its session back while we end it
    const thief = await Zk.connect(zk.connectString, { ...FAST, session: victim.session });
    t.ok(thief.ok, 'another client resumed the session');
    if (!thief.ok) return;
    t.equal(thief.value.sessionId, oldSession);
    await thief.value.close();
    await until('the server to drop the session’s ephemeral node', async () => isAbsent(await c.exists('/exp-a')));
    proxy.heal();
    await until('expired then connected', async () => seen.join(',').includes('expired,connected'));
    t.equal(victim.state, 'connected');
    t.not(victim.sessionId, oldSession, 'a new session');
    t.ok((await victim.create('/exp-a', Buffer.alloc(0), { mode: 'ephemeral' })).ok, 'the new session works');
    t.same(seen.filter((e) => e === 'expired'), ['expired'], 'expired once');
  });

  t.test('a partition longer than the session timeout: disconnected, and expired once it heals', async (t) => {
    const proxy = await startTcpProxy(zk.port);
    const w = await connect({ sessionTimeout: 2_000, spinDelay: 100, connectString: proxy.connectString });
    t.teardown(async () => {
      await w.close();
      await proxy.close();
    });
    t.equal(w.negotiatedSessionTimeout, 2_000);
    await w.create('/exp-b', Buffer.alloc(0), { mode: 'ephemeral' });
    const oldSession = w.sessionId;
    const seen = record(w);
    const cutAt = Date.now();
    proxy.cut();
    // The read watchdog notices the silence after 2/3 of the session timeout.
    await until('disconnected', async () => seen.includes('disconnected'), 5_000);
    t.ok(Date.now() - cutAt < 4_000, `disconnected after ${Date.now() - cutAt} ms`);
    const r = await w.get('/exp-b');
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
    await until('the server to expire the session', async () => isAbsent(await c.exists('/exp-b')));
    t.equal(w.state, 'disconnected', 'a client learns of expiry only when it reaches the server again');
    proxy.heal();
    await until('expired then connected', async () => seen.join(',').includes('expired,connected'));
    t.not(w.sessionId, oldSession);
    t.ok((await w.create('/exp-b', Buffer.alloc(0), { mode: 'ephemeral' })).ok);
  });

  t.test('server stop: disconnected and calls fail fast; start: connected to the same session', async (t) => {
    const d = await connect();
    await d.create('/restart-eph', Buffer.alloc(0), { mode: 'ephemeral' });
    const session = d.sessionId;
    const seen = record(d);
    await zk.kill();
    await until('disconnected', async () => seen.includes('disconnected'));
    t.equal(d.state, 'disconnected');
    const started = Date.now();
    const r = await d.get('/restart-eph');
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
    t.ok(Date.now() - started < 500, 'no waiting while disconnected');
    await zk.start();
    await until('connected again', async () => d.state === 'connected');
    t.same(seen, ['disconnected', 'connected']);
    t.equal(d.sessionId, session, 'the session survived the restart');
    const eph = await d.exists('/restart-eph');
    t.ok(eph.ok && eph.value !== null, 'its ephemeral node too');
    await until('the first client to be back', async () => c.state === 'connected');
  });

  t.test('a server that stops answering (SIGSTOP) is noticed by the read watchdog', async (t) => {
    const w = await connect({ sessionTimeout: 2_000, spinDelay: 100, operationTimeoutMs: 500 });
    const seen = record(w);
    const frozenAt = Date.now();
    zk.freeze();
    try {
      await until('disconnected', async () => seen.includes('disconnected'), 5_000);
      t.ok(Date.now() - frozenAt < 4_000, `disconnected after ${Date.now() - frozenAt} ms`);
    } finally {
      zk.thaw();
    }
    // Who wins the race after SIGCONT decides whether the session is resumed or expired and replaced.
    await until('connected again', async () => w.state === 'connected');
    t.ok((await w.create('/after-freeze', Buffer.alloc(0), { mode: 'ephemeral' })).ok, 'usable again');
  });

  t.test('close ends the session; later calls say CLOSED', async (t) => {
    const x = await connect();
    await x.create('/closing-eph', Buffer.alloc(0), { mode: 'ephemeral' });
    await x.close();
    t.equal(x.state, 'closed');
    const r = await x.get('/');
    t.equal(!r.ok && r.error.code, 'CLOSED');
    t.same(await c.exists('/closing-eph'), { ok: true, value: null });
  });

  t.test('a server that accepts but never answers the handshake is dropped and retried', async (t) => {
    // ZooKeeper 3.8 can leave a connection accepted during its startup unanswered; the library alone
    // would wait on it forever.
    const accepted: net.Socket[] = [];
    const silent = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      for (const s of accepted) s.destroy();
      silent.close();
    });
    const port = (silent.address() as net.AddressInfo).port;
    const r = await Zk.connect(`127.0.0.1:${port}`, { sessionTimeout: 1_500, connectTimeoutMs: 2_500, spinDelay: 50 });
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
    t.ok(accepted.length >= 3, `the handshake was retried (${accepted.length} connections)`);
  });

  t.test('connect gives up with CONNECTION_LOSS when nothing listens', async (t) => {
    const r = await Zk.connect('127.0.0.1:1', { sessionTimeout: 1_000, connectTimeoutMs: 300, spinDelay: 50 });
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
  });
}

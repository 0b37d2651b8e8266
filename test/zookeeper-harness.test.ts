// The ZooKeeper test harness and the promise wrapper (daemon/zk/client.ts) against a real server.
import { existsSync } from 'node:fs';
import t from 'tap';
import { type ZkClient, type ZkOptions, type ZkWatchEvent, ZkClient as Zk } from '../daemon/zk/client.js';
import { fourLetter, startZooKeeper, zookeeperSkip } from './helpers/zookeeper.js';

const skip = zookeeperSkip();
if (skip !== false) {
  t.comment(`skipping ZooKeeper tests: ${skip}`);
  t.pass('skipped');
  t.end();
} else {
  await run();
}

async function run(): Promise<void> {
  const zk = await startZooKeeper();
  t.teardown(() => zk.stop());
  const clients: ZkClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close();
  });

  const FAST: ZkOptions = { sessionTimeout: 4_000, spinDelay: 100 };
  async function connect(opts: ZkOptions = FAST): Promise<ZkClient> {
    const r = await Zk.connect(zk.connectString, opts);
    if (!r.ok) throw new Error(`connect failed: ${r.error.message}\n${zk.log()}`);
    clients.push(r.value);
    return r.value;
  }

  /** Resolves with the next event of that name, or rejects after `ms`. */
  function next(c: ZkClient, event: 'connected' | 'disconnected' | 'expired', ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms);
      c.once(event, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

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
    t.equal(ok.value[2]!.op === 'setData' && ok.value[2].stat.version, 1);

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

  t.test('a forced session expiry: expired, then connected with a new session that works', async (t) => {
    const victim = await connect();
    await victim.create('/exp-eph', Buffer.alloc(0), { mode: 'ephemeral' });
    const oldSession = victim.sessionId;
    const expired = next(victim, 'expired');
    const reconnected = expired.then(() => next(victim, 'connected'));
    // Another client resumes the same session and ends it: the server closes the session for both.
    const thief = await Zk.connect(zk.connectString, { ...FAST, session: victim.session });
    t.ok(thief.ok, 'resumed the session');
    if (thief.ok) {
      t.equal(thief.value.sessionId, oldSession);
      await thief.value.close();
    }
    await expired;
    t.pass('expired');
    await reconnected;
    t.equal(victim.state, 'connected');
    t.not(victim.sessionId, oldSession, 'a new session');
    t.same(await victim.exists('/exp-eph'), { ok: true, value: null }, 'the old session’s ephemeral node is gone');
    t.ok((await victim.create('/exp-eph', Buffer.alloc(0), { mode: 'ephemeral' })).ok, 'the new session works');
  });

  t.test('server stop: disconnected and calls fail fast; start: connected to the same session', async (t) => {
    const d = await connect();
    await d.create('/restart-eph', Buffer.alloc(0), { mode: 'ephemeral' });
    const session = d.sessionId;
    const down = next(d, 'disconnected');
    await zk.kill();
    await down;
    t.equal(d.state, 'disconnected');
    const started = Date.now();
    const r = await d.get('/restart-eph');
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
    t.ok(Date.now() - started < 500, 'no waiting while disconnected');
    const up = next(d, 'connected');
    await zk.start();
    await up;
    t.equal(d.sessionId, session, 'the session survived the restart');
    const eph = await d.exists('/restart-eph');
    t.ok(eph.ok && eph.value !== null, 'its ephemeral node too');
    // The other clients came back as well.
    await new Promise((r) => setTimeout(r, 1_000));
    t.equal(c.state, 'connected');
  });

  t.test('a server that stops answering (SIGSTOP) is noticed by the read watchdog', async (t) => {
    const w = await connect({ sessionTimeout: 2_000, spinDelay: 100, operationTimeoutMs: 500 });
    t.equal(w.negotiatedSessionTimeout, 2_000);
    const down = next(w, 'disconnected', 5_000);
    const frozenAt = Date.now();
    zk.freeze();
    try {
      await down;
      t.ok(Date.now() - frozenAt < 3_000, `disconnected after ${Date.now() - frozenAt} ms`);
    } finally {
      zk.thaw();
    }
    // Depending on who wins the race after SIGCONT, the session is resumed or expired and replaced.
    await next(w, 'connected', 15_000);
    const r = await w.create('/after-freeze', Buffer.alloc(0), { mode: 'ephemeral' });
    t.ok(r.ok, 'usable again');
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

  t.test('connect gives up with CONNECTION_LOSS when nothing listens', async (t) => {
    const r = await Zk.connect('127.0.0.1:1', { sessionTimeout: 1_000, connectTimeoutMs: 300, spinDelay: 50 });
    t.equal(!r.ok && r.error.code, 'CONNECTION_LOSS');
  });
}

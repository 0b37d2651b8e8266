// FlowTable and the state tables: single-thread behaviour (both backings), a randomized check against a
// Map model, and real worker threads sharing one SharedArrayBuffer table.

import t from 'tap';
import { Worker } from 'node:worker_threads';
import { FlowTable, hashKey, type FlowTableDescriptor } from '../engine/state/flow-table.js';
import { attachStateTables, createStateTables, stateTablesDescriptor } from '../engine/state/tables.js';
import {
  ARP_KEY_WORDS, CT_KEY_WORDS, CT_VAL_WORDS, MAC_KEY_WORDS, NAT_KEY_WORDS, NAT_VAL_WORDS, Put, type FlowTable as FlowTableApi,
} from '../engine/state/types.js';
import { check, setTestKey, type StateJob, type StateWorkerData, type StateWorkerReply } from './helpers/state-worker.js';

const MODES = [false, true] as const;
const k = (...w: number[]) => Int32Array.from(w);

function table(capacity: number, shared: boolean, keyWords = 2, valWords = 2): FlowTable {
  return new FlowTable({ keyWords, valWords, capacity, shared });
}

t.test('get, put and overwrite', async (t) => {
  for (const shared of MODES) {
    const ft = table(64, shared);
    const out = new Int32Array(2);
    t.equal(ft.get(k(1, 2), out, 0), false, `${shared}: absent before any put`);
    t.equal(ft.put(k(1, 2), k(10, 20), 1000, 0), Put.Inserted);
    t.equal(ft.put(k(2, 1), k(30, 40), 1000, 0), Put.Inserted, 'keys differing in word order are different keys');
    t.ok(ft.get(k(1, 2), out, 10));
    t.same([...out], [10, 20]);
    t.equal(ft.put(k(1, 2), k(11, 21), 1000, 10), Put.Existed, 'overwrite reports Existed');
    t.ok(ft.get(k(1, 2), out, 20));
    t.same([...out], [11, 21]);
    t.ok(ft.get(k(2, 1), out, 20));
    t.same([...out], [30, 40]);
    t.equal(ft.size(20), 2);
    // Devices pass scratch arrays longer than keyWords: the extra words are not part of the key.
    t.ok(ft.get(k(1, 2, 99, 98), out, 20), 'words past keyWords are ignored');
    t.equal(ft.get(k(1, 3), out, 20), false);
    t.equal(ft.get(k(-1, 2), out, 20), false, 'negative words hash and compare as int32');
    t.equal(ft.put(k(-1, 0x7fffffff), k(-5, -6), 1000, 20), Put.Inserted);
    t.ok(ft.get(k(-1, 0x7fffffff), out, 20));
    t.same([...out], [-5, -6]);
  }
});

t.test('expiry, rounding and touch', async (t) => {
  for (const shared of MODES) {
    const ft = table(64, shared);
    const out = new Int32Array(2);
    ft.put(k(1, 1), k(1, 1), 1000, 0);
    t.ok(ft.get(k(1, 1), out, 999), `${shared}: live just before its TTL`);
    t.notOk(ft.get(k(1, 1), out, 1000), 'expired at its TTL');
    t.notOk(ft.touch(k(1, 1), 1000, 1000), 'touch does not revive an expired entry');
    t.equal(ft.size(1000), 0);

    ft.put(k(2, 2), k(2, 2), 1050, 0);
    t.ok(ft.get(k(2, 2), out, 1050), 'expiry rounds up to the 100 ms tick: never early');
    t.notOk(ft.get(k(2, 2), out, 1100), 'and at most one tick late');

    ft.put(k(3, 3), k(3, 3), 1000, 0);
    t.ok(ft.touch(k(3, 3), 1000, 900), 'touch refreshes a live entry');
    t.ok(ft.get(k(3, 3), out, 1899));
    t.notOk(ft.get(k(3, 3), out, 1900));
    t.notOk(ft.touch(k(9, 9), 1000, 0), 'touch of an absent key');

    ft.put(k(4, 4), k(4, 4), 1000, 5000);
    t.ok(ft.put(k(4, 4), k(5, 5), 1000, 5500) === Put.Existed && ft.get(k(4, 4), out, 6400), 'put refreshes the expiry');
    t.same([...out], [5, 5]);

    ft.put(k(5, 5), k(5, 5), Infinity, 0);
    t.ok(ft.get(k(5, 5), out, 30 * 86_400_000), 'ttl Infinity does not expire');
    t.equal(ft.put(k(6, 6), k(6, 6), 0, 0), Put.Inserted);
    t.notOk(ft.get(k(6, 6), out, 0), 'ttl 0 is expired at once');
  }
});

t.test('wall-clock times: the expiry base comes from the first nowMs', async (t) => {
  const ft = table(16, true);
  const out = new Int32Array(2);
  const now = 1_763_000_000_000; // Nov 2025, far outside int32 milliseconds
  ft.put(k(1, 1), k(7, 7), 60_000, now);
  t.ok(ft.get(k(1, 1), out, now + 59_999));
  t.notOk(ft.get(k(1, 1), out, now + 60_000));
  const other = FlowTable.attach(ft.descriptor());
  other.put(k(2, 2), k(8, 8), 60_000, now + 1000);
  t.ok(ft.get(k(2, 2), out, now + 60_999), 'an attached table shares the base');
  t.notOk(ft.get(k(2, 2), out, now + 61_000));
  t.throws(() => new FlowTable({ keyWords: 1, valWords: 1, capacity: 4 }).get(k(1), out, NaN), RangeError);
});

t.test('putIfAbsent', async (t) => {
  for (const shared of MODES) {
    const ft = table(64, shared);
    const out = new Int32Array(2).fill(-1);
    t.equal(ft.putIfAbsent(k(1, 1), k(10, 11), 1000, 0, out), Put.Inserted, `${shared}: absent → Inserted`);
    t.equal(ft.putIfAbsent(k(1, 1), k(20, 21), 1000, 100, out), Put.Existed, 'present → Existed');
    t.same([...out], [10, 11], 'out holds the existing value');
    const got = new Int32Array(2);
    t.ok(ft.get(k(1, 1), got, 200));
    t.same([...got], [10, 11], 'the existing value is kept');
    t.ok(ft.get(k(1, 1), got, 999));
    t.notOk(ft.get(k(1, 1), got, 1000), 'its expiry was not refreshed by the refused insert');
    t.equal(ft.putIfAbsent(k(1, 1), k(30, 31), 1000, 1000, out), Put.Inserted, 'expired counts as absent');
    t.ok(ft.get(k(1, 1), got, 1000));
    t.same([...got], [30, 31]);
    t.equal(ft.size(1000), 1, 'the expired entry was replaced, not duplicated');
  }
});

t.test('delete', async (t) => {
  for (const shared of MODES) {
    const ft = table(64, shared);
    const out = new Int32Array(2);
    ft.put(k(1, 1), k(1, 1), 1000, 0);
    ft.put(k(2, 2), k(2, 2), 1000, 0);
    t.ok(ft.delete(k(1, 1)), `${shared}: delete of a present key`);
    t.notOk(ft.get(k(1, 1), out, 0));
    t.notOk(ft.delete(k(1, 1)), 'second delete finds nothing');
    t.notOk(ft.delete(k(3, 3)), 'delete of a never-stored key');
    t.ok(ft.get(k(2, 2), out, 0), 'other keys are untouched');
    t.equal(ft.putIfAbsent(k(1, 1), k(5, 5), 1000, 0, out), Put.Inserted, 'a deleted key can be inserted again');
    t.equal(ft.size(0), 2);
  }
});

t.test('a full table returns Full and keeps working', async (t) => {
  for (const shared of MODES) {
    const ft = table(8, shared);
    const out = new Int32Array(2);
    let inserted = 0;
    for (let i = 0; i < 8; i++) if (ft.put(k(i, i), k(i, -i), 10_000, 0) === Put.Inserted) inserted++;
    t.equal(inserted, 8, `${shared}: holds exactly its capacity`);
    t.equal(ft.put(k(100, 100), k(1, 1), 10_000, 0), Put.Full);
    t.equal(ft.putIfAbsent(k(101, 101), k(1, 1), 10_000, 50, out), Put.Full);
    t.notOk(ft.get(k(100, 100), out, 0), 'nothing was written');
    t.equal(ft.size(0), 8);
    for (let i = 0; i < 8; i++) {
      t.ok(ft.get(k(i, i), out, 50) && out[0] === i && out[1] === -i, `key ${i} still readable`);
    }
    t.equal(ft.put(k(3, 3), k(33, 33), 10_000, 50), Put.Existed, 'overwrite works when full');
    out.fill(0);
    t.equal(ft.putIfAbsent(k(4, 4), k(0, 0), 10_000, 50, out), Put.Existed);
    t.same([...out], [4, -4]);
    t.ok(ft.touch(k(5, 5), 10_000, 50));
    t.ok(ft.delete(k(6, 6)));
    t.equal(ft.put(k(100, 100), k(1, 1), 10_000, 50), Put.Inserted, 'a delete makes room');
    t.equal(ft.put(k(102, 102), k(1, 1), 10_000, 50), Put.Full);
    t.equal(ft.size(50), 8);
  }
});

t.test('expired slots are reused: a table never fills with dead entries', async (t) => {
  for (const shared of MODES) {
    const ft = table(8, shared);
    const out = new Int32Array(2);
    let full = 0;
    for (let gen = 0; gen < 200; gen++) {
      const now = gen * 1000;
      for (let i = 0; i < 8; i++) if (ft.putIfAbsent(k(gen, i), k(gen, i), 500, now, out) !== Put.Inserted) full++;
      if (gen === 0) t.equal(ft.put(k(-1, -1), k(0, 0), 500, now), Put.Full, 'full while the entries live');
    }
    t.equal(full, 0, `${shared}: 1,600 inserts into 8 slots' worth of capacity, none refused`);
    t.equal(ft.size(199_000), 8);
    t.notOk(ft.get(k(198, 0), out, 199_000), 'older generations are gone');
    t.ok(ft.get(k(199, 7), out, 199_000) && out[0] === 199 && out[1] === 7);
  }
});

t.test('sweep frees deleted and expired slots', async (t) => {
  const ft = table(32, false);
  for (let i = 0; i < 32; i++) ft.put(k(i, 0), k(i, 0), i < 16 ? 100 : 10_000, 0);
  for (let i = 16; i < 24; i++) ft.delete(k(i, 0));
  t.equal(ft.sweep(0), 8, 'deleted slots are freed; live ones are not');
  t.equal(ft.sweep(1000), 16, 'then the expired ones');
  t.equal(ft.size(1000), 8);
  let inserted = 0;
  for (let i = 100; i < 124; i++) if (ft.put(k(i, 0), k(i, 0), 10_000, 1000) === Put.Inserted) inserted++;
  t.equal(inserted, 24, 'room for capacity minus the live entries');
});

t.test('a sweep keeps entries that wrap past the last slot reachable', async (t) => {
  const ft = table(6, false, 2, 2); // 8 slots
  t.equal(ft.slots, 8);
  const homedAt = (home: number, skip: number) => {
    for (let i = 0; ; i++) if ((hashKey(k(i, 0), 2) & 7) === home && skip-- === 0) return k(i, 0);
  };
  const [a, b, c, d] = [homedAt(7, 0), homedAt(7, 1), homedAt(7, 2), homedAt(0, 0)];
  ft.put(a, k(1, 1), 100, 0); // slot 7
  ft.put(b, k(2, 2), 10_000, 0); // slot 0
  ft.put(c, k(3, 3), 10_000, 0); // slot 1
  ft.put(d, k(4, 4), 10_000, 0); // slot 2
  t.equal(ft.sweep(1000), 1, 'the expired entry in the last slot is freed');
  const out = new Int32Array(2);
  for (const [key, v] of [[b, 2], [c, 3], [d, 4]] as const) t.ok(ft.get(key, out, 1000) && out[0] === v, `entry ${v} moved and found`);
  t.notOk(ft.get(a, out, 1000));
  t.ok(ft.delete(c));
  t.equal(ft.sweep(1000), 1);
  t.ok(ft.get(b, out, 1000) && ft.get(d, out, 1000) && out[0] === 4, 'and again after a delete');
  t.equal(ft.size(1000), 2);
});

t.test('randomized operations agree with a Map model', async (t) => {
  for (const shared of MODES) {
    const ft = table(64, shared, 3, 2);
    const model = new Map<number, { v: number; exp: number }>();
    const live = (id: number, now: number) => {
      const e = model.get(id);
      return e !== undefined && Math.floor(now / 100) < e.exp ? e : undefined;
    };
    const key = new Int32Array(3);
    const val = new Int32Array(2);
    const out = new Int32Array(2);
    let seed = shared ? 12345 : 777;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      return (seed >>> 8) % n;
    };
    let now = 0;
    let bad = 0;
    let full = 0;
    let maxLive = 0;
    const fail = (what: string) => { if (bad++ < 5) t.fail(`${shared}: ${what} at ${now}`); };
    for (let step = 0; step < 20_000; step++) {
      now += rnd(4) * 40;
      const id = rnd(300); // more keys than the 64-entry capacity: sweeps run and Full happens
      key[0] = id; key[1] = id * 31; key[2] = ~id;
      const ttl = [500, 5000, 30_000][rnd(3)]!;
      const exp = Math.ceil((now + ttl) / 100);
      const e = live(id, now);
      let liveCount = 0;
      for (const id2 of model.keys()) if (live(id2, now)) liveCount++;
      // Full exactly when a new entry would exceed capacity: sweeps leave no dead slot behind.
      const checkFull = (r: Put) => {
        if ((r === Put.Full) !== (!e && liveCount >= 64)) fail(`${id} returned ${r} with ${liveCount} live`);
        if (r === Put.Full) full++;
        return r === Put.Full;
      };
      if (step % 500 === 0 && ft.size(now) !== liveCount) fail(`size ${ft.size(now)} != ${liveCount}`);
      maxLive = Math.max(maxLive, liveCount);
      switch (rnd(8)) {
        case 0: case 1: case 2: {
          val[0] = step; val[1] = id;
          const r = ft.put(key, val, ttl, now);
          if (checkFull(r)) break;
          if (r !== (e ? Put.Existed : Put.Inserted)) fail(`put ${id} returned ${r}`);
          model.set(id, { v: step, exp });
          break;
        }
        case 3: {
          val[0] = step; val[1] = id;
          const r = ft.putIfAbsent(key, val, ttl, now, out);
          if (checkFull(r)) break;
          if (r !== (e ? Put.Existed : Put.Inserted)) fail(`putIfAbsent ${id} returned ${r}`);
          if (e && out[0] !== e.v) fail(`putIfAbsent ${id} out ${out[0]} != ${e.v}`);
          if (!e) model.set(id, { v: step, exp });
          break;
        }
        case 4: {
          const r = ft.touch(key, ttl, now);
          if (r !== (e !== undefined)) fail(`touch ${id} returned ${r}`);
          if (e) e.exp = exp;
          break;
        }
        case 5: {
          const r = ft.delete(key);
          if (e && !r) fail(`delete of live ${id} returned false`);
          if (!model.has(id) && r) fail(`delete of absent ${id} returned true`);
          model.delete(id);
          break;
        }
        default: {
          const r = ft.get(key, out, now);
          if (r !== (e !== undefined)) fail(`get ${id} returned ${r}`);
          if (e && (out[0] !== e.v || out[1] !== id)) fail(`get ${id} value ${out[0]} != ${e.v}`);
        }
      }
    }
    t.equal(bad, 0, `${shared}: 20,000 operations matched the model`);
    t.ok(full > 100, `Full ${full} times, each time with 64 live entries`);
    t.ok(ft.sweeps > 10, `through ${ft.sweeps} compactions`);
    t.comment(`at most ${maxLive} live`);
  }
});

t.test('descriptor and attach', async (t) => {
  const a = table(64, true);
  t.ok(a.descriptor().buffer instanceof SharedArrayBuffer);
  const b = FlowTable.attach(structuredClone(a.descriptor()));
  const out = new Int32Array(2);
  a.put(k(1, 2), k(3, 4), 1000, 0);
  t.ok(b.get(k(1, 2), out, 0) && out[0] === 3 && out[1] === 4, 'the attached table sees writes');
  t.equal(b.putIfAbsent(k(1, 2), k(9, 9), 1000, 0, out), Put.Existed);
  const d: FlowTableDescriptor = { ...a.descriptor(), keyWords: 3 };
  t.throws(() => FlowTable.attach(d), /layout/, 'a mismatched descriptor is refused');
  t.throws(() => FlowTable.attach({ ...a.descriptor(), buffer: new SharedArrayBuffer(a.byteLength) }), /layout/);
  t.throws(() => new FlowTable({ keyWords: 0, valWords: 1, capacity: 8 }), RangeError);
  t.throws(() => new FlowTable({ keyWords: 1, valWords: 1, capacity: 0 }), RangeError);
  t.equal(a.slots, 128, '64 entries at load ≤ 0.75 need 128 slots');
});

t.test('createStateTables', async (t) => {
  const caps = { macCapacity: 100, arpCapacity: 50, conntrackCapacity: 1000, natCapacity: 200 };
  const local = createStateTables(caps);
  t.equal(local.mac.keyWords, MAC_KEY_WORDS);
  t.equal(local.arp.keyWords, ARP_KEY_WORDS);
  t.equal(local.conntrack.keyWords, CT_KEY_WORDS);
  t.equal(local.conntrack.valWords, CT_VAL_WORDS);
  t.equal(local.nat.keyWords, NAT_KEY_WORDS);
  t.equal(local.nat.valWords, NAT_VAL_WORDS);
  t.equal(local.conntrack.capacity, 1000);
  t.notOk((local.mac as FlowTable).shared);

  const shared = createStateTables({ ...caps, shared: true });
  const d = structuredClone(stateTablesDescriptor(shared));
  t.ok(d.nat.buffer instanceof SharedArrayBuffer);
  const other = attachStateTables(d);
  const key = new Int32Array(8).fill(3);
  const out = new Int32Array(4);
  shared.nat.put(key, k(42, 43), 1000, 0);
  t.ok(other.nat.get(key, out, 0) && out[0] === 42, 'attached tables share memory');
  t.notOk(other.conntrack.get(key, out, 0), 'and the four tables are separate');
  const fake: FlowTableApi = { ...local.mac, get: () => false } as unknown as FlowTableApi;
  t.throws(() => stateTablesDescriptor({ ...local, mac: fake }), TypeError);
});

// ---- worker threads ----------------------------------------------------------------------------

const workerUrl = new URL('./helpers/state-worker.ts', import.meta.url);
// Node 20 does not apply `--import tsx` from execArgv to a worker's .ts entry (ERR_UNKNOWN_FILE_EXTENSION),
// so each worker registers tsx itself before importing the helper.
const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(workerUrl.href)}); });`;

/** Starts one worker per job on `desc`, releases them together, and resolves with their replies. */
async function runWorkers(desc: FlowTableDescriptor, nowMs: number, jobs: StateJob[]): Promise<StateWorkerReply[]> {
  const gateBuf = new SharedArrayBuffer(12);
  const gate = new Int32Array(gateBuf);
  const ready: Promise<void>[] = [];
  const done = jobs.map((job) => new Promise<StateWorkerReply>((resolve, reject) => {
    const data: StateWorkerData = { table: desc, gate: gateBuf, nowMs, job };
    const w = new Worker(bootstrap, { eval: true, workerData: data });
    let signalReady: () => void = () => {};
    ready.push(new Promise<void>((r) => { signalReady = r; }));
    w.on('message', (m: 'ready' | StateWorkerReply) => {
      if (m === 'ready') signalReady();
      else resolve(m);
    });
    w.on('error', reject);
    w.on('exit', (code) => reject(new Error(`worker exited (code ${code}) without a reply`))); // no-op once resolved
  }));
  await Promise.race([Promise.all(ready), Promise.all(done)]);
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  return Promise.all(done);
}

t.test('workers racing putIfAbsent agree on one entry per key', async (t) => {
  const ft = table(131_072, true, 4, 2);
  const rounds = 2000;
  const perRound = 16;
  const keys = rounds * perRound;
  const workers = 2; // one per core: more would mostly wait for each other
  // Blockers fill a third of the slots and expire at 1000 ms. The workers' clocks read 900 and 1000: one
  // sees the blockers as dead slots to reuse, the other probes past them, so racers for a key can pick
  // different slots; only the per-key insert lock keeps them to one entry.
  const key = new Int32Array(4);
  for (let i = 0; i < 88_000; i++) {
    setTestKey(key, 1_000_000 + i, 4);
    ft.put(key, Int32Array.of(-1, -1), 1000, 0);
  }
  const skews = [-100, 0];
  const jobs: StateJob[] = [];
  for (let id = 1; id <= workers; id++) jobs.push({ kind: 'race', id, rounds, perRound, workers, skewMs: skews[id - 1]! });
  const replies = await runWorkers(ft.descriptor(), 1000, jobs);

  t.same(replies.map((r) => r.full), [0, 0], 'no insert was refused');
  t.equal(replies.reduce((n, r) => n + r.inserted!, 0), keys, 'exactly one worker inserted each key');
  const wins = replies.map((r) => r.inserted!);
  t.comment(`keys won per worker: ${wins.join(', ')}`);
  let disagree = 0;
  let wrong = 0;
  const out = new Int32Array(2);
  for (let i = 0; i < keys; i++) {
    const v0 = replies[0]!.observed![2 * i]!;
    const v1 = replies[0]!.observed![2 * i + 1]!;
    for (const r of replies) if (r.observed![2 * i] !== v0 || r.observed![2 * i + 1] !== v1) disagree++;
    setTestKey(key, i, 4);
    if (!ft.get(key, out, 1000) || out[0] !== v0 || out[1] !== v1 || v1 !== i) wrong++;
  }
  t.equal(disagree, 0, 'every worker saw the same value for every key');
  t.equal(wrong, 0, 'and it is the value stored');
  const seen = new Uint8Array(keys);
  ft.forEach(1000, (kw) => { seen[kw[0]! - 1]!++; }); // blockers have expired by 1000
  t.ok(seen.every((n) => n === 1), 'each key occupies exactly one slot');
  t.equal(ft.size(1000), keys);
});

t.test('readers never miss or tear an entry that other threads overwrite', async (t) => {
  const ft = table(1024, true, 5, 2);
  const keys = 40;
  const key = new Int32Array(5);
  for (let i = 0; i < keys; i++) {
    setTestKey(key, i, 5);
    ft.put(key, Int32Array.of(0, check(i, 0)), 60_000, 1000);
  }
  const replies = await runWorkers(ft.descriptor(), 1000, [
    { kind: 'churn', id: 1, keys, rounds: 5000 },
    { kind: 'churn', id: 2, keys, rounds: 5000 },
  ]);
  for (const r of replies) {
    t.ok(r.reads! > 100_000, `${r.reads} reads`);
    t.equal(r.misses, 0, 'no read missed a present key');
    t.equal(r.torn, 0, 'no read mixed two writes');
  }
});

t.test('a table written in one worker is read in another', async (t) => {
  const ft = table(8192, true, 3, 2);
  const [w] = await runWorkers(ft.descriptor(), 5000, [{ kind: 'write', id: 1, keys: 6000 }]);
  t.equal(w!.full, 0);
  const [r] = await runWorkers(ft.descriptor(), 5000, [{ kind: 'read', id: 2, keys: 6000 }]);
  t.equal(r!.misses, 0, 'every key written is found');
  t.equal(r!.torn, 0, 'with the value written');
  t.equal(ft.size(5000), 6000, 'and the main thread sees them too');
});

t.test('workers inserting, deleting and expiring on a small table keep it consistent', async (t) => {
  const ft = table(128, true, 3, 2);
  const keys = 160;
  const replies = await runWorkers(ft.descriptor(), 10_000, [1, 2, 3].map((id) => ({ kind: 'mixed', id, keys, rounds: 150 })));
  t.same(replies.map((r) => r.torn), [0, 0, 0], 'no torn value seen');
  t.ok(ft.sweeps > 0, `${ft.sweeps} sweeps ran while the workers read and wrote`);
  const end = 10_000 + 150 * 50;
  const seen = new Uint8Array(keys);
  let inconsistent = 0;
  ft.forEach(end, (kw, v) => {
    seen[kw[0]! - 1]!++;
    if (v[1] !== check(kw[0]! - 1, v[0]!)) inconsistent++;
  });
  t.ok(seen.every((n) => n <= 1), 'no key stored twice');
  t.equal(inconsistent, 0);
  t.ok(ft.size(end) <= 128);
  const later = end + 10_000;
  let inserted = 0;
  const key = new Int32Array(3);
  for (let i = 1000; i < 1128; i++) {
    setTestKey(key, i, 3);
    if (ft.put(key, Int32Array.of(1, 2), 1000, later) === Put.Inserted) inserted++;
  }
  t.equal(inserted, 128, 'once everything expired the whole capacity is usable again');
});

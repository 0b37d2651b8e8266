// One behaviour suite for every trace-condition store (SQLite offline, ZooKeeper in production):
// what the API stores through ConditionStore and what the daemon sees through watch().
import type { TraceConditionJson } from '../../model/trace.js';
import type { ConditionStore } from '../../model/stores.js';
import type { Tap } from './sink-conformance.js';
import { waitUntil } from './wait.js';

export interface ConditionStoreUnderTest {
  store: ConditionStore;
  /** Another store on the same backend (another connection or client), when the backend has one. */
  peer?: () => Promise<ConditionStore>;
  close(): Promise<void>;
}

export type ConditionStoreFactory = () => Promise<ConditionStoreUnderTest>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PORT_1 = '7e000000-0000-4000-8000-000000000001';
const PORT_2 = '7e000000-0000-4000-8000-000000000002';

/** A condition using most of SPEC §2 CONDITION plus every trace-condition field. */
export function richCondition(id: string, name: string): TraceConditionJson {
  return {
    id, name, enabled: false, limit: 25, deviceType: 'bridge', deviceId: 'b0000000-0000-4000-8000-000000000001',
    condInvert: false, matchForwardFlow: true,
    inPorts: [PORT_1, PORT_2], invInPorts: true, outPorts: [PORT_2],
    dlType: 2048, dlSrc: '02:00:00:00:00:01', dlSrcMask: 'ffff.ffff.0000', invDlDst: false,
    nwTos: 16, nwProto: 6, invNwProto: true,
    nwSrcAddress: '10.0.0.0', nwSrcLength: 8, nwDstAddress: '192.168.1.10', nwDstLength: 32, invNwDst: true,
    tpSrc: { start: 1024, end: 65535 }, tpDst: { start: 80, end: 80 }, invTpDst: false,
    fragmentPolicy: 'header', vlan: 100, traversedDevice: PORT_1, matchNwDstRewritten: true,
  };
}

export function conditionStoreConformance(t: Tap, name: string, make: ConditionStoreFactory): void {
  const open = async (tt: Tap): Promise<ConditionStoreUnderTest> => {
    const s = await make();
    tt.teardown(() => s.close());
    return s;
  };

  t.test(`${name}: create assigns an id and a creation time when absent`, async (tt) => {
    const { store } = await open(tt);
    const before = Date.now();
    const res = await store.create({ nwProto: 17 });
    tt.ok(res.ok);
    if (!res.ok) return;
    tt.match(res.condition.id, UUID);
    const ts = res.condition.creationTimestampMs;
    tt.ok(typeof ts === 'number' && ts >= before && ts <= Date.now(), 'creationTimestampMs is now');
    tt.same(await store.get(res.condition.id), res.condition);
    tt.same(await store.get('c0000000-0000-4000-8000-0000000000ff'), null, 'unknown id');
  });

  t.test(`${name}: conditions round-trip exactly`, async (tt) => {
    const { store } = await open(tt);
    const rich = { ...richCondition('c0000000-0000-4000-8000-000000000001', 'web'), creationTimestampMs: 1_700_000_000_123 };
    const res = await store.create(rich);
    tt.same(res, { ok: true, condition: rich }, 'create returns what was given');
    tt.same(await store.get(rich.id), rich, 'get returns what was given');
    tt.same(await store.list(), [rich]);
    // What callers do with returned objects does not reach the store.
    const got = await store.get(rich.id);
    got!.inPorts!.push('x');
    got!.name = 'changed';
    tt.same(await store.get(rich.id), rich, 'returned objects are copies');
  });

  t.test(`${name}: duplicate ids and names are refused with a code, and change nothing`, async (tt) => {
    const { store } = await open(tt);
    const a = await store.create({ id: 'c0000000-0000-4000-8000-00000000000a', name: 'alpha', nwProto: 6 });
    tt.ok(a.ok);
    tt.same(await store.create({ id: 'c0000000-0000-4000-8000-00000000000a', name: 'other' }), { ok: false, code: 'duplicate_id' });
    tt.same(await store.create({ name: 'alpha', nwProto: 17 }), { ok: false, code: 'duplicate_name' });
    tt.ok((await store.create({ nwProto: 1 })).ok, 'unnamed conditions do not clash');
    tt.ok((await store.create({ nwProto: 2 })).ok);
    const all = await store.list();
    tt.equal(all.length, 3);
    tt.same(all.filter((c) => c.name === 'alpha').map((c) => c.nwProto), [6], 'alpha unchanged');
  });

  t.test(`${name}: put creates, replaces, keeps creation time and order, refuses clashes`, async (tt) => {
    const { store } = await open(tt);
    const id = 'c0000000-0000-4000-8000-000000000042';
    const first = await store.put(id, { name: 'n1', nwProto: 6, inPorts: [PORT_1] });
    tt.match(first, { ok: true, created: true, condition: { id, name: 'n1', nwProto: 6 } });
    const created = first.ok ? first.condition.creationTimestampMs : undefined;
    tt.type(created, 'number');
    const other = await store.create({ name: 'n2' });
    const replaced = await store.put(id, { id, name: 'n1b', dlType: 2054 });
    tt.same(replaced, { ok: true, created: false, condition: { id, name: 'n1b', dlType: 2054, creationTimestampMs: created } },
      'replace drops old fields and keeps the creation time');
    tt.same(await store.get(id), { id, name: 'n1b', dlType: 2054, creationTimestampMs: created });
    tt.same((await store.list()).map((c) => c.id), [id, other.ok ? other.condition.id : ''], 'still first in the list');
    tt.same(await store.put(id, { name: 'n2' }), { ok: false, code: 'duplicate_name' }, "another's name");
    tt.same(await store.put(id, { id: 'c0000000-0000-4000-8000-000000000043' }), { ok: false, code: 'id_mismatch' });
    tt.match(await store.put(id, { name: 'n1b', nwProto: 1 }), { ok: true, created: false }, 'its own name is fine');
    tt.match(await store.put(id, { nwProto: 1, creationTimestampMs: 5 }), { ok: true, condition: { creationTimestampMs: 5 } },
      'a given creation time is kept');
    tt.same(await store.get(id), { nwProto: 1, creationTimestampMs: 5, id });
    tt.ok((await store.create({ name: 'n1b' })).ok, 'a name given up is free again');
  });

  t.test(`${name}: delete`, async (tt) => {
    const { store } = await open(tt);
    const res = await store.create({ name: 'gone' });
    if (!res.ok) { tt.fail('create'); return; }
    tt.equal(await store.delete(res.condition.id), true);
    tt.equal(await store.get(res.condition.id), null);
    tt.equal(await store.delete(res.condition.id), false, 'second delete');
    tt.same(await store.list(), []);
    tt.ok((await store.create({ name: 'gone' })).ok, 'the name is free again');
  });

  t.test(`${name}: watch sees every change with the whole list; unsubscribe stops it`, async (tt) => {
    const { store } = await open(tt);
    const seen: TraceConditionJson[][] = [];
    const stopThrower = store.watch(() => { throw new Error('listener bug'); });
    const stop = store.watch((all) => seen.push(all));
    const a = await store.create({ name: 'a' });
    await until(() => seen.some((l) => l.length === 1), 'create seen');
    tt.same(seen[seen.length - 1], [a.ok ? a.condition : null], 'create seen with the list');
    const id = a.ok ? a.condition.id : '';
    await store.put(id, { name: 'a2' });
    await until(() => seen.some((l) => l[0]?.name === 'a2'), 'put seen');
    await store.delete(id);
    await until(() => seen[seen.length - 1]?.length === 0, 'delete seen');
    tt.pass('create, put and delete all reached the listener despite a throwing neighbour');
    stop();
    stopThrower();
    const calls = seen.length;
    await store.create({ name: 'b' });
    await sleep(400);
    tt.equal(seen.length, calls, 'no calls after unsubscribe');
  });

  t.test(`${name}: changes made through another client reach watchers`, async (tt) => {
    const u = await open(tt);
    if (u.peer === undefined) { tt.pass('backend has a single client'); return; }
    const other = await u.peer();
    tt.teardown(() => other.close());
    const seen: TraceConditionJson[][] = [];
    u.store.watch((all) => seen.push(all));
    const made = await other.create({ name: 'from-elsewhere', nwProto: 17 });
    await until(() => seen.some((l) => l.some((c) => c.name === 'from-elsewhere')), 'peer create seen', 3000);
    tt.same(await u.store.get(made.ok ? made.condition.id : ''), made.ok ? made.condition : null, 'and readable');
    await other.delete(made.ok ? made.condition.id : '');
    await until(() => seen[seen.length - 1]?.length === 0, 'peer delete seen', 3000);
    tt.same(await other.list(), await u.store.list(), 'both clients agree');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `cond` until it holds; rejects after `timeoutMs`. */
export const until = (cond: () => boolean, what: string, timeoutMs = 2000): Promise<number> => waitUntil(what, cond, timeoutMs, 10);

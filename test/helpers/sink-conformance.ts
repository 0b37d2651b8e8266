// One behaviour suite for every trace backend (SQLite now, Cassandra later): what the daemon writes
// through TraceSink and what the API reads through TraceStore (SPEC §5, §6 GET/DELETE /traces).
import type tap from 'tap';
import type { TraceRecord, TraceSink, TraceStore } from '../../model/stores.js';
import type { StepDetails } from '../../model/step.js';
import {
  expectedSteps, expectedSummary, HOST_A, HOST_B, makeRecord, makeStep, newestFirst,
} from './trace-records.js';

export type Tap = Parameters<Parameters<typeof tap.test>[0]>[0];

export interface TraceBackendUnderTest {
  sink: TraceSink;
  store: TraceStore;
  /** Closes sink and store; must not fail when the test already closed the sink. */
  close(): Promise<void>;
}

/** Queue bounds the factory must pass to the backend's sink (the full-queue test uses them). */
export interface TraceBackendFactoryOptions { maxQueuedSteps?: number; maxQueuedTraces?: number }

export type TraceBackendFactory = (opts?: TraceBackendFactoryOptions) => Promise<TraceBackendUnderTest>;

const COND_A = 'c0000000-0000-4000-8000-00000000000a';
const COND_B = 'c0000000-0000-4000-8000-00000000000b';
const T0 = Date.UTC(2030, 0, 1);

export function traceBackendConformance(t: Tap, name: string, make: TraceBackendFactory): void {
  const open = async (tt: Tap, opts?: TraceBackendFactoryOptions): Promise<TraceBackendUnderTest> => {
    const b = await make(opts);
    tt.teardown(() => b.close());
    return b;
  };

  t.test(`${name}: stores every trace with its steps numbered 1..n in order`, async (tt) => {
    const { sink, store } = await open(tt);
    const recs: TraceRecord[] = [];
    for (let i = 0; i < 60; i++) {
      recs.push(makeRecord({ startedAtMs: T0 + i * 1000, steps: i % 31, conditionIds: i % 2 ? [COND_A] : [] }));
    }
    for (const r of recs) sink.write(r);
    await sink.flush();
    for (const r of recs) {
      const got = await store.get(r.id);
      tt.same(got, { ...expectedSummary(r), steps: expectedSteps(r) }, `trace ${r.id} with ${r.steps.length} steps`);
    }
    const steps = recs.reduce((n, r) => n + r.steps.length, 0);
    tt.match(sink.stats(), {
      tracesWritten: 60, tracesIncomplete: 0, tracesLost: 0, stepsWritten: steps, stepsLost: 0,
      queueDepth: 0, queuedSteps: 0, writeErrors: 0,
    });
    tt.equal(await store.get('00000000-0000-4000-8000-000000000000'), null, 'unknown id reads as null');
  });

  t.test(`${name}: numbers steps by position, whatever the producer numbered`, async (tt) => {
    const { sink, store } = await open(tt);
    const r = makeRecord({ steps: 3 });
    r.steps = r.steps.map((s, i) => ({ ...s, step: 10 + i * 5 }));
    sink.write(r);
    await sink.flush();
    const got = await store.get(r.id);
    tt.same(got?.steps.map((s) => s.step), [1, 2, 3]);
    tt.equal(got?.steps[2]?.message, r.steps[2]!.message, 'third step is the third one given');
  });

  t.test(`${name}: lists newest first, with every filter`, async (tt) => {
    const { sink, store } = await open(tt);
    const recs: TraceRecord[] = [];
    const results = ['forward', 'drop', 'consumed'] as const;
    const conds = [[], [COND_A], [COND_B], [COND_A, COND_B]];
    for (let i = 0; i < 48; i++) {
      recs.push(makeRecord({
        // Pairs share a millisecond: the id breaks the tie.
        startedAtMs: T0 + Math.floor(i / 2) * 10,
        hostId: i % 2 ? HOST_B : HOST_A,
        result: results[i % 3],
        conditionIds: conds[i % 4],
        steps: 1,
      }));
    }
    // Written out of order: the listing order must come from the data, not arrival.
    for (const r of [...recs].reverse()) sink.write(r);
    await sink.flush();
    const ids = (rs: TraceRecord[]): string[] => [...rs].sort(newestFirst).map((r) => r.id);

    const all = await store.list({ limit: 1000 });
    tt.ok(all.ok);
    if (!all.ok) return;
    tt.same(all.items.map((s) => s.id), ids(recs), 'everything, newest first');
    tt.equal(all.nextCursor, null, 'nothing more');
    const first = recs[5]!;
    tt.same(all.items.find((s) => s.id === first.id), expectedSummary(first), 'summaries are full');

    const cases: { q: Parameters<TraceStore['list']>[0]; keep: (r: TraceRecord) => boolean; what: string }[] = [
      { q: { limit: 1000, conditionId: COND_A }, keep: (r) => r.conditionIds.includes(COND_A), what: 'conditionId' },
      { q: { limit: 1000, hostId: HOST_B }, keep: (r) => r.hostId === HOST_B, what: 'hostId' },
      { q: { limit: 1000, result: 'drop' }, keep: (r) => r.result === 'drop', what: 'result' },
      { q: { limit: 1000, since: T0 + 100 }, keep: (r) => r.startedAtMs >= T0 + 100, what: 'since (inclusive)' },
      { q: { limit: 1000, until: T0 + 100 }, keep: (r) => r.startedAtMs < T0 + 100, what: 'until (exclusive)' },
      {
        q: { limit: 1000, conditionId: COND_B, hostId: HOST_A, since: T0 + 30, until: T0 + 200 },
        keep: (r) => r.conditionIds.includes(COND_B) && r.hostId === HOST_A && r.startedAtMs >= T0 + 30 && r.startedAtMs < T0 + 200,
        what: 'conditionId + hostId + since + until',
      },
      { q: { limit: 1000, result: 'consumed', hostId: HOST_A }, keep: (r) => r.result === 'consumed' && r.hostId === HOST_A, what: 'result + hostId' },
      { q: { limit: 1000, conditionId: 'c0000000-0000-4000-8000-0000000000ff' }, keep: () => false, what: 'unknown condition' },
    ];
    for (const c of cases) {
      const want = ids(recs.filter(c.keep));
      const res = await store.list(c.q);
      tt.same(res.ok ? res.items.map((s) => s.id) : res, want, `filter ${c.what} (${want.length})`);
      // The same listing, a few at a time through cursors.
      const paged = await pageAll(store, { ...c.q, limit: 5 });
      tt.same(paged, want, `filter ${c.what}, paged by 5`);
    }
  });

  t.test(`${name}: refuses a bad limit, time or cursor with a code`, async (tt) => {
    const { store } = await open(tt);
    for (const limit of [0, -1, 1.5, 1001, Number.NaN]) {
      const r = await store.list({ limit });
      tt.match(r, { ok: false, code: 'invalid_limit' }, `limit ${limit}`);
    }
    tt.match(await store.list({ limit: 10, since: Number.NaN }), { ok: false, code: 'invalid_time' }, 'since NaN');
    tt.match(await store.list({ limit: 10, until: Infinity }), { ok: false, code: 'invalid_time' }, 'until Infinity');
    const b64 = (text: string): string => Buffer.from(text).toString('base64url');
    for (const cursor of ['garbage!', '', b64('x:y'), b64('12345'), b64('99999999999999999:abc')]) {
      const r = await store.list({ limit: 10, cursor });
      tt.match(r, { ok: false, code: 'invalid_cursor' }, `cursor ${JSON.stringify(cursor)}`);
    }
  });

  t.test(`${name}: pages through 10,000 traces by 100 without duplicates or gaps, while more arrive`, async (tt) => {
    const { sink, store } = await open(tt);
    const recs: TraceRecord[] = [];
    for (let i = 0; i < 10_000; i++) {
      // Every fourth millisecond holds three traces.
      recs.push(makeRecord({ startedAtMs: T0 + Math.floor(i / 3) * 4, steps: 1, hostId: HOST_A }));
    }
    for (const r of recs) sink.write(r);
    await sink.flush();
    const want = [...recs].sort(newestFirst).map((r) => r.id);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let late = 0;
    for (;;) {
      const res = await store.list(cursor === undefined ? { limit: 100 } : { limit: 100, cursor });
      if (!res.ok) { tt.fail(`page ${pages}: ${res.code}`); return; }
      pages++;
      for (const s of res.items) seen.push(s.id);
      // New traces arrive between pages: newer than everything, and some inside the range
      // already paged over (at the same milliseconds as listed ones) and still ahead.
      const ahead = recs[clamp(10_000 - pages * 100 - 50)]!.startedAtMs;
      const behind = recs[clamp(10_000 - pages * 100 + 50)]!.startedAtMs;
      for (const ms of [T0 + 100_000 + pages, ahead, behind]) { sink.write(makeRecord({ startedAtMs: ms, steps: 1, hostId: HOST_B })); late++; }
      await sink.flush();
      if (res.nextCursor === null) break;
      cursor = res.nextCursor;
      if (pages > 200) { tt.fail('paging does not end'); return; }
    }
    const original = new Set(want);
    const listedOriginals = seen.filter((id) => original.has(id));
    tt.same(listedOriginals, want, 'every original trace exactly once, in order');
    tt.equal(new Set(seen).size, seen.length, 'no trace listed twice');
    tt.ok(pages >= 100, `${pages} pages`);
    tt.ok(late > 0);
    // Everything listed is in newest-first order, late arrivals included.
    const all = await store.list({ limit: 1000 });
    tt.ok(all.ok && all.items.length === 1000);
  });

  t.test(`${name}: delete removes a trace, its steps and its condition index`, async (tt) => {
    const { sink, store } = await open(tt);
    const a = makeRecord({ startedAtMs: T0, conditionIds: [COND_A], steps: 5 });
    const b = makeRecord({ startedAtMs: T0 + 1, conditionIds: [COND_A], steps: 5 });
    sink.write(a);
    sink.write(b);
    await sink.flush();
    tt.equal(await store.delete(a.id), true, 'existing: true');
    tt.equal(await store.get(a.id), null, 'then absent');
    tt.equal(await store.delete(a.id), false, 'again: false');
    const byCond = await store.list({ limit: 10, conditionId: COND_A });
    tt.same(byCond.ok ? byCond.items.map((s) => s.id) : byCond, [b.id], 'condition filter forgets it');
    const left = await store.get(b.id);
    tt.equal(left?.steps.length, 5, 'the other trace keeps its steps');
  });

  t.test(`${name}: deleteOlderThan removes exactly the traces started before the time`, async (tt) => {
    const { sink, store } = await open(tt);
    const recs: TraceRecord[] = [];
    for (let i = 0; i < 1_300; i++) {
      recs.push(makeRecord({ startedAtMs: T0 + i, steps: 2, conditionIds: [COND_B] }));
    }
    for (const r of recs) sink.write(r);
    await sink.flush();
    tt.equal(await store.deleteOlderThan(T0 + 1_200), 1_200, 'count of deleted');
    tt.equal(await store.deleteOlderThan(T0 + 1_200), 0, 'nothing the second time');
    const rest = await store.list({ limit: 1000 });
    tt.same(rest.ok ? rest.items.map((s) => s.id) : rest, recs.slice(1_200).reverse().map((r) => r.id));
    const byCond = await store.list({ limit: 1000, conditionId: COND_B });
    tt.equal(byCond.ok ? byCond.items.length : -1, 100, 'condition filter forgets them too');
    tt.equal(await store.get(recs[0]!.id), null);
    tt.equal((await store.get(recs[1_299]!.id))?.steps.length, 2);
  });

  t.test(`${name}: a full queue keeps the steps that fit, marks the trace incomplete and counts`, async (tt) => {
    const { sink, store } = await open(tt, { maxQueuedSteps: 50, maxQueuedTraces: 5 });
    // All written in one turn of the event loop, before any drain can run.
    const r1 = makeRecord({ startedAtMs: T0 + 1, steps: 30 });
    const r2 = makeRecord({ startedAtMs: T0 + 2, steps: 30 }); // 20 fit
    const r3 = makeRecord({ startedAtMs: T0 + 3, steps: 10 }); // none fit
    const r4 = makeRecord({ startedAtMs: T0 + 4, steps: 0 });  // nothing to lose
    const r5 = makeRecord({ startedAtMs: T0 + 5, steps: 4 });  // none fit
    const r6 = makeRecord({ startedAtMs: T0 + 6, steps: 4 });  // sixth trace: dropped whole
    for (const r of [r1, r2, r3, r4, r5, r6]) sink.write(r);
    tt.match(sink.stats(), { queueDepth: 5, queuedSteps: 50, stepsLost: 10 + 10 + 4 + 4, tracesLost: 1 });
    await sink.flush();
    tt.same(await store.get(r1.id), { ...expectedSummary(r1), steps: expectedSteps(r1) }, 'first: whole');
    tt.same(await store.get(r2.id), { ...expectedSummary(r2, 20, false), steps: expectedSteps(r2, 20) },
      'second: steps 1..20, incomplete');
    tt.same(await store.get(r3.id), { ...expectedSummary(r3, 0, false), steps: [] }, 'third: summary only, incomplete');
    tt.same(await store.get(r4.id), { ...expectedSummary(r4), steps: [] }, 'no steps to lose: complete');
    tt.match(await store.get(r5.id), { numSteps: 0, complete: false });
    tt.equal(await store.get(r6.id), null, 'sixth: lost');
    tt.match(sink.stats(), {
      tracesWritten: 5, tracesIncomplete: 3, tracesLost: 1, stepsWritten: 50, stepsLost: 28, queueDepth: 0, queuedSteps: 0,
    });
    const listed = await store.list({ limit: 10 });
    tt.same(listed.ok ? listed.items.map((s) => [s.numSteps, s.complete]) : listed,
      [[0, false], [0, true], [0, false], [20, false], [30, true]], 'the listing tells the same');
    // Drained, the queue has room again.
    const r7 = makeRecord({ startedAtMs: T0 + 7, steps: 40 });
    sink.write(r7);
    await sink.flush();
    tt.match(await store.get(r7.id), { numSteps: 40, complete: true });
  });

  t.test(`${name}: room() asks producers to wait while the queue is over half full, until it drains`, async (tt) => {
    const { sink } = await open(tt, { maxQueuedSteps: 1_000, maxQueuedTraces: 8 });
    tt.equal(sink.room(), null, 'an idle sink has room');
    const recs = Array.from({ length: 4 }, (_, i) => makeRecord({ startedAtMs: T0 + i, steps: 3 }));
    for (const r of recs) sink.write(r); // in one turn of the event loop, before any drain
    const wait = sink.room();
    tt.not(wait, null, 'four of eight traces queued: wait');
    await wait;
    tt.ok(sink.stats().queueDepth * 4 < 8 || sink.stats().writeErrors > 0, 'released once drained under a quarter');
    await sink.flush();
    tt.equal(sink.room(), null);
    tt.match(sink.stats(), { tracesWritten: 4, tracesLost: 0 });
  });

  t.test(`${name}: a record the producer marked incomplete stays incomplete`, async (tt) => {
    const { sink, store } = await open(tt);
    const r = makeRecord({ steps: 4, complete: false });
    sink.write(r);
    await sink.flush();
    tt.same(await store.get(r.id), { ...expectedSummary(r, 4, false), steps: expectedSteps(r) });
    tt.match(sink.stats(), { tracesIncomplete: 1, stepsLost: 0 });
  });

  t.test(`${name}: a trace whose steps cannot be stored keeps its summary; its batch-mates are whole`, async (tt) => {
    const { sink, store } = await open(tt);
    const good = [makeRecord({ startedAtMs: T0 }), makeRecord({ startedAtMs: T0 + 1 })];
    const bad = makeRecord({ startedAtMs: T0 + 2, steps: 3 });
    const cyclic: StepDetails = { kind: 'legacy' };
    cyclic.self = cyclic;
    bad.steps = [makeStep(0, T0), { ...makeStep(1, T0), details: cyclic }, makeStep(2, T0)];
    sink.write(good[0]!);
    sink.write(bad);
    sink.write(good[1]!);
    await sink.flush();
    for (const g of good) tt.match(await store.get(g.id), { numSteps: 3, complete: true });
    tt.same(await store.get(bad.id), { ...expectedSummary(bad, 0, false), steps: [] });
    const s = sink.stats();
    tt.match(s, { tracesWritten: 3, tracesIncomplete: 1, tracesLost: 0, stepsLost: 3, stepsWritten: 6 });
    tt.ok(s.writeErrors >= 1, `write errors counted (${s.writeErrors})`);
  });

  t.test(`${name}: write() never throws, before or after close, and counts what it cannot keep`, async (tt) => {
    const { sink, store } = await open(tt);
    const kept = makeRecord({ steps: 2 });
    sink.write(kept);
    tt.doesNotThrow(() => sink.write(null as unknown as TraceRecord), 'null record');
    tt.doesNotThrow(() => sink.write({ ...makeRecord(), steps: undefined } as unknown as TraceRecord), 'no steps');
    await sink.flush();
    tt.match(await store.get(kept.id), { numSteps: 2, complete: true }, 'the good record is stored');
    await sink.close();
    tt.doesNotThrow(() => sink.write(makeRecord({ steps: 7 })), 'after close');
    await sink.flush();
    await sink.close();
    const s = sink.stats();
    tt.ok(s.tracesLost >= 3, `lost traces counted (${s.tracesLost})`);
    tt.ok(s.stepsLost >= 7, `lost steps counted (${s.stepsLost})`);
  });

  t.test(`${name}: steps other hosts recorded follow the trace's own, each with its host, stored before or after it`, async (tt) => {
    const { sink, store } = await open(tt);
    if (sink.appendSteps === undefined) { tt.fail(`${name} does not keep steps from other hosts (SPEC §10)`); return; }
    const HOST_B = '7b000000-0000-4000-8000-00000000000b';
    const HOST_C = '7c000000-0000-4000-8000-00000000000c';
    const rec = makeRecord({ startedAtMs: T0, steps: 3 });
    const fromB = makeRecord({ startedAtMs: T0 + 5, steps: 2 });
    const fromC = makeRecord({ startedAtMs: T0 + 6, steps: 1 });
    // The egress host's part may land first: two hosts, one store, no order between them.
    sink.appendSteps({ traceId: rec.id, hostId: HOST_B, after: 3, steps: fromB.steps });
    await sink.flush();
    tt.equal(await store.get(rec.id), null, 'steps alone are no trace');
    sink.write(rec);
    sink.appendSteps({ traceId: rec.id, hostId: HOST_C, after: 3, steps: fromC.steps });
    await sink.flush();
    const got = (await store.get(rec.id))!;
    tt.equal(got.numSteps, 6);
    tt.same(got.steps.map((s) => s.step), [1, 2, 3, 4, 5, 6], 'numbered on');
    tt.same(got.steps.slice(0, 3).map((s) => s.hostId), [rec.hostId, rec.hostId, rec.hostId]);
    const tail = got.steps.slice(3).map((s) => `${s.hostId}:${s.message}`).sort();
    tt.same(tail, [...fromB.steps.map((s) => `${HOST_B}:${s.message}`), ...fromC.steps.map((s) => `${HOST_C}:${s.message}`)].sort(), 'both hosts\' steps, none overwritten');
    const bSteps = got.steps.filter((s) => s.hostId === HOST_B).map((s) => s.message);
    tt.same(bSteps, fromB.steps.map((s) => s.message), 'a segment keeps its order');
    tt.ok(await store.delete(rec.id));
    tt.equal(await store.get(rec.id), null, 'deleting the trace takes them too');
    sink.write(rec);
    await sink.flush();
    tt.equal((await store.get(rec.id))!.numSteps, 3);
  });

  t.test(`${name}: flush waits for everything written before it, even across many batches`, async (tt) => {
    const { sink, store } = await open(tt);
    const recs: TraceRecord[] = [];
    for (let i = 0; i < 3_000; i++) recs.push(makeRecord({ startedAtMs: T0 + i, steps: 5 }));
    for (const r of recs.slice(0, 2_000)) sink.write(r);
    tt.equal(sink.stats().queueDepth, 2_000, 'queued, not yet written');
    const f = sink.flush();
    for (const r of recs.slice(2_000)) sink.write(r);
    await f;
    tt.ok(sink.stats().tracesWritten >= 2_000, 'the first 2,000 are stored when flush resolves');
    tt.ok(await store.get(recs[1_999]!.id));
    await sink.flush();
    tt.match(sink.stats(), { tracesWritten: 3_000, stepsWritten: 15_000, queueDepth: 0 });
  });
}

function clamp(i: number): number { return Math.min(9_999, Math.max(0, i)); }

/** Every id the listing yields, following cursors. */
export async function pageAll(store: TraceStore, q: Parameters<TraceStore['list']>[0]): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const res = await store.list(cursor === undefined ? q : { ...q, cursor });
    if (!res.ok) throw new Error(`list failed: ${res.code}`);
    for (const s of res.items) ids.push(s.id);
    if (res.nextCursor === null) return ids;
    cursor = res.nextCursor;
  }
  throw new Error('paging does not end');
}

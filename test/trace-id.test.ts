// Trace ids are UUIDv7: well-formed, carrying their creation time, strictly increasing per generator.
import t from 'tap';
import { createTraceIdGenerator, newTraceId } from '../engine/trace/trace-id.js';
import { traceIdTimeMs } from '../model/trace-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('ids are RFC 9562 version-7 UUIDs carrying their millisecond', async (tt) => {
  const gen = createTraceIdGenerator();
  for (const ms of [0, 1, 1_700_000_000_123, Date.UTC(2030, 0, 1), 2 ** 48 - 1]) {
    const id = gen(ms);
    tt.match(id, V7, `format at ${ms}`);
    tt.equal(traceIdTimeMs(id), ms, `time read back at ${ms}`);
  }
  tt.match(newTraceId(), V7);
  const now = Date.now();
  const t0 = traceIdTimeMs(newTraceId())!;
  tt.ok(Math.abs(t0 - now) < 1000, 'the default clock is now');
});

t.test('ids from one generator strictly increase, even within a millisecond or past a counter overflow', async (tt) => {
  const gen = createTraceIdGenerator();
  const ms = 1_700_000_000_000;
  const ids: string[] = [];
  for (let i = 0; i < 10_000; i++) ids.push(gen(ms));
  let sorted = true;
  for (let i = 1; i < ids.length; i++) if (!(ids[i - 1]! < ids[i]!)) { sorted = false; break; }
  tt.ok(sorted, 'each id sorts after the one before');
  tt.equal(new Set(ids).size, ids.length, 'unique');
  const last = traceIdTimeMs(ids[ids.length - 1]!)!;
  // 10,000 ids need at least two overflows of the 12-bit counter: time is borrowed, a few ms at most.
  tt.ok(last > ms && last <= ms + 10, `borrowed ${last - ms} ms`);
});

t.test('a clock that steps back does not make ids go backwards', async (tt) => {
  const gen = createTraceIdGenerator();
  const a = gen(2_000_000);
  const b = gen(1_000_000);
  tt.ok(a < b);
  tt.equal(traceIdTimeMs(b), 2_000_000, 'keeps the later time');
  const c = gen(3_000_000);
  tt.ok(b < c);
  tt.equal(traceIdTimeMs(c), 3_000_000, 'follows the clock again when it moves on');
});

t.test('ids differ in their random part across generators', async (tt) => {
  const ids = new Set<string>();
  for (let g = 0; g < 200; g++) ids.add(createTraceIdGenerator()(1_000));
  tt.equal(ids.size, 200);
});

t.test('traceIdTimeMs rejects anything but a version-7 id', async (tt) => {
  tt.equal(traceIdTimeMs('00000000-0000-4000-8000-000000000000'), null, 'v4');
  tt.equal(traceIdTimeMs('not an id'), null);
  tt.equal(traceIdTimeMs(newTraceId().toUpperCase()), null, 'upper case is not what we make');
});

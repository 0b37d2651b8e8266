// Queue.room(): backpressure for producers that can wait. A healthy store that falls behind slows
// them (the promise resolves as the queue drains); a failing store, a closing queue or a store
// that stalls past roomWaitMs never holds them.
import t from 'tap';
import { QueuedSink, type BatchWriter, type PendingTrace } from '../stores/queue.js';
import type { TraceRecord } from '../model/stores.js';
import { makeRecord } from './helpers/trace-records.js';

/** A writer whose batches wait for release(); `fail` makes them throw instead. */
class GatedWriter implements BatchWriter {
  stored = 0;
  fail = false;
  /** Let every batch through from now on. */
  open = false;
  private gate: (() => void)[] = [];
  async writeBatch(batch: readonly PendingTrace<TraceRecord>[]): Promise<void> {
    if (this.fail) throw new Error('store down');
    if (!this.open) await new Promise<void>((resolve) => this.gate.push(resolve));
    this.stored += batch.length;
  }
  release(): void { for (const g of this.gate.splice(0)) g(); }
  openUp(): void { this.open = true; this.release(); }
  close(): void {}
}

const state = (p: Promise<void>): Promise<'resolved' | 'pending'> =>
  Promise.race([p.then(() => 'resolved' as const), new Promise<'pending'>((r) => setTimeout(() => r('pending'), 30))]);

t.test('room() is null under half the bounds, then a promise resolved once drained under a quarter', async (t) => {
  const w = new GatedWriter();
  const q = new QueuedSink(w, { maxQueuedTraces: 40, maxQueuedSteps: 1_000, maxBatchTraces: 10 });
  t.teardown(() => { w.openUp(); return q.close(); });
  for (let i = 0; i < 19; i++) q.write(makeRecord({ steps: 2 }));
  t.equal(q.room(), null, '19 of 40 traces: room');
  q.write(makeRecord({ steps: 2 }));
  const room = q.room();
  t.not(room, null, '20 of 40: wait');
  t.equal(q.room(), room, 'every producer waits on the same promise');
  await new Promise((r) => setImmediate(r));
  t.equal(await state(room!), 'pending', 'pending while the store has not taken a batch');
  // Batches of 10: after the first, 10 queued (over a quarter); after the second, none.
  w.release();
  await new Promise((r) => setTimeout(r, 10));
  t.equal(await state(room!), 'pending', 'still pending at 10 of 40');
  w.release();
  t.equal(await state(room!), 'resolved', 'resolved once under a quarter');
  t.equal(q.room(), null);
  t.match(q.stats(), { tracesLost: 0 });
});

t.test('room() steps aside for a failing store, a closing queue, and after roomWaitMs', async (t) => {
  const steps = new GatedWriter();
  const bySteps = new QueuedSink(steps, { maxQueuedTraces: 1_000, maxQueuedSteps: 100, roomWaitMs: 60_000 });
  bySteps.write(makeRecord({ steps: 50 }));
  t.not(bySteps.room(), null, 'half the steps bound is over too');
  const closing = bySteps.room()!;
  const closed = bySteps.close();
  t.equal(await state(closing), 'resolved', 'closing releases the waiters');
  t.equal(bySteps.room(), null, 'and a closing queue never makes one wait');
  steps.openUp();
  await closed;

  const slow = new GatedWriter();
  const q = new QueuedSink(slow, { maxQueuedTraces: 4, roomWaitMs: 50 });
  for (let i = 0; i < 3; i++) q.write(makeRecord({ steps: 1 }));
  const started = Date.now();
  await q.room();
  t.ok(Date.now() - started >= 40, 'a stalled store holds a producer roomWaitMs at most');
  slow.openUp();
  await q.close();

  const down = new GatedWriter();
  down.fail = true;
  const d = new QueuedSink(down, { maxQueuedTraces: 4, roomWaitMs: 60_000 });
  for (let i = 0; i < 3; i++) d.write(makeRecord({ steps: 1 }));
  const waiting = d.room();
  t.not(waiting, null);
  await d.flush();
  t.equal(await state(waiting!), 'resolved', 'a failed batch releases the waiters');
  for (let i = 0; i < 3; i++) d.write(makeRecord({ steps: 1 }));
  t.equal(d.room(), null, 'and while the store fails, nobody waits for it');
  t.ok(d.stats().writeErrors > 0);
  await d.close();
});

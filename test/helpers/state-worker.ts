// Worker for test/state.test.ts: attaches to a shared FlowTable and runs one job, started together with
// the other workers through a shared gate so their operations really overlap.

import { parentPort, workerData } from 'node:worker_threads';
import { FlowTable, type FlowTableDescriptor } from '../../engine/state/flow-table.js';
import { Put } from '../../engine/state/types.js';

export type StateJob =
  /**
   * putIfAbsent rounds × perRound keys offering (id, k); every round starts at a barrier, so the
   * workers insert the same keys at the same moment. `skewMs` offsets this worker's clock, as separate
   * Date.now() calls do near an expiry. Reports the value each key ended with.
   */
  | { kind: 'race'; id: number; rounds: number; perRound: number; workers: number; skewMs: number }
  /** Overwrite keys with (id, check(k, id)) while reading them back; count reads that missed or were torn. */
  | { kind: 'churn'; id: number; keys: number; rounds: number }
  /** put keys 0..keys-1 with (k, check(k, k)). */
  | { kind: 'write'; id: number; keys: number }
  /** get keys 0..keys-1 and count the ones present with the value 'write' stored. */
  | { kind: 'read'; id: number; keys: number }
  /** putIfAbsent / delete / get at random on a small, expiring table, the clock moving 50 ms a round. */
  | { kind: 'mixed'; id: number; keys: number; rounds: number };

export interface StateWorkerData {
  readonly table: FlowTableDescriptor;
  /** Int32Array over a SharedArrayBuffer: [start (workers wait while 0), arrived, generation]. */
  readonly gate: SharedArrayBuffer;
  readonly nowMs: number;
  readonly job: StateJob;
}

export interface StateWorkerReply {
  /** race: [v0, v1] per key. */
  readonly observed?: Int32Array;
  readonly inserted?: number;
  readonly misses?: number;
  readonly torn?: number;
  readonly reads?: number;
  readonly full?: number;
}

/** Keys spread over all key words so every word takes part in hashing and comparing. */
export function setTestKey(key: Int32Array, k: number, keyWords: number): void {
  for (let j = 0; j < keyWords; j++) key[j] = Math.imul(k + 1, j + 1) ^ (j << 24);
}

/** A value word derived from the other, so a read that mixes two writes shows up. */
export function check(k: number, v0: number): number {
  return (Math.imul(k ^ 0x5bd1e995, 31) + Math.imul(v0, 7919)) | 0;
}

/** Waits until `workers` threads arrived (spinning briefly, then sleeping on the generation word). */
function barrier(gate: Int32Array, workers: number): void {
  const gen = Atomics.load(gate, 2);
  if (Atomics.add(gate, 1, 1) === workers - 1) {
    Atomics.store(gate, 1, 0);
    Atomics.add(gate, 2, 1);
    Atomics.notify(gate, 2);
    return;
  }
  for (let spins = 0; Atomics.load(gate, 2) === gen; spins++) if (spins > 100_000) Atomics.wait(gate, 2, gen, 5);
}

function run(d: StateWorkerData, gate: Int32Array): StateWorkerReply {
  const table = FlowTable.attach(d.table);
  const key = new Int32Array(table.keyWords);
  const val = new Int32Array(Math.max(2, table.valWords));
  const out = new Int32Array(Math.max(2, table.valWords));
  const now = d.nowMs;
  const job = d.job;
  switch (job.kind) {
    case 'race': {
      const observed = new Int32Array(job.rounds * job.perRound * 2);
      let inserted = 0;
      let full = 0;
      for (let i = 0; i < job.rounds * job.perRound; i++) {
        const j = i % job.perRound;
        if (j === 0) barrier(gate, job.workers);
        // Workers walk each round from different ends, so they meet on some key whatever their start lag.
        const k = i - j + (job.id % 2 === 0 ? job.perRound - 1 - j : j);
        setTestKey(key, k, table.keyWords);
        val[0] = job.id;
        val[1] = k;
        const r = table.putIfAbsent(key, val, 60_000, now + job.skewMs, out);
        if (r === Put.Full) { full++; continue; }
        const src = r === Put.Inserted ? val : out;
        if (r === Put.Inserted) inserted++;
        observed[2 * k] = src[0]!;
        observed[2 * k + 1] = src[1]!;
      }
      return { observed, inserted, full };
    }
    case 'churn': {
      let misses = 0;
      let torn = 0;
      let reads = 0;
      for (let r = 0; r < job.rounds; r++) {
        for (let i = 0; i < job.keys; i++) {
          const k = job.id % 2 === 0 ? job.keys - 1 - i : i; // opposite directions: the workers keep crossing
          setTestKey(key, k, table.keyWords);
          if ((k + r + job.id) % 3 === 0) {
            val[0] = job.id * 1_000_000 + r;
            val[1] = check(k, val[0]);
            table.put(key, val, 60_000, now);
          } else if ((k + r) % 5 === 0) {
            table.touch(key, 60_000, now);
          } else {
            reads++;
            if (!table.get(key, out, now)) misses++;
            else if (out[1] !== check(k, out[0]!)) torn++;
          }
        }
      }
      return { misses, torn, reads };
    }
    case 'write': {
      let full = 0;
      for (let k = 0; k < job.keys; k++) {
        setTestKey(key, k, table.keyWords);
        val[0] = k;
        val[1] = check(k, k);
        if (table.put(key, val, 60_000, now) === Put.Full) full++;
      }
      return { full };
    }
    case 'mixed': {
      let torn = 0;
      let full = 0;
      let seed = job.id * 7919 + 1;
      for (let r = 0; r < job.rounds; r++) {
        const t = now + r * 50;
        for (let i = 0; i < job.keys; i++) {
          seed = (Math.imul(seed, 1103515245) + 12345) | 0;
          const k = (seed >>> 8) % job.keys;
          const op = (seed >>> 4) & 7;
          setTestKey(key, k, table.keyWords);
          if (op < 3) {
            val[0] = job.id * 100_000 + r;
            val[1] = check(k, val[0]);
            const res = table.putIfAbsent(key, val, 400, t, out);
            if (res === Put.Full) full++;
            else if (res === Put.Existed && out[1] !== check(k, out[0]!)) torn++;
          } else if (op < 5) {
            table.delete(key);
          } else if (table.get(key, out, t) && out[1] !== check(k, out[0]!)) {
            torn++;
          }
        }
      }
      return { torn, full };
    }
    case 'read': {
      let misses = 0;
      let torn = 0;
      for (let k = 0; k < job.keys; k++) {
        setTestKey(key, k, table.keyWords);
        if (!table.get(key, out, now)) misses++;
        else if (out[0] !== k || out[1] !== check(k, k)) torn++;
      }
      return { misses, torn, reads: job.keys };
    }
  }
}

if (parentPort !== null) {
  const d = workerData as StateWorkerData;
  const gate = new Int32Array(d.gate);
  parentPort.postMessage('ready');
  Atomics.wait(gate, 0, 0);
  parentPort.postMessage(run(d, gate));
}

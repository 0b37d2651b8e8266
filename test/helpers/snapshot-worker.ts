// Worker for test/pool.test.ts: one thread publishes versions of a SharedSnapshot while others read
// it, so a reader can catch a torn read (a copy mixing two versions) if the seqlock lets one through.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedSnapshot, type SnapshotDescriptor } from '../../daemon/pool/snapshot.js';

export interface SnapshotWorkerData {
  readonly snapshot: SnapshotDescriptor;
  /** Int32Array over a SharedArrayBuffer: [started workers, stop (readers read until it is 1)]. */
  readonly gate: SharedArrayBuffer;
  readonly role: 'writer' | 'reader';
  /** Writer: versions to publish. */
  readonly versions: number;
  /** Workers to wait for before starting, so the writer does not finish before the readers begin. */
  readonly workers: number;
}

export interface SnapshotWorkerReply { reads: number; torn: number; backwards: number; published: number }

/** The text of version k: its number, then a run of one letter whose length and letter depend on k. */
export function versionText(k: number): string {
  return `${k}:${String.fromCharCode(97 + (k % 26)).repeat(200 + ((k * 7919) % 3000))}`;
}

function run(d: SnapshotWorkerData): SnapshotWorkerReply {
  const gate = new Int32Array(d.gate);
  const snap = new SharedSnapshot(d.snapshot);
  Atomics.add(gate, 0, 1);
  while (Atomics.load(gate, 0) < d.workers) { /* spin: start together */ }
  const reply: SnapshotWorkerReply = { reads: 0, torn: 0, backwards: 0, published: 0 };
  if (d.role === 'writer') {
    for (let k = 1; k <= d.versions; k++) if (snap.publish(versionText(k))) reply.published++;
    Atomics.store(gate, 1, 1);
    return reply;
  }
  let last = 0;
  while (Atomics.load(gate, 1) === 0) {
    const { version, text } = snap.read();
    reply.reads++;
    if (version < last) reply.backwards++;
    last = version;
    // A whole version is exactly versionText(version); anything else mixed two of them.
    if (version > 0 && text !== versionText(version)) reply.torn++;
  }
  return reply;
}

parentPort!.postMessage(run(workerData as SnapshotWorkerData));

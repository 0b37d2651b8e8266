import { Worker } from 'node:worker_threads';
import { FlowTable } from '/work/main/engine/state/flow-table.js';
import { setTestKey } from '/work/main/test/helpers/state-worker.js';
const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(new URL('file:///work/main/test/helpers/state-worker.ts').href)}); });`;
const ft = new FlowTable({ keyWords: 4, valWords: 2, capacity: 65536, shared: true });
const key = new Int32Array(4);
for (let i = 0; i < 44000; i++) { setTestKey(key, 1_000_000 + i, 4); ft.put(key, Int32Array.of(-1, -1), 1000, 0); }
const rounds = 400, perRound = 24, workers = 2;
const gateBuf = new SharedArrayBuffer(12); const gate = new Int32Array(gateBuf);
let readyN = 0;
const done = [1, 2].map((id) => new Promise<any>((res, rej) => {
  const w = new Worker(boot, { eval: true, workerData: { table: ft.descriptor(), gate: gateBuf, nowMs: 1000, job: { kind: 'race', id, rounds, perRound, workers, skewMs: id === 1 ? -100 : 0 } } });
  w.on('message', (m) => { if (m === 'ready') { if (++readyN === 2) { Atomics.store(gate, 0, 1); Atomics.notify(gate, 0); } } else res(m); });
  w.on('error', rej);
}));
const replies = await Promise.all(done);
let both = 0;
for (let r = 0; r < rounds; r++) {
  const owners = new Set<number>();
  for (let j = 0; j < perRound; j++) owners.add(replies[0].observed[2 * (r * perRound + j)]);
  if (owners.size > 1) both++;
}
const seen = new Map<number, number>();
ft.forEach(1000, (kw) => seen.set(kw[0]! - 1, (seen.get(kw[0]! - 1) ?? 0) + 1));
let dup = 0; for (const n of seen.values()) if (n > 1) dup++;
console.log({ inserted: replies.map((r) => r.inserted), roundsWithBothWinners: both, dupKeys: dup, size: ft.size(1000) });

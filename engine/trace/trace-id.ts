// Trace ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds first, so ids sort by creation time
// and a store can page newest-first by id alone. rand_a holds a per-millisecond counter so ids made in
// the same millisecond by one thread still sort in creation order.
import { randomFillSync } from 'node:crypto';

const rnd = new Uint8Array(10);
let lastMs = -1;
let seq = 0;

export function newTraceId(nowMs: number = Date.now()): string {
  if (nowMs <= lastMs) {
    nowMs = lastMs;
    seq++;
    if (seq > 0xfff) { nowMs = ++lastMs; seq = 0; }
  } else {
    lastMs = nowMs;
    seq = 0;
  }
  randomFillSync(rnd);
  const ms = nowMs.toString(16).padStart(12, '0');
  const a = (0x7000 | seq).toString(16);
  const b = ((rnd[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0') + rnd[1]!.toString(16).padStart(2, '0');
  let c = '';
  for (let i = 2; i < 8; i++) c += rnd[i]!.toString(16).padStart(2, '0');
  return `${ms.slice(0, 8)}-${ms.slice(8)}-${a}-${b}-${c}`;
}

/** The creation time embedded in a UUIDv7, or NaN for anything else. */
export function traceIdTime(id: string): number {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7/i.test(id)) return NaN;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

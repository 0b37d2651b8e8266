// state.conntrack.bytes_per_entry (SPEC §8): the conntrack table's buffer bytes divided by the live
// entries, at 1,000,000 distinct 5-tuples in a table of the default capacity, shared as the worker pool
// uses it. Also reported: resident memory actually added per entry, and put/get nanoseconds per operation
// at that size (medians of three passes; at 64 MiB nearly every operation is a cache and TLB miss).

import { type BenchLine, median } from './types.js';
import { FlowTable } from '../engine/state/flow-table.js';
import { DEFAULT_STATE_CAPACITIES } from '../engine/state/tables.js';
import { CT_KEY_WORDS, CT_TTL_MS, CT_VAL_WORDS, Put } from '../engine/state/types.js';

const ENTRIES = 1_000_000;
const PASSES = 3;

export async function benchConntrackMemory(): Promise<BenchLine[]> {
  const rssBefore = process.memoryUsage().rss;
  const table = new FlowTable({ keyWords: CT_KEY_WORDS, valWords: CT_VAL_WORDS, capacity: DEFAULT_STATE_CAPACITIES.conntrackCapacity, shared: true });
  const key = new Int32Array(CT_KEY_WORDS);
  const val = new Int32Array(CT_VAL_WORDS);
  const out = new Int32Array(CT_VAL_WORDS);
  const now = Date.now();
  const putNs: number[] = [];
  const getNs: number[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < ENTRIES; i++) {
      tuple(key, i);
      val[0] = i;
      const r = table.put(key, val, CT_TTL_MS, now);
      if (r === Put.Full || (pass === 0) !== (r === Put.Inserted)) throw new Error(`conntrack bench: put ${i} returned ${r}`);
    }
    putNs.push(Number(process.hrtime.bigint() - t0) / ENTRIES);
    t0 = process.hrtime.bigint();
    let found = 0;
    for (let i = 0; i < ENTRIES; i++) {
      tuple(key, i);
      if (table.get(key, out, now) && out[0] === i) found++;
    }
    getNs.push(Number(process.hrtime.bigint() - t0) / ENTRIES);
    if (found !== ENTRIES) throw new Error(`conntrack bench: found ${found} of ${ENTRIES}`);
  }
  const live = table.size(now);
  if (live !== ENTRIES) throw new Error(`conntrack bench: ${live} live entries, expected ${ENTRIES}`);
  const rssPerEntry = (process.memoryUsage().rss - rssBefore) / live;
  return [{
    bench: 'state.conntrack.bytes_per_entry',
    value: round(table.byteLength / live),
    unit: 'bytes',
    entries: live,
    capacity: table.capacity,
    slots: table.slots,
    table_bytes: table.byteLength,
    rss_bytes_per_entry: round(rssPerEntry),
    put_ns: round(median(putNs)),
    get_ns: round(median(getNs)),
  }];
}

/** A distinct TCP 5-tuple per i: 10.x clients to one of 256 servers on port 80 (CT_KEY_WORDS layout). */
function tuple(key: Int32Array, i: number): void {
  key[0] = 3; // zone
  key[1] = 6; // TCP
  key[2] = (0x0a000000 + (i >>> 6)) | 0;
  key[3] = (0xc0a80000 + (i & 0xff)) | 0;
  key[4] = ((1024 + (i & 0x3f) * 900 + ((i >>> 8) & 0x3f)) << 16) | 80;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

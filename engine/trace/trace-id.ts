// Time-ordered trace ids: UUID version 7 (RFC 9562). The first 48 bits are Unix milliseconds, so
// ids sort by creation time as strings and as bytes, which keeps the traces table append-mostly.
import { createRequire } from 'node:module';

/**
 * node:crypto, loaded with the first id: a run that traces nothing (most one-shot `simulate` runs)
 * does not pay the ~6 ms its loading costs at start-up.
 */
let randomFill: ((b: Buffer) => void) | null = null;
function fillRandom(b: Buffer): void {
  randomFill ??= (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomFillSync;
  randomFill(b);
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

/** Random bytes drawn in bulk: one crypto call per ~200 ids instead of one per id. */
const POOL_SIZE = 2048;
/** 2 to seed the counter, 8 for rand_b (of which 62 bits are used). */
const BYTES_PER_ID = 10;
const COUNTER_MAX = 0xfff;
/** A new millisecond starts its counter somewhere below this, leaving room to count up. */
const COUNTER_SEED_RANGE = 0x400;

export type TraceIdGenerator = (nowMs?: number) => string;

/**
 * Ids from one generator are strictly increasing (RFC 9562 §6.2 method 1): within a millisecond the
 * 12-bit rand_a field counts up; if it overflows, or the clock steps back, the generator borrows
 * the next millisecond rather than go backwards. 62 bits stay random.
 */
export function createTraceIdGenerator(): TraceIdGenerator {
  const pool = Buffer.allocUnsafe(POOL_SIZE);
  let pos = POOL_SIZE;
  let lastMs = -1;
  let counter = 0;

  return (nowMs: number = Date.now()): string => {
    if (pos + BYTES_PER_ID > POOL_SIZE) { fillRandom(pool); pos = 0; }
    let ms = Math.floor(nowMs);
    if (ms > lastMs) {
      counter = ((pool[pos]! << 8) | pool[pos + 1]!) % COUNTER_SEED_RANGE;
    } else {
      ms = lastMs;
      if (++counter > COUNTER_MAX) { ms++; counter = 0; }
    }
    lastMs = ms;
    // 48-bit ms does not fit bitwise ops: split into high 16 and low 32 bits.
    const hi = Math.floor(ms / 0x100000000) & 0xffff;
    const lo = ms >>> 0;
    const id =
      HEX[hi >>> 8]! + HEX[hi & 0xff]! + HEX[lo >>> 24]! + HEX[(lo >>> 16) & 0xff]! + '-' +
      HEX[(lo >>> 8) & 0xff]! + HEX[lo & 0xff]! + '-' +
      HEX[0x70 | (counter >>> 8)]! + HEX[counter & 0xff]! + '-' +
      HEX[0x80 | (pool[pos + 2]! & 0x3f)]! + HEX[pool[pos + 3]!]! + '-' +
      HEX[pool[pos + 4]!]! + HEX[pool[pos + 5]!]! + HEX[pool[pos + 6]!]! + HEX[pool[pos + 7]!]! +
      HEX[pool[pos + 8]!]! + HEX[pool[pos + 9]!]!;
    pos += BYTES_PER_ID;
    return id;
  };
}

/** The process-wide generator. */
export const newTraceId: TraceIdGenerator = createTraceIdGenerator();

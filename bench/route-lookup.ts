// engine.route_lookup.10 / engine.route_lookup.100000 (SPEC §8): ns per longest-prefix lookup over
// uniformly random destinations, median of several runs. Both sizes run the same loop on the same
// table class, so the ratio shows how lookup cost grows with the table (the target: within 1.5x).
import { RouteType, type CRoute } from '../engine/topology/compiled.js';
import { buildRouteTable } from '../engine/routing/lpm.js';
import type { RouteTable } from '../engine/routing/route-table.js';
import { median, type BenchLine } from './types.js';

const RUNS = 7;
const LOOKUPS_PER_RUN = 2_000_000;
const DST_COUNT = 1 << 18;

/** Deterministic xorshift32, so every run of the bench sees the same tables and addresses. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * A realistic table of `n` routes: a default route, then mostly /24s with some shorter aggregates,
 * host routes and a few source-specific routes and ECMP pairs.
 */
export function randomRoutes(n: number, seed = 1): CRoute[] {
  const next = rng(seed);
  const routes: CRoute[] = [];
  const add = (dst: number, dstLen: number, src = 0, srcLen = 0, weight = 100): void => {
    const mask = dstLen === 0 ? 0 : (0xffffffff << (32 - dstLen)) >>> 0;
    routes.push({
      idx: routes.length, id: null, routerIdx: 0, type: RouteType.Normal,
      dst: (dst & mask) >>> 0, dstLen, src, srcLen, nextHopPort: 0, nextHopGateway: 0x0a000001, weight,
    });
  };
  add(0, 0);
  while (routes.length < n) {
    const r = next() % 100;
    const dstLen = r < 70 ? 24 : r < 85 ? 16 + (next() % 8) : r < 95 ? 25 + (next() % 8) : 8 + (next() % 8);
    const dst = next();
    if (r % 10 === 0 && routes.length + 1 < n) {
      add(dst, dstLen, next() & 0xffff0000, 16, 100); // source-specific
    }
    add(dst, dstLen, 0, 0, r % 7 === 0 ? 50 : 100);
  }
  return routes.slice(0, n);
}

function timeLookups(table: RouteTable, dsts: Uint32Array, count: number): { ns: number; sink: number } {
  const mask = dsts.length - 1;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const dst = dsts[i & mask]!;
    sink += table.lookup(dst, dst ^ 0x5bd1e995, i);
  }
  const t1 = process.hrtime.bigint();
  return { ns: Number(t1 - t0) / count, sink };
}

export async function benchRouteLookup(): Promise<BenchLine[]> {
  const next = rng(42);
  const dsts = new Uint32Array(DST_COUNT);
  for (let i = 0; i < dsts.length; i++) dsts[i] = next();
  const lines: BenchLine[] = [];
  let sink = 0;
  for (const n of [10, 100_000]) {
    const t0 = performance.now();
    const table = buildRouteTable(randomRoutes(n));
    const buildMs = performance.now() - t0;
    sink += timeLookups(table, dsts, LOOKUPS_PER_RUN).sink; // warm-up: JIT and caches
    const samples: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const s = timeLookups(table, dsts, LOOKUPS_PER_RUN);
      samples.push(s.ns);
      sink += s.sink;
    }
    lines.push({
      bench: `engine.route_lookup.${n}`, value: round(median(samples)), unit: 'ns',
      routes: n, runs: RUNS, lookups_per_run: LOOKUPS_PER_RUN, build_ms: round(buildMs),
    });
  }
  if (sink === 0.5) console.log(sink); // keeps the lookups observable to the optimizer
  const small = lines[0]!.value;
  lines[1]!.ratio_to_10 = round(lines[1]!.value / small);
  return lines;
}

function round(x: number): number { return Math.round(x * 100) / 100; }

// engine.route_lookup.10 / engine.route_lookup.100000 (SPEC §8): ns per longest-prefix lookup, median
// of several runs. `value` looks up destinations that the table's own routes cover (a working set of
// 4,096 flows, as a router's traffic has): with 10 routes as with 100,000, every lookup walks down to a
// real route, so the two numbers compare the structure, not "default route at the root" against
// "three levels down". `cold_ns` also reports uniformly random destinations over the whole address
// space, where the 100,000-route table no longer fits in the caches of this machine. Both sizes run
// the same loop, interleaved run by run so a busy machine skews both alike.
import { RouteType, type CRoute } from '../engine/topology/compiled.js';
import { buildRouteTable } from '../engine/routing/lpm.js';
import { median, type BenchLine } from './types.js';

const SIZES = [10, 100_000] as const;
const RUNS = 9;
const LOOKUPS_PER_RUN = 2_000_000;
/** Random destinations per run: far more than any cache holds routes for. */
const DST_COUNT = 1 << 18;
/** The working set of flows whose destinations the table routes. */
const FLOW_COUNT = 1 << 12;

/** Deterministic xorshift32, so every run of the bench sees the same tables and addresses. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return x >>> 0;
  };
}

/**
 * A provider-like table of `n` routes: a default route, then mostly /24s with some aggregates (/8 to
 * /23), some longer prefixes (/25 to /32), and about 1% each of source-specific routes and ECMP pairs.
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
    const r = next() % 200;
    const dstLen = r < 140 ? 24 : r < 170 ? 16 + (next() % 8) : r < 190 ? 25 + (next() % 8) : 8 + (next() % 8);
    const dst = next();
    if (r % 100 === 1) add(dst, dstLen, next() & 0xffff0000, 16); // source-specific, beside a plain route
    if (r % 100 === 2) add(dst, dstLen); // ECMP twin
    add(dst, dstLen, 0, 0, r % 7 === 0 ? 50 : 100);
  }
  return routes.slice(0, n);
}

function randomDsts(count: number, seed: number): Int32Array {
  const next = rng(seed);
  // int32, as the engine passes them: see the note on boxing in lpm.ts.
  return Int32Array.from({ length: count }, () => next() | 0);
}

/** Destinations inside the table's own non-default routes: each lookup resolves to a real route. */
function routedDsts(routes: readonly CRoute[], count: number, seed: number): Int32Array {
  const next = rng(seed);
  const specific = routes.filter((r) => r.dstLen > 0);
  return Int32Array.from({ length: count }, () => {
    const r = specific[next() % specific.length]!;
    const host = r.dstLen === 32 ? 0 : next() & ((1 << (32 - r.dstLen)) - 1 || 0xffffffff);
    return (r.dst | host) | 0;
  });
}

function timeLookups(table: ReturnType<typeof buildRouteTable>, dsts: Int32Array, count: number): { ns: number; sink: number } {
  const mask = dsts.length - 1;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const dst = dsts[i & mask]!;
    sink = (sink + table.lookup(dst, dst ^ 0x5bd1e995, i)) | 0;
  }
  const t1 = process.hrtime.bigint();
  return { ns: Number(t1 - t0) / count, sink };
}

export async function benchRouteLookup(): Promise<BenchLine[]> {
  const dsts = randomDsts(DST_COUNT, 42);
  const tables = SIZES.map((n) => {
    const routes = randomRoutes(n);
    const t0 = performance.now();
    const table = buildRouteTable(routes);
    return { n, table, buildMs: performance.now() - t0, flows: routedDsts(routes, FLOW_COUNT, 43), cold: [] as number[], hot: [] as number[] };
  });
  let sink = 0;
  // Warm-up on both workloads, so the JIT sees the profile it is then timed on.
  for (const t of tables) sink += timeLookups(t.table, dsts, LOOKUPS_PER_RUN).sink + timeLookups(t.table, t.flows, LOOKUPS_PER_RUN).sink;
  for (let r = 0; r < RUNS; r++) {
    for (const t of tables) {
      const cold = timeLookups(t.table, dsts, LOOKUPS_PER_RUN);
      const warm = timeLookups(t.table, t.flows, LOOKUPS_PER_RUN);
      t.cold.push(cold.ns);
      t.hot.push(warm.ns);
      sink += cold.sink + warm.sink;
    }
  }
  if (sink === 0.5) console.log(sink); // keeps the lookups observable to the optimizer
  const base = median(tables[0]!.hot);
  const coldBase = median(tables[0]!.cold);
  return tables.map((t) => ({
    bench: `engine.route_lookup.${t.n}`,
    value: round(median(t.hot)),
    unit: 'ns',
    routes: t.n,
    flows: FLOW_COUNT,
    ratio_to_10: round(median(t.hot) / base),
    cold_ns: round(median(t.cold)),
    cold_ratio_to_10: round(median(t.cold) / coldBase),
    runs: RUNS,
    lookups_per_run: LOOKUPS_PER_RUN,
    build_ms: round(t.buildMs),
    layout: t.table.layout,
    table_kib: Math.round(t.table.bytes / 1024),
  }));
}

function round(x: number): number { return Math.round(x * 100) / 100; }

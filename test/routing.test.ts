// The route table (engine/routing/lpm.ts) against a brute-force reading of MidoNet's rule: among
// routes whose dst and src prefixes both contain the packet's addresses, the longest dst prefix, then
// the lowest weight, then one of the equal-weight routes chosen by flow hash.
import t from 'tap';
import { parseIp, prefixMask } from '../model/addr.js';
import { buildRouteTable } from '../engine/routing/lpm.js';
import { LazyRouteTable, SCANS_BEFORE_BUILD, scanRoutes } from '../engine/routing/route-scan.js';
import { RouteType, type CRoute } from '../engine/topology/compiled.js';

function rng(seed: number): () => number {
  let x = seed;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

let nextIdx = 0;
function route(dst: string | number, dstLen: number, opts: { src?: string | number; srcLen?: number; weight?: number; idx?: number } = {}): CRoute {
  const d = typeof dst === 'string' ? parseIp(dst) : dst;
  const s = opts.src === undefined ? 0 : typeof opts.src === 'string' ? parseIp(opts.src) : opts.src;
  const srcLen = opts.srcLen ?? 0;
  return {
    idx: opts.idx ?? nextIdx++, id: null, routerIdx: 0, type: RouteType.Normal,
    dst: (d & prefixMask(dstLen)) >>> 0, dstLen, src: (s & prefixMask(srcLen)) >>> 0, srcLen,
    nextHopPort: 0, nextHopGateway: 0, weight: opts.weight ?? 100,
  };
}

function matches(r: CRoute, dst: number, src: number): boolean {
  return ((dst ^ r.dst) & prefixMask(r.dstLen)) === 0 && ((src ^ r.src) & prefixMask(r.srcLen)) === 0;
}

/** The set of equally good routes per the contract (empty: no route). */
function best(routes: readonly CRoute[], dst: number, src: number): CRoute[] {
  let out: CRoute[] = [];
  for (const r of routes) {
    if (!matches(r, dst, src)) continue;
    const b = out[0];
    if (b === undefined || r.dstLen > b.dstLen || (r.dstLen === b.dstLen && r.weight < b.weight)) out = [r];
    else if (r.dstLen === b.dstLen && r.weight === b.weight) out.push(r);
  }
  return out;
}

/** Random tables that stress every case: all prefix lengths, clustered prefixes, src prefixes, ties. */
function randomTable(next: () => number, n: number): CRoute[] {
  const routes: CRoute[] = [];
  const bases = Array.from({ length: 8 }, () => next()); // clusters, so nodes fill up and nest
  while (routes.length < n) {
    const k = next() % 100;
    const dstLen = k < 5 ? next() % 8 : k < 40 ? 16 + (next() % 9) : k < 70 ? 24 + (next() % 9) : next() % 33;
    const dst = k % 3 === 0 ? next() : (bases[next() % bases.length]! ^ (next() & 0x1ff)) >>> 0;
    const srcLen = k % 5 === 0 ? 8 + (next() % 17) : 0;
    const weight = [10, 100, 100, 200][next() % 4]!;
    const r = route(dst, dstLen, { src: next(), srcLen, weight, idx: routes.length });
    routes.push(r);
    if (k % 7 === 0 && routes.length < n) routes.push({ ...r, idx: routes.length }); // ECMP twin
  }
  return routes;
}

const LAYOUTS = ['compact', 'flat'] as const;

for (const layout of LAYOUTS) t.test(`${layout} layout: agrees with brute force on random tables and addresses`, async (t) => {
  const next = rng(20240611);
  let checked = 0;
  for (const n of [1, 2, 10, 100, 1000, 4000]) {
    for (let round = 0; round < 3; round++) {
      const routes = randomTable(next, n);
      const table = buildRouteTable(routes, layout);
      t.equal(table.layout, layout);
      t.equal(table.size, routes.length);
      let mismatches = 0;
      for (let i = 0; i < 3000; i++) {
        // Half the lookups aim inside or right next to a route, the rest anywhere.
        const r = routes[next() % routes.length]!;
        const inside = (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
        const dst = i % 4 === 0 ? next() : i % 4 === 1 ? (inside + (next() & 1 ? 1 : -1)) >>> 0 : inside;
        const src = i % 3 === 0 ? (r.src | (next() & ~prefixMask(r.srcLen))) >>> 0 : next();
        const hash = next();
        const got = table.lookup(dst, src, hash);
        const want = best(routes, dst, src);
        const ok = want.length === 0 ? got === -1 : want.some((w) => w.idx === got);
        if (!ok && mismatches++ < 3) t.fail(`n=${n} dst=${dst} src=${src}: got ${got}, want one of ${want.map((w) => w.idx)}`);
        checked++;
      }
      t.equal(mismatches, 0, `${n} routes, round ${round}`);
    }
  }
  t.ok(checked >= 50000);
});

for (const layout of LAYOUTS) t.test(`${layout} layout: ECMP: a flow hash always picks the same route, and hashes spread over the group`, async (t) => {
  const next = rng(7);
  const routes = randomTable(next, 2000);
  const table = buildRouteTable(routes, layout);
  const twin = buildRouteTable([...routes].reverse(), layout); // same routes, other input order
  let groups = 0, wrong = 0, unstable = 0, orderDependent = 0, unused = 0;
  for (let i = 0; i < 4000 && groups < 200; i++) {
    const r = routes[next() % routes.length]!;
    const dst = (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
    const src = (r.src | (next() & ~prefixMask(r.srcLen))) >>> 0;
    const want = best(routes, dst, src);
    if (want.length < 2) continue;
    groups++;
    const seen = new Set<number>();
    for (let h = 0; h < 64; h++) {
      const hash = next();
      const a = table.lookup(dst, src, hash);
      if (table.lookup(dst, src, hash) !== a) unstable++;
      if (twin.lookup(dst, src, hash) !== a) orderDependent++;
      if (!want.some((w) => w.idx === a)) wrong++;
      seen.add(a);
    }
    if (seen.size !== want.length) unused++;
  }
  t.ok(groups >= 20, `${groups} ECMP groups exercised`);
  t.equal(wrong, 0, 'every pick is one of the equal-cost routes');
  t.equal(unstable, 0, 'one flow hash always gets the same route');
  t.equal(orderDependent, 0, 'the pick does not depend on the order routes were given in');
  t.equal(unused, 0, 'every equal-cost route gets some of 64 flows');
});

for (const layout of LAYOUTS) t.test(`${layout} layout: edge cases`, async (t) => {
  t.equal(buildRouteTable([], layout).lookup(parseIp('1.2.3.4'), 0, 0), -1, 'empty table');
  t.equal(buildRouteTable([], layout).size, 0);

  nextIdx = 0;
  const routes = [
    route('0.0.0.0', 0, { weight: 200 }), // 0
    route('0.0.0.0', 0, { weight: 100 }), // 1: lower weight wins among defaults
    route('10.0.0.0', 8), // 2
    route('10.1.0.0', 16, { src: '192.168.0.0', srcLen: 16 }), // 3: only for 192.168/16 sources
    route('10.1.2.0', 24, { src: '172.16.0.0', srcLen: 12 }), // 4: only for 172.16/12 sources
    route('10.1.2.3', 32), // 5: host route
    route('255.255.255.255', 32), // 6
    route('128.0.0.0', 1), // 7
    route('10.1.2.128', 25, { weight: 5 }), // 8
    route('10.1.2.128', 25, { weight: 1 }), // 9
  ];
  const table = buildRouteTable(routes, layout);
  const look = (dst: string, src = '1.1.1.1'): number => table.lookup(parseIp(dst), parseIp(src), 12345);
  t.equal(look('8.8.8.8'), 1, 'default route: lowest weight');
  t.equal(look('10.9.9.9'), 2);
  t.equal(look('10.1.9.9'), 2, 'a source-specific /16 does not hide the /8 from other sources');
  t.equal(look('10.1.9.9', '192.168.3.3'), 3, '...but wins for its sources');
  t.equal(look('10.1.2.9', '192.168.3.3'), 3, 'a /24 for other sources falls back to the /16');
  t.equal(look('10.1.2.9', '172.20.0.1'), 4);
  t.equal(look('10.1.2.9'), 2, 'neither source prefix: back to the /8');
  t.equal(look('10.1.2.3'), 5, 'host route');
  t.equal(look('10.1.2.200'), 9, 'lowest weight at the longest prefix');
  t.equal(look('255.255.255.255'), 6, 'top of the address space');
  t.equal(look('200.1.1.1'), 7, 'addresses at and above 2^31');
  t.equal(look('0.0.0.0'), 1, 'bottom of the address space');
  t.equal(buildRouteTable(routes.filter((r) => r.dstLen > 0), layout).lookup(parseIp('8.8.8.8'), 0, 0), -1, 'no default: no route');
});

for (const layout of LAYOUTS) t.test(`${layout} layout: crowded nodes: many prefixes under one /16 and one /24`, async (t) => {
  nextIdx = 0;
  const routes: CRoute[] = [route('0.0.0.0', 0)];
  for (let i = 0; i < 40; i++) routes.push(route(`10.1.${i * 3}.0`, 24)); // 81 runs in the 10.1/16 node
  for (let i = 0; i < 40; i++) routes.push(route(`10.2.0.${i * 5}`, 32)); // 81 runs in the 10.2.0/24 node
  for (let i = 0; i < 5; i++) routes.push(route(`10.3.${i * 7}.0`, 24)); // a sparse node beside them
  for (let i = 0; i < 6; i++) routes.push(route(`10.4.${i * 2}.0`, 24)); // 12 runs: the most a node holds inline
  for (let i = 0; i < 6; i++) routes.push(route(`10.5.${i * 2 + 1}.0`, 24)); // 13 runs: one too many
  const table = buildRouteTable(routes, layout);
  const wrong: string[] = [];
  for (let a = 0; a < 6; a++) {
    for (let b = 0; b < 256; b++) {
      for (let c = 0; c < 256; c += a === 2 && b === 0 ? 1 : 51) {
        const dst = parseIp(`10.${a}.${b}.${c}`);
        if (table.lookup(dst, 0, 0) !== best(routes, dst, 0)[0]!.idx) wrong.push(`10.${a}.${b}.${c}`);
      }
    }
  }
  t.same(wrong.slice(0, 10), [], 'every slot of the crowded and sparse nodes resolves right');
});

t.test('layout by size: big tables go flat, and both layouts agree on them', async (t) => {
  const next = rng(99);
  const make = (blocks: number): CRoute[] => {
    nextIdx = 0;
    const routes: CRoute[] = [route('0.0.0.0', 0)];
    // One /24 in each of `blocks` distinct /16s (a stride coprime to 2^16), plus nested and busy blocks.
    for (let b = 0; b < blocks; b++) routes.push(route(((Math.imul(b, 40503) & 0xffff) << 16 | (next() & 0xff00)) >>> 0, 24));
    for (let i = 0; i < 2000; i++) {
      const r = routes[1 + (next() % blocks)]!;
      routes.push(route((r.dst | (next() & 0xff)) >>> 0, 25 + (next() % 8))); // level-2 nodes
      if (i % 20 === 0) for (let k = 0; k < 20; k++) routes.push(route(((r.dst & 0xffff0000) | (k * 9) << 8) >>> 0, 24)); // > 12 runs
    }
    return routes;
  };
  t.equal(buildRouteTable(make(16383)).layout, 'compact', 'below a quarter of the /16 blocks: compact');
  const routes = make(16384);
  const flat = buildRouteTable(routes);
  const compact = buildRouteTable(routes, 'compact');
  t.equal(flat.layout, 'flat', 'from a quarter of the /16 blocks: flat');
  let wrong = 0;
  for (let i = 0; i < 200_000; i++) {
    const r = routes[next() % routes.length]!;
    const dst = i % 2 === 0 ? next() : (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
    if (flat.lookup(dst | 0, 0, 0) !== compact.lookup(dst | 0, 0, 0)) wrong++;
  }
  t.equal(wrong, 0, '200,000 lookups: the same route from both layouts');
  let brute = 0;
  for (let i = 0; i < 2000; i++) {
    const r = routes[next() % routes.length]!;
    const dst = (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
    if (flat.lookup(dst | 0, 0, 0) !== best(routes, dst, 0)[0]!.idx) brute++;
  }
  t.equal(brute, 0, 'and the longest prefix, by brute force');
});

// That a lookup allocates nothing is checked in test/alloc.test.ts, in a child with a 1 MB young generation.

t.test('recompileRoutes: a route change rebuilds only its router, and routes exactly as a full compile (P14)', async (t) => {
  const { compileTopology, recompileRoutes, routeChangeBetween } = await import('../engine/topology/compile.js');
  const { loadTopology } = await import('../model/topology/load.js');
  const uuid = (k: number, i: number): string => `${k.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const routers = [0, 1, 2].map((i) => ({ id: uuid(1, i) }));
  const ports = routers.map((r, i) => ({ id: uuid(2, i), deviceId: r.id, portAddress: `192.168.${i}.1`, networkAddress: `192.168.${i}.0`, networkLength: 24, portMac: `02:00:00:00:0${i}:01` }));
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const routes = Array.from({ length: 1_500 }, (_, i) => {
    const len = 16 + (rnd() % 17);
    const dst = (rnd() & prefixMask(len)) >>> 0;
    return {
      id: uuid(3, i), routerId: routers[i % 3]!.id, dstNetworkAddr: `${dst >>> 24}.${(dst >>> 16) & 255}.${(dst >>> 8) & 255}.${dst & 255}`,
      dstNetworkLength: len, nextHopPort: ports[i % 3]!.id, weight: 100 + (rnd() % 3),
    };
  });
  const doc = { routers, ports, routes };
  const checked = loadTopology(structuredClone(doc));
  t.ok(checked.ok);
  if (!checked.ok) return;
  const prevDoc = checked.doc;
  const prev = compileTopology(prevDoc);
  // The next document shares every unchanged object with the previous one, as the ZooKeeper reader builds it.
  const nextDoc = { ...prevDoc, routes: [...prevDoc.routes!] };
  nextDoc.routes[10] = { ...nextDoc.routes[10]!, dstNetworkAddr: '10.1.2.0', dstNetworkLength: 24 };
  nextDoc.routes.splice(20, 1);
  nextDoc.routes.push({ id: uuid(3, 9_999), routerId: routers[1]!.id, dstNetworkAddr: '10.9.9.0', dstNetworkLength: 24, nextHopPort: ports[1]!.id });
  const change = routeChangeBetween(prevDoc, nextDoc);
  t.same(change && { upserts: change.upserts.map((r) => r.id), removes: change.removes }, { upserts: [uuid(3, 10), uuid(3, 9_999)], removes: [uuid(3, 20)] });
  const inc = recompileRoutes(prev, change!);
  const full = compileTopology(nextDoc);
  t.equal(inc.routers[0]!.routes, prev.routers[0]!.routes, 'router 0, untouched, keeps its table');
  t.not(inc.routers[1]!.routes, prev.routers[1]!.routes, 'router 1 (routes 10 and the new one) got a new table');
  t.not(inc.routers[2]!.routes, prev.routers[2]!.routes, 'router 2 (route 20 removed) got a new table');
  t.equal(inc.ports, prev.ports, 'everything else is shared');
  const key = (topo: typeof inc, i: number): string => {
    if (i < 0) return 'none';
    const r = topo.routes[i]!;
    return `${r.id}|${r.dst}/${r.dstLen}|${r.type}|${r.nextHopPort}|${r.weight}`;
  };
  let same = 0;
  for (let i = 0; i < 20_000; i++) {
    const router = i % 3;
    const dst = i % 5 === 0 ? parseIp('10.1.2.77') : rnd();
    if (key(inc, inc.routers[router]!.routes.lookup(dst, 0, i)) === key(full, full.routers[router]!.routes.lookup(dst, 0, i))) same++;
  }
  t.equal(same, 20_000, 'every lookup picks the same route as a full compile');
  t.equal(routeChangeBetween(prevDoc, { ...nextDoc, bridges: [{ id: uuid(4, 1) }] }), null, 'a change beyond routes needs a full compile');
});

t.test('a lazy table (one-shot runs) answers exactly as the built one, scanning first, then building', async (t) => {
  const next = rng(9001);
  let mismatches = 0;
  let checked = 0;
  for (const n of [1, 3, 50, 800, 3000]) {
    const routes = randomTable(next, n);
    const table = buildRouteTable(routes);
    for (let i = 0; i < 1500; i++) {
      const r = routes[next() % routes.length]!;
      const dst = i % 3 === 0 ? next() : (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
      const src = i % 2 === 0 ? (r.src | (next() & ~prefixMask(r.srcLen))) >>> 0 : next();
      const hash = next();
      const want = table.lookup(dst | 0, src | 0, hash);
      // The same pick, not just an equally good route: a flow must not change path when the table is built.
      if (scanRoutes(routes, dst | 0, src | 0, hash) !== want) {
        if (mismatches++ < 3) t.fail(`n=${n} dst=${dst} src=${src} hash=${hash}: scan differs from ${want}`);
      }
      checked++;
    }
  }
  t.equal(mismatches, 0, `${checked} lookups`);
  const routes = randomTable(next, 500);
  const table = buildRouteTable(routes);
  const lazy = new LazyRouteTable([...routes].reverse());
  t.equal(lazy.size, routes.length);
  let same = 0;
  for (let i = 0; i < SCANS_BEFORE_BUILD + 20; i++) {
    if (i === SCANS_BEFORE_BUILD) t.notOk(lazy.built, `no table after ${SCANS_BEFORE_BUILD} lookups`);
    const r = routes[next() % routes.length]!;
    const dst = (r.dst | (next() & ~prefixMask(r.dstLen))) >>> 0;
    const hash = next();
    if (lazy.lookup(dst | 0, r.src | 0, hash) === table.lookup(dst | 0, r.src | 0, hash)) same++;
  }
  t.ok(lazy.built, 'built once looked up more often');
  t.equal(same, SCANS_BEFORE_BUILD + 20, 'same answers before and after');
});

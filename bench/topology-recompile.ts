// topology.recompile.one_route (P14): ms to recompile a topology of 100,000 routes after one route
// changed, as a worker does (route tables built), median of RUNS. The routes sit on 100 routers of
// 1,000 (tenant routers); `singleRouterMs` is the same change when all 100,000 sit on one router,
// whose table must then be rebuilt whole, and `fullMs` a full compile for comparison.
import { compileTopology, recompileRoutes, routeChangeBetween } from '../engine/topology/compile.js';
import { loadTopology } from '../model/topology/load.js';
import type { RouteJson, TopologyDoc } from '../model/topology/doc.js';
import { median, type BenchLine } from './types.js';

const ROUTES = 100_000;
const RUNS = 7;

const uuid = (k: number, i: number): string => `${k.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

function doc(routerCount: number): TopologyDoc {
  const routers = Array.from({ length: routerCount }, (_, i) => ({ id: uuid(1, i) }));
  const ports = routers.map((r, i) => ({
    id: uuid(2, i), deviceId: r.id, portAddress: `100.${i >> 8}.${i & 255}.1`, networkAddress: `100.${i >> 8}.${i & 255}.0`,
    networkLength: 24, portMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  }));
  let seed = 0x5eed;
  const rnd = (): number => (seed ^= seed << 13, seed ^= seed >>> 17, seed ^= seed << 5, seed >>> 0);
  const routes: RouteJson[] = Array.from({ length: ROUTES }, (_, i) => {
    const d = rnd() & 0xffffff00;
    return {
      id: uuid(3, i), routerId: routers[i % routerCount]!.id, dstNetworkAddr: `${d >>> 24}.${(d >>> 16) & 255}.${(d >>> 8) & 255}.0`,
      dstNetworkLength: 24, nextHopPort: ports[i % routerCount]!.id,
    };
  });
  const r = loadTopology({ routers, ports, routes });
  if (!r.ok) throw new Error('bench topology is invalid');
  return r.doc;
}

function oneRouteMs(d: TopologyDoc): { ms: number; fullMs: number } {
  const samples: number[] = [];
  let t0 = performance.now();
  let topo = compileTopology(d);
  const fullMs = performance.now() - t0;
  let prevDoc = d;
  for (let run = 0; run < RUNS + 1; run++) {
    const next = { ...prevDoc, routes: [...prevDoc.routes!] };
    next.routes[run * 997] = { ...next.routes[run * 997]!, dstNetworkAddr: `10.${run}.0.0`, dstNetworkLength: 16 };
    t0 = performance.now();
    const change = routeChangeBetween(prevDoc, next);
    if (change === null) throw new Error('expected a route-only change');
    topo = recompileRoutes(topo, change);
    const ms = performance.now() - t0;
    if (run > 0) samples.push(ms); // the first also builds the route slot map
    prevDoc = next;
  }
  return { ms: median(samples), fullMs };
}

export async function benchTopologyRecompile(): Promise<BenchLine[]> {
  const many = oneRouteMs(doc(100));
  const one = oneRouteMs(doc(1));
  return [{
    bench: 'topology.recompile.one_route', value: Math.round(many.ms * 100) / 100, unit: 'ms',
    routes: ROUTES, routers: 100, fullMs: Math.round(many.fullMs), singleRouterMs: Math.round(one.ms), singleRouterFullMs: Math.round(one.fullMs),
  }];
}

// `npm run bench [-- NAME...]`: every benchmark of SPEC §8, one JSON object per line on stdout, each
// value the median of several runs. A NAME selects benches whose name starts with it.
import type { BenchFn, BenchLine } from './types.js';

/** Each group produces the named lines; groups load lazily so a subset starts fast. */
const GROUPS: { names: string[]; load: () => Promise<BenchFn> }[] = [
  { names: ['engine.bridged', 'engine.routed', 'engine.nat'], load: async () => (await import('./engine.js')).benchEngine },
  { names: ['engine.route_lookup.10', 'engine.route_lookup.100000'], load: async () => (await import('./route-lookup.js')).benchRouteLookup },
  { names: ['pool.bridged.w1', 'pool.bridged.w2', 'pool.routed.w2', 'pool.idle_conditions.100'], load: async () => (await import('./pool.js')).benchPool },
  { names: ['sink.sqlite.steps'], load: async () => (await import('./sink-sqlite.js')).benchSinkSqlite },
  { names: ['sink.cassandra.steps'], load: async () => (await import('./sink-cassandra.js')).benchSinkCassandra },
  { names: ['state.conntrack.bytes_per_entry'], load: async () => (await import('./conntrack-memory.js')).benchConntrackMemory },
  { names: ['datapath.bridged', 'datapath.routed', 'datapath.traced'], load: async () => (await import('./datapath.js')).benchDatapath },
  { names: ['tunnel.forward', 'tunnel.traced'], load: async () => (await import('./tunnel.js')).benchTunnel },
  { names: ['api.simulations.batch256', 'api.trace_get'], load: async () => (await import('./api.js')).benchApi },
  { names: ['cli.simulate.oneshot', 'cli.simulate.oneshot.large'], load: async () => (await import('./cli-oneshot.js')).benchCliOneshot },
  { names: ['e2e.api.traced_stored'], load: async () => (await import('./e2e-api.js')).benchE2eApi },
  { names: ['topology.recompile.one_route'], load: async () => (await import('./topology-recompile.js')).benchTopologyRecompile },
  { names: ['zk.topology_change.fanout_bytes'], load: async () => (await import('./zk-fanout.js')).benchZkFanout },
];

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => a !== '--');
  const selected = (name: string): boolean => wanted.length === 0 || wanted.some((w) => name === w || name.startsWith(w));
  let failed = 0;
  for (const g of GROUPS) {
    if (!g.names.some(selected)) continue;
    let lines: BenchLine[];
    try {
      lines = await (await g.load())();
    } catch (e) {
      failed++;
      process.stderr.write(`bench ${g.names.join(', ')} failed: ${(e as Error).stack ?? e}\n`);
      continue;
    }
    for (const line of lines) if (selected(line.bench)) process.stdout.write(JSON.stringify(line) + '\n');
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();

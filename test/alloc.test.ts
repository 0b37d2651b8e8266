// The hot path allocates nothing per packet: a million packets through parse + simulate on the
// reference topology (20-rule chains in and out) in a child process whose young generation is 1 MB,
// so 8 bytes per packet would show as several scavenges.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { ROOT } from './helpers/cli-entry.js';

function probe(flow: 'bridged' | 'routed' | 'flooded' | 'conditions' | 'lookup'): { forward: boolean; gcs: number; heapGrowthBytes: number } {
  const out = execFileSync(process.execPath, ['--max-semi-space-size=1', '--import', 'tsx', 'test/helpers/alloc-probe.ts', flow], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

t.test('bridged path: no allocation per packet', async (t) => {
  const r = probe('bridged');
  t.ok(r.forward, 'the flow is forwarded');
  t.ok(r.gcs <= 1, `${r.gcs} GCs over 1,000,000 packets with a 1 MB young generation (heap grew ${r.heapGrowthBytes} bytes)`);
});

t.test('routed path through both routers: no allocation per packet', async (t) => {
  const r = probe('routed');
  t.ok(r.forward);
  t.ok(r.gcs <= 1, `${r.gcs} GCs over 1,000,000 packets`);
});

t.test('flooded path (branches from the fork stack): no allocation per packet', async (t) => {
  const r = probe('flooded');
  t.ok(r.forward, 'the flood reaches the other VMs');
  t.ok(r.gcs <= 1, `${r.gcs} GCs over 1,000,000 packets`);
});

t.test('bridged path under 100 idle trace conditions: no allocation per packet', async (t) => {
  const r = probe('conditions');
  t.ok(r.forward, 'the flow is forwarded');
  t.ok(r.gcs <= 1, `${r.gcs} GCs over 1,000,000 packets`);
});

t.test('route lookup on 100,000 routes, flat and compact layouts: no allocation', async (t) => {
  const r = probe('lookup');
  t.ok(r.gcs <= 1, `${r.gcs} GCs over 8,000,000 lookups`);
});

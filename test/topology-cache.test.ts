// The one-shot topology cache's entry format (cli/topology-cache.ts): a document written in lines of
// at most ITEMS_PER_LINE list items reads back equal, through a line buffer smaller than some lines;
// an entry cut short or tampered with is a miss, never a partial document.
import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheKey, readCached, writeCached } from '../cli/topology-cache.js';
import type { TopologyDoc } from '../model/topology/doc.js';

const dir = mkdtempSync(join(tmpdir(), 'midotrace-cache-test-'));
process.env.MIDOTRACE_CACHE_DIR = join(dir, 'cache');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function bigDoc(): TopologyDoc {
  const id = (p: string, n: number): string => `${p}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return {
    routers: [{ id: id('a0000000', 1), name: 'edge' }],
    bridges: [{ id: id('b0000000', 1), name: 'zürich-東京' }],
    ports: Array.from({ length: 2500 }, (_, i) => ({ id: id('c0000000', i), name: i % 7 === 0 ? `vm-ü-${i}` : `vm-${i}`, deviceId: id('b0000000', 1) })),
    routes: Array.from({ length: 4321 }, (_, i) => ({ id: id('f0000000', i), routerId: id('a0000000', 1), dstNetworkAddr: '100.64.0.0', dstNetworkLength: 28, nextHopPort: id('c0000000', 0) })),
    // One line longer than the reader's 1 MiB buffer: a chain whose 1,000 rules carry long names.
    chains: [{ id: id('d0000000', 1), name: 'x'.repeat(2 * 1024 * 1024), rules: [] }],
  } as unknown as TopologyDoc;
}

t.test('an entry reads back as the document written, lists in order', (t) => {
  const src = join(dir, 'big.json');
  writeFileSync(src, '{}');
  const key = cacheKey(src)!;
  const doc = bigDoc();
  writeCached(key, doc);
  const [entry] = readdirSync(process.env.MIDOTRACE_CACHE_DIR!);
  const lines = readFileSync(join(process.env.MIDOTRACE_CACHE_DIR!, entry!), 'utf8').split('\n');
  t.equal(lines.length, 2 + 1 + 3 + 5 + 1, 'key (2 lines), the head, 3 lines of ports, 5 of routes, the end mark');
  t.same(readCached(key), doc);
  t.end();
});

t.test('a cut or tampered entry is a miss', (t) => {
  const src = join(dir, 'cut.json');
  writeFileSync(src, '{"a":1}');
  const key = cacheKey(src)!;
  writeCached(key, bigDoc());
  const file = readdirSync(process.env.MIDOTRACE_CACHE_DIR!).map((f) => join(process.env.MIDOTRACE_CACHE_DIR!, f))
    .find((f) => readFileSync(f, 'latin1').startsWith(key))!;
  const whole = readFileSync(file);
  t.ok(readCached(key) !== null, 'whole: a hit');
  const lastLine = whole.lastIndexOf(10);
  writeFileSync(file, whole.subarray(0, lastLine));
  t.equal(readCached(key), null, 'without its end mark');
  writeFileSync(file, whole.subarray(0, whole.indexOf(10, whole.length >> 1)));
  t.equal(readCached(key), null, 'cut in the middle');
  writeFileSync(file, whole.toString('latin1').replace('["routes",', '["nothere",'), 'latin1');
  t.equal(readCached(key), null, 'a line for a list the head does not have');
  writeFileSync(file, whole.toString('latin1').replace('["routes",', '["__proto__",'), 'latin1');
  t.equal(readCached(key), null, 'or for an inherited name');
  writeFileSync(src, '{"a":2}');
  t.equal(readCached(cacheKey(src)!), null, 'the source file changed: another key');
  t.end();
});

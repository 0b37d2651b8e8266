// The SQLite trace-condition store: the shared conformance suite on a real file, then watching a
// file that another process changes, and not being woken by trace writes to the same file.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TraceConditionJson } from '../model/trace.js';
import { openSqliteConditionStore, openSqliteTraceBackend } from '../stores/sqlite/index.js';
import type { SqliteConditionStore } from '../stores/sqlite/index.js';
import { conditionStoreConformance, sleep, until } from './helpers/condition-store-conformance.js';
import { makeRecord } from './helpers/trace-records.js';

const dir = mkdtempSync(join(tmpdir(), 'midotrace-conds-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(dir, `conds-${++files}.db`);

function open(path: string): SqliteConditionStore {
  const res = openSqliteConditionStore({ path, pollIntervalMs: 50, onError: () => {} });
  if (!res.ok) throw new Error(res.message);
  return res.store;
}

conditionStoreConformance(t, 'sqlite', async () => {
  const path = freshPath();
  const store = open(path);
  return { store, peer: async () => open(path), close: () => store.close() };
});

t.test('watch notices a change committed by another process', async (tt) => {
  const path = freshPath();
  const store = open(path);
  tt.teardown(() => store.close());
  const seen: TraceConditionJson[][] = [];
  store.watch((all) => seen.push(all));
  const script = `
    const { openSqliteConditionStore } = await import(${JSON.stringify(join(process.cwd(), 'stores/sqlite/index.ts'))});
    const r = openSqliteConditionStore({ path: ${JSON.stringify(path)} });
    if (!r.ok) throw new Error(r.message);
    await r.store.create({ name: 'from-another-process', nwProto: 1 });
    await r.store.close();`;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  await until(() => seen.some((l) => l.some((c) => c.name === 'from-another-process')), 'cross-process create', 3000);
  tt.match(await store.list(), [{ name: 'from-another-process', nwProto: 1 }]);
});

t.test('trace writes to the same file do not wake condition watchers', async (tt) => {
  const path = freshPath();
  const store = open(path);
  const traces = openSqliteTraceBackend({ path, retentionMs: 0 });
  if (!traces.ok) { tt.fail(traces.message); return; }
  tt.teardown(async () => { await traces.backend.close(); await store.close(); });
  let calls = 0;
  store.watch(() => { calls++; });
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 50; i++) traces.backend.write(makeRecord({ steps: 3 }));
    await traces.backend.flush();
    await sleep(60);
  }
  tt.equal(calls, 0, 'five polls saw the file change, none was a condition change');
  await store.create({ name: 'real-change' });
  await until(() => calls > 0, 'own change');
  tt.equal(calls, 1, 'one change, one call');
});

t.test('the condition store and trace backend share a file both ways round', async (tt) => {
  const path = freshPath();
  const traces = openSqliteTraceBackend({ path, retentionMs: 0 });
  if (!traces.ok) { tt.fail(traces.message); return; }
  const store = open(path);
  tt.teardown(async () => { await traces.backend.close(); await store.close(); });
  const c = await store.create({ name: 'both' });
  const rec = makeRecord({ conditionIds: [c.ok ? c.condition.id : ''] });
  traces.backend.write(rec);
  await traces.backend.flush();
  tt.match(await traces.backend.get(rec.id), { conditionIds: [c.ok ? c.condition.id : ''] });
  tt.equal((await store.list()).length, 1);
});

t.test('closed stores refuse calls; close is idempotent', async (tt) => {
  const store = open(freshPath());
  await store.close();
  await store.close();
  await tt.rejects(store.list(), /closed/);
  tt.throws(() => store.watch(() => {}), /closed/);
});

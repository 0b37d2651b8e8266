// The daemon as operators run it (the systemd unit's ExecStart: `midotrace daemon --config FILE`):
// it serves, keeps its host id, takes SIGHUP with a good and a bad config, and on SIGTERM drains every
// accepted trace into SQLite and exits 0.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openSqliteTraceBackend } from '../stores/sqlite/trace-backend.js';
import { CLI_ENTRY, ROOT } from './helpers/cli-entry.js';
import { Net, pk } from './helpers/net.js';
import { waitUntil } from './helpers/wait.js';

const n = new Net().bridge('b').port('b', 'p1').port('b', 'p2').port('b', 'p3');

interface Running { child: ChildProcess; url: string; stdout: () => string }

async function startDaemon(config: string): Promise<Running> {
  const child = spawn(process.execPath, [...CLI_ENTRY, 'daemon', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on (http:\/\/[^/\s]+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon exited ${code}: ${err}`)); });
  });
  return { child, url, stdout: () => out };
}

t.test('serve, SIGHUP good and bad config, SIGTERM drains every accepted trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-proc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'topology.json'), JSON.stringify(n.doc));
  const cfgPath = join(dir, 'midotrace.yaml');
  const config = (level: string, extra = ''): string => [
    'listen: 127.0.0.1:0', `stateDir: ${join(dir, 'state')}`,
    'topology:', `  file: ${join(dir, 'topology.json')}`,
    'sqlite:', `  path: ${join(dir, 'midotrace.db')}`,
    'workers:', '  threads: 2',
    'log:', `  level: ${level}`, extra,
  ].join('\n');
  writeFileSync(cfgPath, config('info'));
  const d = await startDaemon(cfgPath);
  t.teardown(() => { if (d.child.exitCode === null) d.child.kill('SIGKILL'); });

  const health = await fetch(`${d.url}/healthz`);
  t.equal(health.status, 200);
  const hostId = ((await health.json()) as { hostId: string }).hostId;
  t.match(readFileSync(join(dir, 'state', 'host_uuid.properties'), 'utf8'), `host_uuid=${hostId}`, 'host id kept in the state dir');

  writeFileSync(cfgPath, config('debug'));
  d.child.kill('SIGHUP');
  await waitUntil('the good config to be applied', () => /SIGHUP: configuration applied/.test(d.stdout()));
  t.match(d.stdout(), /"applied":\["log.level"\]/, 'the new log level is taken');

  writeFileSync(cfgPath, config('info', 'bogusKey: 1'));
  d.child.kill('SIGHUP');
  await waitUntil('the bad config to be refused', () => /new configuration refused/.test(d.stdout()));
  t.match(d.stdout(), /bogusKey/, 'the refusal names the key');
  t.equal((await fetch(`${d.url}/healthz`)).status, 200, 'still serving on the old config');

  const packets = Array.from({ length: 300 }, (_, i) => ({ inPort: n.id('p1'), packet: pk.udp('02:00:00:00:00:01', '02:00:00:00:00:02', '10.0.0.1', '10.0.0.2', { tpSrc: 1000 + i }) }));
  const res = await fetch(`${d.url}/simulations?trace=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(packets) });
  t.equal(res.status, 200);
  const results = (await res.json()) as { traceIds: string[] }[];
  const ids = results.flatMap((r) => r.traceIds);
  t.equal(ids.length, 300, 'every packet traced');
  d.child.kill('SIGTERM');
  const [code] = await once(d.child, 'exit');
  t.equal(code, 0, 'exit 0 after draining');

  const opened = openSqliteTraceBackend({ path: join(dir, 'midotrace.db'), retentionMs: 0 });
  if (!opened.ok) throw new Error(opened.message);
  t.teardown(() => opened.backend.close());
  const stored = new Set<string>();
  let cursor: string | undefined;
  for (;;) {
    const page = await opened.backend.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    if (!page.ok) throw new Error(page.message);
    for (const s of page.items) stored.add(s.id);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  t.equal(ids.filter((id) => stored.has(id)).length, 300, 'no accepted trace lost');
  const one = await opened.backend.get(ids[0]!);
  t.equal(one?.hostId, hostId);
  t.equal(one?.complete, true);
});

type TestT = Parameters<Parameters<typeof t.test>[0]>[0];

/** Starts the daemon on a config file that must be refused; resolves with its exit code and stderr. */
async function refusedAt(t: TestT, yaml: string): Promise<{ code: unknown; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-proc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfgPath = join(dir, 'config.yaml');
  writeFileSync(cfgPath, yaml);
  const child = spawn(process.execPath, [...CLI_ENTRY, 'daemon', '--config', cfgPath], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const [code] = await once(child, 'exit');
  return { code, err };
}

t.test('a bad config file is refused at start with the key named, exit 1', async (t) => {
  const r = await refusedAt(t, 'listen: 127.0.0.1:0\nworkers:\n  threads: 0\n');
  t.equal(r.code, 1);
  t.match(r.err, /workers\.threads/);
});

t.test('listening beyond loopback without tokens is refused', async (t) => {
  const r = await refusedAt(t, 'listen: 0.0.0.0:8181\n');
  t.equal(r.code, 1);
  t.match(r.err, /api\.tokens/);
});

// What operators install: the npm tarball runs `midotrace --version` and the daemon from a fresh
// prefix, and the systemd unit that `midotrace install-service` writes passes systemd-analyze verify.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ROOT } from './helpers/cli-entry.js';

const built = existsSync(join(ROOT, 'dist/cli/main.js'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

t.test('the npm pack tarball installs and runs', { skip: built ? false : 'run `npm run build` first (.ci/run does)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  const tarball = join(dir, out);
  t.ok(existsSync(tarball), `packed ${out}`);
  const prefix = join(dir, 'prefix');
  // Dependencies come from the npm cache the project install filled. better-sqlite3's native build
  // takes minutes, so its install script is skipped and the addon built for this project is reused.
  execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], { encoding: 'utf8', stdio: 'pipe' });
  const addon = join(ROOT, 'node_modules/better-sqlite3/build');
  const installedSqlite = join(prefix, 'node_modules/better-sqlite3');
  t.ok(existsSync(installedSqlite), 'better-sqlite3 installed as a dependency');
  cpSync(addon, join(installedSqlite, 'build'), { recursive: true });
  const bin = join(prefix, 'node_modules/.bin/midotrace');
  t.equal(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(), pkg.version);
  t.match(execFileSync(bin, ['daemon', '--help'], { encoding: 'utf8' }), /--config/);

  const pkgDir = join(prefix, 'node_modules/midotrace');
  for (const f of ['dist/cli/main.js', 'dist/daemon/pool/worker.js', 'examples/topology.json', 'systemd/midotrace.service', 'README.md']) {
    t.ok(existsSync(join(pkgDir, f)), `package holds ${f}`);
  }
  t.notOk(existsSync(join(pkgDir, 'test')), 'tests are not shipped');

  const child = spawn(bin, ['daemon', '--topology', join(pkgDir, 'examples/topology.json'), '--listen', '127.0.0.1:0'], {
    cwd: dir, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /serving on (http:\/\/[^/\s]+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${err}`)); });
  });
  const health = await fetch(`${url}/healthz`);
  t.equal(health.status, 200, 'the installed daemon serves');
  const sim = await fetch(`${url}/simulations`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inPort: 'c0000000-0000-4000-8000-000000000013', packet: { ethSrc: 'fa:16:3e:00:01:11', ethDst: '02:00:00:00:01:01', nwSrc: '10.0.1.11', nwDst: '10.0.2.12', nwProto: 'tcp', tpDst: 5432 } }),
  });
  t.equal(((await sim.json()) as { result: string }).result, 'forward', 'its workers simulate');
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});

const analyze = '/usr/bin/systemd-analyze';
// Locally a missing systemd-analyze skips; in CI it is a failure (scripts/ensure-deps.sh installs it).
const noAnalyze = !existsSync(analyze) && process.env.CI !== 'true' ? 'systemd-analyze not installed' : false;

t.test('install-service writes a unit that systemd-analyze verifies', { skip: noAnalyze }, async (t) => {
  if (!existsSync(analyze)) {
    t.fail('systemd-analyze missing (scripts/ensure-deps.sh installs systemd)');
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'midotrace-unit-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const entry = built ? join(ROOT, 'dist/cli/main.js') : join(ROOT, 'cli/main.ts');
  const args = built ? [entry] : ['--import', 'tsx', entry];
  const out = execFileSync(process.execPath, [...args, 'install-service', '--root', root, '--bin', entry], { cwd: ROOT, encoding: 'utf8' });
  t.match(out, /wrote .*midotrace\.service/);
  const unit = join(root, 'etc/systemd/system/midotrace.service');
  const text = readFileSync(unit, 'utf8');
  t.match(text, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} .*daemon --config /etc/midotrace/midotrace.yaml$`, 'm'));
  for (const k of ['DynamicUser=yes', 'StateDirectory=midotrace', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'SystemCallFilter=@system-service', 'CapabilityBoundingSet=', 'Restart=on-failure', 'After=network-online.target']) {
    t.ok(text.includes(k), k);
  }
  t.ok(existsSync(join(root, 'etc/midotrace/midotrace.yaml')), 'example config installed');
  // verify checks the unit's syntax, directives and that ExecStart's binary exists.
  const r = execFileSync(analyze, ['verify', unit], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  t.equal(r.trim(), '', 'systemd-analyze verify reports nothing');
});

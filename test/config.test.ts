// Configuration: validated once with messages that name the key, frozen, JSON or YAML, safe defaults,
// and the README's reference generated from the same schema.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, validateConfig } from '../daemon/config.js';
import { configReference } from '../daemon/config-reference.js';
import { ROOT } from './helpers/cli-entry.js';

t.test('defaults are loopback, SQLite, offline', async (t) => {
  const r = validateConfig({});
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.config.listen, '127.0.0.1:8181');
  t.equal(r.config.sink.backend, 'sqlite');
  t.equal(r.config.conditions.store, 'sqlite');
  t.equal(r.config.sink.retentionDays, 7);
  t.ok(Object.isFrozen(r.config) && Object.isFrozen(r.config.sink), 'frozen all the way down');
});

t.test('errors name the key', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ sink: { queueTraces: 0 } }, /^sink\.queueTraces: /],
    [{ sqlite: { walLimitMB: 0.5 } }, /^sqlite\.walLimitMB: /],
    [{ listen: 'nowhere' }, /^listen: must be HOST:PORT/],
    [{ bogus: true }, /bogus/],
    [{ workers: { threads: 1.5 } }, /^workers\.threads: /],
    [{ zookeeper: { root: 'midonet' } }, /^zookeeper\.root: must be an absolute znode path/],
    [{ listen: '0.0.0.0:8181' }, /^listen: .*api\.tokens/],
    [{ api: { tokens: [{ token: 'short', role: 'admin' }] } }, /^api\.tokens\.0\.token: tokens must be at least 16/],
    [{ cassandra: { password: 'x' } }, /^cassandra\.username: required/],
  ];
  for (const [input, re] of cases) {
    const r = validateConfig(input);
    t.notOk(r.ok, JSON.stringify(input));
    if (!r.ok) t.match(r.errors.join('\n'), re);
  }
  const tokens = validateConfig({ listen: '0.0.0.0:8181', api: { tokens: [{ token: 'x'.repeat(32), role: 'admin' }] } });
  t.ok(tokens.ok, 'beyond loopback with a token is fine');
});

t.test('JSON and YAML files, with command-line overrides', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.yaml'), 'sink:\n  retentionDays: 2\nlog:\n  level: debug\n');
  writeFileSync(join(dir, 'a.json'), '{"sink":{"retentionDays":3}}');
  writeFileSync(join(dir, 'bad.yaml'), 'sink: [1, 2');
  const y = loadConfigFile(join(dir, 'a.yaml'), { listen: '127.0.0.1:9000' });
  t.ok(y.ok);
  if (y.ok) {
    t.equal(y.config.sink.retentionDays, 2);
    t.equal(y.config.listen, '127.0.0.1:9000');
    t.equal(y.config.log.level, 'debug');
  }
  const j = loadConfigFile(join(dir, 'a.json'));
  t.equal(j.ok && j.config.sink.retentionDays, 3);
  const bad = loadConfigFile(join(dir, 'bad.yaml'));
  t.notOk(bad.ok);
  if (!bad.ok) t.match(bad.errors[0], /not valid YAML/);
  const missing = loadConfigFile(join(dir, 'none.yaml'));
  t.notOk(missing.ok);
});

t.test('the README holds the generated configuration reference', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.ok(readme.includes(configReference()), 'regenerate with: node dist/daemon/config-reference.js');
  for (const key of ['listen', 'sink.retentionDays', 'zookeeper.connect', 'cassandra.keyspace', 'workers.threads']) {
    t.match(readme, `\`${key}\``);
  }
});

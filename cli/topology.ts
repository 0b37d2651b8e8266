// `midotrace topology import FILE` / `midotrace topology export`: move a SPEC §2 document into and out
// of ZooKeeper (layout and atomicity: stores/zookeeper/topology-import.ts). The document is validated before
// anything connects; a refused document changes nothing. ZooKeeper settings come from flags, else
// from --config's `zookeeper` section, else the defaults (127.0.0.1:2181, root /midonet).
// Exit 0 on success, 1 on a user error (bad document, bad flags, concurrent import), 2 when
// ZooKeeper cannot be reached.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT_UNREACHABLE, UserError } from './exit.js';

type Print = (s: string) => void;

interface ZkFlags {
  config?: string;
  zookeeper?: string;
  root?: string;
  sessionTimeout?: string;
}

interface ZkTarget {
  connect: string;
  root: string;
  sessionTimeoutMs: number;
}

async function resolveTarget(o: ZkFlags): Promise<ZkTarget> {
  const { checkConnectString, checkZnodePath, normalizeRoot } = await import('../stores/zookeeper/paths.js');
  // Loaded here, not at the top: the config schema costs every other verb (`simulate`, `--version`) its start-up.
  const { loadConfigFile, validateConfig } = await import('../daemon/config.js');
  const loaded = o.config !== undefined ? loadConfigFile(o.config) : validateConfig({});
  if (!loaded.ok) throw new UserError(`invalid configuration${o.config !== undefined ? ` ${o.config}` : ''}: ${loaded.errors.join('; ')}`);
  const z = loaded.config.zookeeper;
  const connect = o.zookeeper ?? z.connect;
  const root = o.root ?? z.root;
  const bad = checkConnectString(connect);
  if (bad !== null) throw new UserError(`--zookeeper ${connect}: ${bad}`);
  const badRoot = checkZnodePath(root);
  if (badRoot !== null) throw new UserError(`--root ${root}: ${badRoot}`);
  let sessionTimeoutMs = z.sessionTimeoutMs;
  if (o.sessionTimeout !== undefined) {
    if (!/^\d{1,6}$/.test(o.sessionTimeout) || Number(o.sessionTimeout) < 1000) throw new UserError('--session-timeout: must be at least 1000 (ms)');
    sessionTimeoutMs = Number(o.sessionTimeout);
  }
  return { connect, root: normalizeRoot(root), sessionTimeoutMs };
}

async function connectTo(target: ZkTarget, createChroot: boolean) {
  const { connectCreatingChroot } = await import('../stores/zookeeper/session.js');
  const opts = { sessionTimeout: target.sessionTimeoutMs, connectTimeoutMs: Math.min(5_000, target.sessionTimeoutMs), spinDelay: 200 };
  const r = await connectCreatingChroot(target.connect, opts, createChroot);
  if (!r.ok) throw new UserError(`cannot reach ZooKeeper at ${target.connect}: ${r.message}`, EXIT_UNREACHABLE);
  return r.client;
}

function addZkOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'take ZooKeeper settings from this daemon configuration file')
    .option('--zookeeper <connect>', 'ZooKeeper connect string HOST:PORT[,HOST:PORT...][/chroot] (default 127.0.0.1:2181)')
    .option('--root <znode>', 'root znode (default /midonet)')
    .option('--session-timeout <ms>', 'ZooKeeper session timeout');
}

export function registerTopologyCommands(program: Command, print: Print): void {
  const topology = program.command('topology').description('move a topology document (SPEC §2) into or out of ZooKeeper');

  addZkOptions(
    topology
      .command('import')
      .description('validate FILE, then make it the topology in ZooKeeper (all of it or nothing)')
      .argument('<file>', 'topology document (JSON)')
      .option('--full', 'write a new generation even when the change would fit one transaction'),
  ).action(async (file: string, opts: ZkFlags & { full?: boolean }) => {
    const { readTopologyFile } = await import('../model/topology/load.js');
    const loaded = readTopologyFile(file);
    if (!loaded.ok) {
      const lines = loaded.errors.slice(0, 20).map((e) => `  ${e.path === '' ? '(document)' : e.path}: ${e.message}`);
      if (loaded.errors.length > 20) lines.push(`  ... and ${loaded.errors.length - 20} more`);
      throw new UserError(`invalid topology ${file}; nothing imported:\n${lines.join('\n')}`);
    }
    const target = await resolveTarget(opts);
    const { importTopology } = await import('../stores/zookeeper/topology-import.js');
    const zk = await connectTo(target, true);
    try {
      const r = await importTopology(zk, target.root, loaded.doc, { mode: opts.full === true ? 'full' : 'auto' });
      if (!r.ok) throw new UserError(`import of ${file} failed (${r.code}); the topology in ZooKeeper is unchanged: ${r.message}`, r.code === 'zookeeper' ? EXIT_UNREACHABLE : 1);
      if (program.opts().json === true) {
        print(JSON.stringify({ file, zookeeper: target.connect, root: target.root, ...r }));
        return;
      }
      const counts = Object.entries(r.counts).map(([k, n]) => `${n} ${k}`).join(', ');
      const where = `${target.connect} ${target.root}/topology`;
      if (r.how === 'unchanged') print(`${file}: unchanged in ${where} (generation ${r.generation}, revision ${r.revision})`);
      else if (r.how === 'incremental') {
        print(`imported ${file} into ${where}: ${r.created} created, ${r.updated} updated, ${r.removed} removed in one transaction (generation ${r.generation}, revision ${r.revision}); ${counts}`);
      } else {
        print(`imported ${file} into ${where}: new generation ${r.generation}, revision ${r.revision}; ${counts}${r.cleaned.length > 0 ? `; removed old generations ${r.cleaned.join(', ')}` : ''}`);
      }
    } finally {
      await zk.close();
    }
  });

  addZkOptions(
    topology
      .command('export')
      .description('print the topology in ZooKeeper as a SPEC §2 document (lists ordered by id)')
      .option('-o, --output <file>', 'write to this file instead of standard output'),
  ).action(async (opts: ZkFlags & { output?: string }) => {
    const target = await resolveTarget(opts);
    const { exportTopology } = await import('../stores/zookeeper/topology-import.js');
    const zk = await connectTo(target, false);
    try {
      const r = await exportTopology(zk, target.root);
      if (!r.ok) throw new UserError(`export failed: ${r.message}`, EXIT_UNREACHABLE);
      for (const p of r.problems) process.stderr.write(`midotrace: warning: ${p}\n`);
      const text = JSON.stringify(r.doc, null, 2);
      if (opts.output !== undefined) {
        writeFileSync(opts.output, text + '\n');
        if (program.opts().json !== true) print(`exported generation ${r.generation ?? '(none)'} revision ${r.revision} to ${opts.output}`);
      } else {
        print(text);
      }
    } finally {
      await zk.close();
    }
  });
}

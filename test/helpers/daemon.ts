// Starts a real Daemon (worker pool, SQLite sink and condition store in a temp dir) on a topology
// built with the Net builder. No HTTP server unless asked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig, type ConfigInput } from '../../daemon/config.js';
import { createLogger } from '../../daemon/log.js';
import { Daemon, type DaemonOptions } from '../../daemon/service.js';
import type { TopologyDoc } from '../../model/topology/doc.js';

export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  dbPath: string;
  /** Stops the daemon (idempotent) and removes the temp dir. */
  close(): Promise<void>;
}

export async function startTestDaemon(doc: TopologyDoc, o: {
  config?: ConfigInput; server?: boolean; wrapSink?: DaemonOptions['wrapSink'];
  /** Serve the control panel from this directory under /ui/ (needs `server`). */
  panelDir?: string;
} = {}): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-test-'));
  const topoPath = join(dir, 'topology.json');
  writeFileSync(topoPath, JSON.stringify(doc));
  const dbPath = join(dir, 'midotrace.db');
  const r = validateConfig({
    listen: '127.0.0.1:0', stateDir: join(dir, 'state'),
    topology: { source: 'file', file: topoPath }, sqlite: { path: dbPath },
    workers: { threads: 2, batchSize: 64 },
    state: { macCapacity: 4096, arpCapacity: 1024, conntrackCapacity: 65536, natCapacity: 16384 },
    log: { level: 'silent' },
    ...o.config,
  });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const log = createLogger('silent', new Writable({ write(_c, _e, cb) { cb(); } }));
  const daemon = await Daemon.start({
    config: r.config, log, noServer: o.server !== true,
    ...(o.wrapSink ? { wrapSink: o.wrapSink } : {}),
    ...(o.panelDir !== undefined ? { panelDir: o.panelDir } : {}),
  });
  return {
    daemon, dir, dbPath,
    close: async () => {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

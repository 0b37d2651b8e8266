// Where the daemon's topology comes from: a file (offline) or ZooKeeper (production). The daemon asks
// for the current document and is told of changes; it validates before publishing to the workers, so a
// bad update is refused and the running topology stays.
import { readTopologyFile, formatErrors } from '../engine/topology/load.js';
import type { TopologyDoc } from '../engine/topology/doc.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { BackendHealth } from '../api/deps.js';
import { StartError } from './errors.js';

export type TopologyLoad = { ok: true; doc: TopologyDoc } | { ok: false; message: string };

export interface TopologySource {
  /** The current, validated document. */
  load(): Promise<TopologyLoad>;
  /** `listener` is called after the topology changed (not on subscribe). Returns unsubscribe. */
  watch(listener: () => void): () => void;
  health(): BackendHealth;
  close(): Promise<void>;
}

export class FileTopologySource implements TopologySource {
  constructor(private readonly path: string) {}

  async load(): Promise<TopologyLoad> {
    const r = readTopologyFile(this.path);
    return r.ok ? r : { ok: false, message: `invalid topology ${this.path}:\n${formatErrors(r.errors)}` };
  }

  /** A file changes on SIGHUP only (daemon/main.ts calls reloadTopology()). */
  watch(): () => void { return () => {}; }

  health(): BackendHealth { return { name: 'topology:file', ok: true, detail: this.path }; }

  async close(): Promise<void> {}
}

export async function openTopologySource(config: Readonly<Config>, log: Logger): Promise<TopologySource> {
  switch (config.topology.source) {
    case 'file': return new FileTopologySource(config.topology.file);
    case 'zookeeper': {
      // Loaded only when used: offline mode never loads the ZooKeeper client.
      const { openZkTopologySource } = await import('./zk/open.js');
      return openZkTopologySource(config, log);
    }
    default: throw new StartError(`topology.source ${config.topology.source} is not available in this build`);
  }
}

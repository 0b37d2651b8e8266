// Chooses the daemon's topology source from the config: a file (offline) or ZooKeeper (production).
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { TopologySource } from '../model/stores.js';
import { FileTopologySource } from '../stores/file/topology-source.js';
import { StartError } from './errors.js';

export type { TopologyLoad, TopologySource } from '../model/stores.js';

export async function openTopologySource(config: Readonly<Config>, log: Logger): Promise<TopologySource> {
  switch (config.topology.source) {
    case 'file': return new FileTopologySource(config.topology.file);
    case 'zookeeper': {
      // Loaded only when used: offline mode never loads the ZooKeeper client.
      const { openZkTopologySource } = await import('./zk-open.js');
      return openZkTopologySource(config, log);
    }
    default: throw new StartError(`topology.source ${config.topology.source} is not available in this build`);
  }
}

// The offline topology: a SPEC §2 document in a file, read again on SIGHUP (daemon/main.ts).
import { formatErrors, readTopologyFile } from '../../model/topology/load.js';
import type { BackendHealth, TopologyLoad, TopologySource } from '../../model/stores.js';

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

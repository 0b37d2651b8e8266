// Names of the daemon's topology (GET /topology) for the CLI: ports, bridges, routers and port groups
// given by name or id prefix wherever an id goes (SPEC §7), and ids shown with their names.
import type { TopologyDoc } from '../model/topology/doc.js';
import type { DeviceKind, DeviceResolver } from '../model/cond-words.js';
import type { ApiClient } from './api-client.js';
import { resolveLabel } from './labels.js';

interface Named { id: string; name?: string }

export class TopologyNames {
  private readonly byKind: Record<DeviceKind, readonly Named[]>;
  private readonly names = new Map<string, string>();

  constructor(doc: TopologyDoc) {
    this.byKind = { port: doc.ports ?? [], bridge: doc.bridges ?? [], router: doc.routers ?? [], 'port-group': doc.portGroups ?? [] };
    for (const list of Object.values(this.byKind)) for (const x of list) if (x.name !== undefined && x.name !== '') this.names.set(x.id, x.name);
  }

  /** The name of a port or device, or its id when it has none. */
  name(id: string): string {
    return this.names.get(id) ?? id;
  }

  readonly resolve: DeviceResolver = (kind, label) => {
    const r = resolveLabel(label, this.byKind[kind], (x) => x.id, (x) => x.name, (x) => (x.name !== undefined ? `${x.id} (${x.name})` : x.id), kind);
    return r.ok ? { ok: true, id: r.item.id } : r;
  };

  /** A port id for a label, or a UserError-worthy message. */
  port(label: string): { ok: true; id: string } | { ok: false; message: string } {
    return this.resolve('port', label);
  }
}

/** The daemon's topology names, fetched once per command. */
export async function fetchNames(client: ApiClient): Promise<TopologyNames> {
  const { body } = await client.get<{ topology: TopologyDoc }>('/topology');
  return new TopologyNames(body.topology);
}

// Names of ports, devices and port groups from GET /topology, so the panel shows `web1` where the API says
// `c0000000-…-13`. An empty map until it loads, or when the daemon has no topology yet (ids shown).
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import type { TopologyDoc } from '../../model/topology/doc.js';

export function useTopologyNames(): Map<string, string> {
  const [names, setNames] = useState(new Map<string, string>());
  useEffect(() => {
    let live = true;
    void api.get<{ topology: TopologyDoc }>('topology').then((r) => {
      if (!live || !r.ok) return;
      const m = new Map<string, string>();
      const t = r.data.topology;
      for (const list of [t.ports, t.bridges, t.routers, t.portGroups]) for (const x of list ?? []) if (x.name) m.set(x.id, x.name);
      setNames(m);
    });
    return () => { live = false; };
  }, []);
  return names;
}

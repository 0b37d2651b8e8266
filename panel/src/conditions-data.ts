// Trace conditions by id, for naming them in the trace list and views (ids alone mean little).
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import type { ConditionWithHits } from './types.js';

export function useConditionNames(): Map<string, string> {
  const [names, setNames] = useState(new Map<string, string>());
  useEffect(() => {
    let live = true;
    void api.get<ConditionWithHits[]>('trace_conditions').then((r) => {
      if (live && r.ok) setNames(new Map(r.data.map((c) => [c.id, c.name ?? c.id.slice(0, 8)])));
    });
    return () => { live = false; };
  }, []);
  return names;
}

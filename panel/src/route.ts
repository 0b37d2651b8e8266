// Hash routes, so the daemon serves one index.html and the browser's back button works.
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { view: 'traces'; query: URLSearchParams }
  | { view: 'trace'; id: string }
  | { view: 'compare'; a: string; b: string }
  | { view: 'conditions' }
  | { view: 'condition-new' }
  | { view: 'condition-edit'; id: string };

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#/, '');
  const [path = '', qs = ''] = h.split('?', 2);
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  if (parts[0] === 'conditions') {
    if (parts[1] === 'new') return { view: 'condition-new' };
    if (parts[1] !== undefined) return { view: 'condition-edit', id: parts[1] };
    return { view: 'conditions' };
  }
  if (parts[0] === 'compare' && parts[1] !== undefined && parts[2] !== undefined) return { view: 'compare', a: parts[1], b: parts[2] };
  if (parts[0] === 'traces' && parts[1] !== undefined) return { view: 'trace', id: parts[1] };
  return { view: 'traces', query: new URLSearchParams(qs) };
}

export const href = {
  traces: (q?: URLSearchParams | Record<string, string>) => {
    const s = new URLSearchParams(q).toString();
    return `#/traces${s ? `?${s}` : ''}`;
  },
  trace: (id: string) => `#/traces/${encodeURIComponent(id)}`,
  compare: (a: string, b: string) => `#/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`,
  conditions: () => '#/conditions',
  conditionNew: () => '#/conditions/new',
  conditionEdit: (id: string) => `#/conditions/${encodeURIComponent(id)}`,
};

export function go(to: string): void { location.hash = to; }

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

// The trace list's filters: kept in the URL hash (so links and the back button keep them) and turned
// into the API's GET /traces query.
export const FILTER_KEYS = ['conditionId', 'result', 'hostId', 'since', 'until'] as const;
export type Filters = Partial<Record<(typeof FILTER_KEYS)[number], string>>;

export function filtersFrom(q: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = q.get(k);
    if (v !== null && v !== '') f[k] = v;
  }
  return f;
}

export function filterParams(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k] !== undefined && f[k] !== '') p.set(k, f[k]);
  return p;
}

/** The first page of traces for these filters. */
export function tracesPath(f: Filters, limit: number): string {
  const p = filterParams(f);
  p.set('limit', String(limit));
  return `traces?${p.toString()}`;
}

/** `<input type="datetime-local">` speaks local time without a zone; the API wants an instant. */
export function localToIso(local: string): string {
  if (local === '') return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
}

export function isoToLocal(iso: string | undefined): string {
  if (iso === undefined || iso === '') return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

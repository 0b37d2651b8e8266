// Traces, newest first: filters, paging through the API's Link header, live updates from the trace
// stream, deletion.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { useConditionNames } from './conditions-data.js';
import { useTopologyNames } from './topology-names.js';
import { flash } from './flash.js';
import { followTraces, type FollowState } from './follow.js';
import { go, href } from './route.js';
import { filterParams, filtersFrom, isoToLocal, localToIso, tracesPath, type Filters } from './trace-filters.js';
import { matchLine } from './trace-model.js';
import { RESULTS, type TraceSummary } from './types.js';
import { checkedOf, ConfirmDialog, ErrorBox, fmtTime, Loading, ResultBadge, ShortId, valueOf, type ShownError } from './ui.js';

/** Live arrivals shown above the first page before it is reloaded whole (bounds the page's memory). */
const LIVE_MAX_ROWS = 1000;
const PAGE_SIZES = [10, 25, 50, 100, 250];
const STREAM_WORDS: Record<FollowState, string> = { connecting: 'connecting…', live: 'following new traces', reconnecting: 'connection lost, reconnecting…' };

function FilterForm({ filters, conditions }: { filters: Filters; conditions: Map<string, string> }) {
  const [f, setF] = useState<Filters>(filters);
  useEffect(() => setF(filters), [JSON.stringify(filters)]);
  const set = (k: keyof Filters) => (e: Event) => setF({ ...f, [k]: valueOf(e) });
  const setTime = (k: 'since' | 'until') => (e: Event) => setF({ ...f, [k]: localToIso(valueOf(e)) });
  return (
    <form class="filters" aria-label="Filter traces"
      onSubmit={(e) => { e.preventDefault(); go(href.traces(filterParams(f))); }}>
      <label>Condition
        <select value={f.conditionId ?? ''} onChange={set('conditionId')}>
          <option value="">any</option>
          {[...conditions].map(([id, name]) => <option value={id}>{name}</option>)}
          {f.conditionId !== undefined && f.conditionId !== '' && !conditions.has(f.conditionId)
            ? <option value={f.conditionId}>{f.conditionId.slice(0, 8)}</option> : null}
        </select>
      </label>
      <label>Result
        <select value={f.result ?? ''} onChange={set('result')}>
          <option value="">any</option>
          {RESULTS.map((r) => <option value={r}>{r}</option>)}
        </select>
      </label>
      <label>Host <input value={f.hostId ?? ''} onInput={set('hostId')} placeholder="host UUID" size={14} /></label>
      <label>From <input type="datetime-local" step="1" value={isoToLocal(f.since)} onChange={setTime('since')} /></label>
      <label>Until <input type="datetime-local" step="1" value={isoToLocal(f.until)} onChange={setTime('until')} /></label>
      <div class="filter-actions">
        <button type="submit">Apply</button>
        <button type="button" onClick={() => go(href.traces())}>Clear</button>
      </div>
    </form>
  );
}

export function TraceList({ query }: { query: URLSearchParams }) {
  const filters = filtersFrom(query);
  const [pageSize, setPageSize] = useState(50);
  const first = tracesPath(filters, pageSize);
  // Pages already seen, so "Newer" can go back; the API only links forward.
  const [pages, setPages] = useState<string[]>([first]);
  const page = pages[pages.length - 1]!;
  const [items, setItems] = useState<TraceSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [live, setLive] = useState(true);
  const [updated, setUpdated] = useState<Date | null>(null);
  const [stream, setStream] = useState<FollowState>('connecting');
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirming, setConfirming] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const conditions = useConditionNames();
  const devices = useTopologyNames();
  const itemsRef = useRef<TraceSummary[] | null>(null);
  const inFlight = useRef(false);

  useEffect(() => { setPages([first]); setSelected(new Set()); setFresh(new Set()); itemsRef.current = null; }, [first]);

  const load = useCallback(async (path: string, skipIfBusy = false) => {
    if (inFlight.current && skipIfBusy) return;
    inFlight.current = true;
    const r = await api.get<TraceSummary[]>(path);
    inFlight.current = false;
    if (!r.ok) { setError(r); return; }
    itemsRef.current = r.data;
    setItems(r.data);
    setNext(r.next);
    setError(null);
    setUpdated(new Date());
    const ids = new Set(r.data.map((t) => t.id));
    setSelected((s) => new Set([...s].filter((id) => ids.has(id))));
  }, []);

  useEffect(() => { setItems(null); itemsRef.current = null; void load(page); }, [page]);

  // Live mode adds what the stream sends on top of the newest page only: older pages stay put while
  // someone reads them. The first page's "Older" cursor stays right, as it points past what was loaded.
  const onFirstPage = pages.length === 1;
  useEffect(() => {
    if (!live || !onFirstPage) return;
    return followTraces(filterParams(filters), (tr) => {
      const before = itemsRef.current;
      if (before === null || before.some((x) => x.id === tr.id)) return;
      if (before.length >= LIVE_MAX_ROWS) { void load(page, true); return; }
      const now = [tr, ...before];
      itemsRef.current = now;
      setItems(now);
      setFresh((f) => new Set([...f, tr.id]));
      setUpdated(new Date());
    }, setStream);
  }, [live, onFirstPage, page]);

  const toggle = (id: string, on: boolean) => setSelected((s) => {
    const n = new Set(s);
    if (on) n.add(id); else n.delete(id);
    return n;
  });

  async function deleteTraces(ids: string[]): Promise<void> {
    setBusy(true);
    const failures: string[] = [];
    for (const id of ids) {
      const r = await api.del(`traces/${encodeURIComponent(id)}`);
      if (!r.ok) failures.push(`${id.slice(0, 8)}: ${r.code}: ${r.message}`);
    }
    setBusy(false);
    setConfirming(null);
    setSelected(new Set());
    const done = ids.length - failures.length;
    flash(`Deleted ${done} trace${done === 1 ? '' : 's'}.`);
    if (failures.length > 0) setError({ code: 'delete_failed', message: failures.join('; ') });
    await load(page);
  }

  const allOnPage = items !== null && items.length > 0 && items.every((t) => selected.has(t.id));

  return (
    <section aria-labelledby="traces-title">
      <div class="view-head">
        <h1 id="traces-title">Traces</h1>
        <div class="live">
          <label class="switch">
            <input type="checkbox" checked={live} onChange={(e) => setLive(checkedOf(e))} /> Live
          </label>
          <span class="muted" aria-live="polite">
            {live ? (onFirstPage ? STREAM_WORDS[stream] : 'paused on older pages') : 'off'}
            {updated !== null ? ` · updated ${updated.toLocaleTimeString()}` : ''}
            {fresh.size > 0 ? ` · ${fresh.size} new` : ''}
          </span>
        </div>
      </div>
      <FilterForm filters={filters} conditions={conditions} />
      <ErrorBox error={error} />
      <div class="toolbar">
        <button type="button" class="danger" disabled={selected.size === 0}
          onClick={() => setConfirming([...selected])}>Delete selected ({selected.size})</button>
        <button type="button" disabled={selected.size !== 2} title="select two traces to compare them"
          onClick={() => { const [a, b] = [...selected]; go(href.compare(a!, b!)); }}>Compare selected</button>
        <button type="button" onClick={() => void load(page)}>Refresh</button>
        <label>Per page <select value={String(pageSize)} onChange={(e) => setPageSize(Number(valueOf(e)))}>
          {PAGE_SIZES.map((n) => <option value={String(n)}>{n}</option>)}
        </select></label>
      </div>
      {items === null ? <Loading what="traces" /> : items.length === 0 ? (
        <p class="empty">No traces{Object.keys(filters).length > 0 ? ' match these filters' : ' yet'}. Traces appear when a packet matches an enabled trace condition, or is simulated with <code>?trace=true</code>.</p>
      ) : (
        <div class="table-wrap">
          <table class="traces">
            <thead>
              <tr>
                <th scope="col"><input type="checkbox" aria-label="Select every trace on this page" checked={allOnPage}
                  onChange={(e) => setSelected(checkedOf(e) ? new Set(items.map((t) => t.id)) : new Set())} /></th>
                <th scope="col">Started</th>
                <th scope="col">Result</th>
                <th scope="col">Packet</th>
                <th scope="col" class="wide-only">Ingress port</th>
                <th scope="col">Conditions</th>
                <th scope="col">Steps</th>
                <th scope="col" class="wide-only">Host</th>
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id} data-id={t.id} class={fresh.has(t.id) ? 'fresh' : ''}>
                  <td><input type="checkbox" aria-label={`Select trace ${t.id}`} checked={selected.has(t.id)}
                    onChange={(e) => toggle(t.id, checkedOf(e))} /></td>
                  <td><a href={href.trace(t.id)} title={t.id}>{fmtTime(t.startedAt)}</a></td>
                  <td><ResultBadge result={t.result} /></td>
                  <td class="packet">{matchLine(t.match)}</td>
                  <td class="wide-only">{devices.has(t.ingressPortId)
                    ? <span class="port-name" title={t.ingressPortId}>{devices.get(t.ingressPortId)}</span> : <ShortId id={t.ingressPortId} />}</td>
                  <td>{t.conditionIds.length === 0 ? <span class="muted">forced</span>
                    : t.conditionIds.map((c) => <span class="tag" title={c}>{conditions.get(c) ?? c.slice(0, 8)}</span>)}</td>
                  <td>{t.numSteps}{t.complete ? null : <span class="badge incomplete" title="steps were lost">incomplete</span>}</td>
                  <td class="wide-only"><ShortId id={t.hostId} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>← Newer</button>
        <span class="muted">page {pages.length}</span>
        <button type="button" disabled={next === null} onClick={() => next !== null && setPages([...pages, next])}>Older →</button>
      </nav>
      {confirming !== null ? (
        <ConfirmDialog title={`Delete ${confirming.length} trace${confirming.length === 1 ? '' : 's'}?`}
          confirmLabel="Delete" busy={busy} onCancel={() => setConfirming(null)} onConfirm={() => void deleteTraces(confirming)}>
          <p>This removes {confirming.length === 1 ? 'the trace' : 'these traces'} and every step for good.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

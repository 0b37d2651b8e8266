// Trace conditions: what each matches, on/off, traces made against its limit, edit and delete.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
// The CLI's words, so an operator reads a condition the same way in both.
import { describeCondition } from '../../model/cond-words.js';
import { useTopologyNames } from './topology-names.js';
import { flash } from './flash.js';
import { href } from './route.js';
import type { ConditionWithHits, TraceConditionJson } from './types.js';
import { ConfirmDialog, ErrorBox, fmtTime, Loading, ShortId, type ShownError } from './ui.js';

/** The stored condition as a PUT body: server-owned and read-only fields left out. */
export function putBody(c: ConditionWithHits): TraceConditionJson {
  const { hits: _hits, creationTimestampMs: _ts, ...rest } = c;
  return rest;
}

function HitsCell({ c }: { c: ConditionWithHits }) {
  const limit = c.limit === undefined ? '∞' : String(c.limit);
  const hits = c.hits === undefined ? '?' : String(c.hits);
  const full = c.limit !== undefined && c.hits !== undefined && c.hits >= c.limit;
  return (
    <a href={href.traces({ conditionId: c.id })} class={full ? 'hits full' : 'hits'}
      title={`${hits} traces started (the count since the daemon started); limit ${limit}. Show its traces.`}>
      {hits} / {limit}{full ? ' (limit reached)' : ''}
    </a>
  );
}

export function Conditions() {
  const [list, setList] = useState<ConditionWithHits[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [confirming, setConfirming] = useState<ConditionWithHits | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const devices = useTopologyNames();

  async function load(): Promise<void> {
    const r = await api.get<ConditionWithHits[]>('trace_conditions?stats=true');
    if (r.ok) { setList(r.data); setError(null); } else setError(r);
  }
  useEffect(() => { void load(); }, []);

  async function setEnabled(c: ConditionWithHits, enabled: boolean): Promise<void> {
    setBusy(c.id);
    const r = await api.put<TraceConditionJson>(`trace_conditions/${c.id}`, { ...putBody(c), enabled });
    setBusy(null);
    if (!r.ok) { setError(r); return; }
    flash(`${c.name ?? c.id.slice(0, 8)} ${enabled ? 'enabled' : 'disabled'}.`);
    await load();
  }

  async function remove(c: ConditionWithHits): Promise<void> {
    setBusy(c.id);
    const r = await api.del(`trace_conditions/${c.id}`);
    setBusy(null);
    setConfirming(null);
    if (!r.ok) setError(r);
    else flash(`Deleted trace condition ${c.name ?? c.id}.`);
    await load();
  }

  return (
    <section aria-labelledby="conditions-title">
      <div class="view-head">
        <h1 id="conditions-title">Trace conditions</h1>
        <a class="button primary" href={href.conditionNew()}>New condition</a>
      </div>
      <ErrorBox error={error} />
      {list === null ? (error === null ? <Loading what="trace conditions" /> : null) : list.length === 0 ? (
        <p class="empty">No trace conditions. A packet is traced when it matches an enabled condition.</p>
      ) : (
        <div class="table-wrap">
          <table class="conditions">
            <thead>
              <tr>
                <th scope="col">Name</th><th scope="col">Enabled</th><th scope="col">Matches</th>
                <th scope="col" class="wide-only">Scope</th><th scope="col">Traces / limit</th>
                <th scope="col" class="wide-only">Created</th><th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => {
                const enabled = c.enabled !== false;
                const label = c.name ?? c.id.slice(0, 8);
                return (
                  <tr key={c.id} data-id={c.id} class={enabled ? '' : 'disabled'}>
                    <td><a href={href.conditionEdit(c.id)} title={c.id}>{c.name ?? <ShortId id={c.id} />}</a></td>
                    <td>
                      <button type="button" role="switch" aria-checked={enabled} class={`toggle ${enabled ? 'on' : 'off'}`}
                        aria-label={`${label} enabled`} disabled={busy === c.id}
                        onClick={() => void setEnabled(c, !enabled)}>{enabled ? 'on' : 'off'}</button>
                    </td>
                    <td class="words">{describeCondition(c, (id) => devices.get(id) ?? id)}</td>
                    <td class="wide-only">{c.deviceType !== undefined ? <>{c.deviceType} {devices.has(c.deviceId ?? '') ? <span title={c.deviceId}>{devices.get(c.deviceId!)}</span> : <ShortId id={c.deviceId ?? ''} />}</> : <span class="muted">ingress port</span>}</td>
                    <td><HitsCell c={c} /></td>
                    <td class="wide-only">{c.creationTimestampMs !== undefined ? fmtTime(new Date(c.creationTimestampMs).toISOString()) : ''}</td>
                    <td class="row-actions">
                      <a class="button" href={href.conditionEdit(c.id)} aria-label={`Edit ${label}`}>Edit</a>
                      <button type="button" class="danger" aria-label={`Delete ${label}`} onClick={() => setConfirming(c)}>Delete</button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">Traces counts how many traces each condition has started since the daemon started
        (the API's <code>?stats=true</code> hits), against its limit (∞: none).</p>
      {confirming !== null ? (
        <ConfirmDialog title={`Delete trace condition ${confirming.name ?? confirming.id.slice(0, 8)}?`} confirmLabel="Delete"
          busy={busy === confirming.id} onCancel={() => setConfirming(null)} onConfirm={() => void remove(confirming)}>
          <p>No new traces will be started by it. Traces it already made are kept.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

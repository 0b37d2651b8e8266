// One trace: summary, the path as a diagram, the steps as a timeline, export and delete.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, download } from './api.js';
import { useTopologyNames } from './topology-names.js';
import { useConditionNames } from './conditions-data.js';
import { flash } from './flash.js';
import { PathDiagram } from './path-diagram.js';
import { go, href } from './route.js';
import { Timeline } from './timeline.js';
import { decidingRules, etherName, protoName, traceModel } from './trace-model.js';
import type { MatchSummary, Trace } from './types.js';
import { ConfirmDialog, ErrorBox, fmtTime, Loading, ResultBadge, type ShownError } from './ui.js';

function MatchTable({ m }: { m: MatchSummary }) {
  const rows: [string, string][] = [
    ['Ethernet', `${m.ethSrc} → ${m.ethDst}`],
    ['Ethertype', `${etherName(m.etherType)} (${m.etherType})`],
  ];
  if (m.vlan !== undefined) rows.push(['VLAN', String(m.vlan)]);
  if (m.nwSrc !== undefined || m.nwDst !== undefined) rows.push(['IPv4', `${m.nwSrc ?? '?'} → ${m.nwDst ?? '?'}`]);
  if (m.nwProto !== undefined) rows.push(['Protocol', `${protoName(m.nwProto)} (${m.nwProto})`]);
  if (m.tpSrc !== undefined || m.tpDst !== undefined) {
    rows.push([m.nwProto === 1 ? 'ICMP type / code' : 'Ports', `${m.tpSrc ?? '?'} → ${m.tpDst ?? '?'}`]);
  }
  return (
    <table class="kv match" aria-label="Match summary">
      <tbody>{rows.map(([k, v]) => <tr><th scope="row">{k}</th><td>{v}</td></tr>)}</tbody>
    </table>
  );
}

/** Export: the trace exactly as the API served it. */
function useJsonDownload(trace: Trace | null): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (trace === null) return;
    const u = URL.createObjectURL(new Blob([JSON.stringify(trace, null, 2)], { type: 'application/json' }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [trace]);
  return url;
}

export function TraceView({ id }: { id: string }) {
  const [trace, setTrace] = useState<Trace | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const names = useConditionNames();
  const devices = useTopologyNames();
  const jsonUrl = useJsonDownload(trace);
  const model = useMemo(() => (trace === null ? null : traceModel(trace)), [trace]);

  useEffect(() => {
    let live = true;
    setTrace(null);
    setError(null);
    void api.get<Trace>(`traces/${encodeURIComponent(id)}`).then((r) => {
      if (!live) return;
      if (r.ok) setTrace(r.data); else setError(r);
    });
    return () => { live = false; };
  }, [id]);

  async function exportAs(format: 'pcap' | 'otlp', filename: string): Promise<void> {
    const r = await download(`traces/${encodeURIComponent(id)}/export?format=${format}`, filename);
    if (!r.ok) setError(r);
  }

  async function remove(): Promise<void> {
    setBusy(true);
    const r = await api.del(`traces/${encodeURIComponent(id)}`);
    setBusy(false);
    setConfirming(false);
    if (!r.ok) { setError(r); return; }
    flash(`Deleted trace ${id}.`);
    go(href.traces());
  }

  const back = <p><a href={href.traces()}>← All traces</a></p>;
  if (error !== null && trace === null) return <section>{back}<h1>Trace {id}</h1><ErrorBox error={error} title="Cannot show this trace" /></section>;
  if (trace === null || model === null) return <section>{back}<Loading what="the trace" /></section>;
  const deciding = decidingRules(model);
  return (
    <section aria-labelledby="trace-title" class="trace-view">
      {back}
      <div class="view-head">
        <h1 id="trace-title">Trace <code>{trace.id}</code></h1>
        <div class="actions">
          {jsonUrl !== null ? <a class="button" href={jsonUrl} download={`trace-${trace.id}.json`}>Export JSON</a> : null}
          <button type="button" onClick={() => void exportAs('pcap', `trace-${trace.id}.pcap`)}>Export pcap</button>
          <button type="button" onClick={() => void exportAs('otlp', `trace-${trace.id}.otlp.json`)}>Export OTLP</button>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>Delete</button>
        </div>
      </div>
      <ErrorBox error={error} />
      {trace.complete ? null : (
        <div class="incomplete-banner" role="status">
          <strong>Incomplete trace (complete: false).</strong> The daemon could not store every step (a full queue
          or a failed write).{' '}
          {trace.steps.length === 0
            ? <>No step was stored: only the summary is known (the packet matched, and the result was <b>{trace.result}</b>).</>
            : <>Only the first {trace.steps.length} steps are below; what happened after step #{trace.steps[trace.steps.length - 1]!.step} was
              lost. The result, <b>{trace.result}</b>, is still the simulation's real outcome.</>}
          {model.missing.length > 0 ? <> Missing inside the record: {model.missing.slice(0, 20).map((n) => `#${n}`).join(', ')}
            {model.missing.length > 20 ? ` and ${model.missing.length - 20} more` : ''}.</> : null}
        </div>
      )}
      <div class="summary-grid">
        <table class="kv" aria-label="Trace summary">
          <tbody>
            <tr><th scope="row">Result</th><td><ResultBadge result={trace.result} /> {trace.steps.length > 0 ? model.outcome : ''}</td></tr>
            <tr><th scope="row">Started</th><td title={trace.startedAt}>{fmtTime(trace.startedAt)}</td></tr>
            <tr><th scope="row">Host</th><td><code>{trace.hostId}</code></td></tr>
            <tr><th scope="row">Ingress port</th><td>{devices.has(trace.ingressPortId) ? <>{devices.get(trace.ingressPortId)} </> : null}<code>{trace.ingressPortId}</code></td></tr>
            <tr><th scope="row">Conditions</th><td>{trace.conditionIds.length === 0 ? 'none (forced trace)'
              : trace.conditionIds.map((c) => <a class="tag" href={href.traces({ conditionId: c })} title={c}>{names.get(c) ?? c.slice(0, 8)}</a>)}</td></tr>
            <tr><th scope="row">Steps</th><td>{trace.numSteps}{trace.complete ? '' : ` (${trace.steps.length} recorded)`}</td></tr>
            <tr><th scope="row">Deciding rule</th><td>{deciding.length === 0 ? <span class="muted">none: no rule decided</span>
              : deciding.map((d) => <span class="deciding-name">{d.name} ({d.action})</span>)}</td></tr>
          </tbody>
        </table>
        <div>
          <h2>Match</h2>
          <MatchTable m={trace.match} />
        </div>
      </div>
      <h2>Path</h2>
      <PathDiagram model={model} result={trace.result} ingressPortId={trace.ingressPortId} complete={trace.complete} />
      <h2>Timeline</h2>
      {trace.steps.length > 0 ? <Timeline model={model} /> : <p class="empty">No step of this trace was stored.</p>}
      {confirming ? (
        <ConfirmDialog title="Delete this trace?" confirmLabel="Delete" busy={busy}
          onCancel={() => setConfirming(false)} onConfirm={() => void remove()}>
          <p>Trace <code>{trace.id}</code> and its {trace.numSteps} steps will be removed for good.</p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

// Every step, grouped by the device that recorded it, with the ones that decided something marked.
import type { StepJson } from './types.js';
import { endpointText, highlightOf, kindOf, type TraceModel } from './trace-model.js';

function StepRow({ s, t0 }: { s: StepJson; t0: number }) {
  const h = highlightOf(s);
  const kind = kindOf(s);
  const cls = ['step', `stage-${s.stage}`, `type-${s.deviceType}`, `kind-${kind}`];
  if (h !== null) cls.push(`hl-${h.kind}`);
  if (h?.kind === 'rule' && h.deciding) cls.push('deciding');
  const dt = Date.parse(s.timestamp) - t0;
  // Every step has a kind; the details are worth opening when they say more than that.
  const hasDetails = s.details !== undefined && Object.keys(s.details).some((k) => k !== 'kind');
  return (
    <li class={cls.join(' ')} data-step={s.step}>
      <span class="step-no" title={s.timestamp}>#{s.step}<small>{Number.isFinite(dt) ? ` +${dt} ms` : ''}</small></span>
      <span class={`badge stage stage-${s.stage}`}>{s.stage}</span>
      <div class="step-body">
        {s.deviceType === 'rule' || s.deviceType === 'chain'
          ? <span class="step-owner">{s.deviceType} {s.deviceName || s.deviceId.slice(0, 8)}</span> : null}
        {h?.kind === 'rule' && h.deciding ? <span class="badge deciding-badge">deciding rule</span> : null}
        <span class="step-message">{s.message}</span>
        <code class="step-kind" title="details.kind">{kind.replace(/_/g, ' ')}</code>
        {h?.kind === 'nat' ? (
          <div class="nat-diff"><span class="before">{endpointText(h.before)}</span> ⇒ <span class="after">{endpointText(h.after)}</span></div>
        ) : null}
        {h?.kind === 'drop' ? <div class="drop-reason">reason: <code>{h.reason}</code></div> : null}
        {hasDetails ? (
          <details>
            <summary>details</summary>
            <pre>{JSON.stringify(s.details, null, 2)}</pre>
          </details>
        ) : null}
      </div>
    </li>
  );
}

export function Timeline({ model }: { model: TraceModel }) {
  const first = model.hops[0]?.steps[0];
  const t0 = first !== undefined ? Date.parse(first.timestamp) : 0;
  return (
    <div class="timeline">
      {model.hops.map((hop) => (
        <section class={`hop hop-${hop.deviceType}`} id={hop.anchor} tabIndex={-1} aria-label={`${hop.deviceType} ${hop.deviceName}`}>
          <h3><span class="node-type">{hop.deviceType}</span> {hop.deviceName || '(unnamed)'} <code class="id">{hop.deviceId}</code></h3>
          <ol>{hop.steps.map((s) => <StepRow s={s} t0={t0} />)}</ol>
        </section>
      ))}
    </div>
  );
}

// Two traces side by side (GET /traces/diff): aligned device by device, rows that differ marked, and
// where and why the traces part. Each side lists its own steps at that device.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { href } from './route.js';
import { matchLine } from './trace-model.js';
import type { StepJson, Trace, TraceSummary } from './types.js';
import type { DiffRow, TraceDiff } from '../../model/trace-diff.js';
import { ErrorBox, fmtTime, Loading, ResultBadge, type ShownError } from './ui.js';

function Side({ label, t }: { label: string; t: TraceSummary }) {
  return (
    <div class="compare-side">
      <h2>{label} <a href={href.trace(t.id)}><code>{t.id}</code></a></h2>
      <p><ResultBadge result={t.result} /> {matchLine(t.match)}</p>
      <p class="muted">{fmtTime(t.startedAt)} · {t.numSteps} steps</p>
    </div>
  );
}

function Steps({ nums, byNum }: { nums: number[] | null; byNum: Map<number, StepJson> }) {
  if (nums === null) return <span class="muted">not visited</span>;
  return <ol class="compare-steps">{nums.map((n) => <li value={n}>{byNum.get(n)?.message ?? `step ${n}`}</li>)}</ol>;
}

export function CompareView({ a, b }: { a: string; b: string }) {
  const [diff, setDiff] = useState<TraceDiff | null>(null);
  const [steps, setSteps] = useState<[Map<number, StepJson>, Map<number, StepJson>] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);

  useEffect(() => {
    let live = true;
    setDiff(null);
    setError(null);
    void Promise.all([
      api.get<TraceDiff>(`traces/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`),
      api.get<Trace>(`traces/${encodeURIComponent(a)}`),
      api.get<Trace>(`traces/${encodeURIComponent(b)}`),
    ]).then(([d, ta, tb]) => {
      if (!live) return;
      if (!d.ok) { setError(d); return; }
      const index = (r: typeof ta) => new Map(r.ok ? r.data.steps.map((s) => [s.step, s] as const) : []);
      setSteps([index(ta), index(tb)]);
      setDiff(d.data);
    });
    return () => { live = false; };
  }, [a, b]);

  const back = <p><a href={href.traces()}>← All traces</a></p>;
  if (error !== null) return <section>{back}<h1>Compare traces</h1><ErrorBox error={error} title="Cannot compare these traces" /></section>;
  if (diff === null || steps === null) return <section>{back}<Loading what="the comparison" /></section>;
  const f = diff.firstDivergence;
  const isFirst = (r: DiffRow): boolean => f !== null && r.deviceId === f.deviceId
    && ((f.stepA !== null && (r.a ?? []).includes(f.stepA)) || (f.stepB !== null && (r.b ?? []).includes(f.stepB)));
  return (
    <section aria-labelledby="compare-title" class="compare-view">
      {back}
      <h1 id="compare-title">Compare traces</h1>
      <div class="compare-sides"><Side label="A" t={diff.a} /><Side label="B" t={diff.b} /></div>
      <div class={`divergence ${f === null ? 'same' : 'parted'}`} role="status">
        {f === null ? 'Same path: the two traces do not part.'
          : <>They part at step {f.stepA ?? '–'} of A and step {f.stepB ?? '–'} of B: <strong>{f.why}</strong></>}
      </div>
      <table class="compare">
        <thead><tr><th scope="col">Device</th><th scope="col">A</th><th scope="col">B</th></tr></thead>
        <tbody>
          {diff.steps.map((r) => (
            <tr class={[r.same ? 'same' : 'differs', isFirst(r) ? 'first-divergence' : ''].join(' ').trim()} data-device={r.deviceId}>
              <th scope="row">{r.deviceType} {r.deviceName || r.deviceId.slice(0, 8)}{r.same ? null : <span class="badge differs-badge">differs</span>}</th>
              <td><Steps nums={r.a} byNum={steps[0]} /></td>
              <td><Steps nums={r.b} byNum={steps[1]} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

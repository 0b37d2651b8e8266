// Small pieces every view uses: error box, confirmation dialog, result badge, ids and times.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export interface ShownError { code: string; message: string; status?: number }

/** An API error as the server phrased it; `code` lets a reader search the docs. */
export function ErrorBox({ error, title }: { error: ShownError | null; title?: string }) {
  if (error === null) return null;
  return (
    <div class="error" role="alert">
      <strong>{title ?? 'The API refused this'}</strong>
      <span class="error-code">{error.status ? `${error.status} ` : ''}{error.code}</span>
      <p class="error-message">{error.message}</p>
    </div>
  );
}

export function ConfirmDialog(p: {
  title: string; children: ComponentChildren; confirmLabel: string;
  busy?: boolean; onConfirm: () => void; onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d !== null && !d.open) d.showModal();
  }, []);
  return (
    // Escape fires `cancel`; the dialog is modal, so focus stays inside until it closes.
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title"
      onCancel={(e) => { e.preventDefault(); p.onCancel(); }}>
      <h2 id="confirm-title">{p.title}</h2>
      <div>{p.children}</div>
      <div class="actions">
        <button type="button" autofocus onClick={p.onCancel}>Cancel</button>
        <button type="button" class="danger" disabled={p.busy} onClick={p.onConfirm}>{p.confirmLabel}</button>
      </div>
    </dialog>
  );
}

export function ResultBadge({ result }: { result: string }) {
  return <span class={`badge result-${result}`}>{result}</span>;
}

export function ShortId({ id, title }: { id: string; title?: string }) {
  return <code class="id" title={title ?? id}>{id.slice(0, 8)}</code>;
}

export function fmtTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" aria-live="polite">Loading {what}…</p>;
}

/** The value of an <input>/<select> event's target. */
export const valueOf = (e: Event): string => (e.currentTarget as HTMLInputElement).value;
export const checkedOf = (e: Event): boolean => (e.currentTarget as HTMLInputElement).checked;

// Create or edit a trace condition. Every CONDITION field is here; the API checks the values and its
// 400 message (which names each bad field's JSON path) is shown next to the fields it names.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { byName, resolveNames } from './name-lookup.js';
import { useTopologyNames } from './topology-names.js';
import { emptyForm, FIELD_GROUPS, fieldErrors, formToJson, jsonToForm, type FieldSpec, type FormState } from './condition-fields.js';
import { flash } from './flash.js';
import { go, href } from './route.js';
import type { ConditionWithHits, TraceConditionJson } from './types.js';
import { checkedOf, ErrorBox, Loading, valueOf, type ShownError } from './ui.js';

function Field({ spec, form, set, errors }: {
  spec: FieldSpec; form: FormState; set: (k: string, v: string | boolean) => void; errors: Record<string, string[]>;
}) {
  const id = `f-${spec.key}`;
  const errs = [...(errors[spec.key] ?? []), ...(spec.inv !== undefined ? errors[spec.inv] ?? [] : [])];
  const describedBy = [errs.length > 0 ? `${id}-err` : '', spec.help !== undefined ? `${id}-help` : ''].filter(Boolean).join(' ') || undefined;
  const value = form[spec.key];
  let input;
  if (spec.kind === 'bool') {
    input = <input id={id} name={spec.key} type="checkbox" checked={value === true} aria-describedby={describedBy}
      onChange={(e) => set(spec.key, checkedOf(e))} />;
  } else if (spec.kind === 'select') {
    input = (
      <select id={id} name={spec.key} value={typeof value === 'string' ? value : ''} aria-invalid={errs.length > 0}
        aria-describedby={describedBy} onChange={(e) => set(spec.key, valueOf(e))}>
        {spec.options!.map((o) => <option value={o}>{o === '' ? '(not set)' : o}</option>)}
      </select>
    );
  } else {
    input = <input id={id} name={spec.key} type="text" value={typeof value === 'string' ? value : ''} placeholder={spec.placeholder}
      aria-invalid={errs.length > 0} aria-describedby={describedBy} autocomplete="off" spellcheck={false}
      onInput={(e) => set(spec.key, valueOf(e))} />;
  }
  return (
    <div class={`field kind-${spec.kind}${errs.length > 0 ? ' has-error' : ''}`} data-field={spec.key}>
      <label for={id}>{spec.label}</label>
      <div class="field-input">
        {input}
        {spec.inv !== undefined ? (
          <label class="inv" title={`${spec.inv}: match packets that do NOT have this`}>
            <input type="checkbox" name={spec.inv} checked={form[spec.inv] === true} onChange={(e) => set(spec.inv!, checkedOf(e))} /> not
          </label>
        ) : null}
      </div>
      {spec.help !== undefined ? <small id={`${id}-help`} class="help">{spec.help}</small> : null}
      {errs.length > 0 ? <div id={`${id}-err`} class="field-error">{errs.join('; ')}</div> : null}
    </div>
  );
}

export function ConditionForm({ id }: { id?: string }) {
  const [form, setForm] = useState<FormState | null>(id === undefined ? emptyForm() : null);
  const [original, setOriginal] = useState<ConditionWithHits | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [saving, setSaving] = useState(false);
  const names = useTopologyNames();

  useEffect(() => {
    if (id === undefined) return;
    void api.get<ConditionWithHits>(`trace_conditions/${encodeURIComponent(id)}`).then((r) => {
      if (r.ok) { setOriginal(r.data); setForm(jsonToForm(r.data)); } else setError(r);
    });
  }, [id]);

  const set = (k: string, v: string | boolean) => setForm((f) => ({ ...f!, [k]: v }));

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    if (form === null) return;
    setSaving(true);
    const body = resolveNames(formToJson(form), byName(names));
    const r = id === undefined
      ? await api.post<TraceConditionJson>('trace_conditions', body)
      : await api.put<TraceConditionJson>(`trace_conditions/${encodeURIComponent(id)}`, { ...body, id });
    setSaving(false);
    if (!r.ok) {
      setError(r);
      setErrors(r.status === 400 || r.status === 409 ? fieldErrors(r.message) : {});
      // Take the reader to the first field the API complained about.
      requestAnimationFrame(() => document.querySelector<HTMLElement>('.field.has-error input, .field.has-error select')?.focus());
      return;
    }
    flash(`${id === undefined ? 'Created' : 'Saved'} trace condition ${r.data.name ?? r.data.id}.`);
    go(href.conditions());
  }

  const title = id === undefined ? 'New trace condition' : `Edit trace condition ${original?.name ?? id.slice(0, 8)}`;
  return (
    <section aria-labelledby="cond-form-title">
      <p><a href={href.conditions()}>← All trace conditions</a></p>
      <h1 id="cond-form-title">{title}</h1>
      <ErrorBox error={error} title={id === undefined ? 'The condition was not created' : 'The condition was not saved'} />
      {form === null ? (error === null ? <Loading what="the condition" /> : null) : (
        <form class="condition-form" onSubmit={(e) => void submit(e)} noValidate>
          <p class="muted">Empty fields match everything. A packet matches when every set field matches
            (each negated by its <em>not</em>), and the whole is negated by “Invert”.</p>
          {FIELD_GROUPS.map((g) => (
            <fieldset>
              <legend>{g.title}</legend>
              <div class="fields">{g.fields.map((spec) => <Field spec={spec} form={form} set={set} errors={errors} />)}</div>
            </fieldset>
          ))}
          <div class="form-actions">
            <button type="submit" class="primary" disabled={saving}>{id === undefined ? 'Create' : 'Save'}</button>
            <a class="button" href={href.conditions()}>Cancel</a>
            {original !== null ? <button type="button" class="link" onClick={() => setForm(jsonToForm(original))}>Reset</button> : null}
          </div>
        </form>
      )}
    </section>
  );
}

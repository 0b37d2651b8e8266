// Trace-condition verbs (SPEC §7): list, show, add, set, enable, disable, del. Ports, devices and port
// groups in COND words may be given by name (GET /topology); conditions by LABEL.
import type { TraceConditionJson } from '../model/trace.js';
import { describeCondition, parseCondWords, type CondWordsResult } from '../model/cond-words.js';
import type { ApiClient } from './api-client.js';
import { UserError } from './exit.js';
import { fetchCondition, UUID_RE } from './labels.js';
import { fetchNames, type TopologyNames } from './names.js';
import { formatTable } from './table.js';
import type { OutputFormat, Print } from './trace-verbs.js';

/** Words whose values are ports, devices or port groups. */
const DEVICE_WORDS = new Set(['in-ports', 'out-ports', 'port-group', 'port', 'bridge', 'router']);

/**
 * COND words to a condition; the topology is fetched only when a device word has a value that is not
 * a UUID (a name or an id prefix), so conditions can be added while the daemon has no topology yet.
 */
async function parseWords(client: ApiClient, words: string[], requireMatch: boolean): Promise<CondWordsResult> {
  const needsNames = words.some((w, i) => DEVICE_WORDS.has(w) && (words[i + 1] ?? '').replace(/^!/, '').split(',').some((v) => v !== '' && !UUID_RE.test(v)));
  let names: TopologyNames | undefined;
  if (needsNames) names = await fetchNames(client);
  return parseCondWords(words, { requireMatch, ...(names !== undefined ? { resolve: names.resolve } : {}) });
}

function scopeText(c: TraceConditionJson, n: TopologyNames | null): string {
  return c.deviceType !== undefined ? `${c.deviceType} ${n?.name(c.deviceId ?? '') ?? c.deviceId ?? ''}` : 'ingress';
}

async function namesOrNull(client: ApiClient): Promise<TopologyNames | null> {
  try { return await fetchNames(client); } catch (e) { if (e instanceof UserError && e.exitCode === 1) return null; throw e; }
}

export async function listConditions(client: ApiClient, out: OutputFormat, print: Print): Promise<void> {
  if (out !== 'table') {
    const { body } = await client.get<TraceConditionJson[]>('/trace_conditions');
    if (out === 'json') print(JSON.stringify(body, null, 2)); else for (const c of body) print(JSON.stringify(c));
    return;
  }
  const [{ body }, names] = await Promise.all([client.get<(TraceConditionJson & { hits: number })[]>('/trace_conditions?stats=true'), namesOrNull(client)]);
  print(formatTable(['ID', 'NAME', 'ENABLED', 'LIMIT', 'HITS', 'SCOPE', 'MATCH'], body.map((c) => [
    c.id, c.name ?? '', c.enabled === false ? 'no' : 'yes', c.limit === undefined ? '-' : String(c.limit),
    String(c.hits), scopeText(c, names), describeCondition(c, (id) => names?.name(id) ?? id),
  ])));
}

export async function showCondition(client: ApiClient, out: OutputFormat, print: Print, label: string): Promise<void> {
  const found = await fetchCondition(client, label);
  const { body: c } = await client.get<TraceConditionJson & { hits: number }>(`/trace_conditions/${found.id}?stats=true`);
  if (out !== 'table') {
    const { hits: _hits, ...plain } = c;
    print(JSON.stringify(plain, null, out === 'json' ? 2 : undefined));
    return;
  }
  const names = await namesOrNull(client);
  const rows: [string, string][] = [
    ['id', c.id], ['name', c.name ?? ''], ['enabled', c.enabled === false ? 'no' : 'yes'],
    ['limit', c.limit === undefined ? 'unlimited' : String(c.limit)], ['hits', String(c.hits)],
    ['scope', scopeText(c, names)], ['match', describeCondition(c, (id) => names?.name(id) ?? id)],
    ['created', c.creationTimestampMs !== undefined ? new Date(c.creationTimestampMs).toISOString() : ''],
  ];
  print(rows.map(([k, v]) => `${k.padEnd(8)}  ${v}`.trimEnd()).join('\n'));
}

export async function addCondition(client: ApiClient, out: OutputFormat, print: Print, words: string[]): Promise<void> {
  const parsed = await parseWords(client, words, true);
  if (!parsed.ok) throw new UserError(parsed.message);
  const { body } = await client.post<TraceConditionJson>('/trace_conditions', parsed.condition);
  print(out === 'table' ? body.id : JSON.stringify(body, null, out === 'json' ? 2 : undefined));
}

/**
 * `set trace-condition L COND...`: the words replace what the condition matches (PUT). Its name,
 * limit and enabled state are kept unless the words give them (`name`, `limit`, `disabled`).
 */
export async function setCondition(client: ApiClient, out: OutputFormat, print: Print, label: string, words: string[]): Promise<void> {
  const found = await fetchCondition(client, label);
  const parsed = await parseWords(client, words, true);
  if (!parsed.ok) throw new UserError(parsed.message);
  const next: Record<string, unknown> = { ...parsed.condition };
  if (next.name === undefined && found.name !== undefined) next.name = found.name;
  if (next.limit === undefined && found.limit !== undefined) next.limit = found.limit;
  if (next.enabled === undefined && found.enabled !== undefined) next.enabled = found.enabled;
  const { body } = await client.request<TraceConditionJson>('PUT', `/trace_conditions/${found.id}`, next);
  print(out === 'table' ? `${body.id}: ${describeCondition(body)}` : JSON.stringify(body, null, out === 'json' ? 2 : undefined));
}

/** `enable|disable trace-condition L`: the condition as stored, with `enabled` changed (PUT). */
export async function setEnabled(client: ApiClient, print: Print, label: string, enabled: boolean): Promise<void> {
  const found = await fetchCondition(client, label);
  const { body: c } = await client.get<TraceConditionJson>(`/trace_conditions/${found.id}`);
  const { id: _id, creationTimestampMs: _ts, ...fields } = c;
  await client.request('PUT', `/trace_conditions/${c.id}`, { ...fields, enabled });
  print(`${c.name ?? c.id}: ${enabled ? 'enabled' : 'disabled'}`);
}

export async function deleteCondition(client: ApiClient, label: string): Promise<void> {
  await client.delete(`/trace_conditions/${(await fetchCondition(client, label)).id}`);
}

// A topology document split into znodes and put back together. Each object's znode holds its SPEC §2
// JSON as validated (chains with their rules, in order). assembleDoc (export) orders each list by id,
// so the same objects always give the same document whatever order ZooKeeper lists them in; the
// daemon's reader builds its document incrementally instead (topology-generation.ts).
import { checkDocument, type TopologyError, zodErrors } from '../../model/topology/load.js';
import { TopologyDocSchema } from '../../model/topology/schema.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import { contentHash, TOPOLOGY_KINDS, type TopologyKind } from './paths.js';
import { parseZnodeJson, type ParsedJson } from './znode-json.js';

/**
 * Parses and shape-checks one object when it is read. Object znodes are immutable, so this runs once
 * per object: a change to one route does not re-check the other 100,000 (only the cross-object
 * checks of checkDocument run on the whole document).
 */
export function parseObject(kind: TopologyKind, data: Buffer): ParsedJson {
  const parsed = parseZnodeJson(data);
  if (!parsed.ok) return parsed;
  const r = TopologyDocSchema.safeParse({ [kind]: [parsed.value] });
  if (r.success) return { ok: true, value: (r.data[kind] as unknown[])[0] };
  const prefix = new RegExp(`^${kind}\\[0\\]\\.?`);
  return { ok: false, message: zodErrors(r.error.issues).map((e) => `${e.path.replace(prefix, '') || '(object)'}: ${e.message}`).join('; ') };
}

/** One stored object as read back: its znode path, the id its znode name gives, and its content. */
export interface StoredObject {
  readonly kind: TopologyKind;
  readonly id: string;
  readonly path: string;
  readonly parsed: ParsedJson;
}

export interface SplitObject {
  readonly kind: TopologyKind;
  readonly id: string;
  readonly data: Buffer;
  /** contentHash(data): the znode is `<id>.<hash>`. */
  readonly hash: string;
}

/** The document's objects, each serialized as its znode will hold it. */
export function splitDoc(doc: TopologyDoc): SplitObject[] {
  const out: SplitObject[] = [];
  for (const kind of TOPOLOGY_KINDS) {
    for (const obj of (doc[kind] ?? []) as Array<{ id: string }>) {
      const data = Buffer.from(JSON.stringify(obj), 'utf8');
      out.push({ kind, id: obj.id, data, hash: contentHash(data) });
    }
  }
  return out;
}

export type AssembleResult =
  | { ok: true; doc: TopologyDoc; objects: number }
  | { ok: false; errors: string[]; doc: TopologyDoc };

/**
 * Builds the document from stored objects (each already shape-checked by parseObject) and runs the
 * whole-document checks a file gets (model/topology/load.ts). The document shares the objects'
 * values: callers must not mutate it. Error messages name the znode, e.g.
 * `ports/<id> (/midonet/topology/...): peerId: ...`.
 */
export function assembleDoc(objects: Iterable<StoredObject>): AssembleResult {
  const lists = new Map<TopologyKind, Array<{ id: string; value: unknown; path: string }>>();
  const errors: string[] = [];
  let n = 0;
  for (const o of objects) {
    n++;
    if (!o.parsed.ok) {
      errors.push(`${o.kind}/${o.id} (${o.path}): ${o.parsed.message}`);
      continue;
    }
    const value = o.parsed.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      errors.push(`${o.kind}/${o.id} (${o.path}): must be a JSON object`);
      continue;
    }
    if ((value as { id?: unknown }).id !== o.id) {
      errors.push(`${o.kind}/${o.id} (${o.path}): id ${JSON.stringify((value as { id?: unknown }).id)} differs from the znode name`);
      continue;
    }
    const list = lists.get(o.kind) ?? [];
    list.push({ id: o.id, value, path: o.path });
    lists.set(o.kind, list);
  }
  const raw: Record<string, unknown[]> = {};
  const where = new Map<string, { kind: TopologyKind; id: string; path: string }[]>();
  for (const kind of TOPOLOGY_KINDS) {
    const list = lists.get(kind);
    if (list === undefined || list.length === 0) continue;
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    raw[kind] = list.map((x) => x.value);
    where.set(kind, list.map((x) => ({ kind, id: x.id, path: x.path })));
  }
  const doc = raw as TopologyDoc;
  if (errors.length > 0) return { ok: false, errors, doc };
  const found = checkDocument(doc);
  if (found.length === 0) return { ok: true, doc, objects: n };
  return { ok: false, errors: found.map((e) => locate(e, where)), doc };
}

/** `routes[12].nextHopPort: ...` → `routes/<id> (<znode>): nextHopPort: ...` */
function locate(e: TopologyError, where: Map<string, { kind: TopologyKind; id: string; path: string }[]>): string {
  const m = /^([A-Za-z]+)\[(\d+)\]\.?(.*)$/.exec(e.path);
  if (m !== null) {
    const at = where.get(m[1]!)?.[Number(m[2])];
    if (at !== undefined) return `${at.kind}/${at.id} (${at.path})${m[3] !== '' ? `: ${m[3]}` : ''}: ${e.message}`;
  }
  return e.path === '' ? e.message : `${e.path}: ${e.message}`;
}

/** Object counts per kind, for logs and the CLI summary. */
export function countObjects(doc: TopologyDoc): Record<TopologyKind, number> {
  const out = {} as Record<TopologyKind, number>;
  for (const kind of TOPOLOGY_KINDS) out[kind] = (doc[kind] ?? []).length;
  return out;
}

// One topology generation as a reader holds it in memory: objects by znode path and the directory
// listings that hold them, plus what it takes to rebuild the document cheaply after a small change.
//
// The document lists each kind bucket by bucket (buckets in name order, objects by id within one),
// an order every daemon derives the same way from the same znodes. Each bucket's sorted slice is
// cached and dropped only when that bucket changes, so one changed route costs sorting ~400 objects,
// not 100,000; shapes were checked once when each object was read (topology-doc.ts), so only the
// cross-object checks run on the whole document.
import { checkDocument } from '../../model/topology/load.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import { TOPOLOGY_KINDS, type TopologyPaths } from './paths.js';
import type { StoredObject } from './topology-doc.js';

export interface ObjectEntry extends StoredObject {
  /** `<kind>/<znode name>`: with a content-addressed name, the same key always means the same bytes. */
  readonly key: string;
  /** Why the object cannot be used (bad JSON, bad shape, id unlike its name), or null. */
  readonly problem: string | null;
}

export function makeEntry(o: StoredObject, key: string): ObjectEntry {
  let problem: string | null = null;
  if (!o.parsed.ok) problem = o.parsed.message;
  else if ((o.parsed.value as { id?: unknown }).id !== o.id) {
    problem = `id ${JSON.stringify((o.parsed.value as { id?: unknown }).id)} differs from the znode name`;
  }
  return { ...o, key, problem };
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

function byId(a: ObjectEntry, b: ObjectEntry): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type GenerationDoc = { ok: true; doc: TopologyDoc } | { ok: false; errors: string[] };

export class Generation {
  readonly objects = new Map<string, ObjectEntry>();
  /** Bucket path → object paths listed in it. */
  readonly buckets = new Map<string, Set<string>>();
  /** Kind directory path → bucket paths listed in it. */
  readonly kinds = new Map<string, Set<string>>();
  /** Bucket path → its usable objects sorted by id; absent when stale. */
  private readonly sorted = new Map<string, ObjectEntry[]>();
  private readonly invalid = new Set<string>();

  /** `name` '' stands for "nothing imported": an empty topology. */
  constructor(readonly name: string) {}

  setObject(path: string, e: ObjectEntry): void {
    this.objects.set(path, e);
    if (e.problem !== null) this.invalid.add(path);
    else this.invalid.delete(path);
    this.sorted.delete(parentOf(path));
  }

  deleteObject(path: string): boolean {
    this.invalid.delete(path);
    this.sorted.delete(parentOf(path));
    return this.objects.delete(path);
  }

  setBucket(bucket: string, paths: Set<string>): void {
    this.buckets.set(bucket, paths);
    this.sorted.delete(bucket);
  }

  /** Forgets a bucket and its objects; true when objects went. */
  dropBucket(bucket: string): boolean {
    const objs = this.buckets.get(bucket);
    this.buckets.delete(bucket);
    this.sorted.delete(bucket);
    let changed = false;
    for (const o of objs ?? []) changed = this.deleteObject(o) || changed;
    return changed;
  }

  /** The document, checked as a whole; errors name the znodes. Shares values: do not mutate. */
  build(paths: TopologyPaths): GenerationDoc {
    if (this.invalid.size > 0) {
      return { ok: false, errors: [...this.invalid].sort().map((p) => { const e = this.objects.get(p)!; return `${e.kind}/${e.id} (${p}): ${e.problem}`; }) };
    }
    const doc: Record<string, unknown[]> = {};
    const entries = new Map<string, ObjectEntry[]>();
    for (const kind of TOPOLOGY_KINDS) {
      const kp = paths.kind(this.name, kind);
      const list: ObjectEntry[] = [];
      for (const bp of [...(this.kinds.get(kp) ?? [])].sort()) {
        let slice = this.sorted.get(bp);
        if (slice === undefined) {
          slice = [...(this.buckets.get(bp) ?? [])].map((p) => this.objects.get(p)).filter((e): e is ObjectEntry => e !== undefined).sort(byId);
          this.sorted.set(bp, slice);
        }
        for (const e of slice) list.push(e);
      }
      if (list.length === 0) continue;
      entries.set(kind, list);
      doc[kind] = list.map((e) => (e.parsed as { value: unknown }).value);
    }
    const found = checkDocument(doc as TopologyDoc);
    if (found.length === 0) return { ok: true, doc: doc as TopologyDoc };
    return {
      ok: false,
      errors: found.map((err) => {
        const m = /^([A-Za-z]+)\[(\d+)\]\.?(.*)$/.exec(err.path);
        const at = m === null ? undefined : entries.get(m[1]!)?.[Number(m[2])];
        if (at === undefined) return err.path === '' ? err.message : `${err.path}: ${err.message}`;
        return `${at.kind}/${at.id} (${at.path})${m![3] !== '' ? `: ${m![3]}` : ''}: ${err.message}`;
      }),
    };
  }
}

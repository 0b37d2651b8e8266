// Moving a SPEC §2 document into and out of ZooKeeper (`midotrace topology import` / `export`).
//
// An import never leaves a half-written topology where a reader can see it:
// - incremental: when the difference from the current generation fits one multi-op transaction
//   (TXN_BYTES / TXN_OPS), it is applied in that one transaction, together with a version-checked
//   bump of `current`. Object znodes are content-addressed (`<id>.<hash>`), so the difference comes
//   from listing the buckets, without reading any object, and a changed object is a new znode
//   replacing the old one. The same transaction writes the revision's change manifest
//   (`<gen>/changes/r-N`, paths.ts), so daemons watching only `current` read just the delta; the
//   oldest manifests are pruned (MANIFESTS_KEPT).
// - full: otherwise (or with mode 'full'), a new generation is written beside the current one in as
//   many transactions as it takes, marked complete, and `current` is switched to it with one
//   version-checked setData. A failure before the switch leaves `current` untouched and the partial
//   generation is removed. After the switch, generations older than the previous one are removed.
// Version checks make a concurrent import fail cleanly with `conflict` instead of mixing documents.
import type { TopologyDoc } from '../../model/topology/doc.js';
import { formatErrors, loadTopology } from '../../model/topology/load.js';
import type { ZkError, ZkOp } from './client.js';
import { batchOps, listTree, mapLimit, MAX_NODE_BYTES, opBytes, removeTree, TXN_BYTES, TXN_OPS, type ZkOps } from './batch.js';
import { basename, bucketOf, parseCurrent, TOPOLOGY_KINDS, TopologyPaths, type ChangeManifest, type CurrentPointer, type TopologyKind } from './paths.js';
import { assembleDoc, countObjects, parseObject, splitDoc, type SplitObject, type StoredObject } from './topology-doc.js';

export interface ImportOptions {
  /** 'auto' (default): incremental when the change fits one transaction, else full. */
  mode?: 'auto' | 'full';
  /** Budget of one transaction (default 512 KiB and 2000 operations). */
  maxTxnBytes?: number;
  maxTxnOps?: number;
  /** Transactions in flight while writing a full generation (default 4). */
  concurrency?: number;
  now?: () => Date;
}

export type ImportCode = 'invalid_topology' | 'too_large' | 'conflict' | 'zookeeper';

export type ImportResult =
  | {
      ok: true;
      /** What was done: nothing (same document), one transaction, or a new generation. */
      how: 'unchanged' | 'incremental' | 'full';
      generation: string;
      revision: number;
      /** Objects (by id) added, changed and dropped relative to the previous topology. */
      created: number;
      updated: number;
      removed: number;
      counts: Record<TopologyKind, number>;
      /** Older generations removed after the switch. */
      cleaned: string[];
    }
  | { ok: false; code: ImportCode; message: string };

interface Existing {
  pointer: CurrentPointer | null;
  /** Version of `current` (-1 when absent). */
  version: number;
  /** `current` exists but holds no valid pointer. */
  corrupt: boolean;
}

/** Depth of object znodes below a generation: kind / bucket / object. */
const GENERATION_DEPTH = 3;
/** Manifests kept per generation: a reader further behind than this lists the generation again. */
export const MANIFESTS_KEPT = 256;

function zkFailure(what: string, e: ZkError): { ok: false; code: ImportCode; message: string } {
  const conflict = e.code === 'BAD_VERSION' || e.code === 'NODE_EXISTS' || (e.code === 'NO_NODE' && e.opIndex !== undefined);
  return {
    ok: false,
    code: conflict ? 'conflict' : 'zookeeper',
    message: conflict
      ? `${what}: the topology in ZooKeeper changed during the import (${e.message}); nothing was applied, try again`
      : `${what}: ${e.message}`,
  };
}

export async function importTopology(zk: ZkOps, root: string, input: TopologyDoc, opts: ImportOptions = {}): Promise<ImportResult> {
  const checked = loadTopology(input);
  if (!checked.ok) return { ok: false, code: 'invalid_topology', message: `invalid topology:\n${formatErrors(checked.errors)}` };
  const doc = checked.doc;
  const objects = splitDoc(doc);
  for (const o of objects) {
    if (o.data.length > MAX_NODE_BYTES) {
      return { ok: false, code: 'too_large', message: `${o.kind}/${o.id} is ${o.data.length} bytes as JSON; a znode holds at most ${MAX_NODE_BYTES}` };
    }
  }
  const paths = new TopologyPaths(root);
  const base = await zk.create(paths.generations, Buffer.alloc(0), { parents: true });
  if (!base.ok && base.error.code !== 'NODE_EXISTS') return zkFailure(`creating ${paths.generations}`, base.error);

  const cur = await readCurrent(zk, paths);
  if (!cur.ok) return zkFailure(`reading ${paths.current}`, cur.error);
  const ctx: Ctx = {
    zk, paths, cur: cur.value, objects, counts: countObjects(doc),
    now: (opts.now ?? (() => new Date()))(),
    maxBytes: opts.maxTxnBytes ?? TXN_BYTES,
    maxOps: opts.maxTxnOps ?? TXN_OPS,
    concurrency: opts.concurrency ?? 4,
  };
  let previous: Map<string, string> | null = null;
  if (cur.value.pointer !== null) {
    const listed = await listGeneration(zk, paths, cur.value.pointer.generation);
    if (!listed.ok) return zkFailure(`reading generation ${cur.value.pointer.generation}`, listed.error);
    previous = listed.value;
    if ((opts.mode ?? 'auto') === 'auto' && previous !== null) {
      const inc = await tryIncremental(ctx, cur.value.pointer, previous);
      if (inc !== null) return inc;
    }
  }
  return fullImport(ctx, previous);
}

interface Ctx {
  zk: ZkOps;
  paths: TopologyPaths;
  cur: Existing;
  objects: SplitObject[];
  counts: Record<TopologyKind, number>;
  now: Date;
  maxBytes: number;
  maxOps: number;
  concurrency: number;
}

async function readCurrent(zk: ZkOps, paths: TopologyPaths): Promise<{ ok: true; value: Existing } | { ok: false; error: ZkError }> {
  const r = await zk.get(paths.current);
  if (!r.ok) return r.error.code === 'NO_NODE' ? { ok: true, value: { pointer: null, version: -1, corrupt: false } } : r;
  const pointer = parseCurrent(r.value.data);
  return { ok: true, value: { pointer, version: r.value.stat.version, corrupt: pointer === null } };
}

function pointerData(generation: string, revision: number, now: Date): Buffer {
  const p: CurrentPointer = { generation, revision, updatedAt: now.toISOString() };
  return Buffer.from(JSON.stringify(p));
}

/**
 * The znodes of a generation by listing alone: path → `dir` for kind and bucket directories, or
 * `<kind>/<id>` for objects. null when the generation does not exist.
 */
async function listGeneration(zk: ZkOps, paths: TopologyPaths, gen: string): Promise<{ ok: true; value: Map<string, string> | null } | { ok: false; error: ZkError }> {
  const exists = await zk.exists(paths.generation(gen));
  if (!exists.ok) return exists;
  if (exists.value === null) return { ok: true, value: null };
  const tree = await listTree(zk, paths.generation(gen), GENERATION_DEPTH);
  if (!tree.ok) return tree;
  const out = new Map<string, string>();
  for (const p of tree.value) {
    const parsed = paths.parse(p);
    out.set(p, parsed?.id !== undefined ? `${parsed.kind!}/${parsed.id}` : 'dir');
  }
  return { ok: true, value: out };
}

/** null when the change does not fit one transaction (the caller then writes a new generation). */
async function tryIncremental(ctx: Ctx, pointer: CurrentPointer, stored: Map<string, string>): Promise<ImportResult | null> {
  const { paths, objects } = ctx;
  const gen = pointer.generation;
  const revision = pointer.revision + 1;
  const storedIds = new Set<string>();
  for (const what of stored.values()) if (what !== 'dir') storedIds.add(what);
  const ops: ZkOp[] = [];
  let bytes = 0;
  const add = (op: ZkOp): boolean => {
    ops.push(op);
    bytes += opBytes(op);
    return ops.length <= ctx.maxOps && bytes <= ctx.maxBytes;
  };
  for (const kind of TOPOLOGY_KINDS) {
    const kp = paths.kind(gen, kind);
    if (!stored.has(kp)) {
      stored.set(kp, 'dir');
      if (!add({ op: 'create', path: kp })) return null;
    }
  }
  const wanted = new Set<string>();
  const wantedIds = new Set<string>();
  let created = 0;
  let updated = 0;
  for (const o of objects) {
    const path = paths.object(gen, o.kind, o.id, o.hash);
    const key = `${o.kind}/${o.id}`;
    wanted.add(path);
    wantedIds.add(key);
    if (stored.has(path)) continue;
    const bp = paths.bucket(gen, o.kind, bucketOf(o.id));
    if (!stored.has(bp)) {
      stored.set(bp, 'dir');
      if (!add({ op: 'create', path: bp })) return null;
    }
    if (storedIds.has(key)) updated++;
    else created++;
    if (!add({ op: 'create', path, data: o.data })) return null;
  }
  let removed = 0;
  for (const [path, what] of stored) {
    if (what === 'dir' || wanted.has(path)) continue;
    if (!wantedIds.has(what)) {
      removed++;
      wantedIds.add(what); // count an id once, however many stray znodes it had
    }
    // The name is the content: nobody rewrites it, so any version will do.
    if (!add({ op: 'remove', path })) return null;
  }
  if (ops.length === 0) {
    return { ok: true, how: 'unchanged', generation: gen, revision: pointer.revision, created, updated, removed, counts: ctx.counts, cleaned: [] };
  }
  const base = `${paths.generation(gen)}/`;
  const rel = (p: string): string => p.slice(base.length);
  const manifest: ChangeManifest = {
    revision,
    added: ops.filter((o) => o.op === 'create' && o.data !== undefined).map((o) => rel(o.path)),
    removed: ops.filter((o) => o.op === 'remove').map((o) => rel(o.path)),
  };
  const changesDir = paths.changes(gen);
  if (!stored.has(changesDir) && !add({ op: 'create', path: changesDir })) return null;
  if (!add({ op: 'create', path: paths.manifest(gen, revision), data: Buffer.from(JSON.stringify(manifest)) })) return null;
  const txn: ZkOp[] = [{ op: 'setData', path: paths.current, data: pointerData(gen, revision, ctx.now), version: ctx.cur.version }, ...ops];
  const r = await ctx.zk.transaction(txn);
  if (!r.ok) return zkFailure('applying the change', r.error);
  // Best effort, and not every time: a manifest left over costs a few hundred bytes.
  if (revision % 32 === 0) await pruneManifests(ctx.zk, paths, gen, revision);
  return { ok: true, how: 'incremental', generation: gen, revision, created, updated, removed, counts: ctx.counts, cleaned: [] };
}

async function pruneManifests(zk: ZkOps, paths: TopologyPaths, gen: string, revision: number): Promise<void> {
  const r = await zk.getChildren(paths.changes(gen));
  if (!r.ok) return;
  const keepFrom = paths.manifest(gen, Math.max(0, revision - MANIFESTS_KEPT + 1));
  const old = r.value.children.map((c) => `${paths.changes(gen)}/${c}`).filter((p) => p < keepFrom);
  for (const batch of batchOps(old.map((path): ZkOp => ({ op: 'remove', path })), TXN_BYTES, TXN_OPS)) await zk.transaction(batch);
}

async function fullImport(ctx: Ctx, previous: Map<string, string> | null): Promise<ImportResult> {
  const { zk, paths, cur, objects } = ctx;
  const made = await zk.create(`${paths.generations}/g-`, Buffer.from(JSON.stringify({ state: 'building', startedAt: ctx.now.toISOString() })), {
    mode: 'persistent_sequential',
  });
  if (!made.ok) return zkFailure('creating a generation', made.error);
  const gen = basename(made.value);
  const abandon = async (res: ImportResult): Promise<ImportResult> => {
    // Best effort: an importer that dies here leaves the generation for the next import to remove.
    await removeTree(zk, paths.generation(gen), GENERATION_DEPTH);
    return res;
  };

  const dirs: ZkOp[] = TOPOLOGY_KINDS.map((k) => ({ op: 'create', path: paths.kind(gen, k) }));
  const buckets = new Set<string>();
  for (const o of objects) buckets.add(paths.bucket(gen, o.kind, bucketOf(o.id)));
  for (const b of [...buckets].sort()) dirs.push({ op: 'create', path: b });
  for (const batch of batchOps(dirs, ctx.maxBytes, ctx.maxOps)) {
    const r = await zk.transaction(batch);
    if (!r.ok) return abandon(zkFailure(`writing generation ${gen}`, r.error));
  }
  const creates = objects.map((o): ZkOp => ({ op: 'create', path: paths.object(gen, o.kind, o.id, o.hash), data: o.data }));
  let failure: ZkError | null = null;
  await mapLimit(batchOps(creates, ctx.maxBytes, ctx.maxOps), ctx.concurrency, async (batch) => {
    if (failure !== null) return;
    const r = await zk.transaction(batch);
    if (!r.ok) failure ??= r.error;
  });
  if (failure !== null) return abandon(zkFailure(`writing generation ${gen}`, failure));
  const complete = await zk.setData(paths.generation(gen), Buffer.from(JSON.stringify({ state: 'complete', startedAt: ctx.now.toISOString(), counts: ctx.counts })));
  if (!complete.ok) return abandon(zkFailure(`completing generation ${gen}`, complete.error));

  const revision = (cur.pointer?.revision ?? 0) + 1;
  const data = pointerData(gen, revision, ctx.now);
  const switched = cur.version < 0 ? await zk.create(paths.current, data) : await zk.setData(paths.current, data, cur.version);
  if (!switched.ok) return abandon(zkFailure('switching to the new generation', switched.error));

  // Counted by id against the previous generation, for the summary.
  const before = new Map<string, Set<string>>();
  for (const [path, what] of previous ?? []) {
    if (what === 'dir') continue;
    const set = before.get(what) ?? new Set<string>();
    set.add(basename(path));
    before.set(what, set);
  }
  let created = 0;
  let updated = 0;
  for (const o of objects) {
    const had = before.get(`${o.kind}/${o.id}`);
    if (had === undefined) created++;
    else if (!had.has(`${o.id}.${o.hash}`)) updated++;
    before.delete(`${o.kind}/${o.id}`);
  }
  const cleaned = await cleanGenerations(zk, paths, gen, cur.pointer?.generation ?? null);
  return { ok: true, how: 'full', generation: gen, revision, created, updated, removed: before.size, counts: ctx.counts, cleaned };
}

/**
 * Removes generations older than `current`, except `previous` (a daemon may still be reading it
 * while it switches). Generations newer than `current` belong to an import in progress.
 */
async function cleanGenerations(zk: ZkOps, paths: TopologyPaths, current: string, previous: string | null): Promise<string[]> {
  const r = await zk.getChildren(paths.generations);
  if (!r.ok) return [];
  const old = r.value.children.filter((g) => g !== previous && g < current);
  const cleaned: string[] = [];
  for (const g of old) if ((await removeTree(zk, paths.generation(g), GENERATION_DEPTH)).ok) cleaned.push(g);
  return cleaned;
}

export type ExportResult =
  | { ok: true; doc: TopologyDoc; generation: string | null; revision: number; problems: string[] }
  | { ok: false; code: 'zookeeper'; message: string };

/** The current topology as a SPEC §2 document (lists ordered by id). `problems` lists invalid objects. */
export async function exportTopology(zk: ZkOps, root: string): Promise<ExportResult> {
  const paths = new TopologyPaths(root);
  const cur = await readCurrent(zk, paths);
  if (!cur.ok) return { ok: false, code: 'zookeeper', message: `reading ${paths.current}: ${cur.error.message}` };
  const pointer = cur.value.pointer;
  if (pointer === null) {
    if (cur.value.corrupt) return { ok: false, code: 'zookeeper', message: `${paths.current} holds no valid generation pointer` };
    return { ok: true, doc: {}, generation: null, revision: 0, problems: [] };
  }
  const listed = await listGeneration(zk, paths, pointer.generation);
  if (!listed.ok) return { ok: false, code: 'zookeeper', message: `reading generation ${pointer.generation}: ${listed.error.message}` };
  if (listed.value === null) return { ok: false, code: 'zookeeper', message: `${paths.current} names generation ${pointer.generation}, which does not exist` };
  const objectPaths = [...listed.value].filter(([, what]) => what !== 'dir').map(([p]) => p);
  const list: StoredObject[] = [];
  let failure: ZkError | null = null;
  await mapLimit(objectPaths, 512, async (path) => {
    const r = await zk.get(path);
    if (!r.ok) {
      if (r.error.code !== 'NO_NODE') failure ??= r.error;
      return;
    }
    const p = paths.parse(path)!;
    list.push({ kind: p.kind!, id: p.id!, path, parsed: parseObject(p.kind!, r.value.data) });
  });
  if (failure !== null) return { ok: false, code: 'zookeeper', message: `reading generation ${pointer.generation}: ${(failure as ZkError).message}` };
  const assembled = assembleDoc(list);
  return { ok: true, doc: assembled.doc, generation: pointer.generation, revision: pointer.revision, problems: assembled.ok ? [] : assembled.errors };
}

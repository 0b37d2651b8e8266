// Where midotrace keeps things in ZooKeeper, in one place so readers, writers and the README agree.
//
//   <root>/trace-conditions/<uuid>                 one trace condition, its JSON (SPEC §5)
//   <root>/trace-condition-names/<base64url name>  data: the id holding that name (uniqueness index)
//   <root>/trace-condition-hits/<uuid>/h-NNNNNNNNNN  one claimed unit of a condition's limit (empty;
//                                                  never deleted while the condition lives)
//   <root>/topology/current                        data: CurrentPointer JSON, the versioned switch
//   <root>/topology/generations/g-NNNNNNNNNN       one complete topology (data: state and counts)
//       .../<kind>/<bucket>/<id>.<hash>            one object, its SPEC §2 JSON (chains carry their rules);
//                                                  <hash>: 16 hex digits of the JSON's SHA-256
//       .../changes/r-NNNNNNNNNN                   the change manifest of revision N: which object znodes
//                                                  the incremental import that made N added and removed
//
// Buckets (two hex digits of a hash of the id) keep every getChildren answer small: 100,000 routes
// in one directory would make a single 4 MB reply, past ZooKeeper's 1 MB packet limit.
//
// Object znodes are content-addressed and immutable: a change replaces `<id>.<old hash>` by
// `<id>.<new hash>` in one transaction. So
// - readers need child watches on buckets only (about 1,800 for any size of topology), never a data
//   watch per object: node-zookeeper-client re-sends every watched path in one SetWatches packet on
//   reconnection, and 110,000 paths (~10 MB) exceed the server's 1 MB packet limit, which would drop
//   the connection on every reconnection attempt;
// - a listing says what changed: an import diffs names, not data, and a reader switching to a new
//   generation (or resyncing after a new session) reads only the objects whose names it lacks.

import { createHash } from 'node:crypto';
import { jsonObject, parseZnodeJson } from './znode-json.js';
import { fnv1a } from '../../model/hash.js';

/** The SPEC §2 lists, in document order. */
export const TOPOLOGY_KINDS = ['bridges', 'routers', 'ports', 'routes', 'chains', 'portGroups', 'ipAddrGroups', 'tunnelZones'] as const;
export type TopologyKind = (typeof TOPOLOGY_KINDS)[number];

export function isTopologyKind(s: string): s is TopologyKind {
  return (TOPOLOGY_KINDS as readonly string[]).includes(s);
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** `/a` + `b` → `/a/b`; the ZooKeeper root `/` + `b` → `/b`. */
export function join(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** The last path component. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Strips a trailing slash (except on `/`). */
export function normalizeRoot(root: string): string {
  return root.length > 1 && root.endsWith('/') ? root.slice(0, -1) : root;
}

export interface ConnectString {
  /** `host:port[,host:port...]` */
  readonly hosts: string;
  /** `/chroot`, or null. */
  readonly chroot: string | null;
}

/** Splits `h1:2181,h2:2181/chroot` into hosts and chroot (as node-zookeeper-client reads it). */
export function parseConnectString(s: string): ConnectString {
  const i = s.indexOf('/');
  if (i === -1) return { hosts: s, chroot: null };
  const chroot = normalizeRoot(s.slice(i));
  return { hosts: s.slice(0, i), chroot: chroot === '/' ? null : chroot };
}

/** One of 256 buckets, `00`..`ff`. */
export function bucketOf(id: string): string {
  return (fnv1a(id.toLowerCase()) & 0xff).toString(16).padStart(2, '0');
}

export function encodeName(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function decodeName(node: string): string {
  return Buffer.from(node, 'base64url').toString('utf8');
}

export class ConditionPaths {
  readonly dir: string;
  readonly names: string;
  constructor(readonly root: string) {
    this.dir = join(root, 'trace-conditions');
    this.names = join(root, 'trace-condition-names');
    this.hits = join(root, 'trace-condition-hits');
  }
  readonly hits: string;
  /** The parent of a condition's claimed units: its cversion counts them. */
  hitsOf(id: string): string {
    return join(this.hits, id);
  }
  condition(id: string): string {
    return join(this.dir, id);
  }
  name(name: string): string {
    return join(this.names, encodeName(name));
  }
}

export class TopologyPaths {
  readonly base: string;
  readonly current: string;
  readonly generations: string;
  constructor(readonly root: string) {
    this.base = join(root, 'topology');
    this.current = join(this.base, 'current');
    this.generations = join(this.base, 'generations');
  }
  generation(name: string): string {
    return join(this.generations, name);
  }
  kind(gen: string, kind: TopologyKind): string {
    return join(this.generation(gen), kind);
  }
  bucket(gen: string, kind: TopologyKind, bucket: string): string {
    return join(this.kind(gen, kind), bucket);
  }
  /** Change manifests of a generation (one per incremental revision). */
  changes(gen: string): string {
    return join(this.generation(gen), 'changes');
  }
  manifest(gen: string, revision: number): string {
    return join(this.changes(gen), `r-${String(revision).padStart(10, '0')}`);
  }
  /** The znode of object `id` whose JSON hashes to `hash` (see contentHash()). */
  object(gen: string, kind: TopologyKind, id: string, hash: string): string {
    return join(this.bucket(gen, kind, bucketOf(id)), `${id}.${hash}`);
  }

  /**
   * What a path under `generations/` names: the generation itself, a kind directory, a bucket or an
   * object. null for anything else.
   */
  parse(path: string): { gen: string; kind?: TopologyKind; bucket?: string; id?: string } | null {
    const prefix = `${this.generations}/`;
    if (!path.startsWith(prefix)) return null;
    const parts = path.slice(prefix.length).split('/');
    const [gen, kind, bucket, node] = parts;
    if (gen === undefined || gen === '' || parts.length > 4) return null;
    if (kind === undefined) return { gen };
    if (!isTopologyKind(kind)) return null;
    if (bucket === undefined) return { gen, kind };
    if (node === undefined) return { gen, kind, bucket };
    return { gen, kind, bucket, id: objectId(node) };
  }
}

const OBJECT_NODE_RE = /^(.+)\.([0-9a-f]{16})$/;

/** The id an object znode name stands for: `<id>.<hash>`, or a bare `<id>` written by hand. */
export function objectId(node: string): string {
  const m = OBJECT_NODE_RE.exec(node);
  return m === null ? node : m[1]!;
}

/** Whether the name carries a content hash (then the same name always holds the same bytes). */
export function isContentAddressed(node: string): boolean {
  return OBJECT_NODE_RE.test(node);
}

/** 16 hex digits of SHA-256: 64 bits, so two versions of one object never share a name in practice. */
export function contentHash(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

/** Data of `<root>/topology/current`. */
export interface CurrentPointer {
  /** Generation node name, e.g. `g-0000000003`. */
  generation: string;
  /** Bumped by every committed import, full or incremental. */
  revision: number;
  /** ISO-8601 time of the last committed import. */
  updatedAt: string;
}

/**
 * Data of `<gen>/changes/r-N`: object znodes (paths relative to the generation, `<kind>/<bucket>/<name>`)
 * that revision N added and removed. A reader on revision N - 1 applies it and reads only the added
 * objects: no directory listing, no watch beyond `current`.
 */
export interface ChangeManifest { revision: number; added: string[]; removed: string[] }

export function parseManifest(data: Buffer): ChangeManifest | null {
  const parsed = parseZnodeJson(data);
  const v = parsed.ok ? jsonObject(parsed.value) : undefined;
  if (v === undefined || typeof v.revision !== 'number' || !Array.isArray(v.added) || !Array.isArray(v.removed)) return null;
  const strings = (a: unknown[]): string[] | null => (a.every((x) => typeof x === 'string' && !x.includes('..')) ? (a as string[]) : null);
  const added = strings(v.added);
  const removed = strings(v.removed);
  return added === null || removed === null ? null : { revision: v.revision, added, removed };
}

export function parseCurrent(data: Buffer): CurrentPointer | null {
  const parsed = parseZnodeJson(data);
  const v = parsed.ok ? jsonObject(parsed.value) : undefined;
  if (v === undefined || typeof v.generation !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v.generation)) return null;
  return { generation: v.generation, revision: typeof v.revision === 'number' ? v.revision : 0, updatedAt: String(v.updatedAt ?? '') };
}

/** null when `s` is a usable connect string, else what is wrong with it. */
export function checkConnectString(s: string): string | null {
  const { hosts, chroot } = parseConnectString(s);
  if (hosts === '') return 'needs at least one host:port';
  for (const h of hosts.split(',')) {
    // node-zookeeper-client splits on ':', so IPv6 literals cannot be used.
    if (!/^[A-Za-z0-9._-]+(:\d{1,5})?$/.test(h)) return `"${h}" is not host[:port] (IPv6 literals are not supported)`;
    const port = /:(\d{1,5})$/.exec(h);
    if (port !== null && (Number(port[1]) < 1 || Number(port[1]) > 65535)) return `"${h}": port must be 1..65535`;
  }
  if (chroot !== null) {
    const problem = checkZnodePath(chroot);
    if (problem !== null) return `chroot ${chroot}: ${problem}`;
  }
  return null;
}

/** null when `p` is an absolute znode path ZooKeeper accepts (no empty, `.` or `..` components). */
export function checkZnodePath(p: string): string | null {
  if (!p.startsWith('/')) return 'must start with /';
  if (p === '/') return null;
  const parts = normalizeRoot(p).slice(1).split('/');
  for (const part of parts) {
    if (part === '') return 'must not contain empty components (//)';
    if (part === '.' || part === '..') return 'must not contain . or .. components';
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/.test(part)) return 'contains characters ZooKeeper refuses';
  }
  return null;
}

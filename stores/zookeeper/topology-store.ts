// The daemon's topology from ZooKeeper (layout in stores/zookeeper/paths.ts).
//
// The reader follows <root>/topology/current to one generation and keeps every object of it in memory.
// Object znodes are content-addressed and immutable (a change is a new `<id>.<hash>` znode replacing
// the old one).
//
// Fan-out at scale (README "Running at scale"). By default a reader holds ONE watch, a data watch on
// `current`. An incremental import writes its change manifest (`<gen>/changes/r-N`) in the same
// transaction that bumps `current`, so on the event a reader reads `current`, the manifests since its
// revision, and only the objects they name: one route changed costs every daemon ~3 small reads and
// no directory listing (the bucket listing alone was ~21 KB at 100,000 routes), and the ensemble
// keeps one watch per daemon instead of ~1,900. Without a manifest (too far behind, pruned, or
// `current` bumped by hand) the reader lists the generation again. With `watchBuckets` it also keeps
// child watches on every kind and bucket directory, as before manifests existed, which notices
// objects written into the served generation by hand at once (otherwise they are seen on the next
// full listing).
//
// When `current` names another generation (a full import switched), or after a new session (the old
// one expired, taking every watch with it), every daemon would list ~1,800 directories at the same
// moment; each waits a random delay up to `resyncJitterMs` first, spreading that load. The new
// generation is listed beside the old one, objects whose names the old one holds are taken from
// memory, the rest are read, and the result is swapped in at once: readers never see half of an
// import. Events for any other generation are ignored.
//
// Watches only mark paths dirty; a Coalescer re-reads them in one pass, and each re-read sets the next
// watch in the same call, so nothing changed between an event and its re-read is missed. While the
// session is down the last snapshot stays: the daemon keeps simulating.
import type { BackendHealth } from '../../model/stores.js';
import type { Logger } from '../../model/logger.js';
import type { TopologyLoad, TopologySource } from '../../model/stores.js';
import type { ZkClient, ZkError, ZkResult, ZkWatchEvent } from './client.js';
import { mapLimit } from './batch.js';
import { Coalescer } from './coalescer.js';
import { basename, isContentAddressed, parseCurrent, parseManifest, TOPOLOGY_KINDS, TopologyPaths, type ChangeManifest, type CurrentPointer } from './paths.js';
import { MANIFESTS_KEPT } from './topology-import.js';
import type { ZkSession } from './session.js';
import { parseObject } from './topology-doc.js';
import type { ParsedJson } from './znode-json.js';
import { Generation, makeEntry, type ObjectEntry } from './topology-generation.js';
import { ReadyLatch } from './ready-latch.js';

export interface ZkTopologySourceOptions {
  /** Started here; close() lets go of it (a session shared with other backends ends with the last). */
  session: ZkSession;
  root: string;
  log: Logger;
  /** Burst window for watch events (default 20 ms). */
  coalesceMs?: number;
  /** Reads in flight while loading a generation (default 512). */
  readConcurrency?: number;
  /** Also keep child watches on every kind and bucket directory (see the file comment). Default false. */
  watchBuckets?: boolean;
  /** Longest random wait before listing a whole generation (switch, new session). Default 0. */
  resyncJitterMs?: number;
  /** For the jitter (tests). */
  random?: () => number;
}

/** What one reader did, for tests and the fan-out benchmark. */
export interface ReaderStats { listings: number; reads: number; manifests: number; fullLoads: number }

type Step<T> = { ok: true; value: T } | { ok: false; error: ZkError };

function fail(error: ZkError): { ok: false; error: ZkError } {
  return { ok: false, error };
}

export class ZkTopologySource implements TopologySource {
  private readonly paths: TopologyPaths;
  /** Exposed for health details and for tests that steal or end the session. */
  readonly session: ZkSession;
  private readonly log: Logger;
  private readonly readConcurrency: number;
  private readonly sync: Coalescer;
  /** Removes this backend's listener from the (maybe shared) session. */
  private readonly detach: () => void;
  private readonly listeners = new Set<() => void>();
  /** What is served; null until the first read (an empty topology is then served). */
  private gen: Generation | null = null;
  private pointer: CurrentPointer | null = null;
  /** Name of a generation being read beside the served one: its events count too. */
  private loading: string | null = null;
  private currentDirty = true;
  private reloadAll = false;
  private readonly kindsDirty = new Set<string>();
  private readonly bucketsDirty = new Set<string>();
  private readonly objectsDirty = new Set<string>();
  private version = 0;
  private loaded: { version: number; result: TopologyLoad } | null = null;
  private problem: string | null = null;
  /** Set after the first complete read. */
  private readonly firstRead = new ReadyLatch();
  private closed = false;
  private readonly watchBuckets: boolean;
  private readonly jitterMs: number;
  private readonly random: () => number;
  /** When a pending whole-generation listing may start (0: none pending). */
  private listAfter = 0;
  private jitterTimer: NodeJS.Timeout | null = null;
  readonly stats: ReaderStats = { listings: 0, reads: 0, manifests: 0, fullLoads: 0 };

  constructor(opts: ZkTopologySourceOptions) {
    this.watchBuckets = opts.watchBuckets ?? false;
    this.jitterMs = opts.resyncJitterMs ?? 0;
    this.random = opts.random ?? Math.random;
    this.paths = new TopologyPaths(opts.root);
    this.session = opts.session;
    this.log = opts.log;
    this.readConcurrency = opts.readConcurrency ?? 512;
    this.sync = new Coalescer(() => this.resync(), {
      delayMs: opts.coalesceMs ?? 20,
      onError: (err) => this.log.error({ err }, 'topology resync failed'),
    });
    this.detach = this.session.attach((fresh) => {
      if (fresh) {
        this.currentDirty = true;
        // The first session lists at once (nothing is served yet); later ones wait their jitter.
        if (this.gen !== null) this.deferListing();
        this.reloadAll = true;
      }
      this.sync.kick({ now: true });
    });
  }

  /** Starts this reader's random wait before its next whole-generation listing (once per wait). */
  private deferListing(): void {
    if (this.jitterMs <= 0 || this.listAfter !== 0) return;
    const wait = Math.floor(this.random() * this.jitterMs);
    this.listAfter = Date.now() + wait;
    this.jitterTimer = setTimeout(() => { this.jitterTimer = null; this.sync.kick({ now: true }); }, wait);
    this.jitterTimer.unref();
  }

  /** true while a whole-generation listing must still wait. */
  private listingDeferred(): boolean {
    if (this.listAfter === 0) return false;
    if (Date.now() < this.listAfter) return true;
    this.listAfter = 0;
    return false;
  }

  /** Resolves after the first complete read, or after `timeoutMs` (ZooKeeper may be down). */
  ready(timeoutMs: number): Promise<boolean> {
    return this.firstRead.wait(timeoutMs);
  }

  /** The generation and revision served (null before the first read or when none was imported). */
  get current(): { generation: string; revision: number; objects: number } | null {
    if (this.gen === null || this.pointer === null) return null;
    return { generation: this.gen.name, revision: this.pointer.revision, objects: this.gen.objects.size };
  }

  async load(): Promise<TopologyLoad> {
    if (this.loaded !== null && this.loaded.version === this.version) return this.loaded.result;
    const version = this.version;
    let result: TopologyLoad;
    if (this.gen === null) {
      // ZooKeeper has not answered yet: start empty; watch() fires once the topology is read.
      result = { ok: true, doc: {} };
    } else {
      const r = this.gen.build(this.paths);
      if (r.ok) {
        result = { ok: true, doc: r.doc };
        this.problem = null;
      } else {
        const shown = r.errors.slice(0, 20).join('\n');
        const more = r.errors.length > 20 ? `\n... and ${r.errors.length - 20} more` : '';
        result = { ok: false, message: `invalid topology in ZooKeeper (generation ${this.gen.name}):\n${shown}${more}` };
        this.problem = `generation ${this.gen.name} refused: ${r.errors[0]}`;
      }
    }
    this.loaded = { version, result };
    return result;
  }

  watch(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  health(): BackendHealth {
    const ok = this.session.connected && this.firstRead.isSet;
    const cur = this.current;
    const what = cur === null ? (this.firstRead.isSet ? 'no topology imported yet' : 'not loaded yet') : `generation ${cur.generation} revision ${cur.revision}, ${cur.objects} objects`;
    return { name: 'topology:zookeeper', ok, detail: `${this.session.describe()}; ${what}${this.problem === null ? '' : `; ${this.problem}`}` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sync.stop();
    if (this.jitterTimer !== null) clearTimeout(this.jitterTimer);
    this.listeners.clear();
    this.detach();
    await this.session.close();
  }

  // ---- watching ----

  private readonly onEvent = (e: ZkWatchEvent): void => {
    if (e.path === this.paths.current) {
      this.currentDirty = true;
    } else {
      const p = this.paths.parse(e.path);
      if (p === null || (p.gen !== this.gen?.name && p.gen !== this.loading)) return;
      if (p.id !== undefined) this.objectsDirty.add(e.path);
      else if (p.bucket !== undefined) this.bucketsDirty.add(e.path);
      else if (p.kind !== undefined) this.kindsDirty.add(e.path);
      else return;
    }
    this.sync.kick();
  };

  private async resync(): Promise<boolean> {
    const zk = this.session.client;
    if (zk === null || this.closed) return false;
    let changed = false;
    if (this.currentDirty || this.reloadAll) {
      this.currentDirty = false;
      const ptr = await this.readPointer(zk);
      if (!ptr.ok) {
        this.currentDirty = true;
        return false;
      }
      const next = ptr.value;
      if (next === 'invalid') {
        this.problem = `${this.paths.current} holds no valid generation pointer; keeping the running topology`;
        this.log.error({ path: this.paths.current }, this.problem);
      } else if (next === null) {
        // Nothing imported yet: an empty topology, until `current` is created (its watch is set).
        if (this.gen === null || this.gen.name !== '') {
          this.gen = new Generation('');
          changed = true;
        }
        this.pointer = null;
        this.reloadAll = false;
      } else if (next.generation !== this.gen?.name || this.reloadAll) {
        if (this.gen !== null && this.gen.name !== '') this.deferListing();
        if (this.listingDeferred()) {
          // Keep serving the old generation; the jitter timer kicks the next resync.
          this.currentDirty = true;
          return this.finishFirstSync(true);
        }
        const loaded = await this.loadGeneration(zk, next.generation);
        if (!loaded.ok) {
          this.currentDirty = true;
          if (loaded.error.code === 'NO_NODE') {
            this.problem = `${this.paths.current} names generation ${next.generation}, which does not exist; keeping the running topology`;
            this.log.error({ generation: next.generation }, this.problem);
            this.currentDirty = false;
            this.reloadAll = false;
            return this.finishFirstSync(true);
          }
          return false;
        }
        this.stats.fullLoads++;
        changed = !sameObjects(this.gen, loaded.value);
        const reused = loaded.value.objects.size - loaded.read;
        this.gen = loaded.value;
        this.pointer = next;
        this.reloadAll = false;
        this.problem = null;
        this.log.info({ generation: next.generation, revision: next.revision, objects: loaded.value.objects.size, read: loaded.read, reused }, 'topology generation loaded from ZooKeeper');
      } else {
        if (!this.watchBuckets && this.pointer !== null && next.revision > this.pointer.revision) {
          const applied = await this.applyManifests(zk, this.pointer.revision, next.revision);
          if (applied === null) return false;
          if (applied === 'missing') {
            // No way to read just the delta: list the generation again (jittered like a switch).
            this.reloadAll = true;
            this.currentDirty = true;
            this.deferListing();
            this.sync.kick();
            return this.finishFirstSync(true);
          }
          changed = applied || changed;
        }
        this.pointer = next;
      }
    }
    const inc = await this.readDirty(zk);
    if (!inc.ok) return false;
    changed = inc.value || changed;
    if (changed) {
      this.version++;
      for (const l of [...this.listeners]) {
        try {
          l();
        } catch (err) {
          this.log.error({ err }, 'topology listener failed');
        }
      }
    }
    return this.finishFirstSync(true);
  }

  private finishFirstSync(ok: boolean): boolean {
    if (ok && !this.firstRead.isSet) {
      this.firstRead.set();
    }
    return ok;
  }

  /** `current` with its watch; null when absent (an existence watch is set instead). */
  private async readPointer(zk: ZkClient): Promise<Step<CurrentPointer | null | 'invalid'>> {
    for (let i = 0; i < 5; i++) {
      const r = await zk.get(this.paths.current, this.onEvent);
      if (r.ok) return { ok: true, value: parseCurrent(r.value.data) ?? 'invalid' };
      if (r.error.code !== 'NO_NODE') return fail(r.error);
      const e = await zk.exists(this.paths.current, this.onEvent);
      if (!e.ok) return fail(e.error);
      if (e.value === null) return { ok: true, value: null };
      // Created between the two calls: read it.
    }
    return { ok: true, value: null };
  }

  /**
   * Reads a whole generation with watches, taking objects whose content-addressed names the served
   * generation already holds from memory. NO_NODE when the generation itself does not exist.
   */
  private async loadGeneration(zk: ZkClient, name: string): Promise<{ ok: true; value: Generation; read: number } | { ok: false; error: ZkError }> {
    const exists = await zk.exists(this.paths.generation(name));
    if (!exists.ok) return fail(exists.error);
    if (exists.value === null) return fail({ code: 'NO_NODE', zkCode: -101, path: this.paths.generation(name), message: `NO_NODE ${this.paths.generation(name)}` });
    this.loading = name;
    try {
      const g = new Generation(name);
      const kindPaths = TOPOLOGY_KINDS.map((k) => this.paths.kind(name, k));
      const listed = await this.listDirs(zk, kindPaths, 8);
      if (!listed.ok) return listed;
      for (const [kp, buckets] of listed.value) g.kinds.set(kp, new Set(buckets));
      const bucketPaths = [...g.kinds.values()].flatMap((s) => [...s]);
      const objs = await this.listDirs(zk, bucketPaths, 64);
      if (!objs.ok) return objs;
      for (const [bp, paths] of objs.value) g.setBucket(bp, new Set(paths));
      const known = new Map<string, ObjectEntry>();
      for (const e of this.gen?.objects.values() ?? []) if (isContentAddressed(basename(e.path))) known.set(e.key, e);
      const toRead: string[] = [];
      for (const path of [...g.buckets.values()].flatMap((s) => [...s])) {
        const p = this.paths.parse(path);
        if (p?.kind === undefined || p.id === undefined) continue;
        const have = known.get(`${p.kind}/${basename(path)}`);
        if (have !== undefined) g.setObject(path, { ...have, path });
        else toRead.push(path);
      }
      const read = await this.readObjects(zk, g, toRead);
      if (!read.ok) return read;
      return { ok: true, value: g, read: toRead.length };
    } finally {
      this.loading = null;
    }
  }

  /**
   * Lists directories with child watches. A missing directory gets an existence watch instead and
   * is left out. Returns directory → child paths.
   */
  private async listDirs(zk: ZkClient, dirs: readonly string[], concurrency: number): Promise<Step<Map<string, string[]>>> {
    const out = new Map<string, string[]>();
    let failure: ZkError | null = null;
    await mapLimit(dirs, concurrency, async (dir) => {
      if (failure !== null) return;
      const r = await this.listOne(zk, dir);
      if (!r.ok) failure = r.error;
      else if (r.value !== null) out.set(dir, r.value);
    });
    return failure !== null ? fail(failure) : { ok: true, value: out };
  }

  private async listOne(zk: ZkClient, dir: string): Promise<Step<string[] | null>> {
    const watch = this.watchBuckets ? this.onEvent : undefined;
    for (let i = 0; i < 5; i++) {
      this.stats.listings++;
      const r = await zk.getChildren(dir, watch);
      if (r.ok) return { ok: true, value: r.value.children.map((c) => `${dir}/${c}`) };
      if (r.error.code !== 'NO_NODE') return fail(r.error);
      const e = await zk.exists(dir, watch);
      if (!e.ok) return fail(e.error);
      if (e.value === null) return { ok: true, value: null };
    }
    return { ok: true, value: null };
  }

  /**
   * Applies the change manifests of revisions (from, to] to the served generation, reading only the
   * objects they add. 'missing' when one is absent or unreadable (the caller lists everything),
   * null on a connection problem; else whether anything changed.
   */
  private async applyManifests(zk: ZkClient, from: number, to: number): Promise<boolean | 'missing' | null> {
    const g = this.gen;
    if (g === null || g.name === '' || to - from > MANIFESTS_KEPT) return 'missing';
    const manifests: ChangeManifest[] = [];
    for (let rev = from + 1; rev <= to; rev++) {
      this.stats.manifests++;
      const r = await zk.get(this.paths.manifest(g.name, rev));
      if (!r.ok) return r.error.code === 'NO_NODE' ? 'missing' : null;
      const m = parseManifest(r.value.data);
      if (m === null || m.revision !== rev) return 'missing';
      manifests.push(m);
    }
    const base = `${this.paths.generation(g.name)}/`;
    const toRead = new Set<string>();
    let changed = false;
    for (const m of manifests) {
      for (const rel of m.removed) {
        const path = base + rel;
        toRead.delete(path);
        g.buckets.get(parentPath(path))?.delete(path);
        changed = g.deleteObject(path) || changed;
      }
      for (const rel of m.added) {
        const path = base + rel;
        const p = this.paths.parse(path);
        if (p?.kind === undefined || p.bucket === undefined || p.id === undefined) continue;
        const bucket = parentPath(path);
        const kindDir = parentPath(bucket);
        let kind = g.kinds.get(kindDir);
        if (kind === undefined) g.kinds.set(kindDir, kind = new Set());
        kind.add(bucket);
        const listed = new Set(g.buckets.get(bucket) ?? []);
        listed.add(path);
        g.setBucket(bucket, listed);
        toRead.add(path);
      }
    }
    const read = await this.readObjects(zk, g, [...toRead]);
    if (!read.ok) return null;
    return changed || read.value;
  }

  /** Reads objects into `g`; returns whether anything changed. */
  private async readObjects(zk: ZkClient, g: Generation, objectPaths: readonly string[]): Promise<Step<boolean>> {
    let failure: ZkError | null = null;
    let changed = false;
    await mapLimit(objectPaths, this.readConcurrency, async (path) => {
      if (failure !== null) {
        this.objectsDirty.add(path);
        return;
      }
      // No watch: object znodes are never rewritten in place, only replaced (seen in the bucket).
      this.stats.reads++;
      const r: ZkResult<{ data: Buffer }> = await zk.get(path);
      if (!r.ok) {
        if (r.error.code === 'NO_NODE') {
          changed = g.deleteObject(path) || changed;
          return;
        }
        failure = r.error;
        this.objectsDirty.add(path);
        return;
      }
      const p = this.paths.parse(path);
      if (p?.kind === undefined || p.id === undefined) return;
      const parsed: ParsedJson = parseObject(p.kind, r.value.data);
      const old = g.objects.get(path);
      if (old !== undefined && sameContent(old.parsed, parsed)) return;
      g.setObject(path, makeEntry({ kind: p.kind, id: p.id, path, parsed }, `${p.kind}/${basename(path)}`));
      changed = true;
    });
    return failure !== null ? fail(failure) : { ok: true, value: changed };
  }

  /** Re-reads what watches marked in the served generation. Returns whether anything changed. */
  private async readDirty(zk: ZkClient): Promise<Step<boolean>> {
    const g = this.gen;
    if (g === null || g.name === '') {
      this.kindsDirty.clear();
      this.bucketsDirty.clear();
      this.objectsDirty.clear();
      return { ok: true, value: false };
    }
    const mine = (set: Set<string>): string[] => {
      const out = [...set].filter((p) => this.paths.parse(p)?.gen === g.name);
      set.clear();
      return out;
    };
    let changed = false;

    const kinds = mine(this.kindsDirty);
    const kindLists = await this.listDirs(zk, kinds, 8);
    if (!kindLists.ok) {
      for (const k of kinds) this.kindsDirty.add(k);
      return kindLists;
    }
    for (const kp of kinds) {
      const now = new Set(kindLists.value.get(kp) ?? []);
      for (const bp of g.kinds.get(kp) ?? []) if (!now.has(bp)) changed = g.dropBucket(bp) || changed;
      for (const bp of now) if (!g.buckets.has(bp)) this.bucketsDirty.add(bp);
      g.kinds.set(kp, now);
    }

    const buckets = mine(this.bucketsDirty);
    const bucketLists = await this.listDirs(zk, buckets, 64);
    if (!bucketLists.ok) {
      for (const b of buckets) this.bucketsDirty.add(b);
      return bucketLists;
    }
    for (const bp of buckets) {
      const listed = bucketLists.value.get(bp);
      if (listed === undefined) {
        changed = g.dropBucket(bp) || changed;
        continue;
      }
      const now = new Set(listed);
      for (const op of g.buckets.get(bp) ?? []) if (!now.has(op)) changed = g.deleteObject(op) || changed;
      for (const op of now) if (!g.objects.has(op)) this.objectsDirty.add(op);
      g.setBucket(bp, now);
    }

    const objects = mine(this.objectsDirty);
    const read = await this.readObjects(zk, g, objects);
    if (!read.ok) return read;
    return { ok: true, value: changed || read.value };
  }
}

function parentPath(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

/** Whether two generations hold the same objects (a switch to identical content is no change). */
function sameObjects(a: Generation | null, b: Generation): boolean {
  if (a === null || a.name === '' || a.objects.size !== b.objects.size) return false;
  const mine = new Map<string, ObjectEntry>();
  for (const e of a.objects.values()) mine.set(e.key, e);
  for (const e of b.objects.values()) {
    const other = mine.get(e.key);
    if (other === undefined || (other !== e && !sameContent(other.parsed, e.parsed))) return false;
  }
  return true;
}

function sameContent(a: ParsedJson, b: ParsedJson): boolean {
  if (a === b) return true;
  if (a.ok !== b.ok) return false;
  return a.ok && b.ok ? JSON.stringify(a.value) === JSON.stringify(b.value) : !a.ok && !b.ok && a.message === b.message;
}

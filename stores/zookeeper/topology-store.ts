// The daemon's topology from ZooKeeper (layout in stores/zookeeper/paths.ts).
//
// The reader follows <root>/topology/current to one generation and keeps every object of it in memory,
// with a child watch on each bucket and kind directory and a data watch on `current`. Object znodes
// are content-addressed and immutable (a change is a new `<id>.<hash>` znode replacing the old one),
// so a bucket's listing says exactly which objects came and went: one route edited costs one
// getChildren of its bucket and one getData, not a re-read of the 100,000 others, and the watch count
// stays near 1,800 whatever the size (see paths.ts for why that matters). When `current` names
// another generation (a full import switched), the new generation is listed completely beside the
// old one, objects whose names the old one holds are taken from memory, the rest are read, and the
// result is swapped in at once: readers never see half of an import. Events for any other generation
// are ignored.
//
// Watches only mark paths dirty; a Coalescer re-reads them in one pass, and each re-read sets the next
// watch in the same call, so nothing changed between an event and its re-read is missed. On a new
// session (the old one expired, taking every watch with it) the current generation is listed again
// completely, re-arming every watch. While the session is down the last snapshot stays: the daemon
// keeps simulating.
import type { BackendHealth } from '../../model/stores.js';
import type { Logger } from '../../model/logger.js';
import type { TopologyLoad, TopologySource } from '../../model/stores.js';
import type { ZkClient, ZkError, ZkResult, ZkWatchEvent } from './client.js';
import { mapLimit } from '../limit.js';
import { Coalescer } from './coalescer.js';
import { basename, isContentAddressed, parseCurrent, TOPOLOGY_KINDS, TopologyPaths, type CurrentPointer } from './paths.js';
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
}

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

  constructor(opts: ZkTopologySourceOptions) {
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
        this.reloadAll = true;
      }
      this.sync.kick({ now: true });
    });
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
        changed = !sameObjects(this.gen, loaded.value);
        const reused = loaded.value.objects.size - loaded.read;
        this.gen = loaded.value;
        this.pointer = next;
        this.reloadAll = false;
        this.problem = null;
        this.log.info({ generation: next.generation, revision: next.revision, objects: loaded.value.objects.size, read: loaded.read, reused }, 'topology generation loaded from ZooKeeper');
      } else {
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
    for (let i = 0; i < 5; i++) {
      const r = await zk.getChildren(dir, this.onEvent);
      if (r.ok) return { ok: true, value: r.value.children.map((c) => `${dir}/${c}`) };
      if (r.error.code !== 'NO_NODE') return fail(r.error);
      const e = await zk.exists(dir, this.onEvent);
      if (!e.ok) return fail(e.error);
      if (e.value === null) return { ok: true, value: null };
    }
    return { ok: true, value: null };
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

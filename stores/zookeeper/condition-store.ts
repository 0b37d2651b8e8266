// Trace conditions in ZooKeeper: one znode per condition at <root>/trace-conditions/<uuid> holding its
// JSON, shared by every host's daemon.
//
// Names are unique through an index, <root>/trace-condition-names/<base64url(name)> holding the id,
// written in the same multi-op transaction as the condition, so two hosts' APIs cannot both take a
// name. Conditions written straight into ZooKeeper by other clients have no index entry: they are
// still read, validated and published, and an index entry left behind by such a client (its
// condition deleted or renamed) is reclaimed when someone asks for the name.
//
// Watching: a child watch on the directory and a data watch on every condition. A watch only marks
// what changed and kicks the Coalescer; the re-read sets the next watch in the same call as it reads,
// so a change made between the event and the re-read fires the new watch and is read next time.
// A new session (the old one expired) loses every watch: everything is read again. While the
// session is down, reads answer from the last snapshot and writes throw ZkUnavailableError.
// A write resolves only after the re-read that includes it has told the listeners, so the daemon that
// answered 201/200 already runs with the change (P9 item 12); the re-read goes through the same
// Coalescer as watch events, so an older snapshot can never be told after it.
import { randomUUID } from 'node:crypto';
import type { TraceConditionJson } from '../../model/trace.js';
import type { BackendHealth } from '../../model/stores.js';
import type {
  ConditionListener,
  ConditionStore,
  CreateConditionResult,
  NewTraceCondition,
  PutConditionResult,
} from '../../model/stores.js';
import type { Logger } from '../../model/logger.js';
import { ReadyLatch } from './ready-latch.js';
import type { ZkClient, ZkError, ZkOp, ZkWatchEvent } from './client.js';
import { mapLimit } from '../limit.js';
import { Coalescer } from './coalescer.js';
import { decodeCondition, encodeCondition, looseFields, validateCondition } from './condition-codec.js';
import { basename, ConditionPaths, isUuid } from './paths.js';
import { ZkOperationError, ZkUnavailableError, type ZkSession } from './session.js';
import { WriteOutcomeUnknownError } from '../../model/errors.js';
import { ZkConditionHits } from './condition-hits.js';

export interface ZkConditionStoreOptions {
  /** Started here; close() lets go of it (a session shared with other backends ends with the last). */
  session: ZkSession;
  root: string;
  log: Logger;
  /** Clock for creationTimestampMs (tests). */
  now?: () => number;
  /** Burst window for watch events (default 20 ms). */
  coalesceMs?: number;
}

interface Entry {
  czxid: bigint;
  mzxid: bigint;
  /** null: the znode holds something invalid (logged, not published). */
  condition: TraceConditionJson | null;
}

const READ_CONCURRENCY = 256;
const WRITE_ATTEMPTS = 8;

function isConnectionProblem(e: ZkError): boolean {
  return e.code === 'CONNECTION_LOSS' || e.code === 'SESSION_EXPIRED' || e.code === 'OPERATION_TIMEOUT' || e.code === 'CLOSED';
}

function byCreation(a: [string, Entry], b: [string, Entry]): number {
  return a[1].czxid < b[1].czxid ? -1 : a[1].czxid > b[1].czxid ? 1 : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

export class ZkConditionStore implements ConditionStore {
  private readonly paths: ConditionPaths;
  /** Exposed for health details and for tests that steal or end the session. */
  readonly session: ZkSession;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sync: Coalescer;
  /** Removes this backend's listener from the (maybe shared) session. */
  private readonly detach: () => void;
  private readonly listeners = new Set<ConditionListener>();
  /** The watched snapshot, by id. */
  private readonly entries = new Map<string, Entry>();
  private readonly dirty = new Set<string>();
  private childrenDirty = true;
  private dirsMissing = true;
  /** Set after the first complete read. */
  private readonly firstRead = new ReadyLatch();
  private closed = false;
  /** The conditions' `limit` counters, on the same session. */
  readonly hits: ZkConditionHits;

  constructor(opts: ZkConditionStoreOptions) {
    this.paths = new ConditionPaths(opts.root);
    this.session = opts.session;
    this.hits = new ZkConditionHits(opts.session, opts.root);
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.sync = new Coalescer(() => this.resync(), {
      delayMs: opts.coalesceMs ?? 20,
      onError: (err) => this.log.error({ err }, 'trace condition resync failed'),
    });
    this.detach = this.session.attach((fresh) => {
      if (fresh) {
        // A new session has no watches: read everything again.
        this.dirsMissing = true;
        this.childrenDirty = true;
        for (const id of this.entries.keys()) this.dirty.add(id);
      }
      this.sync.kick({ now: true });
    });
  }

  /** Resolves after the first complete read, or after `timeoutMs` (ZooKeeper may be down). */
  ready(timeoutMs: number): Promise<boolean> {
    return this.firstRead.wait(timeoutMs);
  }

  health(): BackendHealth {
    const ok = this.session.connected && this.firstRead.isSet;
    const invalid = [...this.entries.values()].filter((e) => e.condition === null).length;
    const what = `${this.entries.size - invalid} conditions${invalid > 0 ? `, ${invalid} invalid znodes ignored` : ''}`;
    return { name: 'conditions:zookeeper', ok, detail: `${this.session.describe()}; ${what}${this.firstRead.isSet ? '' : ' (not loaded yet)'}` };
  }

  // ---- reads: from ZooKeeper when connected, else from the last snapshot ----

  async list(): Promise<TraceConditionJson[]> {
    this.check();
    const zk = this.session.client;
    if (zk !== null) {
      const r = await this.readAll(zk);
      if (r !== null) return r;
    }
    return this.snapshot();
  }

  async get(id: string): Promise<TraceConditionJson | null> {
    this.check();
    if (!isUuid(id)) return null;
    const zk = this.session.client;
    if (zk !== null) {
      const r = await zk.get(this.paths.condition(id));
      if (r.ok) {
        const d = decodeCondition(id, r.value.data);
        return d.ok ? d.condition : null;
      }
      if (r.error.code === 'NO_NODE') return null;
      if (!isConnectionProblem(r.error)) throw new ZkOperationError(`reading trace condition ${id}: ${r.error.message}`, r.error);
    }
    const e = this.entries.get(id);
    return e?.condition ? structuredClone(e.condition) : null;
  }

  // ---- writes: straight to ZooKeeper, never queued ----

  async create(c: NewTraceCondition): Promise<CreateConditionResult> {
    this.check();
    const zk = this.session.require();
    const cond = { ...c, id: c.id ?? randomUUID() } as TraceConditionJson;
    if (cond.creationTimestampMs === undefined) cond.creationTimestampMs = this.now();
    this.validate(cond);
    const data = encodeCondition(cond);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (cond.name !== undefined && (await this.nameHeldElsewhere(zk, cond.name, cond.id))) return { ok: false, code: 'duplicate_name' };
      const ops: ZkOp[] = [{ op: 'create', path: this.paths.condition(cond.id), data }];
      if (cond.name !== undefined) ops.push({ op: 'create', path: this.paths.name(cond.name), data: Buffer.from(cond.id) });
      const r = await zk.transaction(ops);
      if (r.ok) {
        await this.settle(cond.id);
        return { ok: true, condition: structuredClone(cond) };
      }
      const e = r.error;
      if (e.code === 'NODE_EXISTS' && e.opIndex === 0) return { ok: false, code: 'duplicate_id' };
      if (e.code === 'NODE_EXISTS' && e.opIndex === 1) {
        if (await this.reclaimName(zk, cond.name!)) continue;
        return { ok: false, code: 'duplicate_name' };
      }
      if (e.code === 'NO_NODE' && (await this.ensureDirs(zk))) continue;
      throw this.failure('creating', cond.id, e, true);
    }
    throw new Error(`creating trace condition ${cond.id}: gave up after ${WRITE_ATTEMPTS} attempts under contention`);
  }

  async put(id: string, c: NewTraceCondition): Promise<PutConditionResult> {
    this.check();
    if (c.id !== undefined && c.id !== id) return { ok: false, code: 'id_mismatch' };
    const zk = this.session.require();
    const path = this.paths.condition(id);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const old = await zk.get(path);
      if (!old.ok && old.error.code !== 'NO_NODE') throw this.failure('reading', id, old.error);
      const oldFields = old.ok ? looseFields(old.value.data) : {};
      const cond = { ...c, id } as TraceConditionJson;
      // A replace whose body has no creation time keeps the original one.
      if (cond.creationTimestampMs === undefined) cond.creationTimestampMs = oldFields.creationTimestampMs ?? this.now();
      this.validate(cond);
      if (cond.name !== undefined && (await this.nameHeldElsewhere(zk, cond.name, id))) return { ok: false, code: 'duplicate_name' };

      const ops: ZkOp[] = [
        old.ok
          ? { op: 'setData', path, data: encodeCondition(cond), version: old.value.stat.version }
          : { op: 'create', path, data: encodeCondition(cond) },
      ];
      const oldName = oldFields.name;
      if (oldName !== undefined && oldName !== cond.name) {
        const held = await zk.get(this.paths.name(oldName));
        if (held.ok && held.value.data.toString() === id) ops.push({ op: 'remove', path: this.paths.name(oldName), version: held.value.stat.version });
      }
      if (cond.name !== undefined) {
        const namePath = this.paths.name(cond.name);
        const held = await zk.get(namePath);
        if (!held.ok && held.error.code === 'NO_NODE') ops.push({ op: 'create', path: namePath, data: Buffer.from(id) });
        else if (!held.ok) throw this.failure('reading the name index for', id, held.error);
        else if (held.value.data.toString() === id) ops.push({ op: 'check', path: namePath, version: held.value.stat.version });
        else if (await this.reclaimName(zk, cond.name)) continue;
        else return { ok: false, code: 'duplicate_name' };
      }
      const r = await zk.transaction(ops);
      if (r.ok) {
        await this.settle(id);
        return { ok: true, created: !old.ok, condition: structuredClone(cond) };
      }
      const e = r.error;
      // Someone changed the condition or the index between our reads and the commit: read again.
      if (e.code === 'BAD_VERSION' || e.code === 'NODE_EXISTS' || e.code === 'NO_NODE') {
        if (e.code === 'NO_NODE' && e.opIndex === 0 && !old.ok) await this.ensureDirs(zk);
        continue;
      }
      throw this.failure('storing', id, e, true);
    }
    throw new Error(`storing trace condition ${id}: gave up after ${WRITE_ATTEMPTS} attempts under contention`);
  }

  async delete(id: string): Promise<boolean> {
    this.check();
    if (!isUuid(id)) return false;
    const zk = this.session.require();
    const path = this.paths.condition(id);
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const old = await zk.get(path);
      if (!old.ok) {
        if (old.error.code === 'NO_NODE') return false;
        throw this.failure('reading', id, old.error);
      }
      const ops: ZkOp[] = [{ op: 'remove', path, version: old.value.stat.version }];
      const name = looseFields(old.value.data).name;
      if (name !== undefined) {
        const held = await zk.get(this.paths.name(name));
        if (held.ok && held.value.data.toString() === id) ops.push({ op: 'remove', path: this.paths.name(name), version: held.value.stat.version });
      }
      const r = await zk.transaction(ops);
      if (r.ok) {
        await this.settle(id);
        return true;
      }
      if (r.error.code === 'BAD_VERSION' || r.error.code === 'NO_NODE') continue;
      throw this.failure('deleting', id, r.error, true);
    }
    throw new Error(`deleting trace condition ${id}: gave up after ${WRITE_ATTEMPTS} attempts under contention`);
  }

  watch(listener: ConditionListener): () => void {
    this.check();
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sync.stop();
    this.listeners.clear();
    this.detach();
    await this.session.close();
  }

  // ---- the watched snapshot ----

  /** After our own write: re-read it now and tell the listeners, rather than when its watch fires. */
  private async settle(id: string): Promise<void> {
    this.dirty.add(id);
    this.childrenDirty = true;
    await this.sync.flush();
  }

  private readonly onChildren = (): void => {
    this.childrenDirty = true;
    this.sync.kick();
  };

  private readonly onData = (e: ZkWatchEvent): void => {
    this.dirty.add(basename(e.path));
    this.sync.kick();
  };

  /** Reads whatever is dirty, re-arming watches as it reads. true when nothing is left to read. */
  private async resync(): Promise<boolean> {
    const zk = this.session.client;
    if (zk === null || this.closed) return false;
    if (this.dirsMissing && !(await this.ensureDirs(zk))) return false;
    let changed = false;
    if (this.childrenDirty) {
      this.childrenDirty = false;
      const r = await zk.getChildren(this.paths.dir, this.onChildren);
      if (!r.ok) {
        this.childrenDirty = true;
        if (r.error.code === 'NO_NODE') this.dirsMissing = true;
        return false;
      }
      const present = new Set(r.value.children.filter(isUuid));
      for (const id of [...this.entries.keys()]) {
        if (present.has(id)) continue;
        this.entries.delete(id);
        this.dirty.delete(id);
        changed = true;
      }
      for (const id of present) if (!this.entries.has(id)) this.dirty.add(id);
    }
    const ids = [...this.dirty];
    this.dirty.clear();
    let complete = true;
    await mapLimit(ids, READ_CONCURRENCY, async (id) => {
      const r = await zk.get(this.paths.condition(id), this.onData);
      if (!r.ok) {
        if (r.error.code === 'NO_NODE') {
          if (this.entries.delete(id)) changed = true;
        } else {
          this.dirty.add(id);
          complete = false;
        }
        return;
      }
      const { stat, data } = r.value;
      const old = this.entries.get(id);
      if (old !== undefined && old.mzxid === stat.mzxid && old.czxid === stat.czxid) return;
      const d = decodeCondition(id, data);
      if (!d.ok) this.log.warn({ path: this.paths.condition(id), reason: d.message }, 'invalid trace condition in ZooKeeper ignored');
      this.entries.set(id, { czxid: stat.czxid, mzxid: stat.mzxid, condition: d.ok ? d.condition : null });
      changed = true;
    });
    if (changed) this.notify();
    if (complete && !this.childrenDirty && !this.firstRead.isSet) {
      this.firstRead.set();
    }
    return complete;
  }

  /** The valid conditions, oldest first, not copied. */
  private validByCreation(): TraceConditionJson[] {
    return [...this.entries]
      .filter(([, e]) => e.condition !== null)
      .sort(byCreation)
      .map(([, e]) => e.condition!);
  }

  private snapshot(): TraceConditionJson[] {
    return this.validByCreation().map((c) => structuredClone(c));
  }

  private notify(): void {
    if (this.closed || this.listeners.size === 0) return;
    const all = this.validByCreation(); // each listener gets its own copies
    for (const l of [...this.listeners]) {
      try {
        l(all.map((c) => structuredClone(c)));
      } catch (err) {
        this.log.error({ err }, 'trace condition listener failed');
      }
    }
  }

  /** Everything valid, oldest first; null when the connection failed (the caller falls back). */
  private async readAll(zk: ZkClient): Promise<TraceConditionJson[] | null> {
    const kids = await zk.getChildren(this.paths.dir);
    if (!kids.ok) {
      if (kids.error.code === 'NO_NODE') return [];
      if (isConnectionProblem(kids.error)) return null;
      throw new ZkOperationError(`listing ${this.paths.dir}: ${kids.error.message}`, kids.error);
    }
    let lost = false;
    const read = await mapLimit(kids.value.children.filter(isUuid), READ_CONCURRENCY, async (id): Promise<[string, Entry] | null> => {
      const r = await zk.get(this.paths.condition(id));
      if (!r.ok) {
        if (isConnectionProblem(r.error)) lost = true;
        return null;
      }
      const d = decodeCondition(id, r.value.data);
      return d.ok ? [id, { czxid: r.value.stat.czxid, mzxid: r.value.stat.mzxid, condition: d.condition }] : null;
    });
    if (lost) return null;
    return read.filter((x): x is [string, Entry] => x !== null).sort(byCreation).map(([, e]) => e.condition!);
  }

  // ---- the name index ----

  /**
   * Whether a condition other than `id` holds `name` without an index entry (written by another
   * client). The snapshot only says where to look; the answer comes from a fresh read.
   */
  private async nameHeldElsewhere(zk: ZkClient, name: string, id: string): Promise<boolean> {
    for (const [other, e] of this.entries) {
      if (other === id || e.condition?.name !== name) continue;
      const r = await zk.get(this.paths.condition(other));
      if (r.ok && looseFields(r.value.data).name === name) return true;
    }
    return false;
  }

  /** The index says `name` is taken: true when that entry was stale and is now gone (try again). */
  private async reclaimName(zk: ZkClient, name: string): Promise<boolean> {
    const path = this.paths.name(name);
    const held = await zk.get(path);
    if (!held.ok) {
      if (isConnectionProblem(held.error)) throw this.failure('reading the name index for', name, held.error);
      return held.error.code === 'NO_NODE';
    }
    const holder = held.value.data.toString();
    if (isUuid(holder)) {
      const cond = await zk.get(this.paths.condition(holder));
      if (cond.ok && looseFields(cond.value.data).name === name) return false;
      if (!cond.ok && cond.error.code !== 'NO_NODE') throw this.failure('reading', holder, cond.error);
    }
    const removed = await zk.remove(path, held.value.stat.version);
    // Only a stale index entry was at stake: the condition itself was not sent yet.
    if (!removed.ok && isConnectionProblem(removed.error)) throw this.failure('reclaiming the name of', holder, removed.error);
    if (removed.ok) this.log.info({ name, staleHolder: holder }, 'reclaimed a stale trace condition name');
    return removed.ok || removed.error.code === 'NO_NODE' || removed.error.code === 'BAD_VERSION';
  }

  private async ensureDirs(zk: ZkClient): Promise<boolean> {
    for (const p of [this.paths.dir, this.paths.names]) {
      const r = await zk.create(p, Buffer.alloc(0), { parents: true });
      if (!r.ok && r.error.code !== 'NODE_EXISTS') {
        this.log.warn({ path: p, reason: r.error.message }, 'cannot create the trace condition directories');
        return false;
      }
    }
    this.dirsMissing = false;
    return true;
  }

  private validate(c: TraceConditionJson): void {
    if (!isUuid(c.id)) throw new TypeError(`trace condition id must be a UUID: ${JSON.stringify(c.id)}`);
    const problem = validateCondition(c);
    if (problem !== null) throw new TypeError(`invalid trace condition ${c.id}: ${problem}`);
  }

  /**
   * A failed call as the API must see it. ZooKeeper out of reach before anything was sent is a
   * retryable 503; a write that went out before the connection dropped may still be applied by the
   * server (a frozen server works through its socket buffer when it resumes), so the client is told
   * the outcome is unknown rather than that it failed.
   */
  private failure(what: string, id: string, e: ZkError, sent = false): Error {
    const message = `${what} trace condition ${id} in ZooKeeper: ${e.message}`;
    if (!isConnectionProblem(e)) return new ZkOperationError(message, e);
    return sent
      ? new WriteOutcomeUnknownError(`${message}; the write was sent and may still take effect: reading trace condition ${id} back, or retrying with the same id or name, tells`)
      : new ZkUnavailableError(message);
  }

  private check(): void {
    if (this.closed) throw new Error('ZkConditionStore is closed');
  }
}

// A fixed-capacity open-addressing hash table (linear probing) over ONE ArrayBuffer or SharedArrayBuffer,
// so worker threads can attach to the same memory and agree on conntrack entries and NAT bindings.
//
// Layout (int32 words): a header, 64 insert-lock stripes (one per cache line), then `slots` slots of
// [state, expiry, key × keyWords, value × valWords]. A state word is (version << 2) | kind; the version
// changes on every modification so a reader can tell that a slot changed under it (a per-slot seqlock) and
// a compareExchange never succeeds against a slot that was reused in between (no ABA).
//
// Concurrency, in one paragraph: readers (get/touch/delete) never lock; they load the state, read the slot,
// and re-check the state. Writers first move a slot to WRITING by compareExchange, write, then publish
// VALID with a new version; a reader that meets WRITING waits for it (writers never wait while holding a
// slot, so this is short). Inserts (put/putIfAbsent) also take the
// lock stripe of their key's hash: only inserters create entries, so two threads inserting the same key
// are serialised and the second finds the first's entry — putIfAbsent's "one winner" is that lock, not
// luck. Different keys rarely share a stripe and never block readers.
//
// Dead slots (tombstones, expired entries) are reused when an insert passes them. Slots never go back to
// EMPTY except in a sweep, which holds every stripe (so no insert runs) and compacts the table in place;
// that keeps lookups short and lets a table that filled with dead entries take new ones. A sweep costs
// O(slots) and runs only when an insert finds no room, at most once per expiry tick unless entries were
// deleted since: entries die only when the tick moves or by delete, so a skipped sweep would free nothing,
// and Full means `capacity` live entries. Tables over 2^17 slots also wait one tick per 2^17 slots between
// sweeps (the default conntrack table: 2M slots, a 50-200 ms sweep here, then 1.6 s between), so a full
// table under a flood of new flows does not spend its time sweeping; Full may outlast room by that gap.

import { Put, type FlowTable as FlowTableApi } from './types.js';

export interface FlowTableOptions {
  readonly keyWords: number;
  readonly valWords: number;
  /** Most entries the table holds at once; slots = next power of two ≥ capacity / 0.75. */
  readonly capacity: number;
  /** Back the table with a SharedArrayBuffer so other threads can attach() to it. */
  readonly shared?: boolean;
}

/** Structured-clonable: pass it in workerData and call FlowTable.attach() in the worker. */
export interface FlowTableDescriptor {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly keyWords: number;
  readonly valWords: number;
  readonly capacity: number;
}

/** Expiry resolution. Entries never expire early; they may outlive their TTL by less than one tick. */
export const EXPIRY_TICK_MS = 100;
/** Load bound: capacity ≤ 0.75 × slots keeps linear probes short (≈8.5 slots for a miss when full). */
export const MAX_LOAD = 0.75;
/** No key is stored further than this from its home slot; at load ≤ 0.75 a longer run is vanishingly rare. */
export const MAX_PROBE = 1024;

const EMPTY = 0;
const WRITING = 1;
const VALID = 2;
const TOMB = 3;
const NEED_ROOM = 3; // internal insert result beside Put's values

const MAGIC = 0x464c5754; // "FLWT"
const H_MAGIC = 0;
const H_KEY_WORDS = 1;
const H_VAL_WORDS = 2;
const H_SLOTS = 3;
const H_CAPACITY = 4;
const H_BASE_STATE = 5; // 0 unset, 1 being set, 2 set
const H_BASE_HI = 6;
const H_BASE_LO = 7;
const H_ZERO = 8; // stays 0: the word Atomics.wait sleeps on while backing off
const H_USED = 16; // non-EMPTY slots; written by every new insert, so on its own cache line
const H_SWEEP_GEN = 32;
const H_LAST_SWEEP = 33;
const H_DELETES = 34; // deletes since the last sweep
const STRIPES = 64;
const STRIPE_SHIFT = 26; // stripe = top 6 hash bits; home slot uses the low bits
const LOCK_BASE = 48;
const LOCK_STRIDE = 16; // one lock per 64-byte line: stripes do not false-share
const SLOT_BASE = LOCK_BASE + STRIPES * LOCK_STRIDE;
const SLOT_HEAD = 2; // state, expiry
const I32_MAX = 0x7fffffff;
const I32_MIN = -0x80000000;
const BUSY_SPINS = 64;
const WEAK_ORDER = process.arch !== 'x64' && process.arch !== 'ia32';
const MAX_SLEEPS = 40_000; // × ≥50 µs: a thread that never finishes a write is a bug (or a killed worker)

export class FlowTable implements FlowTableApi {
  readonly keyWords: number;
  readonly valWords: number;
  readonly capacity: number;
  /** Slot count (power of two). */
  readonly slots: number;
  readonly shared: boolean;
  private readonly words: Int32Array;
  private readonly mask: number;
  private readonly stride: number;
  private readonly maxProbe: number;
  private readonly sweepGap: number; // ticks between sweeps, even after deletes
  private baseTick = 0;
  private baseKnown = false;
  private seen = 0; // state word observed by the last locate()
  private genSeen = 0; // sweep generation observed when an insert found no room

  /** Opens the table in another thread: the descriptor's buffer must come from descriptor(). */
  static attach(d: FlowTableDescriptor): FlowTable {
    return new FlowTable(d, d.buffer);
  }

  /** Bytes a table with these options occupies. */
  static byteLengthFor(opts: FlowTableOptions): number {
    return (SLOT_BASE + slotsFor(opts.capacity) * (SLOT_HEAD + opts.keyWords + opts.valWords)) * 4;
  }

  constructor(opts: FlowTableOptions, buffer?: ArrayBuffer | SharedArrayBuffer) {
    const { keyWords, valWords, capacity } = opts;
    if (!Number.isInteger(keyWords) || keyWords < 1 || keyWords > 64) throw new RangeError(`FlowTable: keyWords must be an integer in 1..64, got ${keyWords}`);
    if (!Number.isInteger(valWords) || valWords < 0 || valWords > 64) throw new RangeError(`FlowTable: valWords must be an integer in 0..64, got ${valWords}`);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 26) throw new RangeError(`FlowTable: capacity must be an integer in 1..2^26, got ${capacity}`);
    this.keyWords = keyWords;
    this.valWords = valWords;
    this.capacity = capacity;
    this.slots = slotsFor(capacity);
    this.mask = this.slots - 1;
    this.stride = SLOT_HEAD + keyWords + valWords;
    this.maxProbe = Math.min(this.slots, MAX_PROBE);
    this.sweepGap = Math.floor(this.slots / 2 ** 17);
    const bytes = FlowTable.byteLengthFor(opts);
    if (buffer === undefined) {
      this.shared = opts.shared === true;
      this.words = new Int32Array(this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
      const w = this.words;
      w[H_MAGIC] = MAGIC;
      w[H_KEY_WORDS] = keyWords;
      w[H_VAL_WORDS] = valWords;
      w[H_SLOTS] = this.slots;
      w[H_CAPACITY] = capacity;
      w[H_LAST_SWEEP] = I32_MIN;
    } else {
      this.shared = typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
      this.words = new Int32Array(buffer);
      const w = this.words;
      if (buffer.byteLength !== bytes || w[H_MAGIC] !== MAGIC || w[H_KEY_WORDS] !== keyWords || w[H_VAL_WORDS] !== valWords
        || w[H_SLOTS] !== this.slots || w[H_CAPACITY] !== capacity) {
        throw new Error('FlowTable.attach: the buffer does not hold a table with this descriptor\'s layout');
      }
    }
  }

  /** What another thread needs to attach. Only a shared table's buffer is shared; an ArrayBuffer is copied. */
  descriptor(): FlowTableDescriptor {
    return { buffer: this.words.buffer, keyWords: this.keyWords, valWords: this.valWords, capacity: this.capacity };
  }

  get byteLength(): number {
    return this.words.byteLength;
  }

  /** Sweeps (compactions) run so far by any thread sharing the table. */
  get sweeps(): number {
    return Atomics.load(this.words, H_SWEEP_GEN) >>> 1;
  }

  get(key: Int32Array, out: Int32Array, nowMs: number): boolean {
    const w = this.words;
    const now = this.nowTick(nowMs);
    const home = hashKey(key, this.keyWords) & this.mask;
    const v0 = SLOT_HEAD + this.keyWords;
    for (let gen = this.ld(H_SWEEP_GEN); ; gen = Atomics.load(w, H_SWEEP_GEN)) {
      const at = this.locate(home, key);
      if (at < 0) {
        if (this.missStands(gen)) return false;
        continue;
      }
      const s = this.seen;
      const live = now < w[at + 1]!;
      if (live) for (let j = 0; j < this.valWords; j++) out[j] = w[at + v0 + j]!;
      if (this.same(at, s)) return live;
    }
  }

  put(key: Int32Array, val: Int32Array, ttlMs: number, nowMs: number): Put {
    return this.insert(key, val, ttlMs, nowMs, null, true);
  }

  putIfAbsent(key: Int32Array, val: Int32Array, ttlMs: number, nowMs: number, out: Int32Array): Put {
    return this.insert(key, val, ttlMs, nowMs, out, false);
  }

  touch(key: Int32Array, ttlMs: number, nowMs: number): boolean {
    const w = this.words;
    const now = this.nowTick(nowMs);
    const exp = this.expiryTick(nowMs, ttlMs);
    const home = hashKey(key, this.keyWords) & this.mask;
    for (let gen = this.ld(H_SWEEP_GEN); ; gen = Atomics.load(w, H_SWEEP_GEN)) {
      const at = this.locate(home, key);
      if (at < 0) {
        if (this.missStands(gen)) return false;
        continue;
      }
      const s = this.seen;
      if (!(now < w[at + 1]!)) {
        if (this.same(at, s)) return false;
        continue;
      }
      if (this.cas(at, s, (s & ~3) | WRITING) !== s) continue;
      w[at + 1] = exp;
      this.st(at, bump(s, VALID));
      return true;
    }
  }

  /** Removes the key's entry; true when one was stored (the contract gives no clock to tell expired ones apart). */
  delete(key: Int32Array): boolean {
    const w = this.words;
    const home = hashKey(key, this.keyWords) & this.mask;
    for (let gen = this.ld(H_SWEEP_GEN); ; gen = Atomics.load(w, H_SWEEP_GEN)) {
      const at = this.locate(home, key);
      if (at < 0) {
        if (this.missStands(gen)) return false;
        continue;
      }
      const s = this.seen;
      if (this.cas(at, s, bump(s, TOMB)) !== s) continue;
      Atomics.add(w, H_DELETES, 1);
      return true;
    }
  }

  /** Live entries, by a full scan (O(slots)): for metrics and tests, not per packet. */
  size(nowMs: number): number {
    const w = this.words;
    const now = this.nowTick(nowMs);
    let n = 0;
    for (let i = 0, at = SLOT_BASE; i < this.slots; i++, at += this.stride) {
      if ((this.ld(at) & 3) === VALID && now < w[at + 1]!) n++;
    }
    return n;
  }

  /** Visits every live entry (for dumps and tests). The arrays are reused between calls of `visit`. */
  forEach(nowMs: number, visit: (key: Int32Array, val: Int32Array) => void): void {
    const w = this.words;
    const now = this.nowTick(nowMs);
    const key = new Int32Array(this.keyWords);
    const val = new Int32Array(this.valWords);
    for (let i = 0, at = SLOT_BASE; i < this.slots; i++, at += this.stride) {
      const s = Atomics.load(w, at);
      if ((s & 3) !== VALID || !(now < w[at + 1]!)) continue;
      for (let j = 0; j < this.keyWords; j++) key[j] = w[at + SLOT_HEAD + j]!;
      for (let j = 0; j < this.valWords; j++) val[j] = w[at + SLOT_HEAD + this.keyWords + j]!;
      if (Atomics.load(w, at) === s) visit(key, val);
    }
  }

  /** Empties dead slots now (normally done on demand by inserts); returns how many were freed. */
  sweep(nowMs: number): number {
    const now = this.nowTick(nowMs);
    this.lockAll();
    try {
      return this.sweepLocked(now);
    } finally {
      this.unlockAll();
    }
  }

  private insert(key: Int32Array, val: Int32Array, ttlMs: number, nowMs: number, out: Int32Array | null, overwrite: boolean): Put {
    const h = hashKey(key, this.keyWords);
    const home = h & this.mask;
    const stripe = h >>> STRIPE_SHIFT;
    const now = this.nowTick(nowMs);
    const exp = this.expiryTick(nowMs, ttlMs);
    // Most calls find their key (a known flow, a MAC seen before): that needs no lock, only creating does.
    if (this.shared && this.updateLive(home, key, val, now, exp, out, overwrite)) return Put.Existed;
    for (let attempt = 0; ; attempt++) {
      if (this.shared) this.lock(stripe);
      let r: number;
      try {
        r = this.insertLocked(home, key, val, now, exp, out, overwrite);
      } finally {
        if (this.shared) this.unlock(stripe);
      }
      if (r !== NEED_ROOM) return r as Put;
      if (attempt > 0 || !this.sweepIfDue(now)) return Put.Full;
    }
  }

  /** put/putIfAbsent on a live entry without the lock; false when the key is absent or expired. */
  private updateLive(home: number, key: Int32Array, val: Int32Array, now: number, exp: number, out: Int32Array | null, overwrite: boolean): boolean {
    const w = this.words;
    const v0 = SLOT_HEAD + this.keyWords;
    for (;;) {
      const at = this.locate(home, key);
      if (at < 0) return false; // possibly a sweep moving it: the locked path waits for sweeps
      const s = this.seen;
      if (!(now < w[at + 1]!)) return false;
      if (overwrite) {
        if (this.cas(at, s, (s & ~3) | WRITING) !== s) continue;
        w[at + 1] = exp;
        for (let j = 0; j < this.valWords; j++) w[at + v0 + j] = val[j]!;
        this.st(at, bump(s, VALID));
        return true;
      }
      if (out !== null) for (let j = 0; j < this.valWords; j++) out[j] = w[at + v0 + j]!;
      if (this.same(at, s)) return true;
    }
  }

  /** One insert under the key's stripe lock: finds the key or the slot it goes in. */
  private insertLocked(home: number, key: Int32Array, val: Int32Array, now: number, exp: number, out: Int32Array | null, overwrite: boolean): number {
    const w = this.words;
    const v0 = SLOT_HEAD + this.keyWords;
    restart: for (;;) {
      let cand = -1;
      let candState = 0;
      let emptyAt = -1;
      let emptyState = 0;
      for (let n = 0, i = home; n < this.maxProbe; n++, i = (i + 1) & this.mask) {
        const at = SLOT_BASE + i * this.stride;
        let s = this.ld(at);
        if ((s & 3) === WRITING) s = this.settle(at);
        const kind = s & 3;
        if (kind === EMPTY) { emptyAt = at; emptyState = s; break; }
        if (kind === TOMB) {
          if (cand < 0) { cand = at; candState = s; }
          continue;
        }
        const live = now < w[at + 1]!;
        if (this.keyAt(at, key)) {
          // The key's own expired slot is the one to reuse: a key never occupies two slots.
          if (!live) { cand = at; candState = s; break; }
          if (overwrite) {
            if (this.cas(at, s, (s & ~3) | WRITING) !== s) continue restart;
            w[at + 1] = exp;
            for (let j = 0; j < this.valWords; j++) w[at + v0 + j] = val[j]!;
            this.st(at, bump(s, VALID));
            return Put.Existed;
          }
          if (out !== null) for (let j = 0; j < this.valWords; j++) out[j] = w[at + v0 + j]!;
          if (!this.same(at, s)) continue restart;
          return Put.Existed;
        }
        if (!live && cand < 0) { cand = at; candState = s; }
      }
      if (cand >= 0) {
        if (this.cas(cand, candState, (candState & ~3) | WRITING) !== candState) continue restart;
        this.fill(cand, key, val, exp);
        this.st(cand, bump(candState, VALID));
        return Put.Inserted;
      }
      if (emptyAt < 0 || Atomics.add(w, H_USED, 1) >= this.capacity) {
        if (emptyAt >= 0) Atomics.sub(w, H_USED, 1);
        this.genSeen = Atomics.load(w, H_SWEEP_GEN);
        return NEED_ROOM;
      }
      if (this.cas(emptyAt, emptyState, (emptyState & ~3) | WRITING) !== emptyState) {
        Atomics.sub(w, H_USED, 1);
        continue restart;
      }
      this.fill(emptyAt, key, val, exp);
      this.st(emptyAt, bump(emptyState, VALID));
      return Put.Inserted;
    }
  }

  /** Sweeps when no other thread has since the failed insert and one is due; true when the insert should retry. */
  private sweepIfDue(now: number): boolean {
    const w = this.words;
    const last = Atomics.load(w, H_LAST_SWEEP);
    if (now <= last && Atomics.load(w, H_DELETES) === 0) return false;
    if (now < last + this.sweepGap) return false;
    this.lockAll();
    try {
      if (Atomics.load(w, H_SWEEP_GEN) === this.genSeen) this.sweepLocked(now);
    } finally {
      this.unlockAll();
    }
    return true;
  }

  /**
   * Compacts the table in place: empties every dead slot and moves each live entry back to the first EMPTY
   * slot from its home, as if the live entries were inserted again. The walk starts after a slot that was
   * EMPTY beforehand, which no probe run crosses, so an entry only ever moves backwards within its own run
   * and emptying its old slot cannot cut off one already placed. Holding every stripe keeps inserts out;
   * readers may miss an entry while it moves, so the generation is odd meanwhile and a reader that missed
   * looks again after the sweep (see missStands). A move holds both slots in WRITING, so touch and delete
   * wait and then find the entry in its new slot.
   */
  private sweepLocked(now: number): number {
    const w = this.words;
    const mask = this.mask;
    Atomics.add(w, H_SWEEP_GEN, 1);
    Atomics.store(w, H_DELETES, 0);
    let start = 0;
    while ((this.ld(SLOT_BASE + start * this.stride) & 3) !== EMPTY) {
      if (++start === this.slots) throw new Error('FlowTable: no empty slot (the buffer is corrupt)'); // used ≤ 0.75 × slots
    }
    let freed = 0;
    let occupied = 0;
    for (let n = 1; n < this.slots; n++) {
      const p = (start + n) & mask;
      const at = SLOT_BASE + p * this.stride;
      const s = this.settle(at);
      const kind = s & 3;
      if (kind === EMPTY) continue;
      if (kind === TOMB || !(now < w[at + 1]!)) {
        if (this.cas(at, s, bump(s, EMPTY)) === s) freed++;
        else n--; // a touch or delete got there first: look again
        continue;
      }
      let q = hashWords(w, at + SLOT_HEAD, this.keyWords) & mask;
      while (q !== p && (this.ld(SLOT_BASE + q * this.stride) & 3) !== EMPTY) q = (q + 1) & mask;
      if (q !== p) {
        if (this.cas(at, s, (s & ~3) | WRITING) !== s) { n--; continue; }
        const to = SLOT_BASE + q * this.stride;
        const qs = this.ld(to);
        this.st(to, (qs & ~3) | WRITING); // EMPTY slots are claimed only by inserts, and they are locked out
        for (let j = 1; j < this.stride; j++) w[to + j] = w[at + j]!;
        this.st(to, bump(qs, VALID));
        this.st(at, bump(s, EMPTY));
      }
      occupied++;
    }
    Atomics.store(w, H_USED, occupied);
    Atomics.store(w, H_LAST_SWEEP, now);
    Atomics.add(w, H_SWEEP_GEN, 1);
    return freed;
  }

  /**
   * A miss is final only when no sweep overlapped the search: a sweep moves entries. Otherwise waits for
   * the sweep to end and returns false so the caller searches again.
   */
  private missStands(gen: number): boolean {
    if (!this.shared) return true;
    if ((gen & 1) === 0 && Atomics.load(this.words, H_SWEEP_GEN) === gen) return true;
    for (let spins = 0; (Atomics.load(this.words, H_SWEEP_GEN) & 1) === 1;) this.backoff(++spins);
    return false;
  }

  /** Offset of the VALID slot holding `key` (live or expired), with its state in `seen`; -1 when absent. */
  private locate(home: number, key: Int32Array): number {
    for (let n = 0, i = home; n < this.maxProbe;) {
      const at = SLOT_BASE + i * this.stride;
      const s = this.ld(at);
      const kind = s & 3;
      if (kind === VALID) {
        if (this.keyAt(at, key)) { this.seen = s; return at; }
      } else if (kind === EMPTY) {
        return -1;
      } else if (kind === WRITING) {
        this.settle(at);
        continue; // look at the same slot again
      }
      n++;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  // State-word access. A single-thread table needs no atomics; a shared one publishes with Atomics and
  // re-checks with them. On x86 loads are not reordered with loads, so the first look at a state word
  // may be a plain load (Atomics.load is a ~10 ns call in V8); weakly ordered CPUs load it atomically and
  // re-check with an RMW, which orders the data reads before it.
  private ld(at: number): number {
    return WEAK_ORDER && this.shared ? Atomics.load(this.words, at) : this.words[at]!;
  }

  /** Seqlock check: the slot still has state `s`, so what was read from it between is consistent. */
  private same(at: number, s: number): boolean {
    if (!this.shared) return true;
    return (WEAK_ORDER ? Atomics.compareExchange(this.words, at, s, s) : Atomics.load(this.words, at)) === s;
  }

  private cas(at: number, expect: number, next: number): number {
    if (this.shared) return Atomics.compareExchange(this.words, at, expect, next);
    const s = this.words[at]!;
    if (s === expect) this.words[at] = next;
    return s;
  }

  private st(at: number, v: number): void {
    if (this.shared) Atomics.store(this.words, at, v);
    else this.words[at] = v;
  }

  private keyAt(at: number, key: Int32Array): boolean {
    const w = this.words;
    const k0 = at + SLOT_HEAD;
    for (let j = 0; j < this.keyWords; j++) if (w[k0 + j] !== key[j]) return false;
    return true;
  }

  /** Plain stores: the Atomics.store of the state word that follows publishes them (release order). */
  private fill(at: number, key: Int32Array, val: Int32Array, exp: number): void {
    const w = this.words;
    w[at + 1] = exp;
    const k0 = at + SLOT_HEAD;
    for (let j = 0; j < this.keyWords; j++) w[k0 + j] = key[j]!;
    const v0 = k0 + this.keyWords;
    for (let j = 0; j < this.valWords; j++) w[v0 + j] = val[j]!;
  }

  /** Waits while another thread writes the slot; returns its state afterwards. */
  private settle(at: number): number {
    let s = Atomics.load(this.words, at);
    for (let spins = 0; (s & 3) === WRITING; s = Atomics.load(this.words, at)) {
      // A single thread never leaves a slot mid-write: seeing one means the buffer was corrupted.
      if (!this.shared) throw new Error('FlowTable: slot left in the writing state');
      this.backoff(++spins);
    }
    return s;
  }

  private backoff(spins: number): void {
    if (spins < BUSY_SPINS) return;
    if (spins > BUSY_SPINS + MAX_SLEEPS) throw new Error('FlowTable: another thread held a slot or lock for over 2 s (did a worker die mid-write?)');
    Atomics.wait(this.words, H_ZERO, 0, 0.05);
  }

  private lock(stripe: number): void {
    const at = LOCK_BASE + stripe * LOCK_STRIDE;
    for (let spins = 0; Atomics.compareExchange(this.words, at, 0, 1) !== 0;) this.backoff(++spins);
  }

  private unlock(stripe: number): void {
    Atomics.store(this.words, LOCK_BASE + stripe * LOCK_STRIDE, 0);
  }

  // Always in stripe order, so two sweepers cannot deadlock; an inserter holds at most one stripe and
  // releases it before it sweeps.
  private lockAll(): void {
    if (this.shared) for (let s = 0; s < STRIPES; s++) this.lock(s);
  }

  private unlockAll(): void {
    if (this.shared) for (let s = 0; s < STRIPES; s++) this.unlock(s);
  }

  /** Ticks since the table's base time (set from the first nowMs any thread passes). */
  private nowTick(nowMs: number): number {
    if (!this.baseKnown) this.loadBase(nowMs);
    return clampI32(Math.floor(nowMs / EXPIRY_TICK_MS) - this.baseTick);
  }

  /** Rounded up, so an entry never expires before ttlMs has passed. ttlMs = Infinity never expires. */
  private expiryTick(nowMs: number, ttlMs: number): number {
    if (!this.baseKnown) this.loadBase(nowMs);
    return clampI32(Math.ceil((nowMs + ttlMs) / EXPIRY_TICK_MS) - this.baseTick);
  }

  private loadBase(nowMs: number): void {
    const w = this.words;
    for (let spins = 0; ;) {
      const st = Atomics.load(w, H_BASE_STATE);
      if (st === 2) break;
      if (st === 0 && Atomics.compareExchange(w, H_BASE_STATE, 0, 1) === 0) {
        if (!Number.isFinite(nowMs)) {
          Atomics.store(w, H_BASE_STATE, 0);
          throw new RangeError(`FlowTable: nowMs must be finite, got ${nowMs}`);
        }
        const t = Math.floor(nowMs / EXPIRY_TICK_MS);
        const hi = Math.floor(t / 2 ** 32);
        w[H_BASE_HI] = hi;
        w[H_BASE_LO] = (t - hi * 2 ** 32) | 0;
        Atomics.store(w, H_BASE_STATE, 2);
        break;
      }
      this.backoff(++spins);
    }
    this.baseTick = Atomics.load(w, H_BASE_HI) * 2 ** 32 + (Atomics.load(w, H_BASE_LO) >>> 0);
    this.baseKnown = true;
  }
}

/** murmur3_32 over the key words: fast, and every input bit reaches the low (home) and high (stripe) bits. */
export function hashKey(key: Int32Array, words: number): number {
  return hashWords(key, 0, words);
}

function hashWords(a: Int32Array, off: number, words: number): number {
  let h = 0x9747b28c | 0;
  for (let i = 0; i < words; i++) {
    let k = Math.imul(a[off + i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words << 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  // A signed int32: an unsigned result above 2^31 would be boxed into a heap number on every call.
  return h ^ (h >>> 16);
}

function slotsFor(capacity: number): number {
  let n = 4;
  while (n * MAX_LOAD < capacity) n *= 2;
  return n;
}

/** Next version, with kind: the version keeps growing so compareExchange sees every reuse. */
function bump(s: number, kind: number): number {
  return (((s & ~3) + 4) | kind);
}

function clampI32(v: number): number {
  return v >= I32_MAX ? I32_MAX : v <= I32_MIN ? I32_MIN : v | 0;
}

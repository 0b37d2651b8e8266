// Longest-prefix-match route table (the RouteTable contract in route-table.ts).
//
// Built once per topology version:
// - Routes are grouped by destination prefix; each prefix gets a record in `lists`:
//     [count, parentRecord, count × (srcNet, srcMask, groupEnd, routeIdx)]
//   entries sorted by weight then route index; `groupEnd` ends the entry's equal-weight (ECMP) group;
//   `parentRecord` is the record of the longest shorter prefix covering this one (-1: none). A lookup
//   that finds no source match in a record falls back to the parent, so a source-specific route never
//   hides a shorter route from other sources.
// - A three-level multibit trie (strides 16/8/8, leaf pushed) maps a destination to its longest
//   covering prefix: a slot holds a route index directly (idx << 1 | 1) when the prefix's best route
//   has no source prefix and no ECMP peer — nearly always — else a record (offset << 1), or a child.
// - Nodes are compressed so 100,000 routes take about 2 MB and stay in cache. The root keeps, per 32
//   slots, a bitmap of where runs of equal slots start and a base index: a slot's value is at
//   base + popcount(bits up to the slot). A lower node usually has a few runs only; it stores their
//   start slots in 10-bit lanes, four words (twelve starts), and counts the starts at or before the
//   slot with lane arithmetic. Nodes with more runs use the bitmap form.
// - Lookups are branch-free down the trie: a slot that is already a leaf still "descends" into a
//   shared constant node and masks the result away. Random destinations therefore cost the same
//   instructions whatever the table holds, and cache misses of consecutive lookups overlap instead of
//   being serialised by mispredicted branches. That keeps a lookup at 100,000 routes close to one at
//   10 routes (bench/route-lookup.ts), and nothing is allocated.
import { prefixMask } from '../addr.js';
import type { CRoute } from '../topology/compiled.js';
import type { RouteTable } from './route-table.js';

/** Offset of the shared empty record (no route): lookups that land there return -1. */
const NONE = 0;
const ENTRY = 4;
const HEADER = 2;

const LANES = 0x100401; // 1 | 1 << 10 | 1 << 20
const LANE_BIT8 = 0x10040100; // bit 8 of each 10-bit lane
/** A run start no slot reaches: pads the unused lanes of a sparse node. */
const LANE_PAD = 256;
const SPARSE_WORDS = 4;
const SPARSE_MAX_RUNS = SPARSE_WORDS * 3;

interface Prefix {
  readonly dst: number;
  readonly len: number;
  readonly routes: CRoute[];
  /** Offset of this prefix's record in `lists`. */
  offset: number;
  /** What trie slots covered by this prefix hold: a route (idx << 1 | 1) or a record (offset << 1). */
  leaf: number;
}

export function buildRouteTable(routes: readonly CRoute[]): RouteTable {
  const prefixes = groupByPrefix(routes);
  const lists = layoutRecords(prefixes);
  const trie = new TrieBuilder(prefixes).build();
  return new LpmRouteTable(routes.length, trie.nodes, trie.root, trie.constant, lists);
}

class LpmRouteTable implements RouteTable {
  constructor(
    readonly size: number,
    private readonly t: Int32Array,
    private readonly root: number,
    /** Reference of the shared constant node that leaves "descend" into. */
    private readonly constant: number,
    private readonly l: Int32Array,
  ) {}

  lookup(dst: number, src: number, flowHash: number): number {
    const t = this.t;
    const k = this.constant;
    // Root: dense bitmap node, always.
    let w = this.root + ((dst >>> 21) << 1);
    let v = t[t[w + 1]! + popcount(t[w]! & ~(-2 << ((dst >>> 16) & 31)))]!;
    // Two levels down, written out twice: a child (v < 0) yields its slot, a leaf keeps itself.
    let child = v >> 31;
    let ref = (~v & child) | (k & ~child);
    let o = ref >>> 1;
    let s = (dst >>> 8) & 255;
    let i: number;
    if ((ref & 1) !== 0) {
      const x = Math.imul(s, LANES) + LANE_BIT8;
      i = o + SPARSE_WORDS - 1 + lanesSet(x - t[o]!) + lanesSet(x - t[o + 1]!) + lanesSet(x - t[o + 2]!) + lanesSet(x - t[o + 3]!);
    } else {
      w = o + ((s >>> 5) << 1);
      i = t[w + 1]! + popcount(t[w]! & ~(-2 << (s & 31)));
    }
    v = (t[i]! & child) | (v & ~child);
    child = v >> 31;
    ref = (~v & child) | (k & ~child);
    o = ref >>> 1;
    s = dst & 255;
    if ((ref & 1) !== 0) {
      const x = Math.imul(s, LANES) + LANE_BIT8;
      i = o + SPARSE_WORDS - 1 + lanesSet(x - t[o]!) + lanesSet(x - t[o + 1]!) + lanesSet(x - t[o + 2]!) + lanesSet(x - t[o + 3]!);
    } else {
      w = o + ((s >>> 5) << 1);
      i = t[w + 1]! + popcount(t[w]! & ~(-2 << (s & 31)));
    }
    v = (t[i]! & child) | (v & ~child);
    if ((v & 1) !== 0) return v >>> 1;
    return this.walk(v >>> 1, src, flowHash);
  }

  /** Walks a prefix record and its parents for the first route whose source prefix matches. */
  private walk(rec: number, src: number, flowHash: number): number {
    const l = this.l;
    while (rec >= 0) {
      const end = rec + HEADER + (l[rec]! << 2);
      for (let p = rec + HEADER; p < end; p += ENTRY) {
        if ((src & l[p + 1]!) === l[p]) {
          const groupEnd = l[p + 2]!;
          return groupEnd === p + ENTRY ? l[p + 3]! : this.ecmp(p, groupEnd, src, flowHash);
        }
      }
      rec = l[rec + 1]!;
    }
    return -1;
  }

  /** Picks among the source-matching routes of one equal-weight group by flow hash. */
  private ecmp(first: number, groupEnd: number, src: number, flowHash: number): number {
    const l = this.l;
    let count = 0;
    for (let p = first; p < groupEnd; p += ENTRY) if ((src & l[p + 1]!) === l[p]) count++;
    let k = (flowHash >>> 0) % count;
    for (let p = first; ; p += ENTRY) {
      if ((src & l[p + 1]!) === l[p]) {
        if (k === 0) return l[p + 3]!;
        k--;
      }
    }
  }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * `d` is (256 + s - start) in each of three 10-bit lanes (no borrow crosses a lane since start <= 256);
 * bit 8 of a lane is set exactly when start <= s. Returns how many lanes have it.
 */
function lanesSet(d: number): number {
  return (Math.imul((d & LANE_BIT8) >>> 8, LANES) >>> 20) & 3;
}

/**
 * Groups routes by destination prefix, in (address, length) order: every prefix then comes after the
 * prefixes that contain it, which both the parent links and the trie painting rely on. Each group's
 * routes are in record order (weight, then index).
 */
function groupByPrefix(routes: readonly CRoute[]): Prefix[] {
  const keyed = routes.map((r) => ({ r, dst: (r.dst & prefixMask(r.dstLen)) >>> 0 }));
  keyed.sort((a, b) => a.dst - b.dst || a.r.dstLen - b.r.dstLen || a.r.weight - b.r.weight || a.r.idx - b.r.idx);
  const prefixes: Prefix[] = [];
  let last: Prefix | undefined;
  for (const { r, dst } of keyed) {
    if (last === undefined || last.dst !== dst || last.len !== r.dstLen) {
      last = { dst, len: r.dstLen, routes: [], offset: -1, leaf: 0 };
      prefixes.push(last);
    }
    last.routes.push(r);
  }
  return prefixes;
}

function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.len <= inner.len && ((inner.dst ^ outer.dst) & prefixMask(outer.len)) === 0;
}

/** Writes every prefix record (see the file comment) and returns the flat array. */
function layoutRecords(prefixes: readonly Prefix[]): Int32Array {
  let size = HEADER;
  for (const p of prefixes) size += HEADER + p.routes.length * ENTRY;
  const l = new Int32Array(size);
  l[0] = 0; l[1] = -1; // NONE
  const enclosing: Prefix[] = []; // the chain of prefixes containing the current one
  let o = HEADER;
  for (const p of prefixes) {
    while (enclosing.length > 0 && !contains(enclosing[enclosing.length - 1]!, p)) enclosing.pop();
    p.offset = o;
    l[o] = p.routes.length;
    l[o + 1] = enclosing.length > 0 ? enclosing[enclosing.length - 1]!.offset : -1;
    enclosing.push(p);
    const rs = p.routes;
    const first = o + HEADER;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      const e = first + i * ENTRY;
      const mask = prefixMask(r.srcLen);
      l[e] = r.src & mask;
      l[e + 1] = mask | 0;
      l[e + 3] = r.idx;
    }
    // groupEnd, filled backwards: where the run of equal weights containing the entry ends.
    let end = first + rs.length * ENTRY;
    for (let i = rs.length - 1; i >= 0; i--) {
      if (i < rs.length - 1 && rs[i]!.weight !== rs[i + 1]!.weight) end = first + (i + 1) * ENTRY;
      l[first + i * ENTRY + 2] = end;
    }
    // A lone best route with no source prefix always wins: slots then answer it without the record.
    p.leaf = rs[0]!.srcLen === 0 && l[first + 2] === first + ENTRY ? (rs[0]!.idx << 1) | 1 : o << 1;
    o = first + rs.length * ENTRY;
  }
  return l;
}

/** Level geometry: first address bit and stride of the root and the two lower levels. */
const LEVEL_START = [0, 16, 24] as const;
const LEVEL_STRIDE = [16, 8, 8] as const;

class TrieBuilder {
  private out = new Int32Array(1024);
  private size = 0;
  /** Slot values of the node being built, one scratch array per level (recursion is per level). */
  private readonly scratch = [new Int32Array(1 << 16), new Int32Array(256), new Int32Array(256)];

  constructor(private readonly prefixes: readonly Prefix[]) {}

  build(): { nodes: Int32Array; root: number; constant: number } {
    // The constant node: one run starting at slot 0, so every slot reads its single value.
    const constant = this.emitSparse(this.scratch[2]!.fill(NONE), 1);
    const root = this.node(0, 0, this.prefixes.length, NONE) >>> 1;
    return { nodes: this.out.slice(0, this.size), root, constant };
  }

  /**
   * Emits the node for prefixes[from, to) (all inside this node's address block, none shorter than
   * it, in (address, length) order) whose uncovered slots hold `inherited`; returns its reference
   * (offset << 1 | sparse). Children are emitted before their parent.
   */
  private node(level: 0 | 1 | 2, from: number, to: number, inherited: number): number {
    const ps = this.prefixes;
    const end = LEVEL_START[level] + LEVEL_STRIDE[level];
    const shift = 32 - end;
    const slotMask = (1 << LEVEL_STRIDE[level]) - 1;
    const slots = this.scratch[level]!.fill(inherited);
    for (let i = from; i < to;) {
      const p = ps[i]!;
      const slot = (p.dst >>> shift) & slotMask;
      if (p.len <= end) { // containers come first, so nested prefixes paint over them
        slots.fill(p.leaf, slot, slot + (1 << (end - p.len)));
        i++;
        continue;
      }
      let j = i + 1; // the prefixes below this slot are contiguous
      while (j < to && ((ps[j]!.dst >>> shift) & slotMask) === slot) j++;
      slots[slot] = ~this.node((level + 1) as 1 | 2, i, j, slots[slot]!);
      i = j;
    }
    let runs = 0;
    for (let s = 0; s <= slotMask; s++) if (s === 0 || slots[s] !== slots[s - 1]) runs++;
    return level > 0 && runs <= SPARSE_MAX_RUNS ? this.emitSparse(slots, runs) : this.emitDense(slots, runs);
  }

  private reserve(n: number): number {
    const at = this.size;
    if (at + n > this.out.length) {
      const grown = new Int32Array(Math.max(this.out.length * 2, at + n));
      grown.set(this.out.subarray(0, at));
      this.out = grown;
    }
    this.size = at + n;
    return at;
  }

  /** Per 32 slots [runStartBits, base], base + popcount(bits up to the slot) indexing the values. */
  private emitDense(slots: Int32Array, runs: number): number {
    const words = slots.length >>> 5;
    const at = this.reserve(words * 2 + runs);
    const out = this.out;
    let v = at + words * 2;
    for (let w = 0; w < words; w++) {
      let bits = 0;
      out[at + w * 2 + 1] = v - 1;
      for (let b = 0; b < 32; b++) {
        const s = (w << 5) | b;
        if (s === 0 || slots[s] !== slots[s - 1]) { bits |= 1 << b; out[v++] = slots[s]!; }
      }
      out[at + w * 2] = bits;
    }
    return at << 1;
  }

  /** SPARSE_WORDS words of three 10-bit run starts (unused lanes LANE_PAD), then the run values. */
  private emitSparse(slots: Int32Array, runs: number): number {
    const at = this.reserve(SPARSE_WORDS + runs);
    const out = this.out;
    for (let w = 0; w < SPARSE_WORDS; w++) out[at + w] = LANE_PAD | (LANE_PAD << 10) | (LANE_PAD << 20);
    let r = 0;
    for (let s = 0; s < slots.length; s++) {
      if (s === 0 || slots[s] !== slots[s - 1]) {
        const w = at + ((r / 3) | 0);
        const lane = (r % 3) * 10;
        out[w] = (out[w]! & ~(0x3ff << lane)) | (s << lane);
        out[at + SPARSE_WORDS + r++] = slots[s]!;
      }
    }
    return (at << 1) | 1;
  }
}

// Longest-prefix-match route table (the RouteTable contract in route-table.ts).
//
// Built once per topology version:
// - Routes are grouped by destination prefix. A prefix's "leaf" is its route itself (idx << 1 | 1)
//   when its best route has no source prefix and no ECMP peer — nearly always — and otherwise a
//   record in `lists` (offset << 1):
//     [count, parentLeaf, count × (srcNet, srcMask, groupEnd, routeIdx)]
//   entries sorted by weight then route index; `groupEnd` ends the entry's equal-weight (ECMP) group;
//   `parentLeaf` is the leaf of the longest shorter prefix containing this one (NONE: none). A
//   lookup that finds no source match in a record falls back to the parent, so a source-specific
//   route never hides a shorter route from other sources.
// - A three-level multibit trie (strides 16/8/8, leaf pushed) maps a destination to the leaf of its
//   longest covering prefix, or to a child node (negative). The 16-bit root is a direct table
//   (256 KB, whatever the routes).
// - Lower nodes are compressed to stay cache resident (100,000 routes take under 2 MB): most
//   hold a few runs of equal slots, stored as their start slots packed three per word in 10-bit
//   lanes, then the run values. Lane arithmetic counts the starts at or before a slot without
//   branches: 256 + slot - start has bit 8 set exactly when start <= slot. Nodes with more than
//   twelve runs keep, per 32 slots, a bitmap of run starts and a base index instead
//   (base + popcount(bits up to the slot)).
// A lookup is one root read, at most two node reads and a short record walk for source-specific or
// ECMP prefixes: its cost does not grow with the number of routes beyond cache effects
// (bench/route-lookup.ts), and it allocates nothing. Callers should pass int32 addresses
// (`ip | 0`): a uint32 above 2^31 passed to a call that is not inlined gets boxed by the caller.
import { prefixMask } from '../addr.js';
import type { CRoute } from '../topology/compiled.js';
import type { RouteTable } from './route-table.js';

/** The leaf of addresses no route covers. */
const NONE = 0;
const ENTRY = 4;
const HEADER = 2;

const LANES = 0x100401; // 1 | 1 << 10 | 1 << 20
const LANE_BIT8 = 0x10040100; // bit 8 of each 10-bit lane
/** A run start no slot reaches: pads the unused lanes of a sparse node's last word. */
const LANE_PAD = 256;
const SPARSE_MAX_WORDS = 4;
const SPARSE_MAX_RUNS = SPARSE_MAX_WORDS * 3;
/** Node references: offset << 3 | (words - 1) << 1 | 1 for sparse nodes, offset << 3 for dense. */
const REF_SHIFT = 3;

interface Prefix {
  readonly dst: number;
  readonly len: number;
  readonly routes: CRoute[];
  /** The longest shorter prefix containing this one. */
  parent: Prefix | null;
  /** What trie slots covered by this prefix hold: a route (idx << 1 | 1) or a record (offset << 1). */
  leaf: number;
}

export function buildRouteTable(routes: readonly CRoute[]): RouteTable {
  const prefixes = groupByPrefix(routes);
  const lists = layoutRecords(prefixes);
  const trie = new TrieBuilder(prefixes).build();
  return new LpmRouteTable(routes.length, trie.root, trie.nodes, lists);
}

class LpmRouteTable implements RouteTable {
  constructor(
    readonly size: number,
    private readonly r: Int32Array,
    private readonly t: Int32Array,
    private readonly l: Int32Array,
  ) {}

  lookup(dst: number, src: number, flowHash: number): number {
    let v = this.r[dst >>> 16]!;
    if (v < 0) {
      const t = this.t;
      v = t[slotIndex(t, ~v, (dst >>> 8) & 255)]!;
      if (v < 0) v = t[slotIndex(t, ~v, dst & 255)]!;
    }
    if ((v & 1) !== 0) return v >>> 1;
    return v === NONE ? -1 : this.walk(v, src, flowHash);
  }

  /** Walks prefix records, then their parents, for the first route whose source prefix matches. */
  private walk(leaf: number, src: number, flowHash: number): number {
    const l = this.l;
    let v = leaf;
    do {
      const rec = v >>> 1;
      const end = rec + HEADER + (l[rec]! << 2);
      for (let p = rec + HEADER; p < end; p += ENTRY) {
        if ((src & l[p + 1]!) === l[p]) {
          const groupEnd = l[p + 2]!;
          return groupEnd === p + ENTRY ? l[p + 3]! : this.ecmp(p, groupEnd, src, flowHash);
        }
      }
      v = l[rec + 1]!;
    } while ((v & 1) === 0 && v !== NONE);
    return (v & 1) !== 0 ? v >>> 1 : -1;
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

/**
 * Index in `t` of the value of slot `s` (0..255) of node `ref`. A sparse node always reads four
 * words; lanes of words past its own (its values, or the array's padding) are masked off, so the
 * word count costs no branch.
 */
function slotIndex(t: Int32Array, ref: number, s: number): number {
  const o = ref >>> REF_SHIFT;
  if ((ref & 1) !== 0) {
    const words = ((ref >>> 1) & 3) + 1;
    const x = Math.imul(s, LANES) + LANE_BIT8;
    const sum = ((x - t[o]!) & LANE_BIT8)
      + ((x - t[o + 1]!) & LANE_BIT8 & ((1 - words) >> 31))
      + ((x - t[o + 2]!) & LANE_BIT8 & ((2 - words) >> 31))
      + ((x - t[o + 3]!) & LANE_BIT8 & ((3 - words) >> 31));
    // Each lane of `sum` counts up to 4; multiplying by LANES adds the three lanes into bits 20..29.
    return o + words - 1 + ((Math.imul(sum >>> 8, LANES) >>> 20) & 15);
  }
  const w = o + ((s >>> 5) << 1);
  return t[w + 1]! + popcount(t[w]! & ~(-2 << (s & 31)));
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
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
      last = { dst, len: r.dstLen, routes: [], parent: null, leaf: NONE };
      prefixes.push(last);
    }
    last.routes.push(r);
  }
  return prefixes;
}

function contains(outer: Prefix, inner: Prefix): boolean {
  return outer.len <= inner.len && ((inner.dst ^ outer.dst) & prefixMask(outer.len)) === 0;
}

/** Sets every prefix's leaf, writing records (see the file comment) for those that need one. */
function layoutRecords(prefixes: readonly Prefix[]): Int32Array {
  const enclosing: Prefix[] = []; // the chain of prefixes containing the current one
  let size = HEADER; // offset 0 is never a record: leaf 0 is NONE
  for (const p of prefixes) {
    while (enclosing.length > 0 && !contains(enclosing[enclosing.length - 1]!, p)) enclosing.pop();
    p.parent = enclosing.length > 0 ? enclosing[enclosing.length - 1]! : null;
    enclosing.push(p);
    const rs = p.routes;
    // A lone best route with no source prefix always wins: the leaf is the route itself.
    if (rs[0]!.srcLen === 0 && (rs.length === 1 || rs[1]!.weight !== rs[0]!.weight)) {
      p.leaf = (rs[0]!.idx << 1) | 1;
    } else {
      p.leaf = size << 1;
      size += HEADER + rs.length * ENTRY;
    }
  }
  const l = new Int32Array(size);
  for (const p of prefixes) {
    if ((p.leaf & 1) !== 0) continue;
    const o = p.leaf >>> 1;
    const rs = p.routes;
    const first = o + HEADER;
    l[o] = rs.length;
    l[o + 1] = p.parent === null ? NONE : p.parent.leaf;
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

  build(): { root: Int32Array; nodes: Int32Array } {
    this.node(0, 0, this.prefixes.length, NONE);
    this.reserve(SPARSE_MAX_WORDS).fill(0); // a sparse node near the end may read this far
    return { root: this.scratch[0]!, nodes: this.out.slice(0, this.size) };
  }

  /**
   * Fills the slots of the node for prefixes[from, to) (all inside this node's address block, none
   * shorter than it, in (address, length) order), uncovered slots holding `inherited`. Lower nodes
   * are then emitted and their reference returned; the root stays in its scratch array.
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
    if (level === 0) return 0;
    let runs = 0;
    for (let s = 0; s <= slotMask; s++) if (s === 0 || slots[s] !== slots[s - 1]) runs++;
    return runs <= SPARSE_MAX_RUNS ? this.emitSparse(slots, runs) : this.emitDense(slots, runs);
  }

  /** Grows `out` by n words; returns them. */
  private reserve(n: number): Int32Array {
    const at = this.size;
    if (at + n > this.out.length) {
      const grown = new Int32Array(Math.max(this.out.length * 2, at + n));
      grown.set(this.out.subarray(0, at));
      this.out = grown;
    }
    this.size = at + n;
    return this.out.subarray(at, at + n);
  }

  /** Per 32 slots [runStartBits, base], base + popcount(bits up to the slot) indexing the values. */
  private emitDense(slots: Int32Array, runs: number): number {
    const words = slots.length >>> 5;
    const at = this.size;
    const node = this.reserve(words * 2 + runs);
    let v = words * 2;
    for (let w = 0; w < words; w++) {
      let bits = 0;
      node[w * 2 + 1] = at + v - 1;
      for (let b = 0; b < 32; b++) {
        const s = (w << 5) | b;
        if (s === 0 || slots[s] !== slots[s - 1]) { bits |= 1 << b; node[v++] = slots[s]!; }
      }
      node[w * 2] = bits;
    }
    return at << REF_SHIFT;
  }

  /** ceil(runs / 3) words of three 10-bit run starts (unused lanes LANE_PAD), then the run values. */
  private emitSparse(slots: Int32Array, runs: number): number {
    const words = Math.ceil(runs / 3);
    const at = this.size;
    const node = this.reserve(words + runs).fill(LANE_PAD | (LANE_PAD << 10) | (LANE_PAD << 20), 0, words);
    let r = 0;
    for (let s = 0; s < slots.length; s++) {
      if (s === 0 || slots[s] !== slots[s - 1]) {
        const lane = (r % 3) * 10;
        const w = (r / 3) | 0;
        node[w] = (node[w]! & ~(0x3ff << lane)) | (s << lane);
        node[words + r++] = slots[s]!;
      }
    }
    return (at << REF_SHIFT) | ((words - 1) << 1) | 1;
  }
}

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
//   longest covering prefix, or to a child node (negative).
// - Lower nodes are compressed to stay cache resident: most hold a few runs of equal slots, stored
//   as four words of up to twelve run starts, three per word in 10-bit lanes, then the run values.
//   Lane arithmetic counts the starts at or before a slot without branches: 256 + slot - start has
//   bit 8 set exactly when start <= slot. Nodes with more than twelve runs keep, per 32 slots, a
//   bitmap of run starts and a base index instead (base + popcount(bits up to the slot)).
// - Two layouts of the top two levels. "compact": the 16-bit root is a direct table (256 KB) of
//   leaves and level-1 node references. "flat": every /16 block owns one 64-byte line (4 MB in all)
//   holding its level-1 node inline (up to twelve runs; a busier block's line refers to its node).
//   Beyond cache misses, a table of 100,000 routes costs a small one nothing more, and the misses
//   are what the flat layout cuts: a lookup waits for one line whose place follows from the address
//   instead of two dependent ones (root, then node). On a 4,096-flow working set (bench/
//   route-lookup.ts) that took 100,000 routes from 14-16 ns to 10-11 ns, against 7-8 ns for 10
//   routes. The flat layout costs 4 MB whatever the routes and spreads uniformly random
//   destinations over all of it, so small tables stay compact: a table goes flat when a quarter of
//   the /16 blocks hold prefixes longer than /16 (FLAT_MIN_BLOCKS), where the compact form is past
//   700 KB anyway.
// A lookup is at most three node reads and a short record walk for source-specific or ECMP
// prefixes: its cost does not grow with the number of routes beyond cache effects, and it
// allocates nothing. Callers should pass int32 addresses (`ip | 0`): a uint32 above 2^31 passed to
// a call that is not inlined gets boxed by the caller.
import { prefixMask } from '../../model/addr.js';
import type { CRoute } from '../topology/compiled.js';
import type { RouteTable } from './route-table.js';

/** The leaf of addresses no route covers. */
const NONE = 0;
const ENTRY = 4;
const HEADER = 2;

const LANES = 0x100401; // 1 | 1 << 10 | 1 << 20
const LANE_BIT8 = 0x10040100; // bit 8 of each 10-bit lane
/** A run start no slot reaches: pads the unused lanes of a sparse node's start words. */
const LANE_PAD = 256;
const SPARSE_WORDS = 4;
const SPARSE_MAX_RUNS = SPARSE_WORDS * 3;
/**
 * Node references: offset << 4 | level1 << 3 | sparse. LEVEL1 (8) marks a level-1 node, whose slot
 * is address bits 8..15: `dst >>> (ref & LEVEL1)` brings either level's slot to the low byte.
 */
const REF_SHIFT = 4;
const LEVEL1 = 8;
/** The flat layout: per /16 block, a sparse node of SPARSE_MAX_RUNS values (64 bytes). */
const FLAT_SHIFT = 4;
const FLAT_WORDS = 1 << FLAT_SHIFT;
const BLOCKS = 1 << 16;
/** Blocks with level-1 nodes from which tables take the flat layout (see the file comment). */
const FLAT_MIN_BLOCKS = BLOCKS / 4;
const PAD_WORD = LANE_PAD | (LANE_PAD << 10) | (LANE_PAD << 20);

export type RouteTableLayout = 'compact' | 'flat';

interface Prefix {
  readonly dst: number;
  readonly len: number;
  readonly routes: CRoute[];
  /** The longest shorter prefix containing this one. */
  parent: Prefix | null;
  /** What trie slots covered by this prefix hold: a route (idx << 1 | 1) or a record (offset << 1). */
  leaf: number;
}

/** A route table and the layout it was built with (`layout` picks one; by default, by size). */
export function buildRouteTable(
  routes: readonly CRoute[],
  layout?: RouteTableLayout,
): RouteTable & { readonly layout: RouteTableLayout; readonly bytes: number } {
  const prefixes = groupByPrefix(routes);
  const lists = layoutRecords(prefixes);
  const flat = (layout ?? (nodeBlocks(prefixes) >= FLAT_MIN_BLOCKS ? 'flat' : 'compact')) === 'flat';
  const trie = new TrieBuilder(prefixes, flat).build();
  return new LpmRouteTable(routes.length, trie.flat ?? trie.root, trie.flat !== null, trie.nodes, lists);
}

// One class for both layouts, so that the routers' call site stays monomorphic: a branch on the
// layout is predicted, a polymorphic call is not free (a class per layout made the 10-route lookup
// 1.7 times slower when tried).
class LpmRouteTable implements RouteTable {
  readonly layout: RouteTableLayout;

  constructor(
    readonly size: number,
    /** The root (compact) or the block lines (flat). */
    private readonly r: Int32Array,
    private readonly flat: boolean,
    private readonly t: Int32Array,
    private readonly l: Int32Array,
  ) {
    this.layout = flat ? 'flat' : 'compact';
  }

  /** Memory the table's arrays take. */
  get bytes(): number { return this.r.byteLength + this.t.byteLength + this.l.byteLength; }

  lookup(dst: number, src: number, flowHash: number): number {
    const t = this.t;
    let v: number;
    level1: {
      // Both layouts meet at one sparse-node read: one call site, so the JIT's inlining budget
      // (which it spends per site) covers both (two sites left the compact path a call).
      let a = this.r;
      let o: number;
      if (this.flat) {
        // The block's line holds its level-1 node at a place computed from the address: big tables
        // wait on this one read.
        o = (dst >>> 16) << FLAT_SHIFT;
      } else {
        v = a[dst >>> 16]!;
        if (v >= 0) break level1;
        if ((v & 1) !== 0) { // ~ref has the sparse bit clear: a dense node
          v = t[slotIndex(t, ~v, (dst >>> 8) & 255)]!;
          break level1;
        }
        a = t;
        o = ~v >>> REF_SHIFT;
      }
      v = a[sparseIndex(a, o, (dst >>> 8) & 255)]!;
    }
    if (v < 0) v = descend(t, v, dst);
    if ((v & 1) !== 0) return v >>> 1;
    return v === NONE ? -1 : walk(this.l, v, src, flowHash);
  }
}

/**
 * The rare rest of a lookup that met node `v`: a level-2 node or, in the flat layout, the level-1
 * node of a block too busy to sit inline (then maybe a level-2 one). Out of line so the JIT spends
 * its inlining budget on the common path.
 */
function descend(t: Int32Array, v: number, dst: number): number {
  let w = t[slotIndex(t, ~v, (dst >>> (~v & LEVEL1)) & 255)]!;
  if (w < 0) w = t[slotIndex(t, ~w, dst & 255)]!;
  return w;
}

/** Walks prefix records, then their parents, for the first route whose source prefix matches. */
function walk(l: Int32Array, leaf: number, src: number, flowHash: number): number {
  let v = leaf;
  do {
    const rec = v >>> 1;
    const end = rec + HEADER + (l[rec]! << 2);
    for (let p = rec + HEADER; p < end; p += ENTRY) {
      if ((src & l[p + 1]!) === l[p]) {
        const groupEnd = l[p + 2]!;
        return groupEnd === p + ENTRY ? l[p + 3]! : ecmp(l, p, groupEnd, src, flowHash);
      }
    }
    v = l[rec + 1]!;
  } while ((v & 1) === 0 && v !== NONE);
  return (v & 1) !== 0 ? v >>> 1 : -1;
}

/** Picks among the source-matching routes of one equal-weight group by flow hash. */
function ecmp(l: Int32Array, first: number, groupEnd: number, src: number, flowHash: number): number {
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

/** Index in `t` of the value of slot `s` (0..255) of node `ref`. */
function slotIndex(t: Int32Array, ref: number, s: number): number {
  const o = ref >>> REF_SHIFT;
  if ((ref & 1) !== 0) return sparseIndex(t, o, s);
  const w = o + ((s >>> 5) << 1);
  return t[w + 1]! + popcount(t[w]! & ~(-2 << (s & 31)));
}

/** Index of the value of slot `s` of the sparse node at `o`: the number of run starts up to `s`. */
function sparseIndex(t: Int32Array, o: number, s: number): number {
  const x = Math.imul(s, LANES) + LANE_BIT8;
  const sum = ((x - t[o]!) & LANE_BIT8) + ((x - t[o + 1]!) & LANE_BIT8)
    + ((x - t[o + 2]!) & LANE_BIT8) + ((x - t[o + 3]!) & LANE_BIT8);
  // Each lane of `sum` counts up to 4; multiplying by LANES adds the three lanes into bits 20..29.
  return o + SPARSE_WORDS - 1 + ((Math.imul(sum >>> 8, LANES) >>> 20) & 15);
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
  private readonly scratch = [new Int32Array(BLOCKS), new Int32Array(256), new Int32Array(256)];
  /** The flat layout's block lines, when building it; blocks whose level-1 node went inline. */
  private readonly flat: Int32Array | null;
  private readonly inline: Uint8Array | null;

  constructor(private readonly prefixes: readonly Prefix[], flat: boolean) {
    this.flat = flat ? new Int32Array(BLOCKS << FLAT_SHIFT) : null;
    this.inline = flat ? new Uint8Array(BLOCKS) : null;
  }

  build(): { root: Int32Array; flat: Int32Array | null; nodes: Int32Array } {
    this.node(0, 0, this.prefixes.length, NONE);
    const root = this.scratch[0]!;
    const flat = this.flat;
    if (flat !== null) {
      for (let b = 0; b < BLOCKS; b++) {
        if (this.inline![b] !== 0) continue;
        const o = b << FLAT_SHIFT;
        const v = root[b]!;
        if (v < 0) {
          // Twelve starts at slot 0: every slot counts twelve runs, reading the last value.
          flat.fill(0, o, o + SPARSE_WORDS);
          flat[o + FLAT_WORDS - 1] = v;
        } else {
          flat.fill(PAD_WORD, o, o + SPARSE_WORDS);
          flat[o] = PAD_WORD & ~0x3ff; // one run, from slot 0
          flat[o + SPARSE_WORDS] = v;
        }
      }
    }
    return { root, flat, nodes: this.out.slice(0, this.size) };
  }

  /**
   * Fills the slots of the node for prefixes[from, to) (all inside this node's address block, none
   * shorter than it, in (address, length) order), uncovered slots holding `inherited`. Lower nodes
   * are then emitted and their reference returned; the root stays in its scratch array, and in the
   * flat layout a level-1 node that fits goes inline in its block's line.
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
    const flag = level === 1 ? LEVEL1 : 0;
    if (runs > SPARSE_MAX_RUNS) return this.emitDense(slots, runs) | flag;
    if (level === 1 && this.flat !== null) {
      const block = ps[from]!.dst >>> 16;
      packRuns(this.flat, block << FLAT_SHIFT, slots);
      this.inline![block] = 1;
      return 0; // the root slot it lands in is not read: the block's line replaces it
    }
    return this.emitSparse(slots, runs) | flag;
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

  private emitSparse(slots: Int32Array, runs: number): number {
    const at = this.size;
    packRuns(this.reserve(SPARSE_WORDS + runs), 0, slots);
    return (at << REF_SHIFT) | 1;
  }
}

/** Writes a sparse node at `at`: its run starts (unused lanes LANE_PAD), then the run values. */
function packRuns(out: Int32Array, at: number, slots: Int32Array): void {
  out.fill(PAD_WORD, at, at + SPARSE_WORDS);
  let r = 0;
  for (let s = 0; s < slots.length; s++) {
    if (s === 0 || slots[s] !== slots[s - 1]) {
      const lane = (r % 3) * 10;
      const w = at + ((r / 3) | 0);
      out[w] = (out[w]! & ~(0x3ff << lane)) | (s << lane);
      out[at + SPARSE_WORDS + r++] = slots[s]!;
    }
  }
}

/** How many /16 blocks hold a prefix longer than /16, i.e. get a level-1 node. */
function nodeBlocks(prefixes: readonly Prefix[]): number {
  let count = 0;
  let last = -1;
  for (const p of prefixes) { // in address order: a block's prefixes are contiguous
    if (p.len > 16 && p.dst >>> 16 !== last) { count++; last = p.dst >>> 16; }
  }
  return count;
}

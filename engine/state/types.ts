// Mutable simulation state (MAC tables, ARP caches, connection tracking, NAT bindings) is kept in
// fixed-width hash tables keyed by int32 words. One contract serves a single-thread table and the
// SharedArrayBuffer table that worker threads share (P2), so devices never know which they use.

export const enum Put {
  /** A new entry was written. */
  Inserted = 0,
  /** put(): an existing entry was overwritten and its expiry refreshed. putIfAbsent(): it existed and `out` holds its value. */
  Existed = 1,
  /** The table is at capacity; nothing was written. */
  Full = 2,
}

export interface FlowTable {
  readonly keyWords: number;
  readonly valWords: number;
  readonly capacity: number;
  /**
   * Copies the value for `key` (first keyWords words) into `out` and returns true, or returns false
   * when absent or expired at `nowMs`. Never allocates.
   */
  get(key: Int32Array, out: Int32Array, nowMs: number): boolean;
  /** Insert or overwrite; the entry expires `ttlMs` after `nowMs`. */
  put(key: Int32Array, val: Int32Array, ttlMs: number, nowMs: number): Put;
  /**
   * Insert only when absent (atomically with respect to other threads sharing the table). When an
   * unexpired entry exists its value is copied into `out` and Existed is returned; callers use this
   * to agree on one NAT binding or one conntrack entry across workers.
   */
  putIfAbsent(key: Int32Array, val: Int32Array, ttlMs: number, nowMs: number, out: Int32Array): Put;
  /** Refresh the expiry of an existing entry; false when absent. */
  touch(key: Int32Array, ttlMs: number, nowMs: number): boolean;
  delete(key: Int32Array): boolean;
  /** Live (unexpired) entries, counted approximately under concurrency. */
  size(nowMs: number): number;
}

/** Layouts of the four tables. Key and value words are int32; MACs split into hi/lo 24-bit halves. */
export const MAC_KEY_WORDS = 4; // bridgeIdx, vlan (-1 untagged → 0xfff+1), macHi, macLo
export const MAC_VAL_WORDS = 1; // portIdx
export const ARP_KEY_WORDS = 2; // routerIdx, ip
export const ARP_VAL_WORDS = 2; // macHi, macLo
export const CT_KEY_WORDS = 5; // zone (device number), proto, src, dst, (sport << 16) | dport
export const CT_VAL_WORDS = 1; // flags (reserved)
export const NAT_KEY_WORDS = 6; // zone (device number), kind (NatKind), proto, ip1, ip2, (port1 << 16) | port2
export const NAT_VAL_WORDS = 2; // ip, port

export const enum NatKind {
  /** Forward DNAT: (src, dst, sport, dport) → translated (dst, dport). */
  DnatFwd = 1,
  /** Reverse DNAT: reply tuple (translated dst as src, orig src as dst) → original (dst, dport). */
  DnatRev = 2,
  /** Forward SNAT: (src, dst, sport, dport) → translated (src, sport). */
  SnatFwd = 3,
  /** Reverse SNAT: reply tuple → original (src, sport). */
  SnatRev = 4,
  /** SNAT reservation of (natIp, natPort, dst, dport) so two flows never share a binding. */
  SnatReserve = 5,
}

export interface SimStateTables {
  readonly mac: FlowTable;
  readonly arp: FlowTable;
  readonly conntrack: FlowTable;
  readonly nat: FlowTable;
}

/** Expiry defaults, as Midolman's: MAC entries 30 s idle, ARP 1 h... conntrack/NAT 60 s idle. */
export const MAC_TTL_MS = 30_000;
export const ARP_TTL_MS = 3_600_000;
export const CT_TTL_MS = 60_000;
export const NAT_TTL_MS = 60_000;

// How a trace maps onto Cassandra keys (see schema.ts): the listing index scopes it appears under,
// the time bucket and shard of each, and its sort key inside a partition.
//
// Sizing (README "Running at scale"): at 1,000 hosts × 100 traced packets/s the `all` scope takes
// 100,000 rows/s. One-minute buckets split over 64 shards give ~94 k rows (~32 MB) per partition,
// under Cassandra's ~100 k rows / ~100 MB guidance; an hour over 4 shards (schema version 1) gave
// 90 M. Scopes bounded by one host's rate (`host:`, `host:|result:`, `cond:|host:`) need no
// sharding: 100 traces/s is 6,000 rows a minute. Width and shard count are recorded per bucket in
// the registry (trace_buckets_v2), so both can grow with the deployment: readers use what each
// bucket says, never a constant.
import type { ResultName } from '../../model/result.js';
import { fnv1a } from '../../model/hash.js';

export interface IndexLayout {
  /** Width of a time bucket of the index (one partition per scope, bucket and shard). */
  readonly bucketMs: number;
  /** Partitions per bucket of the busy scopes. */
  readonly shards: number;
}

export const DEFAULT_LAYOUT: IndexLayout = Object.freeze({ bucketMs: 60_000, shards: 64 });
/** Widest bucket a layout may use: readers look this far back for buckets overlapping a time. */
export const MAX_BUCKET_MS = 3_600_000;
export const MAX_SHARDS = 1024;

/** The largest |ms| handled exactly; beyond it times are clamped (they are nonsense anyway). */
const MAX_MS = 2 ** 53 - 1;
const TWO_32 = 0x1_0000_0000;

/** Start (ms) of the bucket of width `widthMs` holding `ms`: buckets of any width align on the epoch. */
export function bucketStart(ms: number, widthMs: number): number {
  return Math.floor(clampMs(ms) / widthMs) * widthMs;
}

/**
 * The trace's shard among `shards`: a hash over the host id and the trace id, so traces spread evenly
 * whatever the ids look like (version 1 took the id's last hex digit: 4/5/4/3 over four shards).
 */
export function shardOf(hostId: string, id: string, shards: number): number {
  return shards <= 1 ? 0 : fnv1a(`${hostId}/${id}`) % shards;
}

/**
 * The clustering key of the listing index: 8 bytes of big-endian startedAt with the sign bit
 * flipped (so unsigned byte order is time order, negative times included), then the id as UTF-8.
 * Cassandra orders blobs bytewise, so one slice `sk < ?` is the keyset condition
 * (startedAt, id) < (cursor) that CQL could otherwise only say with a tuple relation, and an
 * 8-byte key alone is a pure time bound.
 */
export function sortKey(ms: number, id?: string): Buffer {
  const t = Math.floor(clampMs(ms));
  const hi = Math.floor(t / TWO_32);
  const lo = t - hi * TWO_32;
  const idBytes = id === undefined ? 0 : Buffer.byteLength(id, 'utf8');
  const b = Buffer.allocUnsafe(8 + idBytes);
  b.writeInt32BE(hi, 0);
  b[0] = b[0]! ^ 0x80;
  b.writeUInt32BE(lo, 4);
  if (id !== undefined) b.write(id, 8, 'utf8');
  return b;
}

/** The time and id of a sort key (id '' for a pure time bound). */
export function fromSortKey(sk: Buffer): { ms: number; id: string } {
  const hi = (sk.readUInt32BE(0) ^ 0x8000_0000) | 0;
  const ms = hi * TWO_32 + sk.readUInt32BE(4);
  return { ms, id: sk.subarray(8).toString('utf8') };
}

/** Below every sort key. */
export const MIN_SORT_KEY: Buffer = Buffer.alloc(8, 0);
/** Above every sort key of a representable time. */
export const MAX_SORT_KEY: Buffer = Buffer.alloc(9, 0xff);
export const MIN_MS = -MAX_MS;
export const MAX_MS_KEY = MAX_MS;

/**
 * Index scopes: one per filter and per pair of filters the API allows (SPEC §6: conditionId, hostId,
 * result), so a listing with one or two filters reads only rows that match. `hot` scopes may take
 * every host's traces and are sharded; the others are bounded by one host's rate.
 */
export interface Scope { readonly name: string; readonly hot: boolean }

export const SCOPE_ALL = 'all';
export const hostScope = (hostId: string): string => `host:${hostId}`;
export const resultScope = (result: ResultName | string): string => `result:${result}`;
export const conditionScope = (conditionId: string): string => `cond:${conditionId}`;
const pair = (a: string, b: string): string => `${a}|${b}`;

export function scopesOf(hostId: string, result: string, conditionIds: readonly string[]): Scope[] {
  const out: Scope[] = [
    { name: SCOPE_ALL, hot: true },
    { name: hostScope(hostId), hot: false },
    { name: resultScope(result), hot: true },
    { name: pair(hostScope(hostId), resultScope(result)), hot: false },
  ];
  const seen = new Set<string>();
  for (const c of conditionIds) {
    if (seen.has(c)) continue;
    seen.add(c);
    out.push(
      { name: conditionScope(c), hot: true },
      { name: pair(conditionScope(c), hostScope(hostId)), hot: false },
      { name: pair(conditionScope(c), resultScope(result)), hot: true },
    );
  }
  return out;
}

/** The scope a listing reads, and the filter left to check on its rows (only with all three filters). */
export function scopeFor(q: { conditionId?: string; hostId?: string; result?: string }): { scope: string; result?: string } {
  const { conditionId: c, hostId: h, result: r } = q;
  if (c !== undefined && h !== undefined) {
    return r !== undefined ? { scope: pair(conditionScope(c), hostScope(h)), result: r } : { scope: pair(conditionScope(c), hostScope(h)) };
  }
  if (c !== undefined) return { scope: r !== undefined ? pair(conditionScope(c), resultScope(r)) : conditionScope(c) };
  if (h !== undefined) return { scope: r !== undefined ? pair(hostScope(h), resultScope(r)) : hostScope(h) };
  if (r !== undefined) return { scope: resultScope(r) };
  return { scope: SCOPE_ALL };
}

/** The layout a scope's new buckets get. */
export function layoutFor(scope: Scope, layout: IndexLayout): IndexLayout {
  return scope.hot ? layout : { bucketMs: layout.bucketMs, shards: 1 };
}

export function checkLayout(l: IndexLayout): string | null {
  if (!Number.isInteger(l.bucketMs) || l.bucketMs < 1_000 || l.bucketMs > MAX_BUCKET_MS || MAX_BUCKET_MS % l.bucketMs !== 0) {
    return `index bucket width must be a whole number of ms from 1000 to ${MAX_BUCKET_MS} dividing an hour`;
  }
  if (!Number.isInteger(l.shards) || l.shards < 1 || l.shards > MAX_SHARDS) return `index shards must be an integer from 1 to ${MAX_SHARDS}`;
  return null;
}

function clampMs(ms: number): number {
  return ms > MAX_MS ? MAX_MS : ms < -MAX_MS ? -MAX_MS : ms;
}

// How a trace maps onto Cassandra keys (see schema.ts): its time bucket, its shard and its sort key
// in the listing index, and the index scopes (one per listing filter) it appears under.
import type { ResultName } from '../../model/result.js';

/** Width of one time bucket of the listing index: one partition per scope, hour and shard. */
export const BUCKET_MS = 3_600_000;
/** Partitions per scope and hour, so one busy hour does not land on one replica set. */
export const SHARDS = 4;

/** The largest |ms| handled exactly; beyond it times are clamped (they are nonsense anyway). */
const MAX_MS = 2 ** 53 - 1;
const TWO_32 = 0x1_0000_0000;

export function bucketOf(ms: number): number {
  return Math.floor(clampMs(ms) / BUCKET_MS);
}

/** Which of the SHARDS partitions of a bucket holds the trace; derived from the id, so a delete finds it. */
export function shardOf(id: string): number {
  return id.length === 0 ? 0 : id.charCodeAt(id.length - 1) % SHARDS;
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

/** Below every sort key. */
export const MIN_SORT_KEY: Buffer = Buffer.alloc(8, 0);
/** Above every sort key of a representable time. */
export const MAX_SORT_KEY: Buffer = Buffer.alloc(9, 0xff);

export const MIN_BUCKET = bucketOf(-MAX_MS);
export const MAX_BUCKET = bucketOf(MAX_MS);

/** Index scopes: every trace is listed under `all`, its host, its result and each of its conditions. */
export const SCOPE_ALL = 'all';
export const hostScope = (hostId: string): string => `host:${hostId}`;
export const resultScope = (result: ResultName | string): string => `result:${result}`;
export const conditionScope = (conditionId: string): string => `cond:${conditionId}`;

export function scopesOf(hostId: string, result: string, conditionIds: readonly string[]): string[] {
  const out = [SCOPE_ALL, hostScope(hostId), resultScope(result)];
  for (const c of conditionIds) {
    const s = conditionScope(c);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

function clampMs(ms: number): number {
  return ms > MAX_MS ? MAX_MS : ms < -MAX_MS ? -MAX_MS : ms;
}

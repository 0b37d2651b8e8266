// The one retry schedule of every store: ZooKeeper's first session and its resync runs, Cassandra's
// first connection.

/** Capped exponential backoff: `min` after the first failure, doubling up to `max`. */
export function backoffMs(failures: number, min: number, max: number): number {
  return Math.min(max, min * 2 ** Math.min(Math.max(failures, 1) - 1, 16));
}

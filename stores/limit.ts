// The one bound on concurrent store requests, for every backend: ZooKeeper reads and transactions,
// Cassandra writes and deletes. A client library would otherwise queue thousands of requests per
// connection, and a slow server would hold them all.

/** A request not sent yet, for mapLimit(jobs, n, (job) => job()). */
export type Job = () => Promise<unknown>;

/** A run ended by its `stop()` before every call started. */
export class StoppedError extends Error {}

const never = (): boolean => false;

/**
 * Calls `fn` on each item, in order, with at most `limit` calls in flight; results keep the input
 * order. A call that throws, or `stop()` turning true, ends the run: no further call starts, the
 * calls in flight are awaited (none is left to reject unobserved), and the run rejects with the
 * first error, or a StoppedError (`stopped` its message) when calls were left unstarted.
 */
export async function mapLimit<T, R>(
  items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>,
  stop: () => boolean = never, stopped = 'stopped before every request was sent',
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const lane = async (): Promise<void> => {
    while (next < items.length && !failed && !stop()) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        if (!failed) { failed = true; firstError = err; }
      }
    }
  };
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < limit && i < items.length; i++) lanes.push(lane());
  await Promise.all(lanes);
  if (failed) throw firstError;
  if (next < items.length) throw new StoppedError(stopped);
  return out;
}

// Runs request thunks with a bound on how many are in flight at once (cassandra.maxInFlight): the
// driver would otherwise queue thousands of requests per connection and a slow node would hold
// them all. Waits for every started request, so none is left behind to reject unobserved.

export type Job = () => Promise<unknown>;

export interface RunResult { failed: number; firstError: unknown }

/**
 * Starts jobs in order, at most `limit` at a time. After a failure, jobs not yet started are skipped
 * (the batch has failed already), and so are all jobs once `stop()` says so (closing).
 */
export async function runLimited(jobs: readonly Job[], limit: number, stop: () => boolean): Promise<RunResult> {
  const res: RunResult = { failed: 0, firstError: undefined };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length && res.failed === 0 && !stop()) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        if (res.failed++ === 0) res.firstError = err;
      }
    }
  };
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < limit && i < jobs.length; i++) lanes.push(lane());
  await Promise.all(lanes);
  if (res.failed === 0 && next < jobs.length) {
    res.failed = jobs.length - next;
    res.firstError = new Error('cassandra trace writer is closing');
  }
  return res;
}

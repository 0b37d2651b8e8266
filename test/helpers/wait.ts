import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls until `check` holds and returns how long that took. Traces reach their sink fire-and-forget, and
 * ZooKeeper, the datapath and child processes settle on their own time: tests wait for the effect, not
 * for a fixed delay.
 */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, ms = 10_000, everyMs = 25): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
  return Date.now() - start;
}

/** Polls until `f` returns something other than null, and returns it. */
export async function waitForValue<T>(what: string, f: () => Promise<T | null>, ms = 10_000): Promise<T> {
  let value: T | null = null;
  await waitUntil(what, async () => (value = await f()) !== null, ms);
  return value as T;
}

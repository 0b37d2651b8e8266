// Runs one resync task for a burst of ZooKeeper watch events: events only mark what is dirty and
// kick(); the task reads everything dirty at once. Never two runs at a time; a kick during a run
// earns exactly one more run after it, so no change is left unread. A failed run (connection lost,
// timeout) is retried with capped exponential backoff; kick({ now: true }) skips the wait (the
// session came back). flush() runs the task at once (after a run in progress) and waits for it: a
// writer uses it so that its own change is read and told before it answers.

export interface CoalescerOptions {
  /** Delay between the first kick of a burst and the run: later events of the burst ride along. */
  delayMs: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** A run threw (a bug: tasks report failure by returning false). */
  onError(err: unknown): void;
}

/** Capped exponential backoff: `min` after the first failure, doubling up to `max`. */
export function backoffMs(failures: number, min: number, max: number): number {
  return Math.min(max, min * 2 ** Math.min(failures - 1, 16));
}

export class Coalescer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  private failures = 0;
  private stopped = false;
  /** The run in progress, and how many runs have started (flush() waits for one that began after it). */
  private current: Promise<void> | null = null;
  private started = 0;

  /** `task` resolves true when everything dirty was read, false to be retried later. */
  constructor(
    private readonly task: () => Promise<boolean>,
    private readonly opts: CoalescerOptions,
  ) {}

  kick(o: { now?: boolean } = {}): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== null) {
      if (o.now !== true) return;
      clearTimeout(this.timer);
    }
    this.schedule(this.opts.delayMs);
  }

  /** Resolves after a run that started after this call has finished (whatever it returned). */
  async flush(): Promise<void> {
    const after = this.started;
    while (!this.stopped) {
      if (!this.running) {
        if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
        await this.run();
        return;
      }
      const runningIndex = this.started;
      await this.current;
      if (runningIndex > after) return;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private run(): Promise<void> {
    this.started++;
    this.current = this.runOnce();
    return this.current;
  }

  private async runOnce(): Promise<void> {
    this.timer = null;
    this.running = true;
    this.again = false;
    let ok = false;
    try {
      ok = await this.task();
    } catch (err) {
      this.opts.onError(err);
    }
    this.running = false;
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      if (this.again) this.schedule(this.opts.delayMs);
    } else {
      this.failures++;
      const wait = backoffMs(this.failures, this.opts.retryMinMs ?? 100, this.opts.retryMaxMs ?? 5_000);
      this.schedule(this.again ? this.opts.delayMs : wait);
    }
    this.again = false;
  }
}

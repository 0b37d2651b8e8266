// "Loaded at least once": set once by a store's first complete read; start-up waits on it with a
// deadline, since ZooKeeper may be down and the daemon must start anyway.
export class ReadyLatch {
  private done = false;
  private waiters: (() => void)[] = [];

  get isSet(): boolean { return this.done; }

  set(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves true once set, or false after `timeoutMs`. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.done) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

// `limit` across hosts and restarts (P9 item 12). Workers count hits in shared memory, which bounds
// one daemon's traces but knows nothing of other hosts or of earlier runs; before a traced packet is
// stored, each limited condition it matched claims one unit from the shared store (ConditionHits).
// A condition whose claim fails is taken off the trace, and a trace left with no condition is not
// stored (unless the client asked for `?trace=true`). Once the store says a limit is spent, the
// workers' counter is set to the limit, so the daemon stops matching it at no further cost.
import type { ConditionHits, TraceRecord } from '../model/stores.js';
import type { TraceConditionJson } from '../model/trace.js';
import type { Logger } from './log.js';
import type { SimPool } from './pool/pool.js';

/** Whether a condition's `limit` counts: it has one and is enabled. */
export function limitInForce(c: TraceConditionJson): boolean { return c.limit !== undefined && c.enabled !== false; }

export class ConditionLimits {
  /** Limit of each published condition that has one. */
  private limits = new Map<string, number>();
  /** Last count seen from the store, for /metrics (which cannot wait for it). */
  private readonly known = new Map<string, number>();

  constructor(
    private readonly hits: ConditionHits,
    private readonly pool: SimPool,
    private readonly log: Logger,
  ) {}

  /** After the pool took a new condition list: learn the limits, and which are already spent. */
  published(list: readonly TraceConditionJson[]): void {
    const next = new Map<string, number>();
    for (const c of list) if (limitInForce(c)) next.set(c.id, c.limit!);
    const fresh = [...next].filter(([id, limit]) => this.limits.get(id) !== limit);
    this.limits = next;
    for (const id of [...this.known.keys()]) if (!next.has(id)) this.known.delete(id);
    // One exists() per new or changed limit: a daemon (re)started after the limit was spent elsewhere
    // does not claim again. A failure here costs nothing but one claim later.
    for (const [id, limit] of fresh) {
      this.hits.count(id, limit).then((n) => this.saw(id, n), () => undefined);
    }
  }

  /** Whether any published condition has a limit (then traced packets must go through admit()). */
  active(): boolean { return this.limits.size > 0; }

  /**
   * Claims the units of the traces' limited conditions; returns the traces to store (the same
   * objects when nothing changed) and the ids of those dropped.
   */
  async admit(traces: readonly TraceRecord[], forced: boolean): Promise<{ keep: TraceRecord[]; dropped: Set<string> | null }> {
    const keep: TraceRecord[] = [];
    let dropped: Set<string> | null = null;
    if (this.limits.size === 0) return { keep: traces as TraceRecord[], dropped };
    const decided = await Promise.all(traces.map((rec) => this.admitOne(rec)));
    for (let i = 0; i < traces.length; i++) {
      const rec = traces[i]!;
      const ids = decided[i]!;
      if (ids === rec.conditionIds) keep.push(rec);
      else if (ids.length > 0 || forced) keep.push({ ...rec, conditionIds: ids });
      else (dropped ??= new Set()).add(rec.id);
    }
    return { keep, dropped };
  }

  /** The condition's `hits`: from the store when it has a limit, else this daemon's count. */
  async count(id: string): Promise<number> {
    const limit = this.limits.get(id);
    if (limit === undefined) return this.pool.hitsOf(id);
    try {
      const n = await this.hits.count(id, limit);
      this.saw(id, n);
      return n;
    } catch {
      return this.known.get(id) ?? 0;
    }
  }

  /** Without asking the store (metrics). */
  lastKnown(id: string): number {
    return this.limits.has(id) ? this.known.get(id) ?? 0 : this.pool.hitsOf(id);
  }

  /** The deleted condition's units go too (an id stored again starts at zero). */
  async forget(id: string): Promise<void> {
    try {
      await this.hits.forget(id);
    } catch (err) {
      this.log.warn({ err, conditionId: id }, 'could not remove a deleted trace condition\'s hit count');
    }
  }

  /** The condition ids that keep their claim (the record's own array when all do). */
  private async admitOne(rec: TraceRecord): Promise<readonly string[]> {
    let out: string[] | null = null;
    for (let i = 0; i < rec.conditionIds.length; i++) {
      const id = rec.conditionIds[i]!;
      const limit = this.limits.get(id);
      const claim = limit === undefined ? 'kept' : await this.hits.claim(id, limit);
      if (claim === 'kept') {
        if (limit !== undefined) this.known.set(id, Math.min(limit, (this.known.get(id) ?? 0) + 1));
        out?.push(id);
        continue;
      }
      if (claim === 'exhausted') this.saw(id, limit!);
      out ??= rec.conditionIds.slice(0, i);
    }
    return out ?? rec.conditionIds;
  }

  private saw(id: string, n: number): void {
    const limit = this.limits.get(id);
    if (limit === undefined) return;
    this.known.set(id, n);
    if (n >= limit) this.pool.exhaust(id, limit);
  }
}

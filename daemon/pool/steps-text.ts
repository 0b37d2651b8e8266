// The stored steps text (stores/sqlite/step-codec.ts) of each traced packet a worker simulates,
// built only when its steps differ from those of the last few packets. Packets of a flow make the
// same steps: comparing the recorded entries (engine/trace/step-log.ts) costs a fraction of
// rendering them, and returning the same string object makes StepsDedup's check a pointer one.
import type { PacketContext } from '../../engine/context.js';
import { sameEntries, type StepEntries } from '../../engine/trace/step-log.js';
import { encodeStepList } from '../../stores/sqlite/trace-wire.js';

const SIZE = 8;

export class StepsTextCache {
  private readonly entries: (StepEntries | null)[] = new Array<StepEntries | null>(SIZE).fill(null);
  private readonly texts: string[] = new Array<string>(SIZE).fill('');
  /**
   * For each slot, the slot used right after it last time: flows taking turns in a fixed order (a
   * client's batch cycling over a few) find their text on the first comparison, where a newest-first
   * scan compares each against the others first (and flows to two addresses of one subnet differ only
   * halfway down their steps). -1: none yet.
   */
  private readonly next = new Int8Array(SIZE).fill(-1);
  /** The slot written last; a scan goes from it backwards, so the most recent flow is tried first. */
  private last = 0;
  /** The slot the previous packet used (found or written). */
  private prev = -1;

  /**
   * The steps text of the packet `ctx` just simulated. Every step is at the packet's first step time,
   * where the trace starts (traceHead), so the text does not depend on the time: only on the steps.
   */
  text(ctx: PacketContext): string {
    const log = ctx.log;
    const guess = this.prev >= 0 ? this.next[this.prev]! : -1;
    if (guess >= 0 && this.matches(guess, log)) return this.use(guess);
    for (let k = 0, slot = this.last; k < SIZE; k++, slot = slot === 0 ? SIZE - 1 : slot - 1) {
      if (slot !== guess && this.matches(slot, log)) return this.use(slot);
    }
    const text = encodeStepList(ctx.steps, ctx.stepsAtMs);
    const slot = this.last = (this.last + 1) % SIZE;
    this.entries[slot] = log.freeze();
    this.texts[slot] = text;
    return this.use(slot);
  }

  /** Forgets every packet's steps (a new topology: they hold its predecessor's objects). */
  clear(): void {
    this.entries.fill(null);
    this.texts.fill('');
    this.next.fill(-1);
    this.prev = -1;
  }

  private matches(slot: number, log: StepEntries): boolean {
    const e = this.entries[slot]!;
    return e !== null && sameEntries(e, log);
  }

  private use(slot: number): string {
    if (this.prev >= 0) this.next[this.prev] = slot;
    this.prev = slot;
    return this.texts[slot]!;
  }
}

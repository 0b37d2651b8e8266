// The steps of one traced packet as recorded: for each, a render function and the values it needs
// (up to four references and three numbers), not the step object with its sentence. Rendering (and
// so the strings: MACs, addresses, sentences) waits until a step is read. A worker reads a packet's
// steps only when they differ from those of a recent packet, which a comparison of the recorded
// values tells (sameEntries) at a fraction of the cost of building them (P11).
//
// A render function must depend on its arguments only (the topology objects passed in are
// immutable, a new topology version makes new ones): equal entries then render equal steps.
import { sameConstructedDetails, type TraceStep } from '../../model/step.js';

/** Renders one recorded step from its arguments. Unused arguments are null and 0. */
export type StepRender<A, B, C, D = null> = (a: A, b: B, c: C, x: number, y: number, z: number, d: D) => TraceStep;
type AnyRender = StepRender<never, never, never, never>;

/** The render of a step recorded already built (PacketContext.step): `a` is the step. */
const BUILT: StepRender<TraceStep, null, null, null> = (s) => s;

const INITIAL = 32;

/** What sameEntries compares: a StepLog or a frozen copy of one. */
export interface StepEntries {
  readonly count: number;
  readonly fns: readonly (AnyRender | null)[];
  readonly as: readonly unknown[];
  readonly bs: readonly unknown[];
  readonly cs: readonly unknown[];
  readonly ds: readonly unknown[];
  /** Three per entry. */
  readonly nums: Float64Array;
}

export class StepLog implements StepEntries {
  count = 0;
  fns: (AnyRender | null)[] = new Array<AnyRender | null>(INITIAL).fill(null);
  as: unknown[] = new Array<unknown>(INITIAL).fill(null);
  bs: unknown[] = new Array<unknown>(INITIAL).fill(null);
  cs: unknown[] = new Array<unknown>(INITIAL).fill(null);
  ds: unknown[] = new Array<unknown>(INITIAL).fill(null);
  nums = new Float64Array(INITIAL * 3);

  clear(): void {
    // References are left in place until overwritten: clearing them costs more than holding a few
    // topology objects and strings a little longer.
    this.count = 0;
  }

  add<A, B, C, D>(fn: StepRender<A, B, C, D>, a: A, b: B, c: C, x: number, y: number, z: number, d: D): void {
    const i = this.count;
    if (i === this.fns.length) this.grow();
    this.fns[i] = fn as unknown as AnyRender;
    this.as[i] = a;
    this.bs[i] = b;
    this.cs[i] = c;
    this.ds[i] = d;
    const k = i * 3;
    this.nums[k] = x;
    this.nums[k + 1] = y;
    this.nums[k + 2] = z;
    this.count = i + 1;
  }

  /** Drops every reference held (a new topology: the old one's objects can go). */
  release(): void {
    this.count = 0;
    this.fns.fill(null);
    this.as.fill(null);
    this.bs.fill(null);
    this.cs.fill(null);
    this.ds.fill(null);
  }

  addBuilt(s: TraceStep): void {
    this.add(BUILT, s, null, null, 0, 0, 0, null);
  }

  /** The steps, numbered from 1, every one at `atMs`: a fresh array the caller may keep. */
  render(atMs: number): TraceStep[] {
    const out: TraceStep[] = new Array<TraceStep>(this.count);
    for (let i = 0; i < this.count; i++) {
      const k = i * 3;
      const render = this.fns[i] as unknown as StepRender<unknown, unknown, unknown, unknown>;
      const s = render(this.as[i], this.bs[i], this.cs[i], this.nums[k]!, this.nums[k + 1]!, this.nums[k + 2]!, this.ds[i]);
      s.step = i + 1;
      s.timestampMs = atMs;
      out[i] = s;
    }
    return out;
  }

  /** A copy that later recording leaves alone, for comparing later packets with. */
  freeze(): StepEntries {
    const n = this.count;
    return {
      count: n, fns: this.fns.slice(0, n), as: this.as.slice(0, n), bs: this.bs.slice(0, n), cs: this.cs.slice(0, n),
      ds: this.ds.slice(0, n), nums: this.nums.slice(0, n * 3),
    };
  }

  private grow(): void {
    const n = this.fns.length * 2;
    this.fns.length = n;
    this.as.length = n;
    this.bs.length = n;
    this.cs.length = n;
    this.ds.length = n;
    const nums = new Float64Array(n * 3);
    nums.set(this.nums);
    this.nums = nums;
  }
}

/**
 * Whether p and q render the same steps: same render functions with the same arguments (references
 * by identity, strings by value), and for steps recorded built, the same fields (their details as
 * the Step constructors make them: sameConstructedDetails).
 */
export function sameEntries(p: StepEntries, q: StepEntries): boolean {
  const n = p.count;
  if (n !== q.count) return false;
  const pn = p.nums;
  const qn = q.nums;
  for (let i = 0; i < n; i++) {
    const fn = p.fns[i];
    if (fn !== q.fns[i]) return false;
    if (fn === BUILT) {
      if (!sameBuilt(p.as[i] as TraceStep, q.as[i] as TraceStep)) return false;
      continue;
    }
    const k = i * 3;
    if (p.as[i] !== q.as[i] || p.bs[i] !== q.bs[i] || p.cs[i] !== q.cs[i] || p.ds[i] !== q.ds[i] ||
      pn[k] !== qn[k] || pn[k + 1] !== qn[k + 1] || pn[k + 2] !== qn[k + 2]) return false;
  }
  return true;
}

function sameBuilt(x: TraceStep, y: TraceStep): boolean {
  return x === y || (x.stage === y.stage && x.deviceType === y.deviceType && x.deviceId === y.deviceId &&
    x.deviceName === y.deviceName && x.message === y.message && sameConstructedDetails(x.details, y.details));
}

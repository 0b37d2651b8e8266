// A trace in the form the SQLite sink queues and its writer thread stores: encoded once (in the
// simulation worker, or by write() for records handed over as objects), then moved between threads
// as strings and bound to the INSERT as they are. No trace object is rebuilt on the way.
//
//   head:  [id, hostId, startedAtMs, ingressPortId, result, conditionIds, complete] \n match
//   steps: the stored steps column (step-codec.ts), times relative to startedAtMs
//
// Each part is JSON; JSON text never holds a raw newline, so the first one splits the head. Packets
// of one flow make the same steps, so a worker's batch carries each distinct steps text once and
// every trace points at its own (EncodedTraceBatch.stepRefs): the bytes that cross threads shrink
// with the repetition, and nothing needs to be hashed to find it (see StepsDedup).
import type { ResultName } from '../../model/result.js';
import type { EncodedTraceBatch, TraceRecord } from '../../model/stores.js';
import { sameConstructedDetails, type TraceStep } from '../../model/step.js';
import { encodeSteps } from './step-codec.js';

/**
 * One queued trace: its head (text[start, end): a worker's batch keeps its heads in one string, and
 * that string travels on to the writer thread as it is, not cut and joined again), its steps text,
 * how many steps it holds, whether its producer lost some.
 */
export interface EncodedTrace {
  readonly text: string;
  readonly start: number;
  readonly end: number;
  readonly stepsText: string;
  readonly steps: number;
  readonly complete: boolean;
}

/** Stands for steps that could not be encoded (e.g. a cyclic detail): storing them fails. */
const UNENCODABLE = 'null';

/** Throws on a record that is not one (null, steps not an array); the caller counts it lost. */
export function encodeHead(rec: TraceRecord): string {
  if (!Array.isArray(rec.steps)) throw new TypeError(`trace ${String(rec.id)}: steps is not an array`);
  return JSON.stringify([rec.id, rec.hostId, Math.floor(rec.startedAtMs), rec.ingressPortId, rec.result, rec.conditionIds, rec.complete !== false]) +
    '\n' + JSON.stringify(rec.match);
}

/** The steps column for the record; UNENCODABLE when they cannot be (the trace keeps its summary). */
export function encodeStepsText(rec: TraceRecord): string {
  try { return encodeSteps(rec.steps, rec.steps.length, Math.floor(rec.startedAtMs)); } catch { return UNENCODABLE; }
}

/**
 * encodeStepsText, except that a record whose steps equal those of one of the last few records (the
 * next packet of a flow, or of one of a few flows taking turns) gets that text back without encoding:
 * comparing the fields costs a fraction of building the JSON, and the same string object makes
 * StepsDedup's check a pointer one.
 *
 * `constructed`: the caller's steps are all made by model/step.ts's Step constructors (a simulation
 * worker's), so their details are compared field by field as STEP_KINDS declares them
 * (sameConstructedDetails), about 7x cheaper than the generic deep comparison any other record gets.
 */
export class StepsTextCache {
  private static readonly SIZE = 8;
  private readonly steps: (readonly TraceStep[] | null)[] = new Array(StepsTextCache.SIZE).fill(null);
  private readonly starts = new Float64Array(StepsTextCache.SIZE);
  private readonly texts: string[] = new Array(StepsTextCache.SIZE).fill('');
  /**
   * For each slot, the slot that was used right after it last time: flows taking turns in a fixed
   * order (a client's batch cycling over a few) then find their text on the first comparison, where
   * a newest-first scan compares each against the others' steps first (and flows to different
   * destinations of one subnet differ only halfway down their steps). -1: none yet.
   */
  private readonly next = new Int8Array(StepsTextCache.SIZE).fill(-1);
  /** The slot written last; a scan goes from it backwards, so the most recent flow is tried first. */
  private last = 0;
  /** The slot the previous record used (found or written). */
  private prev = -1;

  constructor(private readonly constructed = false) {}

  text(rec: TraceRecord): string {
    const start = Math.floor(rec.startedAtMs);
    const steps = Array.isArray(rec.steps) ? rec.steps : null;
    if (steps !== null) {
      const guess = this.prev >= 0 ? this.next[this.prev]! : -1;
      if (guess >= 0 && this.matches(guess, steps, start)) return this.use(guess);
      for (let k = 0, slot = this.last; k < StepsTextCache.SIZE; k++, slot = slot === 0 ? StepsTextCache.SIZE - 1 : slot - 1) {
        if (slot !== guess && this.matches(slot, steps, start)) return this.use(slot);
      }
    }
    const text = encodeStepsText(rec);
    const slot = this.last = (this.last + 1) % StepsTextCache.SIZE;
    this.steps[slot] = steps;
    this.starts[slot] = start;
    this.texts[slot] = text;
    this.use(slot);
    return text;
  }

  private matches(slot: number, steps: readonly TraceStep[], start: number): boolean {
    const s = this.steps[slot]!;
    return s !== null && sameSteps(s, this.starts[slot]!, steps, start, this.constructed);
  }

  private use(slot: number): string {
    if (this.prev >= 0) this.next[this.prev] = slot;
    this.prev = slot;
    return this.texts[slot]!;
  }
}

function sameSteps(a: readonly TraceStep[], aStart: number, b: readonly TraceStep[], bStart: number, constructed: boolean): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.timestampMs - aStart !== y.timestampMs - bStart || x.stage !== y.stage || x.deviceType !== y.deviceType ||
      x.deviceId !== y.deviceId || x.deviceName !== y.deviceName || x.message !== y.message ||
      !(constructed ? sameConstructedDetails(x.details, y.details) : sameJson(x.details ?? {}, y.details ?? {}, 0))) return false;
  }
  return true;
}

/**
 * Whether a and b are the same JSON values, conservatively: false whenever unsure (deep, undefined
 * members, NaN), which only costs an encoding.
 */
function sameJson(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || depth > 6) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i], depth + 1)) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // Keys in order without Object.keys' two arrays a call (this runs for every detail of every traced
  // packet): a's keys go on a shared stack, b's are checked against them in order, then the values.
  const base = keyTop;
  for (const k in a) keyStack[keyTop++] = k;
  let i = base;
  let same = true;
  for (const k in b) {
    if (i === keyTop || keyStack[i] !== k) { same = false; break; }
    i++;
  }
  if (same && i === keyTop) {
    const end = keyTop;
    for (let j = base; j < end; j++) {
      const k = keyStack[j]!;
      const va = (a as Record<string, unknown>)[k];
      if (va === undefined || !Object.hasOwn(a, k) || !sameJson(va, (b as Record<string, unknown>)[k], depth + 1)) { same = false; break; }
    }
  } else {
    same = false;
  }
  keyTop = base;
  return same;
}

/** sameJson's stack of keys, shared by its recursion (each call pops what it pushed). */
const keyStack: string[] = [];
let keyTop = 0;

/**
 * Finds a steps text among the batch's recent distinct ones by comparing strings (a length check
 * rejects almost every other flow's text at once), so a repeat costs one memcmp, not a hash.
 */
export class StepsDedup {
  readonly texts: string[] = [];
  private static readonly WINDOW = 32;

  /** Index of `text` in `texts`, added when it is not among the last WINDOW distinct ones. */
  ref(text: string): number {
    const t = this.texts;
    const stop = Math.max(0, t.length - StepsDedup.WINDOW);
    for (let i = t.length - 1; i >= stop; i--) {
      const s = t[i]!;
      if (s.length === text.length && s === text) return i;
    }
    t.push(text);
    return t.length - 1;
  }
}

export interface DecodedTrace {
  id: string;
  hostId: string;
  startedAtMs: number;
  ingressPortId: string;
  result: ResultName;
  conditionIds: string[];
  /** MatchSummary JSON, as stored. */
  match: string;
}

type Header = [string, string, number, string, ResultName, string[], boolean];

export function decodeHead(head: string, start = 0, end = head.length): DecodedTrace {
  const a = head.indexOf('\n', start);
  if (a < 0 || a >= end) throw new Error('not an encoded trace');
  const [id, hostId, startedAtMs, ingressPortId, result, conditionIds] = JSON.parse(head.slice(start, a)) as Header;
  return { id, hostId, startedAtMs, ingressPortId, result, conditionIds, match: head.slice(a + 1, end) };
}

/** The steps column holding only the first `count` steps (a full queue kept only those). */
export function truncateSteps(steps: string, count: number): string {
  const all = JSON.parse(steps) as unknown;
  if (!Array.isArray(all)) throw new Error('the steps of this trace could not be encoded');
  return JSON.stringify(all.slice(0, count));
}

/** True when the steps could not be encoded: storing them must fail so the summary is kept alone. */
export function unencodable(steps: string): boolean { return steps === UNENCODABLE; }

/** Every trace of a worker's batch, decoded (tests, tools). */
export function decodeTraceBatch(batch: EncodedTraceBatch): (DecodedTrace & { stepsText: string })[] {
  return Array.from(batch.ends, (end, i) => ({
    ...decodeHead(batch.text, i === 0 ? 0 : batch.ends[i - 1]!, end),
    stepsText: batch.stepTexts[batch.stepRefs[i]!]!,
  }));
}

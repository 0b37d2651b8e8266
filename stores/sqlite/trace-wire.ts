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
import type { EncodedTraceBatch, TraceHead, TraceRecord } from '../../model/stores.js';
import type { TraceStep } from '../../model/step.js';
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

/** Throws on a record that is not one (null); the caller counts it lost. */
export function encodeHead(rec: TraceHead): string {
  return JSON.stringify([rec.id, rec.hostId, Math.floor(rec.startedAtMs), rec.ingressPortId, rec.result, rec.conditionIds, rec.complete !== false]) +
    '\n' + JSON.stringify(rec.match);
}

/** The steps column for the record; UNENCODABLE when they cannot be (the trace keeps its summary). */
export function encodeStepsText(rec: TraceRecord): string {
  return encodeStepList(rec.steps, rec.startedAtMs);
}

/** The steps column for `steps` of a trace started at `startedAtMs`; UNENCODABLE when they cannot be. */
export function encodeStepList(steps: readonly TraceStep[], startedAtMs: number): string {
  try { return encodeSteps(steps, steps.length, Math.floor(startedAtMs)); } catch { return UNENCODABLE; }
}

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

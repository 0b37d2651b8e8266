// A trace in the form the SQLite sink queues and its writer thread stores: encoded once (in the
// simulation worker, or by write() for records handed over as objects), then moved between threads
// as a string and bound to the INSERT as it is. No trace object is rebuilt on the way.
//
//   [id, hostId, startedAtMs, ingressPortId, result, conditionIds, complete] \n match \n steps
//
// Each part is JSON; JSON text never holds a raw newline, so the first two split the parts. The steps
// part is already the stored column (step-codec.ts), times relative to startedAtMs.
import type { ResultName } from '../../model/result.js';
import type { EncodedTraceBatch, TraceRecord } from '../../model/stores.js';
import { encodeSteps } from './step-codec.js';

/** One queued trace: its text, how many steps it holds, whether its producer lost steps. */
export interface EncodedTrace {
  readonly text: string;
  readonly steps: number;
  readonly complete: boolean;
}

/** Stands for steps that could not be encoded (e.g. a cyclic detail): storing them fails. */
const UNENCODABLE = 'null';

/** Throws on a record that is not one (null, steps not an array); the caller counts it lost. */
export function encodeTrace(rec: TraceRecord): string {
  const t0 = Math.floor(rec.startedAtMs);
  const steps = rec.steps;
  if (!Array.isArray(steps)) throw new TypeError(`trace ${String(rec.id)}: steps is not an array`);
  let stepsText: string;
  // The trace keeps its summary when its steps cannot be stored (the queue's retry does that).
  try { stepsText = encodeSteps(steps, steps.length, t0); } catch { stepsText = UNENCODABLE; }
  return JSON.stringify([rec.id, rec.hostId, t0, rec.ingressPortId, rec.result, rec.conditionIds, rec.complete !== false]) +
    '\n' + JSON.stringify(rec.match) + '\n' + stepsText;
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
  /** The steps column (step-codec.ts) with every step of the record. */
  steps: string;
}

type Header = [string, string, number, string, ResultName, string[], boolean];

export function decodeTrace(text: string): DecodedTrace {
  const a = text.indexOf('\n');
  const b = text.indexOf('\n', a + 1);
  if (a < 0 || b < 0) throw new Error('not an encoded trace');
  const [id, hostId, startedAtMs, ingressPortId, result, conditionIds] = JSON.parse(text.slice(0, a)) as Header;
  return { id, hostId, startedAtMs, ingressPortId, result, conditionIds, match: text.slice(a + 1, b), steps: text.slice(b + 1) };
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
export function decodeTraceBatch(batch: EncodedTraceBatch): DecodedTrace[] {
  return Array.from(batch.ends, (end, i) => decodeTrace(batch.text.slice(i === 0 ? 0 : batch.ends[i - 1]!, end)));
}

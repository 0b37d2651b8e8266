// The stored form of a trace's steps (see trace_steps in schema.ts): one JSON array of tuples.
import type { Stage, StepDeviceType, TraceStep } from '../../model/step.js';
import type { StepJson } from '../../model/trace.js';
import { toStepJson } from '../../model/step-json.js';

type StepTuple = [number, Stage, StepDeviceType, string, string, string, unknown];

/** The first `count` steps of `steps`, times relative to the trace start. */
export function encodeSteps(steps: readonly TraceStep[], count: number, startedAtMs: number): string {
  const out: StepTuple[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const s = steps[i]!;
    out[i] = [s.timestampMs - startedAtMs, s.stage, s.deviceType, s.deviceId, s.deviceName, s.message, s.details ?? {}];
  }
  return JSON.stringify(out);
}

/**
 * At most `count` steps, numbered by position (1..n whatever the producer said), each with the
 * trace's host id.
 */
export function decodeSteps(json: string, count: number, startedAtMs: number, hostId: string): StepJson[] {
  const stored = JSON.parse(json) as StepTuple[];
  const n = Math.min(stored.length, count);
  const steps: StepJson[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const [dt, stage, deviceType, deviceId, deviceName, message, details] = stored[i]!;
    // A producer that left the time out (null after JSON) must not make the trace unreadable.
    const timestampMs = typeof dt === 'number' ? startedAtMs + dt : startedAtMs;
    // Steps stored before details had a kind read too: toStepJson tells their kind.
    steps[i] = toStepJson(i + 1, hostId, { timestampMs, stage, deviceType, deviceId, deviceName, message, details });
  }
  return steps;
}

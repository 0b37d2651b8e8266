// A trace as hops: consecutive steps at one device. Used where a trace is shown or compared device by
// device (the diff, the OTLP export's spans).
import type { StepJson } from './trace.js';

export interface Hop { deviceId: string; deviceType: StepJson['deviceType']; deviceName: string; steps: StepJson[] }

/** Chain and rule steps belong to the device whose filter ran them: the hop they occur in. */
export function traceHops(steps: readonly StepJson[]): Hop[] {
  const out: Hop[] = [];
  for (const s of steps) {
    const last = out.at(-1);
    const filter = s.deviceType === 'chain' || s.deviceType === 'rule';
    if (last !== undefined && (filter || last.deviceId === s.deviceId)) last.steps.push(s);
    else out.push({ deviceId: s.deviceId, deviceType: s.deviceType, deviceName: s.deviceName, steps: [s] });
  }
  return out;
}

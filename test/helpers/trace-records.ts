// Builders for TraceRecords in tests and benchmarks: a record reads like the packet it describes.
import type { ResultName } from '../../model/result.js';
import type { Stage, StepDeviceType, TraceStep } from '../../model/step.js';
import type { MatchSummary, StepJson, TraceSummary } from '../../model/trace.js';
import { createTraceIdGenerator } from '../../engine/trace/trace-id.js';
import type { TraceRecord } from '../../model/stores.js';

export const HOST_A = '6a1b2c3d-0000-4000-8000-00000000000a';
export const HOST_B = '6a1b2c3d-0000-4000-8000-00000000000b';
export const PORT_1 = '7e000000-0000-4000-8000-000000000001';

const STAGES: readonly Stage[] = ['reception', 'processing', 'disposition'];
const TYPES: readonly StepDeviceType[] = ['port', 'bridge', 'router', 'chain', 'rule'];

export interface RecordSpec {
  id?: string;
  hostId?: string;
  conditionIds?: string[];
  startedAtMs?: number;
  result?: ResultName;
  steps?: number;
  complete?: boolean;
}

const nextId = createTraceIdGenerator();

export function makeMatch(i: number): MatchSummary {
  return {
    ethSrc: `02:00:00:00:${hex2(i >> 8)}:${hex2(i)}`, ethDst: '02:00:00:00:ff:01', etherType: 0x0800,
    nwSrc: `10.0.${(i >> 8) & 255}.${i & 255}`, nwDst: '192.168.1.10', nwProto: 6, tpSrc: 1024 + (i % 60000), tpDst: 80,
  };
}

/** Step i (0-based) of a trace: varied fields, nested details, a non-ASCII name. */
export function makeStep(i: number, startedAtMs: number): TraceStep {
  return {
    step: i + 1,
    timestampMs: startedAtMs + i,
    stage: STAGES[i % 3]!,
    deviceType: TYPES[i % 5]!,
    deviceId: `de000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    deviceName: `dev-${i}-ü`,
    message: `step ${i + 1}: forwarded to port ${PORT_1}`,
    // Free-form details (the `legacy` kind allows any fields), so stores show they keep nesting and text as given.
    details: { kind: 'legacy', n: i, ports: [PORT_1, 'x'], nested: { ok: i % 2 === 0, ttl: 64 - i }, text: 'ä "q"' },
  };
}

export function makeRecord(spec: RecordSpec = {}): TraceRecord {
  const startedAtMs = spec.startedAtMs ?? Date.now();
  const n = spec.steps ?? 3;
  const steps: TraceStep[] = [];
  for (let i = 0; i < n; i++) steps.push(makeStep(i, startedAtMs));
  const rec: TraceRecord = {
    id: spec.id ?? nextId(startedAtMs),
    hostId: spec.hostId ?? HOST_A,
    conditionIds: spec.conditionIds ?? [],
    startedAtMs,
    ingressPortId: PORT_1,
    match: makeMatch(startedAtMs & 0xffff),
    result: spec.result ?? 'forward',
    steps,
  };
  if (spec.complete !== undefined) rec.complete = spec.complete;
  return rec;
}

/** The summary a store should return for a record stored whole (or with its first `stored` steps). */
export function expectedSummary(rec: TraceRecord, stored = rec.steps.length, complete = true): TraceSummary {
  return {
    id: rec.id, hostId: rec.hostId, conditionIds: [...rec.conditionIds],
    startedAt: new Date(rec.startedAtMs).toISOString(), ingressPortId: rec.ingressPortId,
    match: rec.match, result: rec.result, numSteps: stored, complete,
  };
}

export function expectedSteps(rec: TraceRecord, stored = rec.steps.length): StepJson[] {
  return rec.steps.slice(0, stored).map((s, i) => ({
    step: i + 1, timestamp: new Date(s.timestampMs).toISOString(), hostId: rec.hostId, stage: s.stage,
    deviceType: s.deviceType, deviceId: s.deviceId, deviceName: s.deviceName, message: s.message,
    details: s.details,
  }));
}

/** Newest-first order of the trace listing. */
export function newestFirst(a: TraceRecord, b: TraceRecord): number {
  if (a.startedAtMs !== b.startedAtMs) return b.startedAtMs - a.startedAtMs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function hex2(n: number): string { return (n & 255).toString(16).padStart(2, '0'); }

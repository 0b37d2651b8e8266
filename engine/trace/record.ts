// A traced simulation as a TraceRecord (what workers hand to the sink) and as SPEC §5 TRACE JSON.
import type { PacketContext } from '../context.js';
import { RESULT_NAMES } from '../../model/result.js';
import { matchSummary } from '../packet-json.js';
import type { TraceHead, TraceRecord } from '../../model/stores.js';
import type { StepJson, Trace } from '../../model/trace.js';
import { toStepJson } from '../../model/step-json.js';

/**
 * A trace starts with its first step (`startedAtMs` only stands in when none was recorded): its steps
 * are then at +0 ms, and a flow's stored steps text is the same from one millisecond to the next.
 */
export function traceHead(ctx: PacketContext, id: string, startedAtMs: number): TraceHead {
  const port = ctx.topo.ports[ctx.ingressPort];
  return {
    id,
    hostId: ctx.hostId,
    conditionIds: ctx.conditionIds.slice(),
    startedAtMs: ctx.log.count > 0 ? ctx.stepsAtMs : startedAtMs,
    ingressPortId: port !== undefined ? port.id : '',
    match: matchSummary(ctx.origPkt, ctx.origLayers),
    result: RESULT_NAMES[ctx.result],
    complete: true,
  };
}

/** The trace with its steps rendered (a fresh array the record keeps). */
export function traceRecord(ctx: PacketContext, id: string, startedAtMs: number): TraceRecord {
  return { ...traceHead(ctx, id, startedAtMs), steps: ctx.steps };
}

export function recordToTrace(rec: TraceRecord): Trace {
  const steps: StepJson[] = rec.steps.map((s, i) => toStepJson(i + 1, rec.hostId, s));
  return {
    id: rec.id,
    hostId: rec.hostId,
    conditionIds: [...rec.conditionIds],
    startedAt: new Date(rec.startedAtMs).toISOString(),
    ingressPortId: rec.ingressPortId,
    match: rec.match,
    result: rec.result,
    numSteps: steps.length,
    complete: rec.complete !== false,
    steps,
  };
}

export function buildTrace(ctx: PacketContext, id: string, startedAtMs: number): Trace {
  return recordToTrace(traceRecord(ctx, id, startedAtMs));
}

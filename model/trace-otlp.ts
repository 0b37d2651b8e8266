// A trace as OTLP/JSON (GET /traces/{id}/export?format=otlp): an ExportTraceServiceRequest, the
// body the OpenTelemetry collector's OTLP/HTTP receiver takes as application/json. One span per
// device hop (model/trace-hops.ts), each the child of the hop before it, so a tracing UI draws the
// packet's path as a waterfall; the hop's steps are the span's events.
//
// OTLP/JSON follows protobuf's JSON mapping with OTLP's exceptions: trace and span ids are hex (not
// base64), enums are integers, 64-bit integers are decimal strings, field names lowerCamelCase.
// Timestamps: steps are recorded to the millisecond, so the step number is added in microseconds to
// keep events and spans of one millisecond in step order.
import type { StepJson, Trace } from './trace.js';
import { traceHops } from './trace-hops.js';
import { VERSION } from './version.js';

export type OtlpAnyValue =
  | { stringValue: string } | { boolValue: boolean } | { intValue: string } | { doubleValue: number }
  | { arrayValue: { values: OtlpAnyValue[] } } | { kvlistValue: { values: OtlpKeyValue[] } };
export interface OtlpKeyValue { key: string; value: OtlpAnyValue }

export interface OtlpEvent { timeUnixNano: string; name: string; attributes: OtlpKeyValue[] }

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** SPAN_KIND_INTERNAL */
  kind: 1;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  events: OtlpEvent[];
  /** 0 unset, 2 error (the packet was dropped or rejected at this hop). */
  status: { code: 0 | 2; message?: string };
}

export interface OtlpTraces {
  resourceSpans: {
    resource: { attributes: OtlpKeyValue[] };
    scopeSpans: { scope: { name: string; version: string }; spans: OtlpSpan[] }[];
  }[];
}

function value(v: unknown): OtlpAnyValue | null {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(value).filter((x): x is OtlpAnyValue => x !== null) } };
  if (v !== null && typeof v === 'object') return { kvlistValue: { values: attributes(v as Record<string, unknown>) } };
  return null;
}

/** Fields that are null or undefined are left out: OTLP has no null. */
function attributes(o: Record<string, unknown>, prefix = ''): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  for (const [k, v] of Object.entries(o)) {
    const val = value(v);
    if (val !== null) out.push({ key: prefix + k, value: val });
  }
  return out;
}

function nanos(s: StepJson): bigint {
  const ms = Date.parse(s.timestamp);
  return BigInt(Number.isFinite(ms) ? ms : 0) * 1_000_000n + BigInt(s.step) * 1_000n;
}

/** 16 hex digits, unique per hop of this trace and never all zero. */
function spanId(traceHex: string, hop: number): string {
  return traceHex.slice(16, 28) + (hop + 1).toString(16).padStart(4, '0');
}

export function traceToOtlp(trace: Trace): OtlpTraces {
  const traceHex = trace.id.replaceAll('-', '').toLowerCase().padEnd(32, '0').slice(0, 32);
  const hops = traceHops(trace.steps);
  const spans: OtlpSpan[] = hops.map((h, i) => {
    const first = h.steps[0]!;
    const last = h.steps.at(-1)!;
    const next = hops[i + 1]?.steps[0];
    const end = next !== undefined ? nanos(next) : nanos(last) + 1_000n;
    const fate = last.details.kind === 'dropped' || last.details.kind === 'rejected' ? last : undefined;
    const span: OtlpSpan = {
      traceId: traceHex,
      spanId: spanId(traceHex, i),
      name: `${h.deviceType} ${h.deviceName !== '' ? h.deviceName : h.deviceId}`,
      kind: 1,
      startTimeUnixNano: nanos(first).toString(),
      endTimeUnixNano: end.toString(),
      attributes: attributes({
        'midotrace.device.type': h.deviceType, 'midotrace.device.id': h.deviceId, 'midotrace.device.name': h.deviceName,
        'host.id': first.hostId,
      }),
      events: h.steps.map((s) => ({
        timeUnixNano: nanos(s).toString(),
        name: s.details.kind,
        attributes: attributes({ 'midotrace.step': s.step, 'midotrace.stage': s.stage, 'midotrace.message': s.message,
          'midotrace.device.type': s.deviceType, 'midotrace.device.id': s.deviceId, 'midotrace.device.name': s.deviceName,
          ...Object.fromEntries(Object.entries(s.details).filter(([k]) => k !== 'kind').map(([k, v]) => [`midotrace.${k}`, v])) }),
      })),
      status: fate !== undefined ? { code: 2, message: fate.message } : { code: 0 },
    };
    if (i > 0) span.parentSpanId = spanId(traceHex, i - 1);
    if (i === 0) {
      span.attributes.push(...attributes({
        'midotrace.trace.id': trace.id, 'midotrace.result': trace.result, 'midotrace.complete': trace.complete,
        'midotrace.ingress_port.id': trace.ingressPortId, 'midotrace.condition.ids': trace.conditionIds,
      }), ...attributes(trace.match as Record<string, unknown>, 'midotrace.match.'));
    }
    return span;
  });
  return {
    resourceSpans: [{
      resource: { attributes: attributes({ 'service.name': 'midotrace', 'host.id': trace.hostId }) },
      scopeSpans: [{ scope: { name: 'midotrace', version: VERSION }, spans }],
    }],
  };
}

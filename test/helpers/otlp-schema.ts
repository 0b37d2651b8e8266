// The OTLP trace messages (opentelemetry-proto: collector/trace/v1, trace/v1, common/v1, resource/v1)
// written out as a table of fields, with a checker for OTLP/JSON as the collector's OTLP/HTTP JSON
// receiver reads it: protobuf's JSON mapping (lowerCamelCase names, 64-bit integers as decimal strings
// or numbers, enums as integers) with OTLP's exceptions (trace and span ids in hex). Unknown fields are
// errors here, though the collector ignores them: a misspelt field would silently be lost there.

type Scalar = 'string' | 'bool' | 'uint32' | 'fixed32' | 'int64' | 'fixed64' | 'double' | 'bytes' | 'traceId' | 'spanId';
type Field = { type: Scalar | `enum:${string}` | `msg:${string}`; repeated?: boolean; oneof?: string };

const ENUMS: Record<string, readonly number[]> = {
  SpanKind: [0, 1, 2, 3, 4, 5],
  StatusCode: [0, 1, 2],
};

const MESSAGES: Record<string, Record<string, Field>> = {
  ExportTraceServiceRequest: { resourceSpans: { type: 'msg:ResourceSpans', repeated: true } },
  ResourceSpans: { resource: { type: 'msg:Resource' }, scopeSpans: { type: 'msg:ScopeSpans', repeated: true }, schemaUrl: { type: 'string' } },
  Resource: {
    attributes: { type: 'msg:KeyValue', repeated: true }, droppedAttributesCount: { type: 'uint32' },
    entityRefs: { type: 'msg:EntityRef', repeated: true },
  },
  EntityRef: { schemaUrl: { type: 'string' }, type: { type: 'string' }, idKeys: { type: 'string', repeated: true }, descriptionKeys: { type: 'string', repeated: true } },
  ScopeSpans: { scope: { type: 'msg:InstrumentationScope' }, spans: { type: 'msg:Span', repeated: true }, schemaUrl: { type: 'string' } },
  InstrumentationScope: {
    name: { type: 'string' }, version: { type: 'string' }, attributes: { type: 'msg:KeyValue', repeated: true },
    droppedAttributesCount: { type: 'uint32' },
  },
  Span: {
    traceId: { type: 'traceId' }, spanId: { type: 'spanId' }, traceState: { type: 'string' }, parentSpanId: { type: 'spanId' },
    flags: { type: 'fixed32' }, name: { type: 'string' }, kind: { type: 'enum:SpanKind' },
    startTimeUnixNano: { type: 'fixed64' }, endTimeUnixNano: { type: 'fixed64' },
    attributes: { type: 'msg:KeyValue', repeated: true }, droppedAttributesCount: { type: 'uint32' },
    events: { type: 'msg:Event', repeated: true }, droppedEventsCount: { type: 'uint32' },
    links: { type: 'msg:Link', repeated: true }, droppedLinksCount: { type: 'uint32' }, status: { type: 'msg:Status' },
  },
  Event: {
    timeUnixNano: { type: 'fixed64' }, name: { type: 'string' }, attributes: { type: 'msg:KeyValue', repeated: true },
    droppedAttributesCount: { type: 'uint32' },
  },
  Link: {
    traceId: { type: 'traceId' }, spanId: { type: 'spanId' }, traceState: { type: 'string' },
    attributes: { type: 'msg:KeyValue', repeated: true }, droppedAttributesCount: { type: 'uint32' }, flags: { type: 'fixed32' },
  },
  Status: { message: { type: 'string' }, code: { type: 'enum:StatusCode' } },
  KeyValue: { key: { type: 'string' }, value: { type: 'msg:AnyValue' } },
  AnyValue: {
    stringValue: { type: 'string', oneof: 'value' }, boolValue: { type: 'bool', oneof: 'value' },
    intValue: { type: 'int64', oneof: 'value' }, doubleValue: { type: 'double', oneof: 'value' },
    arrayValue: { type: 'msg:ArrayValue', oneof: 'value' }, kvlistValue: { type: 'msg:KeyValueList', oneof: 'value' },
    bytesValue: { type: 'bytes', oneof: 'value' },
  },
  ArrayValue: { values: { type: 'msg:AnyValue', repeated: true } },
  KeyValueList: { values: { type: 'msg:KeyValue', repeated: true } },
};

const U64 = /^(0|[1-9]\d{0,19})$/;
const I64 = /^-?(0|[1-9]\d{0,18})$/;

function scalarError(type: Scalar, v: unknown): string | null {
  switch (type) {
    case 'string': return typeof v === 'string' ? null : 'must be a string';
    case 'bool': return typeof v === 'boolean' ? null : 'must be a boolean';
    case 'uint32': case 'fixed32': return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? null : 'must be a 32-bit unsigned integer';
    case 'int64': return (typeof v === 'string' && I64.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v)) ? null : 'must be a 64-bit integer (decimal string)';
    case 'fixed64': return (typeof v === 'string' && U64.test(v) && BigInt(v) < 2n ** 64n) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) ? null : 'must be a 64-bit unsigned integer (decimal string)';
    case 'double': return typeof v === 'number' ? null : 'must be a number';
    case 'bytes': return typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? null : 'must be base64';
    case 'traceId': return typeof v === 'string' && /^[0-9a-f]{32}$/.test(v) && !/^0+$/.test(v) ? null : 'must be 32 hex digits, not all zero';
    case 'spanId': return typeof v === 'string' && /^[0-9a-f]{16}$/.test(v) && !/^0+$/.test(v) ? null : 'must be 16 hex digits, not all zero';
  }
}

function check(msg: string, v: unknown, path: string, errors: string[]): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) { errors.push(`${path}: must be an object (${msg})`); return; }
  const fields = MESSAGES[msg]!;
  const oneofs = new Map<string, string>();
  for (const [k, fv] of Object.entries(v as Record<string, unknown>)) {
    const f = fields[k];
    const at = `${path}.${k}`;
    if (f === undefined) { errors.push(`${at}: no such field in ${msg}`); continue; }
    if (f.oneof !== undefined) {
      const seen = oneofs.get(f.oneof);
      if (seen !== undefined) errors.push(`${at}: ${msg}.${f.oneof} already set by ${seen}`);
      oneofs.set(f.oneof, k);
    }
    const items = f.repeated === true ? fv : [fv];
    if (!Array.isArray(items)) { errors.push(`${at}: must be an array`); continue; }
    items.forEach((item, i) => {
      const ip = f.repeated === true ? `${at}[${i}]` : at;
      if (f.type.startsWith('msg:')) check(f.type.slice(4), item, ip, errors);
      else if (f.type.startsWith('enum:')) {
        if (!ENUMS[f.type.slice(5)]!.includes(item as number)) errors.push(`${ip}: not a ${f.type.slice(5)} value`);
      } else {
        const e = scalarError(f.type as Scalar, item);
        if (e !== null) errors.push(`${ip}: ${e}`);
      }
    });
  }
}

/** Every way `body` departs from an OTLP/JSON ExportTraceServiceRequest, by JSON path; [] when valid. */
export function otlpTraceErrors(body: unknown): string[] {
  const errors: string[] = [];
  check('ExportTraceServiceRequest', body, '$', errors);
  return errors;
}

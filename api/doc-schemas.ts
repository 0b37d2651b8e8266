// zod schemas of what the API answers with (SPEC §4, §5, §6), used only to document responses in
// /openapi.json. Requests are validated with schemas.ts; these describe what the server sends.
import { z } from 'zod';
import { RESULT_NAMES } from '../model/result.js';
import { STEP_KIND_NAMES, STEP_KINDS, type FieldSpec, type StepKind } from '../model/step.js';
import { uuid } from '../model/topology/schema.js';
import { API_ERRORS, type ApiErrorCode } from './errors.js';
import { TraceConditionSchema } from './schemas.js';

const iso = (): z.ZodString => z.string().describe('ISO-8601 time');

export const ErrorSchema = z.object({
  code: z.enum(Object.keys(API_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]]).describe('stable error code'),
  message: z.string().describe('one sentence; for 400s it starts with the JSON path of the bad field'),
}).describe('an error');

export const TraceConditionWithHitsSchema = z.object({
  ...TraceConditionSchema.shape,
  id: uuid(),
  hits: z.int().min(0).describe('traces this condition has started: with a limit, counted across every host and restart; without, by this daemon since it started'),
}).describe('a trace condition with its hit count (?stats=true)');

const PacketFieldsSchema = z.object({
  ethSrc: z.string().optional(), ethDst: z.string().optional(),
  vlan: z.union([z.int(), z.array(z.int())]).optional().describe('VLAN id, or [outer, inner] for QinQ'),
  etherType: z.int().optional(),
  arp: z.object({
    op: z.union([z.int(), z.enum(['request', 'reply'])]).optional(),
    sha: z.string().optional(), spa: z.string().optional(), tha: z.string().optional(), tpa: z.string().optional(),
  }).optional(),
  nwSrc: z.string().optional(), nwDst: z.string().optional(),
  nwProto: z.union([z.int(), z.enum(['tcp', 'udp', 'icmp'])]).optional(),
  nwTos: z.int().optional(), ttl: z.int().optional(), fragment: z.enum(['none', 'first', 'later']).optional(),
  tpSrc: z.int().optional(), tpDst: z.int().optional(),
  icmpType: z.int().optional(), icmpCode: z.int().optional(), icmpId: z.int().optional(),
  payloadLength: z.int().optional(),
}).describe('SPEC §3 packet fields; missing fields get defaults');

export const SimulationInputSchema = z.object({
  inPort: uuid().describe('exterior ingress port'),
  packet: PacketFieldsSchema.optional(),
  frame: z.string().optional().describe('hex of an Ethernet frame (instead of packet)'),
}).describe('one packet to simulate: exactly one of packet or frame');

export const SimulationResultSchema = z.object({
  result: z.enum(RESULT_NAMES),
  reason: z.string().describe('stable reason code for drops and consumed packets; none for forward'),
  emitted: z.array(z.object({
    portId: uuid(), generated: z.boolean(), packet: PacketFieldsSchema, frame: z.string(),
  })),
  devicesTraversed: z.int(),
  traceIds: z.array(uuid()),
  error: z.object({ code: z.string(), message: z.string() }).optional().describe('malformed frames only'),
}).describe('SPEC §4 SIMULATION RESULT');

export const TraceSummarySchema = z.object({
  id: uuid(), hostId: z.string(), conditionIds: z.array(uuid()), startedAt: iso(), ingressPortId: uuid(),
  match: z.object({
    ethSrc: z.string().optional(), ethDst: z.string().optional(), etherType: z.int().optional(), vlan: z.int().optional(),
    nwSrc: z.string().optional(), nwDst: z.string().optional(), nwProto: z.int().optional(),
    tpSrc: z.int().optional(), tpDst: z.int().optional(),
  }).describe('the packet as it entered; a malformed frame has only the fields its parse read'),
  result: z.enum(RESULT_NAMES),
  numSteps: z.int(),
  complete: z.boolean().describe('false when any step was lost'),
}).describe('SPEC §5 TRACE SUMMARY');

const ENDPOINT = z.object({ nwSrc: z.string(), nwDst: z.string(), tpSrc: z.int(), tpDst: z.int() }).describe('addresses and ports');

const FIELD: Record<FieldSpec, () => z.ZodType> = {
  'string': () => z.string(),
  'string?': () => z.string().optional(),
  'number': () => z.number(),
  'number?': () => z.number().optional(),
  'boolean': () => z.boolean(),
  'reason': () => z.string().describe('result reason code'),
  'string|null': () => z.string().nullable(),
  'endpoint': () => ENDPOINT,
};

/** One object per step kind (model/step.ts STEP_KINDS), told apart by `kind`. */
function detailsSchema(kind: StepKind): z.ZodObject {
  const spec = STEP_KINDS[kind];
  const fields: Record<string, z.ZodType> = { kind: z.literal(kind) };
  for (const [name, type] of Object.entries(spec.fields)) fields[name] = FIELD[type as FieldSpec]();
  const o = z.object(fields);
  const about = spec.stage === null ? spec.about : `${spec.stage}: ${spec.about}`;
  // legacy steps keep whatever fields they were stored with.
  return (kind === 'legacy' ? o.catchall(z.unknown()) : o).describe(about);
}

export const StepDetailsSchema = z.discriminatedUnion('kind',
  STEP_KIND_NAMES.map(detailsSchema) as unknown as [z.ZodObject, z.ZodObject, ...z.ZodObject[]],
).describe('what the step is (details.kind, a closed list) and its fields, typed by kind');

export const StepSchema = z.object({
  step: z.int().min(1), timestamp: iso(), hostId: z.string(),
  stage: z.enum(['reception', 'processing', 'disposition']),
  deviceType: z.enum(['port', 'bridge', 'router', 'chain', 'rule']),
  deviceId: z.string(), deviceName: z.string(), message: z.string(),
  details: StepDetailsSchema,
}).describe('SPEC §5 STEP');

export const TraceSchema = TraceSummarySchema.extend({ steps: z.array(StepSchema) }).describe('SPEC §5 TRACE');

export const HealthReportSchema = z.object({
  ok: z.boolean(), hostId: z.string(), uptimeSeconds: z.number(),
  backends: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() })),
}).describe('liveness and backend health');

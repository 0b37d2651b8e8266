// GET /openapi.json: an OpenAPI 3.1 document built from the zod schemas the API validates with
// (schemas.ts) and the ones describing its answers (doc-schemas.ts). Built once per app.
import { z } from 'zod';
import { VERSION } from '../model/version.js';
import { TopologyDocSchema } from '../model/topology/schema.js';
import {
  ConditionListQuerySchema, SimulationsQuerySchema, TraceConditionSchema, TraceListQuerySchema, TraceStreamQuerySchema, TraceDiffQuerySchema, TraceExportQuerySchema,
} from './schemas.js';
import {
  ErrorSchema, HealthReportSchema, SimulationInputSchema, SimulationResultSchema, TraceConditionWithHitsSchema,
  TraceSchema, TraceSummarySchema,
} from './doc-schemas.js';

type Json = Record<string, unknown>;

function schema(s: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (s: Json): Json => ({ content: { 'application/json': { schema: s } } });
const ok = (description: string, s?: Json, headers?: Json): Json =>
  ({ description, ...(s ? json(s) : {}), ...(headers ? { headers } : {}) });
const err = (description: string): Json => ok(description, ref('Error'));

function queryParams(s: z.ZodObject): Json[] {
  return Object.entries(s.shape).map(([name, field]) => {
    const js = schema(field as z.ZodType, 'output');
    return { name, in: 'query', required: false, description: js.description, schema: js };
  });
}

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const common = { 401: err('no or unknown bearer token'), 500: err('internal error (message hidden)') };
const mutation = { ...common, 403: err('a read token cannot change anything') };
const body = { 400: err('invalid JSON or field (message names the path)'), 413: err('body too large'), 415: err('Content-Type is not application/json') };

export function buildOpenApi(): Json {
  const condition = ref('TraceCondition');
  return {
    openapi: '3.1.0',
    info: { title: 'midotrace', version: VERSION, description: 'Packet tracing for MidoNet-style virtual networks (SPEC §6).' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        TraceCondition: schema(TraceConditionSchema, 'input'),
        TraceConditionWithHits: schema(TraceConditionWithHitsSchema, 'output'),
        SimulationInput: schema(SimulationInputSchema, 'input'),
        SimulationResult: schema(SimulationResultSchema, 'output'),
        TraceSummary: schema(TraceSummarySchema, 'output'),
        Trace: schema(TraceSchema, 'output'),
        HealthReport: schema(HealthReportSchema, 'output'),
        Error: schema(ErrorSchema, 'output'),
        Topology: schema(TopologyDocSchema, 'output'),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/traces': {
        get: {
          summary: 'trace summaries, newest first', parameters: queryParams(TraceListQuerySchema),
          responses: {
            200: ok('a page of traces', { type: 'array', items: ref('TraceSummary') },
              { Link: { description: 'present when more remain: <URL>; rel="next"', schema: { type: 'string' } } }),
            400: err('bad query parameter or cursor'), ...common,
          },
        },
      },
      '/traces/diff': {
        get: {
          summary: 'two traces aligned device by device: { a, b, firstDivergence: { stepA, stepB, deviceId, why } | null, steps: [{ deviceId, deviceType, deviceName, a, b, same }] }',
          parameters: queryParams(TraceDiffQuerySchema),
          responses: { 200: ok('the comparison', { type: 'object', required: ['a', 'b', 'firstDivergence', 'steps'] }), 400: err('a or b missing'), 404: err('no such trace (the message names a or b)'), ...common },
        },
      },
      '/traces/stream': {
        get: {
          summary: 'Server-Sent Events: one `trace` event (data: a trace summary, id: the trace id) per new trace, oldest first; '
            + 'a Last-Event-ID header resumes after that trace; a `: ping` comment every 15 s',
          parameters: [...queryParams(TraceStreamQuerySchema), { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } }],
          responses: { 200: { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 400: err('bad filter'), ...common },
        },
      },
      '/traces/{id}': {
        parameters: [idParam],
        get: { summary: 'one trace with its steps', responses: { 200: ok('the trace', ref('Trace')), 404: err('no such trace'), ...common } },
        delete: { summary: 'delete a trace', responses: { 204: ok('deleted'), 404: err('no such trace'), ...mutation } },
      },
      '/traces/{id}/export': {
        parameters: [idParam],
        get: {
          summary: 'the trace as a file: json (the trace), pcap (its packet rebuilt from the recorded headers: as received, '
            + 'each rewritten or emitted version and each generated packet, in step order), or otlp (OTLP/JSON: one span per device, steps as events)',
          parameters: queryParams(TraceExportQuerySchema),
          responses: {
            200: {
              description: 'the export (Content-Disposition names the file)',
              content: { 'application/json': { schema: { type: 'object' } }, 'application/vnd.tcpdump.pcap': { schema: { type: 'string', format: 'binary' } } },
            },
            400: err('bad format'), 404: err('no such trace'), ...common,
          },
        },
      },
      '/trace_conditions': {
        get: {
          summary: 'all trace conditions, oldest first', parameters: queryParams(ConditionListQuerySchema),
          responses: {
            200: ok('the conditions (with hits when ?stats=true)', { type: 'array', items: { oneOf: [condition, ref('TraceConditionWithHits')] } }),
            400: err('bad query parameter'), ...common,
          },
        },
        post: {
          summary: 'create a trace condition (id assigned when absent)', requestBody: { required: true, ...json(condition) },
          responses: {
            201: ok('created', condition, { Location: { schema: { type: 'string' } } }),
            409: err('duplicate id or name'), ...body, ...mutation,
          },
        },
      },
      '/trace_conditions/{id}': {
        parameters: [idParam],
        get: {
          summary: 'one trace condition', parameters: queryParams(ConditionListQuerySchema),
          responses: { 200: ok('the condition', condition), 404: err('no such condition'), ...common },
        },
        put: {
          summary: 'store a trace condition under this id', requestBody: { required: true, ...json(condition) },
          responses: {
            200: ok('replaced', condition), 201: ok('created', condition, { Location: { schema: { type: 'string' } } }),
            409: err('duplicate name'), ...body, ...mutation,
          },
        },
        delete: { summary: 'delete a trace condition', responses: { 204: ok('deleted'), 404: err('no such condition'), ...mutation } },
      },
      '/simulations': {
        post: {
          summary: 'simulate one packet or an array of packets, in order', parameters: queryParams(SimulationsQuerySchema),
          requestBody: { required: true, ...json({ oneOf: [ref('SimulationInput'), { type: 'array', items: ref('SimulationInput') }] }) },
          responses: {
            200: ok('a result for an object, an array of results for an array',
              { oneOf: [ref('SimulationResult'), { type: 'array', items: ref('SimulationResult') }] }),
            ...body, ...mutation, 503: err('shutting down'),
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'liveness and backend health (no token needed)', security: [],
          responses: { 200: ok('healthy', ref('HealthReport')), 503: ok('unhealthy', ref('HealthReport')) },
        },
      },
      '/': {
        get: { summary: 'redirects to the control panel, /ui/ (no token needed)', security: [], responses: { 302: { description: 'to /ui/' } } },
      },
      '/topology': {
        get: {
          summary: 'the topology the daemon runs (SPEC §2), with its version: 1 at start, one more per change applied',
          responses: { 200: ok('the topology', { type: 'object', required: ['version', 'appliedAt', 'topology'], properties: {
            version: { type: 'integer' }, appliedAt: { type: 'string', format: 'date-time' }, topology: ref('Topology'),
          } }), 503: err('no topology loaded yet'), ...common },
        },
      },
      '/datapath': {
        get: {
          summary: 'the ports bound on this host (SPEC §9): interface, state, frames and bytes in/out, drops',
          responses: { 200: ok('bound ports and tunnels', { type: 'object', required: ['hostId', 'ports', 'tunnels'], properties: {
            hostId: { type: 'string' }, status: { type: 'string' },
            ports: { type: 'array', items: { type: 'object', properties: {
              portId: { type: 'string' }, name: { type: 'string' }, interfaceName: { type: 'string' },
              state: { enum: ['up', 'down', 'missing'] }, rxFrames: { type: 'integer' }, rxBytes: { type: 'integer' },
              txFrames: { type: 'integer' }, txBytes: { type: 'integer' }, drops: { type: 'integer' },
              dropReasons: { type: 'object', additionalProperties: { type: 'integer' } },
            } } },
            tunnels: { type: 'array', items: { type: 'object' } },
          } }), ...common },
        },
      },
      '/metrics': {
        get: { summary: 'Prometheus text exposition', responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, ...common } },
      },
      '/openapi.json': { get: { summary: 'this document', responses: { 200: ok('OpenAPI 3.1'), ...common } } },
    },
  };
}

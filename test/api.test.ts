// The REST API (SPEC §6) over a real daemon: every call, every error status, paging through 10,000
// traces by Link headers, conditions that trace the next matching packet, exact round trips, and
// bodies of any shape that never make the server fail.
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../api/app.js';
import { startApiServer, type ApiServer } from '../api/server.js';
import type { ApiDeps } from '../api/deps.js';
import type { SimulationResultJson } from '../engine/simulator.js';
import type { Trace, TraceConditionJson, TraceSummary } from '../model/trace.js';
import { STEP_KIND_NAMES, STEP_KINDS } from '../model/step.js';
import { IP, MAC, startTestApi, type TestApi } from './helpers/api-deps.js';
import { pk } from './helpers/net.js';
import { waitForValue } from './helpers/wait.js';
import { otlpTraceErrors } from './helpers/otlp-schema.js';
import { SseParser, type SseEvent } from '../model/sse.js';

interface Reply<T = unknown> { status: number; headers: Headers; body: T; text: string }

const BODY_LIMIT = 64 * 1024;
const execFileAsync = promisify(execFile);

function client(base: string, token?: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> => {
    const h: Record<string, string> = { ...headers };
    let payload: string | Uint8Array | undefined;
    if (body instanceof Uint8Array || typeof body === 'string') payload = body;
    else if (body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && h['content-type'] === undefined) h['content-type'] = 'application/json';
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    const res = await fetch(base + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  };
}

/** A request written by hand, for chunked bodies without a Content-Length. */
function chunked(url: string, path: string, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url + path, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

/** A subtest's `t`. */
type TestT = Parameters<Parameters<typeof t.test>[0]>[0];

/** GET with the path exactly as given. */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function isErrorBody(t: TestT, r: Reply, status: number, code: string, msg?: RegExp): void {
  t.equal(r.status, status, `${code}: status ${status} (${r.text.slice(0, 200)})`);
  t.match(r.headers.get('content-type') ?? '', /application\/json/, `${code}: JSON`);
  const b = r.body as { code?: unknown; message?: unknown };
  t.equal(b.code, code, `code ${code}`);
  t.type(b.message, 'string');
  t.same(Object.keys(b).sort(), ['code', 'message'], 'errors are { code, message }');
  if (msg) t.match(String(b.message), msg);
}

let api: TestApi;
let call: ReturnType<typeof client>;
let vm1 = '';
let vm2 = '';

t.before(async () => {
  api = await startTestApi({ override: { bodyLimitBytes: BODY_LIMIT } });
  call = client(api.url);
  vm1 = api.net.id('vm1');
  vm2 = api.net.id('vm2');
});
t.teardown(() => api.close());
// Conditions such as `{}` match every packet: each subtest starts with none.
t.afterEach(async () => {
  for (const c of (await call<TraceConditionJson[]>('GET', '/trace_conditions')).body) await call('DELETE', `/trace_conditions/${c.id}`);
});

const udp = (extra: Record<string, unknown> = {}): unknown => pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, extra);

t.test('GET /healthz, /metrics, /openapi.json', async (t) => {
  const h = await call<{ ok: boolean; hostId: string; backends: unknown[] }>('GET', '/healthz');
  t.equal(h.status, 200);
  t.equal(h.body.ok, true);
  t.equal(h.body.hostId, api.deps.hostId);
  t.ok(h.body.backends.length > 0, 'backends reported');

  const sick: ApiDeps = { ...api.deps, health: () => ({ ok: false, hostId: 'h', uptimeSeconds: 1, backends: [{ name: 'sink:sqlite', ok: false, detail: 'disk full' }] }) };
  const srv = await startApiServer(createApp(sick), '127.0.0.1:0');
  const s = await client(`http://127.0.0.1:${srv.port}`)<{ ok: boolean; backends: { detail: string }[] }>('GET', '/healthz');
  await srv.close();
  t.equal(s.status, 503, 'unhealthy is 503');
  t.equal(s.body.backends[0]!.detail, 'disk full', 'with the HealthReport as body');

  await call('POST', '/simulations', { inPort: vm1, packet: udp() });
  const m = await call('GET', '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers.get('content-type') ?? '', /^text\/plain/);
  t.match(m.text, /^midotrace_simulations_total\{result="forward"\} [1-9]\d*$/m, 'counts simulations');

  const o = await call<{ openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties: Record<string, unknown>; additionalProperties?: boolean }> } }>('GET', '/openapi.json');
  t.equal(o.status, 200);
  t.equal(o.body.openapi, '3.1.0');
  t.same(Object.keys(o.body.paths).sort(), ['/', '/datapath', '/healthz', '/metrics', '/openapi.json', '/simulations', '/topology', '/trace_conditions', '/trace_conditions/{id}', '/traces', '/traces/diff', '/traces/stream', '/traces/{id}', '/traces/{id}/export']);
  t.same(Object.keys(o.body.paths['/trace_conditions/{id}']!).filter((k) => k !== 'parameters').sort(), ['delete', 'get', 'put']);
  const tc = o.body.components.schemas.TraceCondition!;
  t.equal(tc.additionalProperties, false, 'trace conditions are strict');
  for (const k of ['id', 'name', 'enabled', 'limit', 'deviceType', 'deviceId', 'creationTimestampMs', 'nwSrcAddress', 'tpDst', 'fragmentPolicy', 'condInvert']) {
    t.ok(k in tc.properties, `TraceCondition documents ${k}`);
  }  // SPEC §5: the closed list of step kinds, each with its fields, is published.
  const details = (o.body.components.schemas.Trace!.properties.steps as { items: { properties: { details: { oneOf: { properties: Record<string, { const?: string }>; required: string[] }[] } } } }).items.properties.details;
  t.same(details.oneOf.map((k) => k.properties.kind!.const), STEP_KIND_NAMES, 'every step kind is listed');
  const nat = details.oneOf.find((k) => k.properties.kind!.const === 'nat_applied')!;
  t.same(Object.keys(nat.properties), ['kind', ...Object.keys(STEP_KINDS.nat_applied.fields)], 'with its fields');
  t.ok(nat.required.includes('before') && nat.required.includes('after'));
});

t.test('backend failures: 500 with a hidden message, 503 while shutting down', async (t) => {
  const broken: ApiDeps = {
    ...api.deps,
    traces: { ...api.deps.traces, get: async () => { throw new Error('SQLITE_CORRUPT: secret path /var/lib/x.db'); } },
    simulate: async () => ({ ok: false, code: 'shutting_down', message: 'the daemon is shutting down' }),
  };
  const app = createApp(broken);
  app.silent = true;
  const srv = await startApiServer(app, '127.0.0.1:0');
  t.teardown(() => srv.close());
  const c = client(`http://127.0.0.1:${srv.port}`);
  const r = await c('GET', '/traces/01a20bc0-dda1-7000-b336-d8477576362e');
  isErrorBody(t, r, 500, 'internal', /^internal server error$/);
  t.notMatch(r.text, /SQLITE|secret/, 'internals are not shown');
  isErrorBody(t, await c('POST', '/simulations', { inPort: vm1, packet: udp() }), 503, 'shutting_down');
});

t.test('unknown routes and methods answer JSON', async (t) => {
  isErrorBody(t, await call('GET', '/nope'), 404, 'not_found', /GET \/nope/);
  isErrorBody(t, await call('GET', '/traces/x/y'), 404, 'not_found');
  const r = await call('PATCH', '/traces');
  isErrorBody(t, r, 405, 'method_not_allowed');
  t.match(r.headers.get('allow') ?? '', /GET/);
  const head = await fetch(`${api.url}/traces`, { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD works where GET does');
});

t.test('trace conditions: create, read, replace, delete', async (t) => {
  const input = { name: 'dns-from-vm1', nwSrcAddress: IP.vm1, nwSrcLength: 32, nwProto: 17, tpDst: { start: 53, end: 53 } };
  const before = Date.now();
  const c = await call<TraceConditionJson>('POST', '/trace_conditions', input);
  t.equal(c.status, 201);
  t.match(c.body.id, /^[0-9a-f-]{36}$/, 'server-assigned id');
  t.equal(c.headers.get('location'), `/trace_conditions/${c.body.id}`);
  t.ok(c.body.creationTimestampMs! >= before - 1000 && c.body.creationTimestampMs! <= Date.now() + 1000, 'creationTimestampMs set');
  t.same(c.body, { ...input, id: c.body.id, enabled: true, creationTimestampMs: c.body.creationTimestampMs }, 'answers what was stored, every field shown (enabled defaults to true)');

  const one = await call<TraceConditionJson>('GET', `/trace_conditions/${c.body.id}`);
  t.equal(one.status, 200);
  t.same(one.body, c.body);
  const list = await call<TraceConditionJson[]>('GET', '/trace_conditions');
  t.ok(list.body.some((x) => x.id === c.body.id), 'listed');

  isErrorBody(t, await call('POST', '/trace_conditions', { name: 'dns-from-vm1' }), 409, 'duplicate_name', /^name: /);
  isErrorBody(t, await call('POST', '/trace_conditions', { id: c.body.id }), 409, 'duplicate_id', /^id: /);

  const id = '5f0c2d3e-1111-4222-8333-444455556666';
  const put1 = await call<TraceConditionJson>('PUT', `/trace_conditions/${id}`, { name: 'mine', nwProto: 6 });
  t.equal(put1.status, 201, 'PUT of a new id creates');
  t.equal(put1.headers.get('location'), `/trace_conditions/${id}`);
  t.equal(put1.body.id, id);
  const put2 = await call<TraceConditionJson>('PUT', `/trace_conditions/${id}`, { id, name: 'mine', nwProto: 17, enabled: false });
  t.equal(put2.status, 200, 'PUT of an existing id replaces');
  t.same(put2.body, { id, name: 'mine', nwProto: 17, enabled: false, creationTimestampMs: put1.body.creationTimestampMs }, 'replaced; creation time kept');
  isErrorBody(t, await call('PUT', `/trace_conditions/${id}`, { name: 'dns-from-vm1' }), 409, 'duplicate_name');
  isErrorBody(t, await call('PUT', `/trace_conditions/${id}`, { id: c.body.id }), 400, 'id_mismatch', /^id: /);
  isErrorBody(t, await call('PUT', '/trace_conditions/not-a-uuid', {}), 400, 'invalid_field', /^id: /);

  const stats = await call<(TraceConditionJson & { hits: number })[]>('GET', '/trace_conditions?stats=true');
  t.ok(stats.body.length >= 2 && stats.body.every((x) => Number.isInteger(x.hits)), '?stats=true adds hits');
  t.notOk('hits' in list.body[0]!, 'plain listing has no hits');
  isErrorBody(t, await call('GET', '/trace_conditions?stats=maybe'), 400, 'invalid_query', /query\.stats/);

  t.equal((await call('DELETE', `/trace_conditions/${id}`)).status, 204);
  isErrorBody(t, await call('DELETE', `/trace_conditions/${id}`), 404, 'not_found');
  isErrorBody(t, await call('GET', `/trace_conditions/${id}`), 404, 'not_found');
  isErrorBody(t, await call('GET', '/trace_conditions/zzz'), 404, 'not_found');
  t.equal((await call('DELETE', `/trace_conditions/${c.body.id}`)).status, 204);
});

t.test('trace conditions round-trip exactly, every field', async (t) => {
  const p = (n: string): string => api.net.id(n);
  const full = {
    id: '0a0b0c0d-0000-4000-8000-000000000001', name: 'everything', enabled: true, limit: 7, deviceType: 'bridge', deviceId: p('br'),
    condInvert: false, matchForwardFlow: true, matchReturnFlow: false,
    inPorts: [p('vm1'), p('vm2')], invInPorts: true, outPorts: [p('vm3')], invOutPorts: false,
    portGroup: p('pg'), invPortGroup: true, inPortGroup: p('pg'), invInPortGroup: false, outPortGroup: p('pg'), invOutPortGroup: true,
    ipAddrGroupSrc: p('ag'), invIpAddrGroupSrc: false, ipAddrGroupDst: p('ag'), invIpAddrGroupDst: true,
    dlType: 2048, invDlType: false, dlSrc: '02:00:00:00:00:01', dlSrcMask: 'ffff.ffff.0000', invDlSrc: true,
    dlDst: 'aa:bb:cc:dd:ee:ff', dlDstMask: 'ffff.0000.0000', invDlDst: false, nwTos: 16, invNwTos: true, nwProto: 6, invNwProto: false,
    nwSrcAddress: '10.0.0.0', nwSrcLength: 8, invNwSrc: true, nwDstAddress: '192.168.1.7', nwDstLength: 32, invNwDst: false,
    tpSrc: { start: 1024, end: 65535 }, invTpSrc: true, tpDst: { start: 0, end: 0 }, invTpDst: false,
    fragmentPolicy: 'header', vlan: 4095, noVlan: false, traversedDevice: p('r'), invTraversedDevice: true, matchNwDstRewritten: false,
  };
  const put = await call<TraceConditionJson>('PUT', `/trace_conditions/${full.id}`, full);
  t.equal(put.status, 201);
  const got = await call<TraceConditionJson>('GET', `/trace_conditions/${full.id}`);
  const { creationTimestampMs, ...rest } = got.body;
  t.type(creationTimestampMs, 'number');
  t.same(rest, full, 'what you PUT is what you GET, plus creationTimestampMs');
  t.same(Object.keys(rest).sort(), Object.keys(full).sort(), 'no field added or lost');
  const withTime = { ...full, name: 'everything-2', id: '0a0b0c0d-0000-4000-8000-000000000002', creationTimestampMs: 12345 };
  const before = Date.now();
  t.equal((await call('POST', '/trace_conditions', withTime)).status, 201);
  const stored = (await call<TraceConditionJson>('GET', `/trace_conditions/${withTime.id}`)).body;
  t.ok(stored.creationTimestampMs! >= before - 1000, `a client's creationTimestampMs is ignored: the server's time is kept (${stored.creationTimestampMs})`);
  t.same(stored, { ...withTime, creationTimestampMs: stored.creationTimestampMs }, 'the rest as given');
  await call('DELETE', `/trace_conditions/${full.id}`);
  await call('DELETE', `/trace_conditions/${withTime.id}`);
});

t.test('trace conditions in one spelling: lower-case ids and MACs, trimmed names, prefixes checked, scopes that exist', async (t) => {
  const vm1 = api.net.id('vm1');
  const br = api.net.id('br');
  const up = await call<TraceConditionJson>('POST', '/trace_conditions', {
    name: '  spaced  ', inPorts: [vm1.toUpperCase()], deviceType: 'bridge', deviceId: br.toUpperCase(), dlSrc: '02:00:00:00:AB:CD', dlSrcMask: 'FFFF.FFFF.0000',
  });
  t.equal(up.status, 201, up.text);
  t.match(up.body, { name: 'spaced', inPorts: [vm1], deviceId: br, dlSrc: '02:00:00:00:ab:cd', dlSrcMask: 'ffff.ffff.0000' }, 'stored lower-case and trimmed');
  // The upper-case spelling of an id reads the same condition.
  t.equal((await call('GET', `/trace_conditions/${up.body.id.toUpperCase()}`)).status, 200);
  // And it matches: the port named in upper case is the port.
  const r = await call<{ traceIds: string[] }>('POST', '/simulations', { inPort: vm1.toUpperCase(), packet: udp() });
  t.equal(r.status, 200, 'an upper-case inPort is the port');
  t.equal(r.body.traceIds.length, 1, 'and the condition naming it in upper case traces it');

  isErrorBody(t, await call('POST', '/trace_conditions', { name: '   ' }), 400, 'invalid_field', /^name: /);
  isErrorBody(t, await call('POST', '/trace_conditions', { nwSrcLength: 24 }), 400, 'invalid_field', /^nwSrcLength: needs nwSrcAddress/);
  isErrorBody(t, await call('POST', '/trace_conditions', { nwDstAddress: '10.0.0.5', nwDstLength: 8 }), 400, 'invalid_field', /^nwDstAddress: 10\.0\.0\.5 has host bits set for \/8; did you mean 10\.0\.0\.0\/8\?/);
  t.equal((await call('POST', '/trace_conditions', { name: 'host', nwDstAddress: '10.0.0.5', nwDstLength: 32 })).status, 201, 'a /32 is a host');
  const nowhere = '00000000-0000-4000-8000-00000000dead';
  isErrorBody(t, await call('POST', '/trace_conditions', { deviceType: 'router', deviceId: nowhere }), 400, 'invalid_field', /^deviceId: no router/);
  isErrorBody(t, await call('POST', '/trace_conditions', { deviceType: 'router', deviceId: br }), 400, 'invalid_field', /^deviceId: .* is a bridge, not a router/);
  isErrorBody(t, await call('POST', '/trace_conditions', { inPorts: [vm1, nowhere] }), 400, 'invalid_field', /^inPorts\[1\]: no port/);
  isErrorBody(t, await call('POST', '/trace_conditions', { outPorts: [br] }), 400, 'invalid_field', /^outPorts\[0\]: no port/);
  isErrorBody(t, await call('PUT', `/trace_conditions/${up.body.id}`, { deviceType: 'port', deviceId: nowhere }), 400, 'invalid_field', /^deviceId: /);
});

t.test('GET /topology: the running document and its version; GET / leads to the panel', async (t) => {
  const r = await call<{ version: number; appliedAt: string; topology: { ports: { id: string }[] } }>('GET', '/topology');
  t.equal(r.status, 200);
  t.equal(r.body.version, 1, 'the topology loaded at start');
  t.ok(Date.parse(r.body.appliedAt) > 0);
  t.same(r.body.topology, api.net.doc, 'the document as loaded');
  isErrorBody(t, await call('GET', '/topology?x=1'), 400, 'invalid_query');
  const root = await fetch(`${api.url}/`, { redirect: 'manual' });
  t.equal(root.status, 302);
  t.equal(root.headers.get('location'), '/ui/');
});

/** Follows GET /traces/stream until stopped; the events so far are in `events`. */
function follow(path: string, lastEventId?: string) {
  const events: SseEvent[] = [];
  const abort = new AbortController();
  const parser = new SseParser((e) => events.push(e));
  const opened = fetch(`${api.url}${path}`, { signal: abort.signal, headers: lastEventId !== undefined ? { 'last-event-id': lastEventId } : {} });
  const done = opened.then(async (res) => {
    const reader = res.body!.getReader();
    const text = new TextDecoder();
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      parser.push(text.decode(value, { stream: true }));
    }
  }).catch(() => undefined);
  return {
    events, opened,
    traceIds: () => events.filter((e) => e.event === 'trace').map((e) => e.id!),
    stop: async () => { abort.abort(); await done; },
  };
}

t.test('GET /traces/stream: new traces as they are stored, filtered, resumed with Last-Event-ID', async (t) => {
  const sim = async (packet: unknown): Promise<string> =>
    (await call<{ traceIds: string[] }[]>('POST', '/simulations?trace=true', [{ inPort: api.net.id('vm1'), packet }])).body[0]!.traceIds[0]!;
  const before = await sim(udp({ tpSrc: 7000 }));
  const all = follow('/traces/stream');
  const res = await all.opened;
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const drops = follow('/traces/stream?result=shortDrop');
  await drops.opened;
  const a = await sim(udp({ tpSrc: 7001 }));
  const dropped = await sim(pk.udp(MAC.vm1, MAC.r, IP.vm1, '192.0.2.1'));
  const b = await sim(udp({ tpSrc: 7002 }));
  await waitForValue('three traces streamed', async () => (all.traceIds().length >= 3 ? true : null), 5_000);
  t.same(all.traceIds(), [a, dropped, b], 'each new trace once, in the order made; none from before the stream opened');
  const first = all.events.find((e) => e.id === a)!;
  t.match(JSON.parse(first.data), { id: a, result: 'forward', hostId: api.deps.hostId, numSteps: Number }, 'the data is the trace summary');
  await waitForValue('the drop streamed', async () => (drops.traceIds().length >= 1 ? true : null), 5_000);
  t.same(drops.traceIds(), [dropped], 'filters of GET /traces apply');
  t.notOk(all.traceIds().includes(before));
  await all.stop();
  await drops.stop();

  const c = await sim(udp({ tpSrc: 7003 }));
  const d = await sim(udp({ tpSrc: 7004 }));
  const resumed = follow('/traces/stream', b);
  await resumed.opened;
  await waitForValue('the missed traces replayed', async () => (resumed.traceIds().length >= 2 ? true : null), 5_000);
  const e = await sim(udp({ tpSrc: 7005 }));
  await waitForValue('then the live one', async () => (resumed.traceIds().length >= 3 ? true : null), 5_000);
  t.same(resumed.traceIds(), [c, d, e], 'Last-Event-ID: what came after it, then live, no repeats');
  await resumed.stop();

  isErrorBody(t, await call('GET', '/traces/stream?result=maybe'), 400, 'invalid_query', /query\.result/);
  isErrorBody(t, await call('GET', '/traces/stream?limit=5'), 400, 'invalid_query');
});

t.test('the trace stream lets go of a client that leaves, and stops polling with the last one', async (t) => {
  const { TraceStream } = await import('../api/trace-stream.js');
  const s = new TraceStream(api.deps.traces, { pollMs: 20 });
  let closed = 0;
  const one = await s.open({}, undefined, () => closed++);
  const two = await s.open({}, undefined, () => closed++);
  t.equal(s.size, 2);
  one.destroy();
  await waitForValue('the first client dropped', async () => (s.size === 1 ? true : null), 2_000);
  two.destroy();
  await waitForValue('the last client dropped', async () => (s.size === 0 ? true : null), 2_000);
  t.equal(closed, 2);
  const slow = new TraceStream(api.deps.traces, { pollMs: 20, maxBufferBytes: 10 });
  const never = await slow.open({}, undefined);
  t.equal(slow.size, 1, 'a client that reads nothing');
  const sims = await call<{ traceIds: string[] }[]>('POST', '/simulations?trace=true', [{ inPort: api.net.id('vm1'), packet: udp() }]);
  t.equal(sims.status, 200);
  await waitForValue('dropped once it fell behind', async () => (slow.size === 0 ? true : null), 5_000);
  t.ok(never.writableEnded, 'its stream was ended');

  // A server with a client on the stream still closes: event streams never finish by themselves.
  const app = createApp(api.deps);
  app.silent = true;
  const server = await startApiServer(app, '127.0.0.1:0', {});
  const res = await fetch(`http://127.0.0.1:${server.port}/traces/stream`);
  t.equal(res.status, 200);
  const started = Date.now();
  await server.close();
  t.ok(Date.now() - started < 2_000, `closed in ${Date.now() - started} ms with a stream open`);
  await res.body!.cancel().catch(() => undefined);
});

t.test('GET /traces/diff: aligned by device, the first divergence and why; 400 and 404 name a or b', async (t) => {
  const sim = async (inPort: string, packet: unknown): Promise<string> =>
    (await call<{ traceIds: string[] }[]>('POST', '/simulations?trace=true', [{ inPort: api.net.id(inPort), packet }])).body[0]!.traceIds[0]!;
  const flood = await sim('vm1', pk.udp(MAC.vm1, '02:00:00:00:0a:0a', IP.vm1, IP.vm2));
  const routed = await sim('vm1', pk.udp(MAC.vm1, MAC.r, IP.vm1, IP.vm4));
  const d = await call<{ a: { id: string }; b: { id: string }; firstDivergence: { stepA: number | null; stepB: number | null; deviceId: string; why: string } | null; steps: { deviceId: string; same: boolean }[] }>(
    'GET', `/traces/diff?a=${flood}&b=${routed}`);
  t.equal(d.status, 200, d.text);
  t.equal(d.body.a.id, flood);
  t.equal(d.body.b.id, routed);
  t.match(d.body.firstDivergence, { deviceId: api.net.id('br'), why: /at bridge br/ });
  t.equal(d.body.steps[0]!.deviceId, api.net.id('vm1'), 'the rows start at the ingress port');
  t.ok(d.body.steps[0]!.same);
  t.equal((await call<{ firstDivergence: unknown }>('GET', `/traces/diff?a=${flood}&b=${flood.toUpperCase()}`)).body.firstDivergence, null, 'a trace against itself');
  isErrorBody(t, await call('GET', `/traces/diff?a=${flood}`), 400, 'invalid_query', /query\.b/);
  isErrorBody(t, await call('GET', `/traces/diff?a=00000000-0000-7000-8000-000000000000&b=${flood}`), 404, 'not_found', /^a: /);
  isErrorBody(t, await call('GET', `/traces/diff?a=${flood}&b=nope`), 404, 'not_found', /^b: /);
});

t.test('GET /traces/{id}/export: the trace as JSON, as a pcap tshark reads, as valid OTLP/JSON', async (t) => {
  // vm4's MAC is known to the router, so the packet is routed: its MACs and TTL are rewritten.
  const sim = async (packet: unknown): Promise<string> =>
    (await call<{ traceIds: string[] }[]>('POST', '/simulations?trace=true', [{ inPort: api.net.id('vm1'), packet }])).body[0]!.traceIds[0]!;
  await call('POST', '/simulations', [{ inPort: api.net.id('vm4'), packet: { arp: { op: 1, sha: MAC.vm4, spa: IP.vm4, tpa: '10.0.1.1' }, ethSrc: MAC.vm4 } }]);
  const id = await sim({ ...pk.udp(MAC.vm1, MAC.r, IP.vm1, IP.vm4), ttl: 9 });
  const trace = (await call<Trace>('GET', `/traces/${id}`)).body;
  t.equal(trace.result, 'forward', JSON.stringify(trace.steps.map((s) => s.message)));

  const j = await call<Trace>('GET', `/traces/${id}/export?format=json`);
  t.equal(j.status, 200);
  t.same(j.body, trace, 'json is the trace');
  t.match(j.headers.get('content-disposition'), `attachment; filename="trace-${id}.json"`);
  t.same((await call<Trace>('GET', `/traces/${id}/export`)).body, trace, 'json is the default');

  const res = await fetch(`${api.url}/traces/${id.toUpperCase()}/export?format=pcap`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/vnd.tcpdump.pcap');
  const dir = mkdtempSync(join(tmpdir(), 'mt-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'trace.pcap');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const { stdout } = await execFileAsync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|',
    '-e', 'eth.src', '-e', 'eth.dst', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.ttl', '-e', 'udp.dstport', '-e', 'ip.checksum.status', '-o', 'ip.check_checksum:TRUE']);
  const rows = stdout.trim().split('\n');
  t.ok(rows.length >= 3, stdout);
  t.equal(rows[0], `${MAC.vm1}|${MAC.r}|${IP.vm1}|${IP.vm4}|9|53|1`, 'first: the packet as received (checksum good)');
  t.ok(rows.slice(1).some((r) => r === `${MAC.r2}|${MAC.vm4}|${IP.vm1}|${IP.vm4}|8|53|1`), 'then as the router rewrote it');
  t.equal(rows.at(-1), `${MAC.r2}|${MAC.vm4}|${IP.vm1}|${IP.vm4}|8|53|1`, 'last: as emitted at vm4');
  // No route: the router's ICMP error is in the capture, addressed back to the sender, quoting the packet.
  const unreachable = await sim(pk.udp(MAC.vm1, MAC.r, IP.vm1, '192.168.9.9'));
  writeFileSync(file, Buffer.from(await (await fetch(`${api.url}/traces/${unreachable}/export?format=pcap`)).arrayBuffer()));
  const icmp = (await execFileAsync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'icmp.code'])).stdout.trim().split('\n');
  t.ok(icmp.includes('10.0.0.1,10.0.0.11|10.0.0.11,192.168.9.9|3|0'), icmp.join('; '));

  const o = await call<{ resourceSpans: { scopeSpans: { spans: { name: string; spanId: string; parentSpanId?: string; events: { name: string }[] }[] }[] }[] }>(
    'GET', `/traces/${id}/export?format=otlp`);
  t.equal(o.status, 200);
  t.same(otlpTraceErrors(o.body), [], 'valid against the OTLP trace messages');
  const spans = o.body.resourceSpans[0]!.scopeSpans[0]!.spans;
  t.same(spans.map((s) => s.name), ['port vm1', 'bridge br', 'port br-r', 'port r-br', 'router r', 'port r-br2', 'port br2-r', 'bridge br2', 'port vm4'],
    'one span per device, in order');
  t.equal(spans.reduce((n, s) => n + s.events.length, 0), trace.steps.length, 'every step is an event');
  for (let i = 1; i < spans.length; i++) t.equal(spans[i]!.parentSpanId, spans[i - 1]!.spanId);
  t.same(otlpTraceErrors({ resourceSpans: [{ scopeSpans: [{ spans: [{ spanId: 'xyz', kind: 9, nme: 'a' }] }] }] }),
    ['$.resourceSpans[0].scopeSpans[0].spans[0].spanId: must be 16 hex digits, not all zero',
      '$.resourceSpans[0].scopeSpans[0].spans[0].kind: not a SpanKind value',
      '$.resourceSpans[0].scopeSpans[0].spans[0].nme: no such field in Span'], 'the checker finds what is wrong');

  isErrorBody(t, await call('GET', `/traces/${id}/export?format=svg`), 400, 'invalid_query', /format/);
  isErrorBody(t, await call('GET', '/traces/00000000-0000-7000-8000-000000000000/export?format=pcap'), 404, 'not_found');
});

t.test('400s name the JSON path of the bad field', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [{ foo: 1 }, 'invalid_field', /^foo: unknown field$/],
    [{ tpSrc: { start: 5 } }, 'invalid_field', /^tpSrc\.end: required/],
    [{ tpSrc: { start: 9, end: 5 } }, 'invalid_field', /^tpSrc\.end: start must not exceed end/],
    [{ tpDst: { start: 1, end: 2, x: 3 } }, 'invalid_field', /^tpDst\.x: unknown field/],
    [{ inPorts: [vm1, 'nope'] }, 'invalid_field', /^inPorts\[1\]: must be a UUID/],
    [{ nwSrcAddress: '10.0.0.256' }, 'invalid_field', /^nwSrcAddress: must be a dotted-quad/],
    [{ limit: -1 }, 'invalid_field', /^limit: must be an integer from 0/],
    [{ limit: 1.5 }, 'invalid_field', /^limit: /],
    [{ enabled: 'yes' }, 'invalid_field', /^enabled: /],
    [{ name: '' }, 'invalid_field', /^name: must not be empty/],
    [{ deviceType: 'port' }, 'invalid_field', /^deviceId: required when deviceType is set/],
    [{ deviceId: vm1 }, 'invalid_field', /^deviceType: required when deviceId is set/],
    [{ deviceType: 'chain', deviceId: vm1 }, 'invalid_field', /^deviceType: /],
    [{ fragmentPolicy: 'some' }, 'invalid_field', /^fragmentPolicy: /],
    [[], 'invalid_body', /^body: /],
    ['text', 'invalid_body', /^body: /],
    [null, 'invalid_body', /^body: /],
  ];
  for (const [body, code, re] of cases) {
    isErrorBody(t, await call('POST', '/trace_conditions', JSON.stringify(body)), 400, code, re);
  }
  isErrorBody(t, await call('POST', '/trace_conditions', '{"name": '), 400, 'invalid_body', /^body: not valid JSON/);
  isErrorBody(t, await call('POST', '/trace_conditions', ''), 400, 'invalid_body', /^body: required/);
  isErrorBody(t, await call('POST', '/simulations', { inPort: vm1, packet: { nwSrc: '10.0.0.300' } }), 400, 'invalid_packet', /^packet\.nwSrc: /);
  isErrorBody(t, await call('POST', '/simulations', [{ inPort: vm1, packet: udp() }, { inPort: vm1, packet: { nwSrc: 'x' } }]), 400, 'invalid_packet', /^\[1\]\.packet\.nwSrc: /);
  isErrorBody(t, await call('POST', '/simulations', { inPort: vm1, packet: udp(), extra: 1 }), 400, 'invalid_packet', /^extra: unknown field/);
  isErrorBody(t, await call('POST', '/simulations', { inPort: api.net.id('nowhere'), packet: udp() }), 400, 'unknown_port', /^inPort: /);
  isErrorBody(t, await call('POST', '/simulations', { inPort: api.net.id('r-br'), packet: udp() }), 400, 'unknown_port', /interior/);
  isErrorBody(t, await call('POST', '/simulations', 42), 400, 'invalid_body', /^body: /);
  isErrorBody(t, await call('POST', '/simulations?trace=yes', { inPort: vm1, packet: udp() }), 400, 'invalid_query', /^query\.trace: /);
  for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1&limit=2', 'limt=5', 'result=lost', 'since=yesterday', 'until=2024-13-45']) {
    isErrorBody(t, await call('GET', `/traces?${q}`), 400, 'invalid_query', /^query\./);
  }
  isErrorBody(t, await call('GET', '/traces?cursor=bm90LWEtY3Vyc29y'), 400, 'invalid_cursor');
});

t.test('415 on a wrong content type, 413 beyond the body limit', async (t) => {
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
    isErrorBody(t, await call('POST', '/trace_conditions', '{}', { 'content-type': type }), 415, 'unsupported_media_type');
  }
  const res = await fetch(`${api.url}/trace_conditions`, { method: 'POST', body: new Uint8Array(Buffer.from('{}')) });
  t.equal(res.status, 415, 'no content type at all is 415');
  await res.text();
  t.equal((await call('POST', '/trace_conditions', '{"name":"ct-ok"}', { 'content-type': 'application/json; charset=UTF-8' })).status, 201, 'charset=utf-8 is fine');

  const big = JSON.stringify({ name: 'x'.repeat(BODY_LIMIT) });
  isErrorBody(t, await call('POST', '/trace_conditions', big), 413, 'body_too_large');
  isErrorBody(t, await call('POST', '/simulations', JSON.stringify(Array(3000).fill({ inPort: vm1, packet: udp() }))), 413, 'body_too_large');
  const fits = JSON.stringify({ name: 'y'.repeat(200) });
  t.equal((await call('POST', '/trace_conditions', fits)).status, 201, 'a body under the limit is accepted');
  const r = await chunked(api.url, '/trace_conditions', Array.from({ length: 20 }, () => Buffer.alloc(8192, 0x20)));
  t.equal(r.status, 413, 'a chunked body without Content-Length is cut off at the limit too');
  t.equal(JSON.parse(r.body).code, 'body_too_large');
  t.equal((await call('GET', '/healthz')).status, 200, 'still serving');
});

t.test('an oversized body gets a 413 the client can read (SPEC §6)', async (t) => {
  const eightMiB = Buffer.alloc(8 * 1024 * 1024, 0x20);
  // Node's fetch sends the whole body before reading: it must get the answer, not EPIPE.
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${api.url}/simulations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: eightMiB });
    t.equal(res.status, 413, `fetch with 8 MiB, try ${i + 1}: 413`);
    t.match(await res.json(), { code: 'body_too_large' });
  }
  // curl announces a large body with `Expect: 100-continue`: the 413 comes before the body is sent.
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-413-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  writeFileSync(file, eightMiB);
  const { stdout: out } = await execFileAsync('curl', ['-sS', '-o', join(dir, 'out.json'), '-w', '%{http_code} %{size_upload}',
    '-H', 'content-type: application/json', '--data-binary', `@${file}`, `${api.url}/trace_conditions`], { encoding: 'utf8' });
  // (async: the server answering it runs in this process)
  const [code, uploaded] = out.trim().split(' ');
  t.equal(code, '413', 'curl: 413');
  t.ok(Number(uploaded) < BODY_LIMIT, `curl sent ${uploaded} bytes of 8 MiB: answered before the body`);
  t.match(JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')), { code: 'body_too_large' });
  t.equal((await call('GET', '/healthz')).status, 200, 'still serving');
});

t.test('bearer tokens: 401 without or with an unknown token, 403 for a read token on a change', async (t) => {
  const admin = 'admin-token-0123456789';
  const read = 'read-token-0123456789';
  const srv: ApiServer = await startApiServer(createApp({ ...api.deps, tokens: [{ token: admin, role: 'admin' }, { token: read, role: 'read' }] }), '127.0.0.1:0');
  t.teardown(() => srv.close());
  const base = `http://127.0.0.1:${srv.port}`;
  const anon = client(base);
  const reader = client(base, read);
  const writer = client(base, admin);
  const bad = client(base, 'not-a-known-token-000');

  t.equal((await anon('GET', '/healthz')).status, 200, 'healthz needs no token');
  for (const [m, p] of [['GET', '/traces'], ['GET', '/trace_conditions'], ['GET', '/metrics'], ['GET', '/openapi.json'], ['GET', '/nope'], ['POST', '/simulations']] as const) {
    const r = await anon(m, p, m === 'POST' ? { inPort: vm1, packet: udp() } : undefined);
    isErrorBody(t, r, 401, 'unauthorized');
    t.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
  }
  isErrorBody(t, await bad('GET', '/traces'), 401, 'unauthorized', /unknown token/);
  isErrorBody(t, await anon('GET', '/traces', undefined, { authorization: 'Basic YWRtaW46eA==' }), 401, 'unauthorized');

  t.equal((await reader('GET', '/traces')).status, 200, 'a read token reads');
  t.equal((await reader('GET', '/trace_conditions')).status, 200);
  isErrorBody(t, await reader('POST', '/trace_conditions', { name: 'ro' }), 403, 'forbidden');
  isErrorBody(t, await reader('PUT', '/trace_conditions/5f0c2d3e-1111-4222-8333-444455550000', {}), 403, 'forbidden');
  isErrorBody(t, await reader('DELETE', '/traces/5f0c2d3e-1111-4222-8333-444455550000'), 403, 'forbidden');
  isErrorBody(t, await reader('POST', '/simulations', { inPort: vm1, packet: udp() }), 403, 'forbidden', /POST \/simulations/);

  const made = await writer<TraceConditionJson>('POST', '/trace_conditions', { name: 'by-admin' });
  t.equal(made.status, 201, 'an admin token changes things');
  t.equal((await writer('POST', '/simulations', { inPort: vm1, packet: udp() })).status, 200);
  t.equal((await writer('DELETE', `/trace_conditions/${made.body.id}`)).status, 204);
});

t.test('the panel is served under /ui/ when a directory is given, and nothing outside it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-panel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>midotrace</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, '..', 'midotrace-secret.txt'), 'TOP-SECRET-CONTENT');
  t.teardown(() => rmSync(join(dir, '..', 'midotrace-secret.txt'), { force: true }));
  const srv = await startApiServer(createApp({ ...api.deps, panelDir: dir, tokens: [{ token: 'panel-admin-token-000', role: 'admin' }] }), '127.0.0.1:0');
  t.teardown(() => srv.close());
  const base = `http://127.0.0.1:${srv.port}`;
  const redirect = await fetch(`${base}/ui`, { redirect: 'manual' });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get('location'), '/ui/');
  const index = await fetch(`${base}/ui/`);
  t.equal(index.status, 200, 'static files need no token');
  t.match(index.headers.get('content-type') ?? '', /^text\/html/);
  t.match(await index.text(), /<title>midotrace/);
  const js = await fetch(`${base}/ui/app.js`);
  t.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  t.equal(await js.text(), 'console.log(1)');
  // Sent as written (fetch would resolve the dots before sending).
  for (const p of ['/ui/../midotrace-secret.txt', '/ui/%2e%2e/midotrace-secret.txt', '/ui/..%2fmidotrace-secret.txt', '/ui/nope.js', '/ui/%E0%A4%A']) {
    const r = await rawGet(base, p);
    t.equal(r.status, 404, `${p}: 404`);
    t.equal(JSON.parse(r.body).code, 'not_found');
    t.notMatch(r.body, /TOP-SECRET/, `${p} stays inside the panel directory`);
  }
  isErrorBody(t, await client(base, 'panel-admin-token-000')('POST', '/ui/app.js', {}), 405, 'method_not_allowed');
  isErrorBody(t, await client(base)('GET', '/traces'), 401, 'unauthorized', /Bearer/);
});

t.test('simulations: one object gives one result, an array gives an array; traces are stored', async (t) => {
  const one = await call<SimulationResultJson>('POST', '/simulations?trace=true', { inPort: vm1, packet: udp({ tpSrc: 4444 }) });
  t.equal(one.status, 200);
  t.notOk(Array.isArray(one.body), 'an object for an object');
  t.equal(one.body.result, 'forward');
  t.equal(one.body.traceIds.length, 1, '?trace=true traces it');
  const many = await call<SimulationResultJson[]>('POST', '/simulations', [
    { inPort: vm1, packet: udp() }, { inPort: vm2, packet: pk.udp(MAC.vm2, MAC.vm1, IP.vm2, IP.vm1) },
  ]);
  t.equal(many.body.length, 2, 'an array for an array');
  t.same(many.body.map((r) => r.traceIds.length), [0, 0], 'untraced without a condition');
  t.same((await call('POST', '/simulations', [])).body, [], 'an empty array gives an empty array');
  const frame = one.body.emitted[0]!.frame;
  const byFrame = await call<SimulationResultJson>('POST', '/simulations', { inPort: vm1, frame });
  t.equal(byFrame.body.result, 'forward', 'a hex frame simulates too');

  const id = one.body.traceIds[0]!;
  const tr = await waitForValue('the trace', async () => {
    const r = await call<Trace>('GET', `/traces/${id}`);
    return r.status === 200 ? r : null;
  });
  t.equal(tr.body.id, id);
  t.equal(tr.body.ingressPortId, vm1);
  t.equal(tr.body.result, 'forward');
  t.same(tr.body.conditionIds, [], 'forced traces have no condition');
  t.equal(tr.body.match.tpSrc, 4444);
  t.equal(tr.body.complete, true);
  t.same(tr.body.steps.map((s) => s.step), Array.from({ length: tr.body.numSteps }, (_, i) => i + 1), 'steps 1..numSteps');
  t.equal(tr.body.steps[0]!.stage, 'reception');

  t.equal((await call('DELETE', `/traces/${id}`)).status, 204);
  isErrorBody(t, await call('DELETE', `/traces/${id}`), 404, 'not_found');
  isErrorBody(t, await call('GET', `/traces/${id}`), 404, 'not_found');
  isErrorBody(t, await call('GET', `/traces/${'f'.repeat(500)}`), 404, 'not_found');
});

t.test('any valid-hex frame is simulated: a runt is an errorDrop with its reason, never a 400', async (t) => {
  const good = (await call<SimulationResultJson>('POST', '/simulations', { inPort: vm1, packet: udp() })).body.emitted[0]!.frame;
  for (const frame of ['0102', '', 'ffffffffffff0200000000'.padEnd(26, '0')]) {
    const r = await call<SimulationResultJson>('POST', '/simulations', { inPort: vm1, frame });
    t.equal(r.status, 200, `${frame.length / 2} bytes: 200 (${r.text})`);
    t.equal(r.body.result, 'errorDrop');
    t.equal(r.body.reason, 'malformed_frame');
    t.equal(r.body.error?.code, 'eth_truncated', 'error names why');
  }
  const many = await call<SimulationResultJson[]>('POST', '/simulations?trace=true', [
    { inPort: vm1, frame: good }, { inPort: vm1, frame: '0102' }, { inPort: vm1, packet: udp() },
  ]);
  t.equal(many.status, 200, 'one runt does not fail the array');
  t.same(many.body.map((r) => r.result), ['forward', 'errorDrop', 'forward'], 'every packet of the array simulated, in order');
  t.same(many.body.map((r) => r.traceIds.length), [1, 1, 1], '?trace=true traces the runt too');
  // JSON that is not a packet still fails the whole array, with the same path as ever.
  isErrorBody(t, await call('POST', '/simulations', [{ inPort: vm1, frame: '0102' }, { inPort: vm1, frame: 'zz' }]), 400, 'invalid_packet', /^\[1\]\.frame: /);
  isErrorBody(t, await call('POST', '/simulations', { inPort: vm1, frame: 258 }), 400, 'invalid_packet', /^frame: /);
});

t.test('simulations: Midolman\'s verdicts for no route, TTL, L2 broadcast; a malformed frame\'s trace match is its own', async (t) => {
  const bcast = 'ff:ff:ff:ff:ff:ff';
  const r = await call<SimulationResultJson[]>('POST', '/simulations?trace=true', [
    { inPort: vm1, packet: pk.udp(MAC.vm1, MAC.r, IP.vm1, '172.16.0.1') },
    { inPort: vm1, packet: pk.udp(MAC.vm1, MAC.r, IP.vm1, '172.16.0.1', { ttl: 1 }) },
    { inPort: vm1, packet: pk.udp(MAC.vm1, bcast, IP.vm1, '10.0.0.255') },
    { inPort: vm1, packet: pk.udp(MAC.vm1, bcast, IP.vm1, '255.255.255.255') },
    { inPort: vm1, frame: '028e00506ae101000100000008004500001c0000000040110000c0a80001c0a800020035003500080000' },
    { inPort: vm1, frame: 'fffffffeffff6a1617e067e708060001080006aaaaaaaaaaaaaaaaaaaaaa' },
  ]);
  t.equal(r.status, 200);
  const [noRoute, ttl1, subnet, limited, , malformed] = r.body;
  for (const [x, what] of [[noRoute!, 'no route'], [ttl1!, 'TTL 1 towards no route']] as const) {
    t.equal(x.result, 'shortDrop', what);
    t.equal(x.reason, 'no_route', what);
    t.match(x.emitted.map((e) => e.packet), [{ icmpType: 3, icmpCode: 0, nwDst: IP.vm1 }], `${what}: ICMP 3/0 to the sender`);
  }
  for (const [x, what] of [[subnet!, '10.0.0.255'], [limited!, '255.255.255.255']] as const) {
    t.equal(x.result, 'forward', what);
    t.same(x.emitted.map((e) => e.portId).sort(), [api.net.id('vm2'), api.net.id('vm3')].sort(), `${what}: flooded to the exterior ports only`);
    t.equal(x.devicesTraversed, 1, `${what}: the router never sees it`);
  }
  t.equal(malformed!.reason, 'malformed_frame');
  const tr = await waitForValue('the malformed frame\'s trace', async () => {
    const g = await call<Trace>('GET', `/traces/${malformed!.traceIds[0]!}`);
    return g.status === 200 ? g : null;
  });
  t.same(tr.body.match, { ethSrc: '6a:16:17:e0:67:e7', ethDst: 'ff:ff:ff:fe:ff:ff', etherType: 0x0806 }, 'its own L2 fields, nothing of the packet before');
});

t.test('a condition added through the API traces the next matching packet', async (t) => {
  const c = await call<TraceConditionJson>('POST', '/trace_conditions', {
    name: 'vm3-udp', nwSrcAddress: IP.vm3, nwSrcLength: 32, nwProto: 17,
  });
  t.equal(c.status, 201);
  const vm3 = api.net.id('vm3');
  const r = await call<SimulationResultJson[]>('POST', '/simulations', [
    { inPort: vm3, packet: pk.udp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1) },
    { inPort: vm3, packet: pk.tcp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1) },
    { inPort: vm1, packet: udp() },
  ]);
  t.same(r.body.map((x) => x.traceIds.length), [1, 0, 0], 'only the matching packet is traced');
  const listed = await waitForValue('the condition trace', async () => {
    const l = await call<TraceSummary[]>('GET', `/traces?conditionId=${c.body.id}`);
    return l.body.length > 0 ? l : null;
  });
  t.equal(listed.body.length, 1);
  t.equal(listed.body[0]!.id, r.body[0]!.traceIds[0]);
  t.same(listed.body[0]!.conditionIds, [c.body.id]);
  t.equal(listed.body[0]!.match.nwSrc, IP.vm3);
  const withHits = await call<TraceConditionJson & { hits: number }>('GET', `/trace_conditions/${c.body.id}?stats=true`);
  t.equal(withHits.body.hits, 1, 'hits counts it');

  await call('DELETE', `/trace_conditions/${c.body.id}`);
  const after = await waitForValue('the deletion to reach the workers', async () => {
    const x = await call<SimulationResultJson>('POST', '/simulations', { inPort: vm3, packet: pk.udp(MAC.vm3, MAC.vm1, IP.vm3, IP.vm1) });
    return x.body.traceIds.length === 0 ? x : null;
  });
  t.same(after.body.traceIds, [], 'a deleted condition traces nothing');
});

t.test('garbage never makes the server fail', async (t) => {
  let seed = 12345;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const weird: unknown[] = [null, true, 0, -1, 1e308, 'x', '', [], {}, [[[]]], { a: { b: {} } }, '\u0000', 'ff'.repeat(3), -0.5, [1, 'a', null]];
  const pick = (): unknown => weird[Math.floor(rand() * weird.length)];
  const bodies: (string | Uint8Array)[] = [
    new Uint8Array([0xff, 0xfe, 0x00, 0x7b]), '{', '}', 'nul', '"str"', '123', '1e400', '[]', '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"x":1}}}', '\uFEFF{}', '['.repeat(30_000) + ']'.repeat(30_000),
    `{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, '{"tpSrc":"1-2"}', '{"inPorts":{"0":"x"}}', '{"name":{"$gt":""}}',
    '{"limit":1e999}', '{"vlan":-0}', JSON.stringify({ name: 'n\u0000ul' }),
  ];
  for (let i = 0; i < 60; i++) bodies.push(bytes(1 + Math.floor(rand() * 300)));
  for (let i = 0; i < 60; i++) {
    const o: Record<string, unknown> = {};
    for (const k of ['inPort', 'packet', 'frame', 'name', 'tpSrc', 'nwSrcAddress', 'deviceType', 'limit', 'inPorts']) if (rand() < 0.4) o[k] = pick();
    bodies.push(JSON.stringify(rand() < 0.3 ? [o, pick()] : o));
  }
  for (let i = 0; i < 60; i++) {
    const p: Record<string, unknown> = { ethSrc: MAC.vm1, ethDst: MAC.vm2, nwSrc: IP.vm1, nwDst: IP.vm2 };
    for (const k of ['vlan', 'etherType', 'arp', 'nwProto', 'nwTos', 'ttl', 'fragment', 'tpSrc', 'tpDst', 'icmpType', 'icmpCode', 'icmpId', 'payloadLength', 'nwSrc', 'ethDst']) {
      if (rand() < 0.3) p[k] = pick();
    }
    bodies.push(JSON.stringify({ inPort: vm1, packet: p }));
    bodies.push(JSON.stringify({ inPort: vm1, frame: Buffer.from(bytes(14 + Math.floor(rand() * 120))).toString('hex') }));
  }
  const targets: [string, string][] = [['POST', '/trace_conditions'], ['PUT', '/trace_conditions/5f0c2d3e-1111-4222-8333-444455557777'], ['POST', '/simulations']];
  let answered = 0;
  for (const body of bodies) {
    for (const [m, p] of targets) {
      const r = await call(m, p, body);
      const ok = r.status < 500 && typeof (r.body as { code?: unknown }).code === 'string' || r.status === 200 || r.status === 201;
      if (!ok) t.fail(`${m} ${p} answered ${r.status} ${r.text.slice(0, 200)} to ${String(body).slice(0, 80)}`);
      answered++;
    }
  }
  t.equal(answered, bodies.length * targets.length, 'every request was answered');
  t.notOk(({} as Record<string, unknown>).polluted, 'no prototype pollution');

  const raw = await new Promise<string>((resolve) => {
    const s = connect(api.server.port, '127.0.0.1', () => s.end('BLAH / HTTP/9\r\n\u0001\r\n\r\n'));
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
  t.match(raw, /^HTTP\/1\.1 400/, 'malformed HTTP is a 400');
  t.equal((await call('GET', '/healthz')).status, 200, 'still serving');
});

t.test('paging through 10,000 traces by Link headers: no duplicates, no gaps', async (t) => {
  // A daemon of its own, so that exactly these traces exist.
  const own = await startTestApi();
  t.teardown(() => own.close());
  const c = client(own.url);
  const p1 = own.net.id('vm1');
  const made: string[] = [];
  const drops = new Set<string>();
  for (let batch = 0; batch < 10; batch++) {
    const inputs = Array.from({ length: 1000 }, (_, i) => ({
      inPort: p1,
      // Every fourth packet comes from a multicast source MAC, which a bridge drops.
      packet: pk.udp(i % 4 === 0 ? '01:00:5e:00:00:01' : MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 1000 + i }),
    }));
    const r = await c<SimulationResultJson[]>('POST', '/simulations?trace=true', inputs);
    t.equal(r.status, 200);
    for (const x of r.body) {
      made.push(x.traceIds[0]!);
      if (x.result === 'drop') drops.add(x.traceIds[0]!);
    }
  }
  t.equal(new Set(made).size, 10_000, '10,000 distinct traces made');
  t.ok(drops.size > 0 && drops.size < 10_000, 'a mix of results');
  await own.td.daemon.backends.sink.flush();

  const pageThrough = async (first: string, midway?: () => Promise<void>): Promise<{ ids: string[]; pages: number; items: TraceSummary[] }> => {
    const items: TraceSummary[] = [];
    let url: string | null = first;
    let pages = 0;
    while (url !== null) {
      const res = await fetch(url);
      t.equal(res.status, 200);
      const page = await res.json() as TraceSummary[];
      items.push(...page);
      pages++;
      const link = res.headers.get('link');
      const m = link === null ? null : /^<([^>]+)>; rel="next"$/.exec(link);
      if (link !== null) t.ok(m, `Link header shape: ${link}`);
      url = m ? m[1]! : null;
      if (pages === 3 && midway) await midway();
      if (pages > 100) throw new Error('paging does not end');
    }
    return { ids: items.map((x) => x.id), pages, items };
  };

  let inserted: string[] = [];
  const all = await pageThrough(`${own.url}/traces?limit=777`, async () => {
    // New traces arriving while a client pages must not shift its pages.
    const r = await c<SimulationResultJson[]>('POST', '/simulations?trace=true', Array.from({ length: 50 }, () => ({ inPort: p1, packet: udp() })));
    inserted = r.body.map((x) => x.traceIds[0]!);
    await own.td.daemon.backends.sink.flush();
  });
  t.equal(all.pages, Math.ceil(10_000 / 777), 'pages of 777');
  t.equal(all.ids.length, 10_000, 'every trace once');
  t.equal(new Set(all.ids).size, 10_000, 'no duplicates');
  t.same([...all.ids].sort(), [...made].sort(), 'no gaps: exactly the traces made');
  t.notOk(inserted.some((id) => all.ids.includes(id)), 'traces newer than the first page do not appear later');
  const newestFirst = all.items.every((x, i) => i === 0 || x.startedAt < all.items[i - 1]!.startedAt ||
    (x.startedAt === all.items[i - 1]!.startedAt && x.id < all.items[i - 1]!.id));
  t.ok(newestFirst, 'newest first');

  const filtered = await pageThrough(`${own.url}/traces?result=drop&limit=1000`);
  t.equal(filtered.ids.length, drops.size, 'filters hold across pages');
  t.same([...filtered.ids].sort(), [...drops].sort());
  const capped = await c<TraceSummary[]>('GET', '/traces');
  t.equal(capped.body.length, 100, 'default limit 100');
  t.match(capped.headers.get('link') ?? '', /[?&]cursor=[^&>]+/, 'next page has a cursor');
  t.equal((await c<TraceSummary[]>('GET', '/traces?limit=1000')).body.length, 1000, 'max limit 1000');

  const times = all.items.map((x) => Date.parse(x.startedAt));
  const mid = times[5000]!;
  const since = await pageThrough(`${own.url}/traces?limit=1000&since=${mid}`);
  t.equal(since.ids.length, all.items.filter((x) => Date.parse(x.startedAt) >= mid).length + inserted.length, 'since (ms) is inclusive');
  const until = await pageThrough(`${own.url}/traces?limit=1000&until=${encodeURIComponent(new Date(mid).toISOString())}`);
  t.equal(until.ids.length, all.items.filter((x) => Date.parse(x.startedAt) < mid).length, 'until (ISO-8601) is exclusive');
  const host = await c<TraceSummary[]>('GET', `/traces?hostId=${own.deps.hostId}&limit=5`);
  t.equal(host.body.length, 5);
  t.equal((await c<TraceSummary[]>('GET', '/traces?hostId=00000000-0000-4000-8000-000000000000')).body.length, 0, 'hostId filters');
});

t.test('a store whose backend is unreachable answers 503 backend_unavailable', async (t) => {
  const down = Object.assign(new Error('ZooKeeper is unreachable'), { code: 'backend_unavailable' });
  const api = await startTestApi();
  t.teardown(() => api.close());
  const conditions = api.deps.conditions;
  const app = createApp({ ...api.deps, conditions: { ...conditions, list: () => conditions.list(), create: async () => { throw down; } } as typeof conditions });
  const server = await startApiServer(app, '127.0.0.1:0');
  t.teardown(() => server.close());
  const res = await fetch(`http://127.0.0.1:${server.port}/trace_conditions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' });
  t.equal(res.status, 503);
  t.same(await res.json(), { code: 'backend_unavailable', message: 'ZooKeeper is unreachable' });
});

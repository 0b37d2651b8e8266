// /metrics after known traffic: simulations by result, traced packets, steps written, conditions and
// their hits, backend state and API request durations all show the right numbers.
import t from 'tap';
import { startTestApi } from './helpers/api-deps.js';
import { IP, MAC } from './helpers/api-deps.js';
import { pk } from './helpers/net.js';

/** The value of one sample line `name{labels} value` (labels as written by prom-client). */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('metrics count known traffic', async (t) => {
  const api = await startTestApi();
  t.teardown(() => api.close());
  const post = (path: string, body: unknown): Promise<Response> =>
    fetch(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const vm1 = api.net.id('vm1');
  const cond = await post('/trace_conditions', { name: 'to-vm3', nwDstAddress: IP.vm3, nwDstLength: 32 });
  t.equal(cond.status, 201);
  await new Promise((r) => setTimeout(r, 400)); // the condition reaches the workers

  const forward = Array.from({ length: 5 }, (_, i) => ({ inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2, { tpSrc: 100 + i }) }));
  const drops = Array.from({ length: 3 }, () => ({ inPort: vm1, packet: pk.udp('01:00:5e:00:00:01', MAC.vm2, IP.vm1, IP.vm2) }));
  t.equal((await post('/simulations', [...forward, ...drops])).status, 200);
  const matched = (await (await post('/simulations', { inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm3, IP.vm1, IP.vm3) })).json()) as { traceIds: string[] };
  t.equal(matched.traceIds.length, 1, 'the condition traced its packet');
  const forced = (await (await post('/simulations?trace=true', { inPort: vm1, packet: pk.udp(MAC.vm1, MAC.vm2, IP.vm1, IP.vm2) })).json()) as { traceIds: string[] };
  t.equal(forced.traceIds.length, 1);
  await api.td.daemon.backends.sink.flush();
  const steps = await Promise.all([...matched.traceIds, ...forced.traceIds].map(async (id) =>
    ((await (await fetch(`${api.url}/traces/${id}`)).json()) as { numSteps: number }).numSteps));

  const res = await fetch(`${api.url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain/);
  const text = await res.text();
  t.equal(sample(text, 'midotrace_simulations_total', 'result="forward"'), 7, '5 + the traced + the forced one forwarded');
  t.equal(sample(text, 'midotrace_simulations_total', 'result="drop"'), 3, 'multicast sources dropped');
  t.equal(sample(text, 'midotrace_traced_packets_total'), 2);
  t.equal(sample(text, 'midotrace_sink_traces_written_total'), 2);
  t.equal(sample(text, 'midotrace_sink_steps_written_total'), steps[0]! + steps[1]!, 'every step of both traces');
  t.equal(sample(text, 'midotrace_sink_steps_lost_total'), 0);
  t.equal(sample(text, 'midotrace_sink_queue_depth'), 0);
  t.equal(sample(text, 'midotrace_trace_conditions'), 1);
  t.equal(sample(text, 'midotrace_trace_condition_hits', 'condition="to-vm3"'), 1);
  t.equal(sample(text, 'midotrace_backend_up', 'backend="sink:sqlite"'), 1);
  t.equal(sample(text, 'midotrace_backend_up', 'backend="workers"'), 1);
  t.equal(sample(text, 'midotrace_worker_failed_batches_total'), 0);
  const busy = sample(text, 'midotrace_worker_busy_seconds_total') ?? 0;
  t.ok(busy > 0 && busy < 5, `workers' busy time counted for the simulated batches (${busy} s)`);
  t.equal(sample(text, 'midotrace_api_request_duration_seconds_count', 'method="POST",route="/simulations",status="200"'), 3, 'three simulation requests timed');
  t.ok((sample(text, 'midotrace_process_resident_memory_bytes') ?? 0) > 0, 'process metrics too');
});

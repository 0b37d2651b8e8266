// The live datapath's own thread (P10): it owns the bound ports' packet sockets and the tunnel, and
// simulates what it reads itself, on the same shared snapshots and state tables as the pool's workers.
// Frames never cross a thread: the daemon's main thread (API, stores) sees only what this thread
// reports (counters, traces to store, log lines), a few messages a batch at most.
import { parentPort, workerData } from 'node:worker_threads';
import { Datapath } from '../datapath/datapath.js';
import type { SimReply, SimRequest } from '../datapath/types.js';
import { RESULT_NAMES } from '../model/result.js';
import { batchRunner } from './pool/batch-runner.js';
import { FLAG_ENCODED, type FromDatapath, type DatapathThreadInit, type ToDatapath } from './datapath-messages.js';

const init = workerData as DatapathThreadInit;
const port = parentPort!;
const post = (m: FromDatapath): void => port.postMessage(m);
const flags = new Int32Array(init.flags);
// In place: the datapath sends a batch's frames before it simulates the next.
const run = batchRunner(init.sim, true);

/** Result counts and busy time since the last stats message (the main thread keeps the metrics). */
const counts = new Float64Array(RESULT_NAMES.length);
let busyMs = 0;

const log = {
  info: (obj: object, msg: string) => post({ t: 'log', level: 'info', obj: plain(obj), msg }),
  warn: (obj: object, msg: string) => post({ t: 'log', level: 'warn', obj: plain(obj), msg }),
  error: (obj: object, msg: string) => post({ t: 'log', level: 'error', obj: plain(obj), msg }),
};

function simulate(req: SimRequest): SimReply | null {
  const encoded = Atomics.load(flags, 0) === FLAG_ENCODED;
  const res = run({
    data: req.data, offsets: req.offsets, ports: req.ports, forceTrace: false, detail: false,
    nowMs: Date.now(), emit: true, holdArp: req.holdArp, traceOutput: encoded ? 'encoded' : 'records',
  });
  if (res.encoded !== null) post({ t: 'traces', encoded: res.encoded });
  else if (res.traces.length > 0) post({ t: 'records', traces: res.traces });
  busyMs += res.busyMs;
  const codes = res.codes;
  for (let i = 0; i < codes.length; i++) { const c = codes[i]!; counts[c < counts.length ? c : 3]!++; }
  return { codes, emitted: res.emitted, held: res.held, traced: res.traced };
}

// The first batch compiles the topology: before frames flow, not on a guest's first packet.
run({ data: new Uint8Array(0), offsets: new Int32Array(1), ports: '', forceTrace: false, detail: false, nowMs: Date.now() });

const dp = Datapath.start({
  log,
  simulate,
  batchFrames: init.batchFrames,
  arpRetryMs: init.arpRetryMs,
  arpTimeoutMs: init.arpTimeoutMs,
  holdPerNextHop: init.holdPerNextHop,
  tunnelPort: init.tunnelPort,
  onTracedArrival: (a) => post({ t: 'arrival', a }),
}, init.bindings);
if (init.plan !== null) dp.setTunnelPlan(init.plan);

function report(): void {
  post({ t: 'stats', status: dp.status, ports: dp.stats(), tunnels: dp.tunnelStats(), held: dp.heldPackets, counts: Array.from(counts), busyMs });
  counts.fill(0);
  busyMs = 0;
}
report();
// Counters and link states reach GET /datapath, /healthz and /metrics within this long.
const timer = setInterval(report, init.statsMs);

// An error escaping a batch or a timer: said, the sockets closed while the thread can still close
// them, then the thread ends and the daemon starts a new one.
process.on('uncaughtException', (e) => {
  try { log.error({ err: e }, 'the live datapath failed'); dp.abort(); } finally { setImmediate(() => process.exit(1)); }
});

port.on('message', (m: ToDatapath) => {
  if (m.t === 'bind') {
    dp.setBindings(m.bindings);
    if (m.plan !== null) dp.setTunnelPlan(m.plan);
    report();
  } else if (m.t === 'fault' && init.faultInjection) {
    setImmediate(() => { throw new Error('injected datapath fault'); });
  } else if (m.t === 'stop') {
    clearInterval(timer);
    dp.stop();
    report();
    port.close();
  }
});

/** Log fields as they can cross threads: an error becomes its message and stack. */
function plain(obj: object): object {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = v instanceof Error ? { message: v.message, stack: v.stack } : v;
  return out;
}

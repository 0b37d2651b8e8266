// sink.cassandra.steps (SPEC §8): steps stored per second through the Cassandra TraceSink — the
// real cassandra-driver over TCP to the CQL test server (tools/cql-test-server), for fully traced packets of
// 20 steps each. The server runs in a worker thread so its CPU is not charged to the sink's event
// loop, as a real cluster's would not be. A run writes the records a few hundred per event-loop
// turn, as a busy daemon would hand them over, then flushes; the wall time covers all of it.
// Median of RUNS. No real Cassandra runs here: this measures the client side (encoding, driver,
// batching, in-flight bound) against a server that answers fast, not a cluster's write capacity.
import { Worker } from 'node:worker_threads';
import { CassandraTraceBackend } from '../stores/cassandra/index.js';
import { median, type BenchLine } from './types.js';
import { makeRecords, STEPS_PER_TRACE, writeAllTimed } from './trace-records.js';

const RUNS = 5;
const TRACES_PER_RUN = 4_000;

/**
 * The CQL test server in a worker thread; resolves with its port and a stop function. The server is
 * test code: it is loaded from the sources through tsx (a dev dependency, like the bench itself),
 * so that the build neither compiles nor ships it.
 */
async function serverThread(): Promise<{ port: number; stop: () => Promise<void> }> {
  const fromDist = !import.meta.url.endsWith('.ts');
  const url = new URL(`${fromDist ? '../..' : '..'}/tools/cql-test-server/src/server.ts`, import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    (async () => {
      (await import(workerData.tsx)).register();
      const { CqlTestServer } = await import(workerData.url);
      const s = await CqlTestServer.start({ dataCenter: 'dc1' });
      parentPort.on('message', () => { s.stop().then(() => parentPort.close()); });
      parentPort.postMessage({ port: s.port });
    })().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));`;
  const w = new Worker(code, { eval: true, workerData: { url, tsx } });
  const port = await new Promise<number>((resolve, reject) => {
    w.once('message', (m: { port?: number; error?: string }) => (m.port !== undefined ? resolve(m.port) : reject(new Error(m.error))));
    w.once('error', reject);
  });
  return { port, stop: async () => { w.postMessage('stop'); await new Promise((r) => w.once('exit', r)); } };
}

interface RunResult { stepsPerSec: number; lost: number; errors: number }

async function oneRun(contactPoint: string, run: number): Promise<RunResult> {
  const sink = new CassandraTraceBackend({
    contactPoints: [contactPoint], localDataCenter: 'dc1', keyspace: `bench_${run < 0 ? 'warm' : run}`,
  });
  const first = await sink.firstAttempt();
  if (first.state !== 'ready') throw new Error(`cassandra test server not ready: ${first.error ?? first.state}`);
  const recs = makeRecords(TRACES_PER_RUN, Date.UTC(2030, 0, 1) + (run + 1) * TRACES_PER_RUN);
  const secs = await writeAllTimed(sink, recs);
  const s = sink.stats();
  await sink.close();
  return { stepsPerSec: s.stepsWritten / secs, lost: s.stepsLost, errors: s.writeErrors };
}

export async function benchSinkCassandra(): Promise<BenchLine[]> {
  const server = await serverThread();
  try {
    const contactPoint = `127.0.0.1:${server.port}`;
    await oneRun(contactPoint, -1); // warm-up: JIT, prepared statements
    const samples: number[] = [];
    let lost = 0;
    let errors = 0;
    for (let run = 0; run < RUNS; run++) {
      const r = await oneRun(contactPoint, run);
      samples.push(r.stepsPerSec);
      lost += r.lost;
      errors += r.errors;
    }
    return [{
      bench: 'sink.cassandra.steps', value: Math.round(median(samples)), unit: 'steps/s',
      runs: RUNS, tracesPerRun: TRACES_PER_RUN, stepsPerTrace: STEPS_PER_TRACE, stepsLost: lost, writeErrors: errors,
      samples: samples.map(Math.round), server: 'CQL test server (tools/cql-test-server) in a worker thread',
    }];
  } finally {
    await server.stop();
  }
}

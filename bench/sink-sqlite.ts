// sink.sqlite.steps (SPEC §8): steps stored per second through the SQLite TraceSink, for fully
// traced packets of ~20 steps each. A run writes the records a few hundred per event-loop turn, as
// a busy daemon would hand them over, then flushes; the wall time covers all of it, the file's
// WAL checkpoints included. Median of RUNS.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteTraceBackend } from '../stores/sqlite/index.js';
import { median, type BenchLine } from './types.js';
import { makeRecords, STEPS_PER_TRACE, writeAllTimed } from './trace-records.js';

const RUNS = 5;
const TRACES_PER_RUN = 10_000;

interface RunResult { stepsPerSec: number; stepsPerCpuSec: number; lost: number }

async function oneRun(dir: string, run: number): Promise<RunResult> {
  const opened = openSqliteTraceBackend({ path: join(dir, `bench-${run}.db`), retentionMs: 0 });
  if (!opened.ok) throw new Error(opened.message);
  const sink = opened.backend;
  const recs = makeRecords(TRACES_PER_RUN, Date.UTC(2030, 0, 1) + run * TRACES_PER_RUN);
  const cpu0 = process.cpuUsage();
  const secs = await writeAllTimed(sink, recs);
  const cpu = process.cpuUsage(cpu0);
  const s = sink.stats();
  await sink.close();
  return { stepsPerSec: s.stepsWritten / secs, stepsPerCpuSec: s.stepsWritten / ((cpu.user + cpu.system) / 1e6), lost: s.stepsLost };
}

export async function benchSinkSqlite(): Promise<BenchLine[]> {
  const dir = mkdtempSync(join(tmpdir(), 'midotrace-bench-sqlite-'));
  try {
    await oneRun(dir, -1); // warm-up: JIT, page cache
    const samples: number[] = [];
    const cpuSamples: number[] = [];
    let lost = 0;
    for (let run = 0; run < RUNS; run++) {
      const r = await oneRun(dir, run);
      samples.push(r.stepsPerSec);
      cpuSamples.push(r.stepsPerCpuSec);
      lost += r.lost;
    }
    return [{
      bench: 'sink.sqlite.steps', value: Math.round(median(samples)), unit: 'steps/s',
      runs: RUNS, tracesPerRun: TRACES_PER_RUN, stepsPerTrace: STEPS_PER_TRACE, stepsLost: lost,
      samples: samples.map(Math.round),
      // Steps per second of this process's CPU time: less swayed by other load on the machine.
      stepsPerCpuSecond: Math.round(median(cpuSamples)),
    }];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

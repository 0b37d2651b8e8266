// The daemon's side of the worker pool: publishes the topology and the trace conditions into shared
// snapshots, hands out hit-counter slots, and runs batches on Piscina. A crashed worker fails only its
// batch: Piscina replaces the thread and the daemon keeps serving.
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { createStateTables, stateTablesDescriptor } from '../../engine/state/tables.js';
import type { SimStateTables } from '../../engine/state/types.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import type { TraceConditionJson } from '../../model/trace.js';
import type { PublishedCondition } from '../../engine/trace/matcher.js';
import { SharedSnapshot } from './snapshot.js';
import type { BatchResult, BatchTask, WorkerInit } from './protocol.js';

export interface PoolOptions {
  /** Worker threads; default: the number of cores. */
  threads?: number;
  hostId: string;
  /** Bytes for each half of a snapshot (topology, conditions). */
  snapshotBytes?: number;
  /** Most trace conditions held at once (hit-counter slots). */
  maxConditions?: number;
  state?: { macCapacity?: number; arpCapacity?: number; conntrackCapacity?: number; natCapacity?: number };
  /** Let tasks ask a worker to die (tests of crash recovery). */
  faultInjection?: boolean;
  /** How workers hand traced packets back (WorkerInit.traceOutput); default 'records'. */
  traceOutput?: 'records' | 'encoded';
}

export type RunOutcome = { ok: true; result: BatchResult } | { ok: false; code: 'worker_failed' | 'pool_closed'; message: string };

const here = fileURLToPath(import.meta.url);
const WORKER = new URL(`./worker${extname(here)}`, import.meta.url).href;

export class SimPool {
  readonly threads: number;
  readonly state: SimStateTables;
  private readonly topology: SharedSnapshot;
  private readonly conditions: SharedSnapshot;
  private readonly hitsBuf: SharedArrayBuffer;
  readonly hits: Int32Array;
  private readonly slots = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private readonly piscina: Piscina;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  /** Batches whose worker died (the thread is replaced). */
  failedBatches = 0;

  constructor(o: PoolOptions) {
    this.threads = o.threads ?? availableParallelism();
    const half = o.snapshotBytes ?? 8 * 1024 * 1024;
    this.topology = SharedSnapshot.create(half);
    this.conditions = SharedSnapshot.create(Math.max(64 * 1024, Math.floor(half / 4)));
    const maxConditions = o.maxConditions ?? 4096;
    this.hitsBuf = new SharedArrayBuffer(maxConditions * 4);
    this.hits = new Int32Array(this.hitsBuf);
    for (let i = maxConditions - 1; i >= 0; i--) this.freeSlots.push(i);
    this.state = createStateTables({ shared: true, ...o.state });
    const workerData: WorkerInit = {
      hostId: o.hostId,
      topology: this.topology.descriptor(),
      conditions: this.conditions.descriptor(),
      hits: this.hitsBuf,
      state: stateTablesDescriptor(this.state),
      faultInjection: o.faultInjection === true,
      traceOutput: o.traceOutput ?? 'records',
    };
    this.piscina = new Piscina({
      filename: WORKER,
      minThreads: this.threads,
      maxThreads: this.threads,
      workerData,
      // Workers do no I/O; 'async' keeps their event loop alive between tasks anyway (STACK.md).
      atomics: 'async',
      idleTimeout: 2 ** 31 - 1,
    });
    // A worker that dies is replaced by Piscina; its task promise rejects and run() reports it.
    this.piscina.on('error', () => { this.failedBatches++; });
  }

  /** Publishes a validated topology document; workers pick it up before their next batch. */
  setTopology(doc: TopologyDoc): void {
    if (!this.topology.publish(JSON.stringify(doc))) {
      throw new RangeError('topology does not fit in the shared snapshot: raise workers.snapshotBytes');
    }
  }

  /**
   * Publishes the trace conditions (enabled or not; workers skip disabled ones). A condition keeps its
   * hit-counter slot while it exists, so `limit` counts across updates; a new id starts at zero.
   */
  setConditions(list: readonly TraceConditionJson[]): void {
    const live = new Set(list.map((c) => c.id));
    for (const [id, slot] of this.slots) {
      if (!live.has(id)) { this.slots.delete(id); this.freeSlots.push(slot); }
    }
    const published: PublishedCondition[] = [];
    for (const c of list) {
      let slot = this.slots.get(c.id);
      if (slot === undefined) {
        slot = this.freeSlots.pop();
        if (slot === undefined) throw new RangeError('too many trace conditions: raise workers.maxConditions');
        Atomics.store(this.hits, slot, 0);
        this.slots.set(c.id, slot);
      }
      published.push({ slot, condition: c });
    }
    if (!this.conditions.publish(JSON.stringify(published))) {
      throw new RangeError('trace conditions do not fit in the shared snapshot: raise workers.snapshotBytes');
    }
  }

  get topologyVersion(): number { return this.topology.version(); }
  get conditionsVersion(): number { return this.conditions.version(); }

  /** Traces a condition has started so far (its hit counter). */
  hitsOf(id: string): number {
    const slot = this.slots.get(id);
    return slot === undefined ? 0 : Atomics.load(this.hits, slot);
  }

  /** Runs one batch. Never rejects: a dead worker or a closed pool is a closed-union outcome. */
  async run(task: BatchTask): Promise<RunOutcome> {
    if (this.closed) return { ok: false, code: 'pool_closed', message: 'the simulation pool is shutting down' };
    // The frames move to the worker, not copied: the caller must not touch task.data afterwards.
    const transferList = task.data.buffer instanceof ArrayBuffer ? [task.data.buffer] : [];
    const p = this.piscina.run(task, { transferList }) as Promise<BatchResult>;
    this.inFlight.add(p);
    try {
      return { ok: true, result: await p };
    } catch (e) {
      this.failedBatches++;
      return { ok: false, code: 'worker_failed', message: `simulation worker failed: ${(e as Error).message}` };
    } finally {
      this.inFlight.delete(p);
    }
  }

  get pending(): number { return this.inFlight.size; }

  /** Stops taking batches, waits for those in flight, then stops the threads. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.piscina.destroy();
  }
}

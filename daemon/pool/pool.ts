// The daemon's side of the worker pool: publishes the topology and the trace conditions into shared
// snapshots, hands out hit-counter slots, and runs batches on Piscina. A crashed worker fails only its
// batch: Piscina replaces the thread and the daemon keeps serving.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { siblingModule } from '../../model/thread-entry.js';
import { createStateTables, stateTablesDescriptor } from '../../engine/state/tables.js';
import type { SimStateTables } from '../../engine/state/types.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import type { TraceConditionJson } from '../../model/trace.js';
import type { PublishedCondition } from '../../engine/trace/matcher.js';
import { SharedSnapshot } from './snapshot.js';
import type { BatchResult, BatchTask, TopologyDeltas, WorkerInit } from './protocol.js';
import type { RouteChange } from '../../engine/topology/compile.js';

/** Route changes published as deltas before the whole document is published again. */
const MAX_DELTAS = 64;
/** Bytes for each half of the deltas snapshot. */
const DELTA_BYTES = 1024 * 1024;

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
}

export type RunOutcome = { ok: true; result: BatchResult } | { ok: false; code: 'worker_failed' | 'pool_closed'; message: string };

const WORKER = siblingModule(import.meta.url, 'worker').href;

export class SimPool {
  readonly threads: number;
  readonly state: SimStateTables;
  private readonly topology: SharedSnapshot;
  private readonly topologyDeltas: SharedSnapshot;
  private readonly conditions: SharedSnapshot;
  /** Topology publications so far (full or delta), and the route changes since the last full one. */
  private publications = 0;
  private deltas: TopologyDeltas = { full: 0, fullPublication: 0, deltas: [] };
  private readonly hitsBuf: SharedArrayBuffer;
  readonly hits: Int32Array;
  private readonly slots = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  private readonly piscina: Piscina;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  /** Batches whose worker died (the thread is replaced). */
  failedBatches = 0;
  /** What a thread needs to simulate on this pool's snapshots and state (the live datapath's thread). */
  readonly workerInit: Readonly<WorkerInit>;

  constructor(o: PoolOptions) {
    this.threads = o.threads ?? availableParallelism();
    const half = o.snapshotBytes ?? 8 * 1024 * 1024;
    this.topology = SharedSnapshot.create(half);
    this.topologyDeltas = SharedSnapshot.create(DELTA_BYTES);
    this.conditions = SharedSnapshot.create(Math.max(64 * 1024, Math.floor(half / 4)));
    const maxConditions = o.maxConditions ?? 4096;
    this.hitsBuf = new SharedArrayBuffer(maxConditions * 4);
    this.hits = new Int32Array(this.hitsBuf);
    for (let i = maxConditions - 1; i >= 0; i--) this.freeSlots.push(i);
    this.state = createStateTables({ shared: true, ...o.state });
    const workerData: WorkerInit = {
      hostId: o.hostId,
      topology: this.topology.descriptor(),
      topologyDeltas: this.topologyDeltas.descriptor(),
      conditions: this.conditions.descriptor(),
      hits: this.hitsBuf,
      state: stateTablesDescriptor(this.state),
      faultInjection: o.faultInjection === true,
    };
    this.workerInit = { ...workerData, faultInjection: false };
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

  /**
   * Publishes a validated topology document; workers pick it up before their next batch. With
   * `routes`, the route change from the previous document (and nothing else changed), workers that
   * hold the previous one recompile only the routers it touches (P14: a one-route change at 100,000
   * routes in ~5 ms instead of a whole-document parse and compile); the full document is published
   * again only every MAX_DELTAS changes, for workers that start later.
   */
  setTopology(doc: TopologyDoc, routes: RouteChange | null = null): void {
    if (routes !== null && this.publications > 0 && this.deltas.deltas.length < MAX_DELTAS) {
      const next: TopologyDeltas = { ...this.deltas, deltas: [...this.deltas.deltas, routes] };
      if (this.topologyDeltas.publish(JSON.stringify(next))) {
        this.deltas = next;
        this.publications++;
        return;
      }
    }
    if (!this.topology.publish(JSON.stringify(doc))) {
      throw new RangeError('topology does not fit in the shared snapshot: raise workers.snapshotBytes');
    }
    this.deltas = { full: this.topology.version(), fullPublication: ++this.publications, deltas: [] };
    this.topologyDeltas.publish(JSON.stringify(this.deltas));
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

  /** Route changes published as deltas since the last full document (tests). */
  get deltasSinceFull(): number { return this.deltas.deltas.length; }

  /** Topology publications so far; a batch reports the one it ran against. */
  get topologyVersion(): number { return this.publications; }
  get conditionsVersion(): number { return this.conditions.version(); }

  /** Traces a condition has started so far (its hit counter). */
  hitsOf(id: string): number {
    const slot = this.slots.get(id);
    return slot === undefined ? 0 : Atomics.load(this.hits, slot);
  }

  /** The condition's limit is spent (on any host): workers stop matching it. */
  exhaust(id: string, limit: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    for (;;) {
      const n = Atomics.load(this.hits, slot);
      if (n >= limit || Atomics.compareExchange(this.hits, slot, n, limit) === n) return;
    }
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

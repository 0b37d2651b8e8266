// Where traces go and where they are read back (SPEC §5), and where trace conditions live.
// Every backend (SQLite, Cassandra) implements these and passes test/helpers/*-conformance.ts.
import type { ResultName } from './result.js';
import type { TraceStep } from './step.js';
import type { TopologyDoc } from './topology/doc.js';
import type { MatchSummary, Trace, TraceConditionJson, TraceSummary } from './trace.js';

/**
 * One traced packet as a worker or the daemon hands it over. The sink takes ownership: the caller
 * must not mutate the record or its steps after write() (records that cross a worker boundary are
 * fresh copies anyway).
 *
 * Steps are stored in array order and numbered 1..n by position, whatever their `step` field says,
 * so a stored trace never has gaps. Every step gets the record's hostId.
 */
export interface TraceRecord {
  /** Time-ordered UUID (engine/trace/trace-id.ts). */
  id: string;
  hostId: string;
  conditionIds: readonly string[];
  startedAtMs: number;
  ingressPortId: string;
  match: MatchSummary;
  result: ResultName;
  steps: readonly TraceStep[];
  /** false when the producer already lost steps before handing the record over. Default true. */
  complete?: boolean;
}

/** A TraceRecord without its steps: what a worker encodes as the trace's head. */
export type TraceHead = Omit<TraceRecord, 'steps'>;

/**
 * Counters since the sink was created. Loss policy, so that readers are never left guessing:
 * - When the queue has room for the trace but not for all its steps, the trace is stored with the
 *   prefix of steps that fit (possibly none): `numSteps` = steps stored, `complete: false`.
 * - When the queue already holds its maximum number of traces (or the sink is closed), the whole
 *   trace is dropped: `tracesLost` += 1 and its steps count in `stepsLost`.
 * - When a backend write fails, the batch is retried one trace at a time; a trace that still fails
 *   is retried as its summary alone (`complete: false`, `numSteps: 0`); only if that fails too is
 *   it lost. Every failed backend call counts in `writeErrors`.
 */
export interface SinkStats {
  /** Traces stored, complete or not. */
  tracesWritten: number;
  /** Of those, stored with `complete: false`. */
  tracesIncomplete: number;
  /** Traces not stored at all. */
  tracesLost: number;
  stepsWritten: number;
  /** Steps handed to write() that were never stored (the trace is then incomplete or lost). */
  stepsLost: number;
  /** Traces queued or being written right now. */
  queueDepth: number;
  /** Steps queued or being written right now. */
  queuedSteps: number;
  /** Failed backend writes (a failed batch counts once, each failed retry once more). */
  writeErrors: number;
}

/**
 * Traced packets of one worker batch, encoded once in the worker in the form the sink stores (see
 * TraceSink.writeBatch), so that no trace object crosses a thread: trace i is the summary
 * text[ends[i - 1] ?? 0 .. ends[i]) with the steps stepTexts[stepRefs[i]] (one text per distinct
 * step list in the batch: packets of a flow repeat theirs), and has steps[i] steps.
 */
export interface EncodedTraceBatch {
  text: string;
  ends: Int32Array;
  steps: Int32Array;
  stepTexts: string[];
  stepRefs: Int32Array;
}

/**
 * Steps another host recorded for a trace that started elsewhere (SPEC §10: the egress host's part),
 * read back after the ingress host's steps, in the order of `after` (the ingress steps they follow).
 */
export interface StepSegment { traceId: string; hostId: string; after: number; steps: readonly TraceStep[] }

export interface TraceSink {
  /** Queue one trace. Never throws, never blocks; loss is counted in stats(). */
  write(rec: TraceRecord): void;
  /**
   * Present on sinks that take traces already encoded by the workers (SQLite): queues every trace
   * of the batch as write() would. The daemon then asks its workers for encoded batches.
   */
  writeBatch?(batch: EncodedTraceBatch): void;
  /**
   * Present on sinks whose store keeps steps from several hosts in one trace: queues a segment as
   * write() queues a trace (never throws; a failed write counts its steps in stepsLost).
   */
  appendSteps?(seg: StepSegment): void;
  /**
   * Backpressure: null while the sink's queue has room; otherwise a promise that resolves once it has
   * drained enough, within a bounded time (stores/queue.ts). Producers that can wait (API requests)
   * await it before making more traces, so a burst is slowed instead of lost; the live datapath
   * cannot wait, and writes anyway (losses counted).
   */
  room(): Promise<void> | null;
  /** Resolves once everything written before this call is stored (or counted lost). */
  flush(): Promise<void>;
  /** Flush, then release the backend. Later write() calls count the trace as lost. Idempotent. */
  close(): Promise<void>;
  stats(): SinkStats;
}

/** Upper bound for TraceQuery.limit (SPEC §6: `?limit=` max 1000). */
export const MAX_TRACE_LIST_LIMIT = 1000;

export interface TraceQuery {
  /** 1..MAX_TRACE_LIST_LIMIT. */
  limit: number;
  /** Opaque, from a previous page's nextCursor with the same filters. */
  cursor?: string;
  conditionId?: string;
  hostId?: string;
  result?: ResultName;
  /** Inclusive lower bound on startedAt, ms since the epoch. */
  since?: number;
  /** Exclusive upper bound on startedAt, ms since the epoch. */
  until?: number;
}

export type TraceListError = 'invalid_cursor' | 'invalid_limit' | 'invalid_time';

/**
 * Newest first (startedAt, then id, both descending). Paging is keyset-based: a page never repeats
 * or skips a trace that existed when the first page was read, however many are inserted meanwhile.
 * nextCursor is null when no more traces match.
 */
export type TraceListResult =
  | { ok: true; items: TraceSummary[]; nextCursor: string | null }
  | { ok: false; code: TraceListError; message: string };

export interface TraceStore {
  list(q: TraceQuery): Promise<TraceListResult>;
  /** The trace with its steps ordered 1..numSteps, or null when absent. */
  get(id: string): Promise<Trace | null>;
  /** true when it existed. */
  delete(id: string): Promise<boolean>;
  /** Deletes every trace whose startedAt is before `ms`; returns how many. */
  deleteOlderThan(ms: number): Promise<number>;
}

/** A trace condition as given to create(): the id is assigned (random UUID) when absent. */
export type NewTraceCondition = Omit<TraceConditionJson, 'id'> & { id?: string };

export type CreateConditionResult =
  | { ok: true; condition: TraceConditionJson }
  | { ok: false; code: 'duplicate_id' | 'duplicate_name' };

/** `id_mismatch`: the body carries an id other than the one it is stored under. */
export type PutConditionResult =
  | { ok: true; created: boolean; condition: TraceConditionJson }
  | { ok: false; code: 'duplicate_name' | 'id_mismatch' };

export type ConditionListener = (conditions: TraceConditionJson[]) => void;

/**
 * Trace conditions round-trip exactly: what is stored is what comes back, plus
 * `creationTimestampMs`, which the store sets on creation when absent (and keeps on a replace
 * whose body has none). Names are unique among conditions that have one.
 */
export interface ConditionStore {
  /** All conditions, oldest first. */
  list(): Promise<TraceConditionJson[]>;
  get(id: string): Promise<TraceConditionJson | null>;
  create(c: NewTraceCondition): Promise<CreateConditionResult>;
  /** Store under `id` (the body's id may be absent; if present it must equal `id`). */
  put(id: string, c: NewTraceCondition): Promise<PutConditionResult>;
  delete(id: string): Promise<boolean>;
  /**
   * `listener` receives the full list after changes, made through this store or by anyone else
   * sharing the backend. Bursts of changes may be coalesced into one call, but a call always
   * follows the last change. Not called on subscription: subscribe, then list(). Returns unsubscribe.
   */
  watch(listener: ConditionListener): () => void;
  close(): Promise<void>;
}

/**
 * What a claim on a condition's `limit` came to: `kept` when the trace may be stored; `exhausted` when
 * the limit was already spent (by any host, before or after a restart); `unavailable` when the store
 * could not be asked (the trace is then dropped: a limit errs under, never over).
 */
export type HitClaim = 'kept' | 'exhausted' | 'unavailable';

/**
 * The shared budget of trace conditions that have a `limit` (SPEC §5): exact across every daemon
 * sharing the condition store and across restarts. Each traced packet claims one unit and keeps its
 * trace only when the claim is within the limit. A daemon that crashes between a claim and storing
 * the trace loses that unit: the count may come out under the limit, never over it.
 */
export interface ConditionHits {
  claim(id: string, limit: number): Promise<HitClaim>;
  /** Units claimed within the limit so far (the condition's `hits`); throws when the store is down. */
  count(id: string, limit: number): Promise<number>;
  /** Forgets a deleted condition's count, so that an id created again starts at zero. */
  forget(id: string): Promise<void>;
}

/** One backend's state for /healthz: `detail` says what an operator should look at. */
export interface BackendHealth { name: string; ok: boolean; detail?: string }

export type TopologyLoad = { ok: true; doc: TopologyDoc } | { ok: false; message: string };

/**
 * Where the daemon's topology comes from: a file (offline) or ZooKeeper (production). The daemon asks
 * for the current document and is told of changes; it validates before publishing to the workers, so a
 * bad update is refused and the running topology stays.
 */
export interface TopologySource {
  /** The current, validated document. */
  load(): Promise<TopologyLoad>;
  /** `listener` is called after the topology changed (not on subscribe). Returns unsubscribe. */
  watch(listener: () => void): () => void;
  health(): BackendHealth;
  close(): Promise<void>;
}

/** One opened backend: what it provides, its health, and how to close it. */
export interface TraceBackend { sink: TraceSink; store: TraceStore; health(): BackendHealth; close(): Promise<void> }
export interface ConditionBackend { store: ConditionStore; hits: ConditionHits; health(): BackendHealth; close(): Promise<void> }

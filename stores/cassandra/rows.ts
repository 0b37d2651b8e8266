// Bound values of the writes, and the SPEC §5 JSON built back from rows. Column lists live next to
// the code that fills them, so a statement and its values cannot drift apart.
import { fnv1a } from '../../model/hash.js';
import type cassandra from 'cassandra-driver';
import type { ResultName } from '../../model/result.js';
import type { Stage, StepDeviceType, TraceStep } from '../../model/step.js';
import type { MatchSummary, StepJson, TraceSummary } from '../../model/trace.js';
import { toStepJson } from '../../model/step-json.js';
import type { PendingTrace } from '../queue.js';

export const SUMMARY_COLS = 'host_id, started_at, ingress_port_id, result, match, condition_ids, num_steps, complete';
const SUMMARY_MARKS = '?, ?, ?, ?, ?, ?, ?, ?';
export const STEP_COLS = 'at, stage, device_type, device_id, device_name, message, details';

export function statements(ks: string) {
  return {
    insertSummary: `INSERT INTO ${ks}.traces (id, step, ${SUMMARY_COLS}) VALUES (?, 0, ${SUMMARY_MARKS}) USING TTL ?`,
    insertStep: `INSERT INTO ${ks}.traces (id, step, ${STEP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
    /** A step another host recorded (segment rows carry their own host_id). */
    insertSegmentStep: `INSERT INTO ${ks}.traces (id, step, host_id, ${STEP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
    insertIndex: `INSERT INTO ${ks}.trace_index_v2 (scope, bucket, shard, sk, id, ${SUMMARY_COLS}) ` +
      `VALUES (?, ?, ?, ?, ?, ${SUMMARY_MARKS}) USING TTL ?`,
    insertBucket: `INSERT INTO ${ks}.trace_buckets_v2 (scope, bucket, width_ms, shards) VALUES (?, ?, ?, ?) USING TTL ?`,
    selectTrace: `SELECT step, ${SUMMARY_COLS}, ${STEP_COLS} FROM ${ks}.traces WHERE id = ?`,
    selectSummary: `SELECT ${SUMMARY_COLS} FROM ${ks}.traces WHERE id = ? AND step = 0`,
    /** Registry entries starting in [lo, hi], newest first, a page at a time. */
    selectBuckets: `SELECT bucket, width_ms, shards FROM ${ks}.trace_buckets_v2 WHERE scope = ? AND bucket >= ? AND bucket <= ? LIMIT ?`,
    selectIndex: `SELECT sk, id, ${SUMMARY_COLS} FROM ${ks}.trace_index_v2 ` +
      'WHERE scope = ? AND bucket = ? AND shard = ? AND sk >= ? AND sk < ? LIMIT ?',
    deleteIndex: `DELETE FROM ${ks}.trace_index_v2 WHERE scope = ? AND bucket = ? AND shard = ? AND sk = ?`,
    deleteTrace: `DELETE FROM ${ks}.traces WHERE id = ?`,
    deleteBucket: `DELETE FROM ${ks}.trace_buckets_v2 WHERE scope = ? AND bucket = ? AND width_ms = ? AND shards = ?`,
  } as const;
}
export type Statements = ReturnType<typeof statements>;

/** The summary columns of a stored trace, in SUMMARY_COLS order (shared by `traces` and `trace_index`). */
export function summaryValues(p: PendingTrace): unknown[] {
  const r = p.rec;
  const startedAtMs = r.startedAtMs;
  if (!Number.isFinite(startedAtMs)) throw new TypeError(`trace ${String(r.id)}: startedAtMs is not a time`);
  return [
    r.hostId, Math.floor(startedAtMs), r.ingressPortId, r.result, JSON.stringify(r.match),
    [...r.conditionIds], p.stepCount, p.complete,
  ];
}

/** Step i (0-based) of the record as STEP_COLS values; a step without a time gets the trace's. */
export function stepValues(s: TraceStep, startedAtMs: number): unknown[] {
  const at = Number.isFinite(s.timestampMs) ? s.timestampMs : startedAtMs;
  // JSON.stringify throws on a cycle: the trace then keeps its summary alone (QueuedSink policy).
  return [at, s.stage, s.deviceType, s.deviceId, s.deviceName, s.message, JSON.stringify(s.details ?? {})];
}

export function toSummary(id: string, row: cassandra.types.Row): TraceSummary {
  const conds = row['condition_ids'] as string[] | null;
  return {
    id,
    hostId: row['host_id'] as string,
    conditionIds: conds === null ? [] : [...conds],
    startedAt: (row['started_at'] as Date).toISOString(),
    ingressPortId: row['ingress_port_id'] as string,
    match: JSON.parse(row['match'] as string) as MatchSummary,
    result: row['result'] as ResultName,
    numSteps: row['num_steps'] as number,
    complete: row['complete'] === true,
  };
}

/**
 * Steps other hosts recorded (SPEC §10) are rows of the trace's partition from SEGMENT_BASE on,
 * clustered after the ingress steps: SEGMENT_BASE + after·4096 + hostSlot·64 + i, so segments
 * sort by the ingress step they follow, then by host, then in order, and two hosts' segments
 * after the same step do not overwrite each other (64 host slots, 64 steps a segment).
 */
export const SEGMENT_BASE = 2 ** 30;
const MAX_AFTER = 2 ** 17 - 1;

export function segmentStep(after: number, hostId: string, i: number): number {
  return SEGMENT_BASE + Math.min(Math.max(0, after), MAX_AFTER) * 4096 + (fnv1a(hostId) & 63) * 64 + Math.min(i, 63);
}

export function toStep(n: number, hostId: string, row: cassandra.types.Row): StepJson {
  return toStepJson(n, hostId, {
    timestampMs: (row['at'] as Date).getTime(),
    stage: row['stage'] as Stage,
    deviceType: row['device_type'] as StepDeviceType,
    deviceId: row['device_id'] as string,
    deviceName: row['device_name'] as string,
    message: row['message'] as string,
    details: JSON.parse(row['details'] as string) as unknown,
  });
}

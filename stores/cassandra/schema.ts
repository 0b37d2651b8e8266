// The Cassandra schema of the trace store, created when absent, and its version check. The version
// (with the key layout constants it depends on) lives in `schema_meta`, where a migration can see it;
// a keyspace written by a newer release is refused, not guessed at.
import type cassandra from 'cassandra-driver';
import { BUCKET_MS, SHARDS } from './keys.js';

export const SCHEMA_VERSION = 1;
const COMPONENT = 'traces';

/**
 * Tables, in creation order. Design (the README repeats it for operators):
 * - `traces`: one partition per trace. Row step = 0 holds the summary, rows 1..n the steps in
 *   clustering order, so a trace is written by one single-partition unlogged batch (one mutation,
 *   atomic and ordered) and read by one partition slice. Cassandra has no per-row schema: a row
 *   only stores the columns it sets.
 * - `trace_index`: the listing. Partition (scope, hour bucket, shard), clustered newest first by
 *   `sk` (startedAt ‖ id, see keys.ts), carrying a copy of the summary so a page is a slice read,
 *   never a lookup per trace. One scope per filter: `all`, `host:<id>`, `result:<r>`,
 *   `cond:<id>` — so every SPEC §6 filter reads only its own partitions (no ALLOW FILTERING);
 *   a second filter is checked on the rows read.
 * - `trace_buckets`: which hour buckets each scope has, newest first, so a listing walks only
 *   buckets that hold data instead of every hour since the epoch.
 * - `schema_meta`: the schema version; the only rows without a TTL.
 * Time-window compaction suits data that only ever expires by TTL: whole SSTables drop at once.
 */
const TWCS = "compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', " +
  "'compaction_window_size': '6'} AND gc_grace_seconds = 86400";

const SUMMARY_COLUMNS = 'host_id text, started_at timestamp, ingress_port_id text, result text, match text, ' +
  'condition_ids frozen<list<text>>, num_steps int, complete boolean';

export const TABLES: readonly { name: string; cql: (ks: string) => string }[] = [
  {
    name: 'schema_meta',
    cql: (ks) => `CREATE TABLE IF NOT EXISTS ${ks}.schema_meta (component text PRIMARY KEY, version int, ` +
      'bucket_ms bigint, shards int, updated_at timestamp)',
  },
  {
    name: 'traces',
    cql: (ks) => `CREATE TABLE IF NOT EXISTS ${ks}.traces (id text, step int, ${SUMMARY_COLUMNS}, ` +
      'at timestamp, stage text, device_type text, device_id text, device_name text, message text, details text, ' +
      `PRIMARY KEY (id, step)) WITH CLUSTERING ORDER BY (step ASC) AND ${TWCS}`,
  },
  {
    name: 'trace_index',
    cql: (ks) => `CREATE TABLE IF NOT EXISTS ${ks}.trace_index (scope text, bucket bigint, shard int, sk blob, ` +
      `id text, ${SUMMARY_COLUMNS}, PRIMARY KEY ((scope, bucket, shard), sk)) ` +
      `WITH CLUSTERING ORDER BY (sk DESC) AND ${TWCS}`,
  },
  {
    name: 'trace_buckets',
    cql: (ks) => `CREATE TABLE IF NOT EXISTS ${ks}.trace_buckets (scope text, bucket bigint, ` +
      'PRIMARY KEY (scope, bucket)) WITH CLUSTERING ORDER BY (bucket DESC)',
  },
];

export type Replication = Readonly<Record<string, string | number>>;

/** `{'class': 'NetworkTopologyStrategy', 'dc1': '3'}`: every value quoted, as cqlsh prints it. */
export function replicationCql(r: Replication): string {
  const q = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  return `{${Object.entries(r).map(([k, v]) => `${q(k)}: ${q(String(v))}`).join(', ')}}`;
}

export function createKeyspaceCql(ks: string, r: Replication): string {
  return `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationCql(r)} AND durable_writes = true`;
}

export type SchemaError = 'schema_too_new' | 'schema_mismatch' | 'schema_missing';
export type SchemaResult =
  | { ok: true; created: string[] }
  /** `fatal`: retrying cannot help (another release's schema); otherwise try again later. */
  | { ok: false; code: SchemaError; fatal: boolean; message: string };

export interface SchemaOptions {
  keyspace: string;
  replication: Replication;
  /** Create the keyspace and tables when absent (else only check them). */
  create: boolean;
  /** For the checks' reads and the version row's write. */
  consistency: number;
}

const KEYSPACE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,47}$/;

/**
 * Brings the keyspace to SCHEMA_VERSION: creates what is missing (looking first, so that daemons
 * restarting together do not all send DDL), then checks the version row. Driver errors (node down,
 * timeouts) are thrown: the caller retries.
 */
export async function ensureSchema(client: cassandra.Client, o: SchemaOptions): Promise<SchemaResult> {
  if (!KEYSPACE_NAME.test(o.keyspace)) {
    return { ok: false, code: 'schema_mismatch', fatal: true, message: `keyspace name ${o.keyspace} is not a Cassandra identifier` };
  }
  const ks = o.keyspace;
  const q = { prepare: true, consistency: o.consistency };
  const created: string[] = [];
  const ksRows = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks], q);
  if (ksRows.rowLength === 0) {
    if (!o.create) return missing(`keyspace ${ks} does not exist`);
    await client.execute(createKeyspaceCql(ks, o.replication));
    created.push(ks);
  }
  const tRows = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [ks], q);
  const have = new Set(tRows.rows.map((r) => String(r['table_name'])));
  for (const t of TABLES) {
    if (have.has(t.name)) continue;
    if (!o.create) return missing(`table ${ks}.${t.name} does not exist`);
    await client.execute(t.cql(ks));
    created.push(`${ks}.${t.name}`);
  }

  const meta = await client.execute(
    `SELECT version, bucket_ms, shards FROM ${ks}.schema_meta WHERE component = ?`, [COMPONENT], q);
  const row = meta.first();
  if (row === null) {
    if (!o.create) return missing(`${ks}.schema_meta has no version row`);
    await client.execute(
      `INSERT INTO ${ks}.schema_meta (component, version, bucket_ms, shards, updated_at) VALUES (?, ?, ?, ?, ?)`,
      [COMPONENT, SCHEMA_VERSION, BUCKET_MS, SHARDS, new Date()], q);
    return { ok: true, created };
  }
  const version = Number(row['version']);
  if (version > SCHEMA_VERSION) {
    return {
      ok: false, code: 'schema_too_new', fatal: true,
      message: `keyspace ${ks} has trace schema version ${version}; this release understands up to ${SCHEMA_VERSION}`,
    };
  }
  const bucketMs = Number(row['bucket_ms']);
  const shards = Number(row['shards']);
  if (version < 1 || bucketMs !== BUCKET_MS || shards !== SHARDS) {
    return {
      ok: false, code: 'schema_mismatch', fatal: true,
      message: `keyspace ${ks} has trace schema version ${version} with ${bucketMs} ms buckets and ${shards} shards; ` +
        `this release writes version ${SCHEMA_VERSION} with ${BUCKET_MS} ms buckets and ${SHARDS} shards`,
    };
  }
  // Version 1 is the first: later releases append their migrations here, then bump the row.
  return { ok: true, created };
}

function missing(message: string): SchemaResult {
  return { ok: false, code: 'schema_missing', fatal: false, message };
}

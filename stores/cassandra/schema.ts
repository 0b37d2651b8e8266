// The Cassandra schema of the trace store, created when absent, migrated from older versions, and its
// version check. The version lives in `schema_meta`, where a migration can see it; a keyspace written
// by a newer release is refused, not guessed at.
import type cassandra from 'cassandra-driver';
import { DEFAULT_LAYOUT, type IndexLayout } from './keys.js';
import { migrateV1Index } from './migrate-v1.js';

export const SCHEMA_VERSION = 2;
const COMPONENT = 'traces';

/**
 * Tables. Design (the README repeats it for operators):
 * - `traces`: one partition per trace. Row step = 0 holds the summary, rows 1..n the steps in
 *   clustering order, so a trace is written by one single-partition unlogged batch (one mutation,
 *   atomic and ordered) and read by one partition slice. Cassandra has no per-row schema: a row
 *   only stores the columns it sets.
 * - `trace_index_v2`: the listing. Partition (scope, bucket start, shard), clustered newest first by
 *   `sk` (startedAt ‖ id, see keys.ts), carrying a copy of the summary so a page is a slice read,
 *   never a lookup per trace. One scope per filter and per pair of filters (keys.ts), so a listing
 *   reads only matching rows; the busy scopes are sharded by a hash of host and id.
 * - `trace_buckets_v2`: which buckets each scope has, newest first, with each bucket's width and
 *   shard count, so a listing walks only buckets that hold data and a layout can change over time.
 * - `schema_meta`: the schema version; the only rows without a TTL.
 * Every data table has `default_time_to_live` (the configured retention when created; writes also
 * say USING TTL) and read repair off (`read_repair = 'NONE'` from Cassandra 4.0, the chances at 0
 * before): a read repair writes fresh copies of old cells into new SSTables, which then keep whole
 * time windows from dropping. Time-window compaction suits data that only ever expires by TTL.
 *
 * Version 1 (4 hour-wide shards keyed by the id's last digit, `trace_index`/`trace_buckets`) is
 * migrated on the first start of this release: see migrate-v1.ts.
 */
const TWCS = "compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', " +
  "'compaction_window_size': '6'} AND gc_grace_seconds = 86400";

const SUMMARY_COLUMNS = 'host_id text, started_at timestamp, ingress_port_id text, result text, match text, ' +
  'condition_ids frozen<list<text>>, num_steps int, complete boolean';

/** Table options every data table gets (and an ALTER gives a version 1 table). */
export interface TableSettings { ttlSeconds: number; readRepair: string }

function dataOptions(s: TableSettings): string {
  return `default_time_to_live = ${Math.round(s.ttlSeconds)} AND ${s.readRepair}`;
}

export const TABLES: readonly { name: string; cql: (ks: string, s: TableSettings) => string }[] = [
  {
    name: 'schema_meta',
    cql: (ks) => `CREATE TABLE IF NOT EXISTS ${ks}.schema_meta (component text PRIMARY KEY, version int, ` +
      'bucket_ms bigint, shards int, updated_at timestamp)',
  },
  {
    name: 'traces',
    cql: (ks, s) => `CREATE TABLE IF NOT EXISTS ${ks}.traces (id text, step int, ${SUMMARY_COLUMNS}, ` +
      'at timestamp, stage text, device_type text, device_id text, device_name text, message text, details text, ' +
      `PRIMARY KEY (id, step)) WITH CLUSTERING ORDER BY (step ASC) AND ${TWCS} AND ${dataOptions(s)}`,
  },
  {
    name: 'trace_index_v2',
    cql: (ks, s) => `CREATE TABLE IF NOT EXISTS ${ks}.trace_index_v2 (scope text, bucket bigint, shard int, sk blob, ` +
      `id text, ${SUMMARY_COLUMNS}, PRIMARY KEY ((scope, bucket, shard), sk)) ` +
      `WITH CLUSTERING ORDER BY (sk DESC) AND ${TWCS} AND ${dataOptions(s)}`,
  },
  {
    name: 'trace_buckets_v2',
    cql: (ks, s) => `CREATE TABLE IF NOT EXISTS ${ks}.trace_buckets_v2 (scope text, bucket bigint, width_ms bigint, shards int, ` +
      'PRIMARY KEY (scope, bucket, width_ms, shards)) WITH CLUSTERING ORDER BY (bucket DESC, width_ms DESC, shards DESC) ' +
      `AND ${dataOptions(s)}`,
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

/** Read repair off, as the cluster's release spells it. */
export function readRepairOff(releaseVersion: string): string {
  return Number(releaseVersion.split('.')[0]) >= 4 ? "read_repair = 'NONE'" : 'read_repair_chance = 0 AND dclocal_read_repair_chance = 0';
}

export type SchemaError = 'schema_too_new' | 'schema_mismatch' | 'schema_missing';
export type SchemaResult =
  | { ok: true; created: string[]; migrated?: { from: number; rows: number } }
  /** `fatal`: retrying cannot help (another release's schema); otherwise try again later. */
  | { ok: false; code: SchemaError; fatal: boolean; message: string };

export interface SchemaOptions {
  keyspace: string;
  replication: Replication;
  /** Create the keyspace and tables when absent, and migrate (else only check them). */
  create: boolean;
  /** For the checks' reads and the version row's write. */
  consistency: number;
  /** The data TTL: tables' default_time_to_live, and the TTL of rows a migration copies. */
  ttlSeconds?: number;
  /** The index layout a migration writes with (DEFAULT_LAYOUT otherwise). */
  layout?: IndexLayout;
}

const KEYSPACE_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,47}$/;
const WEEK_SECONDS = 7 * 86_400;

/**
 * Brings the keyspace to SCHEMA_VERSION: creates what is missing (looking first, so that daemons
 * restarting together do not all send DDL), migrates an older version, then checks the version row.
 * Driver errors (node down, timeouts) are thrown: the caller retries, and every step is idempotent,
 * so a migration cut short is finished by the next attempt.
 */
export async function ensureSchema(client: cassandra.Client, o: SchemaOptions): Promise<SchemaResult> {
  if (!KEYSPACE_NAME.test(o.keyspace)) {
    return { ok: false, code: 'schema_mismatch', fatal: true, message: `keyspace name ${o.keyspace} is not a Cassandra identifier` };
  }
  const ks = o.keyspace;
  const q = { prepare: true, consistency: o.consistency };
  const created: string[] = [];
  const local = await client.execute('SELECT release_version FROM system.local', [], q);
  const settings: TableSettings = {
    ttlSeconds: o.ttlSeconds ?? WEEK_SECONDS,
    readRepair: readRepairOff(String(local.first()?.['release_version'] ?? '3.11')),
  };
  const ksRows = await client.execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [ks], q);
  if (ksRows.rowLength === 0) {
    if (!o.create) return missing(`keyspace ${ks} does not exist`);
    await client.execute(createKeyspaceCql(ks, o.replication));
    created.push(ks);
  }
  const tRows = await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [ks], q);
  const have = new Set(tRows.rows.map((r) => String(r['table_name'])));

  // The version found decides what to do before creating anything: a newer keyspace is left alone.
  let found = 0;
  if (have.has('schema_meta')) {
    const meta = await client.execute(`SELECT version FROM ${ks}.schema_meta WHERE component = ?`, [COMPONENT], q);
    const row = meta.first();
    if (row !== null) found = Number(row['version']);
  }
  if (found > SCHEMA_VERSION) {
    return {
      ok: false, code: 'schema_too_new', fatal: true,
      message: `keyspace ${ks} has trace schema version ${found}; this release understands up to ${SCHEMA_VERSION}`,
    };
  }
  if (found === SCHEMA_VERSION && TABLES.every((t) => have.has(t.name))) return { ok: true, created };
  if (!o.create) return missing(found === 0 ? `${ks}.schema_meta has no version row` : `keyspace ${ks} has trace schema version ${found}; a start with createSchema migrates it`);
  if (found !== 0 && found !== 1 && found !== SCHEMA_VERSION) {
    return { ok: false, code: 'schema_mismatch', fatal: true, message: `keyspace ${ks} has trace schema version ${found}, which no release wrote` };
  }

  for (const t of TABLES) {
    if (have.has(t.name)) continue;
    await client.execute(t.cql(ks, settings));
    created.push(`${ks}.${t.name}`);
  }
  let migrated: { from: number; rows: number } | undefined;
  if (found === 1) {
    // Version 1 tables had neither a default TTL nor read repair off.
    await client.execute(`ALTER TABLE ${ks}.traces WITH ${dataOptions(settings)}`);
    const rows = await migrateV1Index(client, ks, { consistency: o.consistency, layout: o.layout ?? DEFAULT_LAYOUT, ttlSeconds: settings.ttlSeconds });
    migrated = { from: 1, rows };
  }
  const layout = o.layout ?? DEFAULT_LAYOUT;
  // Written last: a migration cut short leaves version 1, and the next start copies again (idempotent).
  await client.execute(
    `INSERT INTO ${ks}.schema_meta (component, version, bucket_ms, shards, updated_at) VALUES (?, ?, ?, ?, ?)`,
    [COMPONENT, SCHEMA_VERSION, layout.bucketMs, layout.shards, new Date()], q);
  return migrated !== undefined ? { ok: true, created, migrated } : { ok: true, created };
}

function missing(message: string): SchemaResult {
  return { ok: false, code: 'schema_missing', fatal: false, message };
}

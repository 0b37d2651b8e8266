// Production storage for traces: Cassandra through cassandra-driver (see schema.ts for the layout).
export { CassandraTraceBackend, openCassandraTraceBackend } from './trace-backend.js';
export type { CassandraHealth, CassandraTraceBackendOptions, OpenCassandraResult } from './trace-backend.js';
export { CassandraSession } from './session.js';
export type { CassandraLog, ConsistencyName, FirstAttempt, SessionOptions, SessionState } from './session.js';
export { SCHEMA_VERSION, TABLES, createKeyspaceCql } from './schema.js';
export type { Replication, SchemaError } from './schema.js';
export { DEFAULT_LAYOUT, MAX_BUCKET_MS, MAX_SHARDS } from './keys.js';
export type { IndexLayout } from './keys.js';

// Offline-mode storage: traces and trace conditions in one SQLite file.
export { openSqliteTraceBackend, SqliteTraceBackend } from './trace-backend.js';
export type { OpenTraceBackendResult, SqliteTraceBackendOptions, SweepStats } from './trace-backend.js';
export { openSqliteConditionStore, SqliteConditionStore } from './condition-store.js';
export type { OpenConditionStoreResult, SqliteConditionStoreOptions } from './condition-store.js';
export { SCHEMA_VERSION } from './schema.js';
export type { OpenDbError } from './db.js';

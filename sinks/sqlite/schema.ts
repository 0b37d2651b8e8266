// SQLite schema, as migrations: MIGRATIONS[v - 1] takes a file from version v - 1 to v. Append,
// never edit a released entry.

export const SCHEMA_VERSION = 1;

export const MIGRATIONS: readonly string[] = [
  `
  -- One row per trace (the SPEC §5 summary). seq is the rowid the other tables point at.
  CREATE TABLE traces (
    seq             INTEGER PRIMARY KEY,
    id              TEXT    NOT NULL UNIQUE,
    host_id         TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    ingress_port_id TEXT    NOT NULL,
    result          TEXT    NOT NULL,
    match           TEXT    NOT NULL,  -- MatchSummary JSON
    condition_ids   TEXT    NOT NULL,  -- JSON array, as recorded
    num_steps       INTEGER NOT NULL,
    complete        INTEGER NOT NULL
  );
  -- Listing is newest first by (started_at_ms, id); each filter has an index in that order.
  CREATE INDEX traces_by_time   ON traces (started_at_ms, id);
  CREATE INDEX traces_by_host   ON traces (host_id, started_at_ms, id);
  CREATE INDEX traces_by_result ON traces (result, started_at_ms, id);

  -- Steps 1..num_steps of each trace. The host id is the trace's.
  CREATE TABLE trace_steps (
    trace_seq    INTEGER NOT NULL,
    step         INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    stage        TEXT    NOT NULL,
    device_type  TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    device_name  TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    details      TEXT    NOT NULL,  -- JSON object
    PRIMARY KEY (trace_seq, step)
  ) WITHOUT ROWID;

  -- Which conditions started which trace, for GET /traces?conditionId=, in listing order.
  CREATE TABLE trace_conditions (
    condition_id  TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    trace_id      TEXT    NOT NULL,
    trace_seq     INTEGER NOT NULL,
    PRIMARY KEY (condition_id, started_at_ms, trace_id)
  ) WITHOUT ROWID;

  -- Trace conditions (offline mode), exactly as stored by the API; seq keeps creation order.
  CREATE TABLE conditions (
    seq  INTEGER PRIMARY KEY,
    id   TEXT NOT NULL UNIQUE,
    name TEXT UNIQUE,
    body TEXT NOT NULL
  );
  -- Bumped by every condition change, so watchers can tell them from trace writes.
  INSERT INTO meta (key, value) VALUES ('conditions_version', '0');
  `,
];

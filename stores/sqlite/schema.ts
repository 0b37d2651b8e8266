// SQLite schema, as migrations: MIGRATIONS[v - 1] takes a file from version v - 1 to v. Append,
// never edit a released entry.

export const SCHEMA_VERSION = 5;

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

  -- The stored steps of each trace, in order, as one JSON array with one tuple per step:
  --   [timestamp_ms - started_at_ms, stage, device_type, device_id, device_name, message, details]
  -- Step n is element n - 1; the host id is the trace's. One row per trace rather than per step:
  -- nothing queries single steps, and it stores ~1.7x more steps per CPU-second; tuples rather
  -- than objects make the JSON 40% smaller and faster to build (bench sink.sqlite.steps).
  -- No row when the trace has no stored steps.
  CREATE TABLE trace_steps (
    trace_seq INTEGER PRIMARY KEY,
    steps     TEXT NOT NULL
  );

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
  `
  -- Units claimed of each limited trace condition's \`limit\` (stores/sqlite/condition-hits.ts): shared by
  -- every process on the file and kept across restarts. A row goes with its condition.
  CREATE TABLE condition_hits (
    condition_id TEXT PRIMARY KEY,
    claimed      INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- Distinct step lists (the steps column's form), stored once however many traces share one:
  -- packets of a flow make the same steps, and a trace row then only points at its list. A trace
  -- whose list is here has list_id set and steps ''. last_used_ms is at least the newest startedAt
  -- (or write time) of a trace using the list, less at most an hour (the writer refreshes it hourly);
  -- the retention sweep deletes lists unused for an hour longer than the traces it deletes.
  CREATE TABLE step_lists (
    id           INTEGER PRIMARY KEY,
    steps        TEXT    NOT NULL,
    last_used_ms INTEGER NOT NULL
  );
  CREATE INDEX step_lists_by_use ON step_lists (last_used_ms);
  ALTER TABLE trace_steps ADD COLUMN list_id INTEGER;
  `,
  `
  -- Steps another host recorded for a trace started elsewhere (SPEC §10: the egress host's part of a
  -- packet that crossed a tunnel). Read after the ingress steps, in after_step then seq order. No
  -- foreign key: the egress host's segment may be stored before the ingress host's trace row.
  CREATE TABLE trace_segments (
    seq        INTEGER PRIMARY KEY,
    trace_id   TEXT    NOT NULL,
    after_step INTEGER NOT NULL,
    host_id    TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    steps      TEXT    NOT NULL
  );
  CREATE INDEX trace_segments_by_trace ON trace_segments (trace_id, after_step);
  CREATE INDEX trace_segments_by_time ON trace_segments (at_ms);
  `,
  `
  -- A trace whose steps are a stored list points at it from its own row: one b-tree insert less a
  -- trace than a trace_steps row (the writer's cost at 50,000 traces/s is mostly b-tree inserts).
  -- trace_steps keeps the rows written before, and the steps of traces stored truncated.
  ALTER TABLE traces ADD COLUMN list_id INTEGER;
  `,
];

// The in-memory CQL engine: schema, statement compilation (prepare) and execution. It knows nothing
// about sockets; the server hands it query strings, bound values and paging options.
import { createHash } from 'node:crypto';
import type { BatchType, CreateKeyspace, CreateTable, OptionValue, Parsed, QName, Statement } from './ast.js';
import { type ModifyPlan, type Mutation, applyMutation, compileDelete, compileInsert, compileUpdate } from './modify.js';
import { parseCql } from './parser.js';
import { CqlError, ErrorCode, type WireValue, BodyWriter, UNSET, invalid, syntaxError } from './protocol.js';
import { type ColumnSpec, KeyspaceDef, TableDef, type TableOptions } from './schema.js';
import { type ResultColumn, SelectPlan } from './select.js';
import { compareClustering, rowAlive } from './storage.js';
import { type LocalInfo, createSystemKeyspaces, writeLocalRow, writeSchemaRows } from './system.js';
import { type ExecCtx, type MarkerSpec, Markers } from './terms.js';
import { T, encodeBoolean, isCollection, newRandomUuid, validateValue } from './types.js';

export type SchemaChange = {
  readonly change: 'CREATED' | 'UPDATED' | 'DROPPED';
  readonly target: 'KEYSPACE' | 'TABLE';
  readonly keyspace: string;
  readonly table: string | null;
};

export type ExecResult =
  | { readonly kind: 'void' }
  | {
      readonly kind: 'rows';
      readonly keyspace: string;
      readonly table: string;
      readonly columns: readonly ResultColumn[];
      readonly rows: ReadonlyArray<ReadonlyArray<Buffer | null>>;
      readonly pagingState: Buffer | null;
    }
  | { readonly kind: 'setKeyspace'; readonly keyspace: string }
  | ({ readonly kind: 'schemaChange' } & SchemaChange);

type DdlPlan = { readonly kind: 'ddl'; run(keyspace: string | null): ExecResult };
type BatchPlan = { readonly kind: 'batch'; readonly type: BatchType; readonly plans: readonly ModifyPlan[] };
type Plan = SelectPlan | ModifyPlan | BatchPlan | DdlPlan;

export interface Prepared {
  readonly id: Buffer;
  readonly query: string;
  readonly keyspace: string | null;
  readonly markers: readonly MarkerSpec[];
  /** Bind marker indexes of the partition key columns (empty when not all are bound by markers). */
  readonly pkIndexes: readonly number[];
  /** Columns of a SELECT's rows, null for statements without rows. */
  readonly resultColumns: readonly ResultColumn[] | null;
  /** Table the statement reads or writes (names the metadata's table spec). */
  readonly table: TableDef | null;
  readonly plan: Plan;
}

export interface ExecOptions {
  readonly pageSize: number;
  readonly pagingState: Buffer | null;
  /** Client default timestamp in µs, or null to use the server clock. */
  readonly timestamp: bigint | null;
}

const SYSTEM_KEYSPACES = new Set(['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces']);
const NAME_RE = /^\w{1,48}$/;
const TABLE_OPTIONS = new Set([
  'comment',
  'default_time_to_live',
  'gc_grace_seconds',
  'bloom_filter_fp_chance',
  'caching',
  'compaction',
  'compression',
  'crc_check_chance',
  'dclocal_read_repair_chance',
  'read_repair_chance',
  'read_repair',
  'speculative_retry',
  'memtable_flush_period_in_ms',
  'min_index_interval',
  'max_index_interval',
  'cdc',
  'extensions',
]);

const notModifiable = (): CqlError => new CqlError(ErrorCode.UNAUTHORIZED, 'system keyspace is not user-modifiable.');

export class Engine {
  readonly keyspaces = new Map<string, KeyspaceDef>();
  private readonly parsed = new Map<string, Parsed>();
  private readonly listeners: Array<(c: SchemaChange) => void> = [];
  private schemaVersion = newRandomUuid();

  constructor(
    private readonly clock: () => number,
    private readonly local: LocalInfo,
  ) {
    for (const ks of createSystemKeyspaces()) this.keyspaces.set(ks.name, ks);
    this.schemaChanged(null);
  }

  onSchemaChange(listener: (c: SchemaChange) => void): void {
    this.listeners.push(listener);
  }

  /** Parses (cached by text) and compiles a statement against the current schema. */
  prepare(query: string, keyspace: string | null): Prepared {
    let parsed = this.parsed.get(query);
    if (parsed === undefined) {
      parsed = parseCql(query);
      if (this.parsed.size > 10_000) this.parsed.clear();
      this.parsed.set(query, parsed);
    }
    const markers = new Markers(parsed.markers);
    const stmt = parsed.statement;
    const { plan, table, pkIndexes } = this.compile(stmt, keyspace, markers);
    const id = createHash('md5')
      .update(`${keyspace ?? ''}\u0000${query}`)
      .digest();
    return {
      id,
      query,
      keyspace,
      markers: markers.done(),
      pkIndexes,
      resultColumns: plan.kind === 'select' ? plan.columns : null,
      table,
      plan,
    };
  }

  /** A prepared statement whose table was dropped or recreated must be prepared again. */
  isStale(p: Prepared): boolean {
    if (p.table === null) return false;
    return this.keyspaces.get(p.table.ks)?.tables.get(p.table.name) !== p.table;
  }

  execute(p: Prepared, values: readonly WireValue[], opts: ExecOptions): ExecResult {
    const ctx = this.context(p, values, opts);
    const plan = p.plan;
    switch (plan.kind) {
      case 'select': {
        const page = plan.run(ctx, opts.pageSize, opts.pagingState);
        return { kind: 'rows', keyspace: plan.table.ks, table: plan.table.name, columns: plan.columns, ...page };
      }
      case 'modify':
        if (plan.ifNotExists) return this.insertIfNotExists(plan, ctx);
        return this.applyAll(plan.mutations(ctx), ctx.now);
      case 'batch':
        return this.runBatch(
          plan.type,
          plan.plans.map((mp) => ({ plan: mp, ctx })),
          ctx.now,
        );
      case 'ddl':
        return plan.run(p.keyspace);
    }
  }

  /** A BATCH frame: each statement with its own values. */
  batch(type: BatchType, items: ReadonlyArray<{ prepared: Prepared; values: readonly WireValue[] }>, timestamp: bigint | null): ExecResult {
    const entries = items.map(({ prepared, values }) => {
      if (prepared.plan.kind !== 'modify') {
        throw invalid('Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed.');
      }
      return { plan: prepared.plan, ctx: this.context(prepared, values, { pageSize: 0, pagingState: null, timestamp }) };
    });
    return this.runBatch(type, entries, this.clock());
  }

  /** Resolves named values (QUERY with names) to marker positions. */
  orderNamedValues(p: Prepared, names: readonly string[], values: readonly WireValue[]): WireValue[] {
    return p.markers.map((m) => {
      const i = names.findIndex((n) => n.toLowerCase() === m.name.toLowerCase());
      if (i < 0) throw invalid(`No value has been provided for bind variable ${m.name}`);
      return values[i]!;
    });
  }

  private context(p: Prepared, values: readonly WireValue[], opts: ExecOptions): ExecCtx {
    if (values.length !== p.markers.length) {
      throw invalid(`Invalid amount of bind variables: expected ${p.markers.length}, got ${values.length}`);
    }
    values.forEach((v, i) => {
      if (v === null || v === UNSET) return;
      const m = p.markers[i]!;
      const err = validateValue(m.type, v);
      if (err !== null) throw invalid(`Invalid value for bind variable ${m.name}: ${err}`);
    });
    const now = this.clock();
    return { values, now, timestamp: opts.timestamp ?? BigInt(now) * 1000n };
  }

  private applyAll(mutations: readonly Mutation[], now: number): ExecResult {
    for (const m of mutations) applyMutation(m, now);
    return { kind: 'void' };
  }

  private runBatch(type: BatchType, entries: ReadonlyArray<{ plan: ModifyPlan; ctx: ExecCtx }>, now: number): ExecResult {
    const counters = entries.filter((e) => e.plan.isCounter).length;
    if (counters > 0 && counters < entries.length) throw invalid('Counter and non-counter mutations cannot exist in the same batch');
    if (counters > 0 && type !== 'counter') throw invalid('Counter mutations are only allowed in COUNTER batches');
    if (counters === 0 && type === 'counter' && entries.length > 0) throw invalid('Only counter mutations are allowed in COUNTER batches');
    if (entries.some((e) => e.plan.ifNotExists)) throw invalid('Conditional statements in batches are not supported by the CQL test server');
    // Every mutation is computed (and so validated) before the first is applied.
    const all: Mutation[] = [];
    for (const e of entries) all.push(...e.plan.mutations(e.ctx));
    return this.applyAll(all, now);
  }

  private insertIfNotExists(plan: ModifyPlan, ctx: ExecCtx): ExecResult {
    const [m] = plan.mutations(ctx);
    if (m === undefined || m.k !== 'upsert') return { kind: 'void' };
    const table = plan.table;
    const p = table.data.get(m.pk);
    const row = p?.rows.find((r) => compareClustering(table.clustering, r.ck, m.ck) === 0 && rowAlive(r, ctx.now));
    const applied = { name: '[applied]', type: T.boolean };
    if (p !== undefined && row !== undefined) {
      const select = this.prepare(`SELECT * FROM "${table.ks}"."${table.name}" WHERE ${whereAllKeys(table)}`, null);
      const keyValues = [...m.pk, ...m.ck];
      const existing = this.execute(select, keyValues, { pageSize: 0, pagingState: null, timestamp: null });
      const values = existing.kind === 'rows' ? existing.rows[0] ?? [] : [];
      return {
        kind: 'rows',
        keyspace: table.ks,
        table: table.name,
        columns: [applied, ...table.starColumns.map((c: ColumnSpec) => ({ name: c.name, type: c.type }))],
        rows: [[encodeBoolean(false), ...values]],
        pagingState: null,
      };
    }
    applyMutation(m, ctx.now);
    return { kind: 'rows', keyspace: table.ks, table: table.name, columns: [applied], rows: [[encodeBoolean(true)]], pagingState: null };
  }

  // ---- compilation ----

  private table(q: QName, keyspace: string | null): TableDef {
    const ksName = q.ks ?? keyspace;
    if (ksName === null) throw invalid('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
    const ks = this.keyspaces.get(ksName);
    if (ks === undefined) throw invalid(`Keyspace ${ksName} does not exist`);
    const t = ks.tables.get(q.name);
    if (t === undefined) throw invalid(`unconfigured table ${q.name}`);
    return t;
  }

  private writable(q: QName, keyspace: string | null): TableDef {
    const t = this.table(q, keyspace);
    if (this.keyspaces.get(t.ks)!.system) throw notModifiable();
    return t;
  }

  private compile(
    stmt: Statement,
    keyspace: string | null,
    markers: Markers,
  ): { plan: Plan; table: TableDef | null; pkIndexes: number[] } {
    switch (stmt.kind) {
      case 'select': {
        const table = this.table(stmt.table, keyspace);
        const plan = new SelectPlan(table, stmt, markers);
        return { plan, table, pkIndexes: plan.pkIndexes(stmt) };
      }
      case 'insert':
      case 'update':
      case 'delete': {
        const table = this.writable(stmt.table, keyspace);
        const plan =
          stmt.kind === 'insert'
            ? compileInsert(table, stmt, markers)
            : stmt.kind === 'update'
              ? compileUpdate(table, stmt, markers)
              : compileDelete(table, stmt, markers);
        return { plan, table, pkIndexes: plan.pkIndexes };
      }
      case 'batch': {
        const plans = stmt.statements.map((s) => this.compile(s, keyspace, markers).plan as ModifyPlan);
        return { plan: { kind: 'batch', type: stmt.type, plans }, table: null, pkIndexes: [] };
      }
      case 'use':
        return {
          plan: {
            kind: 'ddl',
            run: () => {
              if (!this.keyspaces.has(stmt.name)) throw invalid(`Keyspace '${stmt.name}' does not exist`);
              return { kind: 'setKeyspace', keyspace: stmt.name };
            },
          },
          table: null,
          pkIndexes: [],
        };
      default:
        return { plan: { kind: 'ddl', run: (ks) => this.ddl(stmt, ks) }, table: null, pkIndexes: [] };
    }
  }

  // ---- schema statements ----

  private ddl(stmt: Statement, keyspace: string | null): ExecResult {
    switch (stmt.kind) {
      case 'createKeyspace':
        return this.createKeyspace(stmt);
      case 'createTable':
        return this.createTable(stmt, keyspace);
      case 'alterTable': {
        const table = this.writable(stmt.table, keyspace);
        const options = this.tableOptions(stmt.options, table.options);
        if (table.isCounter && options.defaultTtl > 0) throw invalid('Cannot set default_time_to_live on a table with counters');
        table.options = options;
        return this.schemaChanged({ change: 'UPDATED', target: 'TABLE', keyspace: table.ks, table: table.name });
      }
      case 'dropKeyspace': {
        if (SYSTEM_KEYSPACES.has(stmt.name)) throw notModifiable();
        if (!this.keyspaces.delete(stmt.name)) {
          if (stmt.ifExists) return { kind: 'void' };
          throw new CqlError(ErrorCode.CONFIG_ERROR, `Cannot drop non existing keyspace '${stmt.name}'.`);
        }
        return this.schemaChanged({ change: 'DROPPED', target: 'KEYSPACE', keyspace: stmt.name, table: null });
      }
      case 'dropTable': {
        const ksName = stmt.table.ks ?? keyspace;
        if (ksName === null) throw invalid('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
        if (SYSTEM_KEYSPACES.has(ksName)) throw notModifiable();
        const ks = this.keyspaces.get(ksName);
        if (ks === undefined || !ks.tables.delete(stmt.table.name)) {
          if (stmt.ifExists) return { kind: 'void' };
          throw new CqlError(ErrorCode.CONFIG_ERROR, `Cannot drop non existing table '${stmt.table.name}' in keyspace '${ksName}'.`);
        }
        return this.schemaChanged({ change: 'DROPPED', target: 'TABLE', keyspace: ksName, table: stmt.table.name });
      }
      case 'truncate':
        this.writable(stmt.table, keyspace).data.clear();
        return { kind: 'void' };
      default:
        throw syntaxError(`Unexpected statement ${stmt.kind}`);
    }
  }

  private createKeyspace(stmt: CreateKeyspace): ExecResult {
    if (!NAME_RE.test(stmt.name)) throw invalid(`Keyspace name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got "${stmt.name}")`);
    if (this.keyspaces.has(stmt.name)) {
      if (stmt.ifNotExists) return { kind: 'void' };
      throw new CqlError(ErrorCode.ALREADY_EXISTS, `Cannot add existing keyspace "${stmt.name}"`, new BodyWriter().string(stmt.name).string('').finish());
    }
    let replication: ReadonlyMap<string, string> | null = null;
    let durable = true;
    for (const [k, v] of stmt.options) {
      if (k === 'replication' && typeof v !== 'string') replication = v;
      else if (k === 'durable_writes' && typeof v === 'string') durable = v === 'true';
      else throw syntaxError(`Unknown property '${k}'`);
    }
    const cls = replication?.get('class');
    if (replication === null || cls === undefined) throw new CqlError(ErrorCode.CONFIG_ERROR, 'Missing mandatory replication strategy class');
    if (/SimpleStrategy$/.test(cls) && !replication.has('replication_factor')) {
      throw new CqlError(ErrorCode.CONFIG_ERROR, 'SimpleStrategy requires a replication_factor strategy option.');
    }
    const full = new Map(replication);
    if (!cls.includes('.')) full.set('class', `org.apache.cassandra.locator.${cls}`);
    this.keyspaces.set(stmt.name, new KeyspaceDef(stmt.name, full, durable, false));
    return this.schemaChanged({ change: 'CREATED', target: 'KEYSPACE', keyspace: stmt.name, table: null });
  }

  private createTable(stmt: CreateTable, keyspace: string | null): ExecResult {
    const ksName = stmt.table.ks ?? keyspace;
    if (ksName === null) throw invalid('No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename');
    const ks = this.keyspaces.get(ksName);
    if (ks === undefined) throw invalid(`Keyspace '${ksName}' doesn't exist`);
    if (ks.system) throw notModifiable();
    const name = stmt.table.name;
    if (!NAME_RE.test(name)) throw invalid(`Table name must not be empty, more than 48 characters long, or contain non-alphanumeric-underscore characters (got "${name}")`);
    if (ks.tables.has(name)) {
      if (stmt.ifNotExists) return { kind: 'void' };
      throw new CqlError(
        ErrorCode.ALREADY_EXISTS,
        `Cannot add already existing table "${name}" to keyspace "${ksName}"`,
        new BodyWriter().string(ksName).string(name).finish(),
      );
    }
    const defs = new Map<string, (typeof stmt.columns)[number]>();
    for (const c of stmt.columns) {
      if (defs.has(c.name)) throw invalid(`Multiple definition of identifier ${c.name}`);
      defs.set(c.name, c);
    }
    if (stmt.partitionKey.length === 0) throw invalid('No PRIMARY KEY specifed (exactly one required)');
    const keys = [...stmt.partitionKey, ...stmt.clustering];
    if (new Set(keys).size !== keys.length) throw invalid('Duplicate column in PRIMARY KEY');
    for (const k of keys) {
      const def = defs.get(k);
      if (def === undefined) throw invalid(`Unknown definition ${k} referenced in PRIMARY KEY`);
      if (isCollection(def.type) && !def.type.frozen) throw invalid(`Invalid non-frozen collection type for PRIMARY KEY component ${k}`);
      if (def.type.kind === 'counter') throw invalid(`counter type is not supported for PRIMARY KEY part ${k}`);
    }
    const regular = stmt.columns.filter((c) => !keys.includes(c.name));
    const counters = regular.filter((c) => c.type.kind === 'counter').length;
    if (counters > 0 && counters < regular.length) throw invalid('Cannot mix counter and non counter columns in the same table');

    const orderCols = [...stmt.clusteringOrder.keys()];
    orderCols.forEach((c, i) => {
      if (!stmt.clustering.includes(c)) throw invalid('Only clustering key columns can be defined in CLUSTERING ORDER directive');
      if (stmt.clustering[i] !== c) throw invalid('The order of columns in the CLUSTERING ORDER directive must be the one of the clustering key');
    });
    const descending = new Set(orderCols.filter((c) => stmt.clusteringOrder.get(c) === true));

    const options = this.tableOptions(stmt.options, null);
    const defaultTtl = options.defaultTtl;
    if (counters > 0 && defaultTtl > 0) throw invalid('Cannot set default_time_to_live on a table with counters');
    const columns = TableDef.columns(stmt.columns, stmt.partitionKey, stmt.clustering, descending);
    ks.tables.set(name, new TableDef(ksName, name, newRandomUuid(), columns, options));
    return this.schemaChanged({ change: 'CREATED', target: 'TABLE', keyspace: ksName, table: name });
  }

  /**
   * Table properties of CREATE or ALTER (over `base`). Read repair is spelt as the reported release
   * spells it: `read_repair` from 4.0 on, `read_repair_chance` and `dclocal_read_repair_chance`
   * before; the other spelling is an unknown property, as on a real node.
   */
  private tableOptions(given: ReadonlyMap<string, OptionValue>, base: TableOptions | null): TableOptions {
    const v4 = Number(this.local.releaseVersion.split('.')[0]) >= 4;
    let defaultTtl = base?.defaultTtl ?? 0;
    let comment = base?.comment ?? '';
    let gcGraceSeconds = base?.gcGraceSeconds ?? 864000;
    const maps = new Map(base?.maps ?? []);
    const simple = new Map(base?.simple ?? []);
    for (const [k, v] of given) {
      if (!TABLE_OPTIONS.has(k)) throw syntaxError(`Unknown property '${k}'`);
      if (v4 ? k.endsWith('read_repair_chance') : k === 'read_repair') throw syntaxError(`Unknown property '${k}'`);
      if (typeof v !== 'string') { maps.set(k, v); continue; }
      simple.set(k, v);
      if (k === 'default_time_to_live') {
        defaultTtl = Number(v);
        if (!Number.isInteger(defaultTtl) || defaultTtl < 0) throw new CqlError(ErrorCode.CONFIG_ERROR, `default_time_to_live must be greater than or equal to 0 (got ${v})`);
      } else if (k === 'comment') comment = v;
      else if (k === 'gc_grace_seconds') gcGraceSeconds = Number(v);
      else if (k === 'read_repair' && !['BLOCKING', 'NONE'].includes(v.toUpperCase())) {
        throw new CqlError(ErrorCode.CONFIG_ERROR, `read_repair must be BLOCKING or NONE (got ${v})`);
      }
    }
    return { defaultTtl, comment, gcGraceSeconds, maps, simple };
  }

  private schemaChanged(change: SchemaChange | null): ExecResult {
    this.schemaVersion = newRandomUuid();
    writeLocalRow(this.keyspaces.get('system')!, this.local, this.schemaVersion);
    writeSchemaRows(this.keyspaces.get('system_schema')!, this.keyspaces.values());
    if (change === null) return { kind: 'void' };
    for (const l of this.listeners) l(change);
    return { kind: 'schemaChange', ...change };
  }
}

function whereAllKeys(table: TableDef): string {
  return [...table.partitionKey, ...table.clustering].map((c) => `"${c.name}" = ?`).join(' AND ');
}

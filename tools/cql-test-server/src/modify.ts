// INSERT / UPDATE / DELETE: compiled into plans that turn bound values into mutations. Mutations are
// all computed (and validated) before any is applied, which is what makes a logged batch all-or-nothing.
import type { Assignment, Delete, Insert, Term, Update } from './ast.js';
import { type WireValue, UNSET, invalid } from './protocol.js';
import type { ColumnSpec, TableDef } from './schema.js';
import {
  type Partition,
  cellValue,
  compareClustering,
  rowFor,
} from './storage.js';
import {
  type ExecCtx,
  type Markers,
  type ValueSource,
  compileBigintTerm,
  compileIntTerm,
  compileTerm,
  normalizeMap,
  normalizeSet,
} from './terms.js';
import {
  type CqlType,
  T,
  compareValues,
  decodeCollection,
  decodeMap,
  encodeBigint,
  encodeCollection,
  encodeMap,
  scalar,
} from './types.js';
import { type BoundRelation, type WhereShape, bindWhere, clusteringKeys, compileWhere, partitionKeys, rowMatches } from './where.js';

export type CellOp =
  | { readonly k: 'set'; readonly v: Buffer | null }
  | { readonly k: 'counter'; readonly delta: bigint }
  | { readonly k: 'append' | 'prepend' | 'listRemove' | 'setAdd' | 'setRemove' | 'mapRemove'; readonly items: Buffer[] }
  | { readonly k: 'mapPut'; readonly entries: Array<[Buffer, Buffer]> };

export type Mutation =
  | {
      readonly k: 'upsert';
      readonly table: TableDef;
      readonly pk: Buffer[];
      readonly ck: Buffer[];
      /** INSERT writes a row marker; UPDATE does not (a row of only nulls then disappears). */
      readonly marker: boolean;
      readonly exp: number;
      readonly ts: bigint;
      readonly ops: ReadonlyArray<{ readonly col: ColumnSpec; readonly op: CellOp }>;
    }
  | {
      readonly k: 'deleteRows';
      readonly table: TableDef;
      readonly pk: Buffer[];
      /** Clustering prefix (all rows of the partition when empty) and range relations on the next column. */
      readonly prefix: Buffer[];
      readonly range: readonly BoundRelation[];
    }
  | { readonly k: 'deleteCells'; readonly table: TableDef; readonly pk: Buffer[]; readonly ck: Buffer[]; readonly cols: readonly ColumnSpec[] };

const MAX_TTL = 630720000; // 20 years, Cassandra's limit

export interface ModifyPlan {
  readonly kind: 'modify';
  readonly table: TableDef;
  readonly isCounter: boolean;
  /** INSERT ... IF NOT EXISTS */
  readonly ifNotExists: boolean;
  readonly pkIndexes: number[];
  mutations(ctx: ExecCtx): Mutation[];
}

function keyValue(v: WireValue, col: ColumnSpec): Buffer {
  if (v === UNSET) throw invalid(`Invalid unset value for column ${col.name}`);
  if (v === null) throw invalid(`Invalid null value in condition for column ${col.name}`);
  return v;
}

function expiry(ttlSrc: ValueSource | null, table: TableDef, ctx: ExecCtx): number {
  let ttl = table.options.defaultTtl;
  if (ttlSrc !== null) {
    const v = ttlSrc(ctx);
    if (v !== null && v !== UNSET) {
      ttl = v.readInt32BE(0);
      if (ttl < 0) throw invalid(`A TTL must be greater or equal to 0, but was ${ttl}`);
      if (ttl > MAX_TTL) throw invalid(`ttl is too large. requested (${ttl}) maximum (${MAX_TTL})`);
    }
  }
  return ttl === 0 ? 0 : ctx.now + ttl * 1000;
}

function writeTime(tsSrc: ValueSource | null, ctx: ExecCtx): bigint {
  if (tsSrc === null) return ctx.timestamp;
  const v = tsSrc(ctx);
  return v === null || v === UNSET ? ctx.timestamp : v.readBigInt64BE(0);
}

function bindIndex(term: Term): number | null {
  return term.k === 'bind' ? term.index : null;
}

function resolveTable(table: TableDef, col: string): ColumnSpec {
  const spec = table.byName.get(col);
  if (spec === undefined) throw invalid(`Undefined column name ${col}`);
  return spec;
}

export function compileInsert(table: TableDef, stmt: Insert, markers: Markers): ModifyPlan {
  if (table.isCounter) throw invalid('INSERT statements are not allowed on counter tables, use UPDATE instead');
  const cols = stmt.columns.map((c) => resolveTable(table, c));
  const seen = new Set<string>();
  for (const c of cols) {
    if (seen.has(c.name)) throw invalid(`Multiple definitions found for column ${c.name}`);
    seen.add(c.name);
  }
  for (const c of [...table.partitionKey, ...table.clustering]) {
    if (!seen.has(c.name)) {
      throw invalid(`Some ${c.kind === 'partition_key' ? 'partition key parts' : 'clustering keys'} are missing: ${c.name}`);
    }
  }
  const sources = stmt.values.map((t, i) => compileTerm(t, cols[i]!.type, cols[i]!.name, markers));
  const ttl = compileIntTerm(stmt.ttl, '[ttl]', markers);
  const ts = compileBigintTerm(stmt.timestamp, '[timestamp]', markers);
  const pkIndexes: number[] = [];
  for (const pkCol of table.partitionKey) {
    const i = cols.indexOf(pkCol);
    const idx = bindIndex(stmt.values[i]!);
    if (idx === null) {
      pkIndexes.length = 0;
      break;
    }
    pkIndexes.push(idx);
  }
  return {
    kind: 'modify',
    table,
    isCounter: false,
    ifNotExists: stmt.ifNotExists,
    pkIndexes,
    mutations(ctx) {
      const pk: Buffer[] = [];
      const ck: Buffer[] = [];
      const ops: Array<{ col: ColumnSpec; op: CellOp }> = [];
      cols.forEach((col, i) => {
        const v = sources[i]!(ctx);
        if (col.kind === 'partition_key') pk[col.index] = keyValue(v, col);
        else if (col.kind === 'clustering') ck[col.index] = keyValue(v, col);
        else if (v !== UNSET) ops.push({ col, op: { k: 'set', v } });
      });
      if (pk.length === 1 && pk[0]!.length === 0) throw invalid('Key may not be empty');
      return [{ k: 'upsert', table, pk, ck, marker: true, exp: expiry(ttl, table, ctx), ts: writeTime(ts, ctx), ops }];
    },
  };
}

type OpBuilder = (ctx: ExecCtx) => CellOp | null;

function compileAssignment(table: TableDef, a: Assignment, markers: Markers): { col: ColumnSpec; build: OpBuilder } {
  const col = resolveTable(table, a.col);
  if (col.kind !== 'regular') throw invalid(`PRIMARY KEY part ${col.name} found in SET part`);
  const t = col.type;
  const opText = a.op === 'add' ? '+' : '-';
  switch (a.op) {
    case 'set': {
      if (t.kind === 'counter') {
        throw invalid(`Cannot set the value of counter column ${col.name} (counters can only be incremented/decremented, not set)`);
      }
      const src = compileTerm(a.term, t, col.name, markers);
      return {
        col,
        build: (ctx) => {
          const v = src(ctx);
          return v === UNSET ? null : { k: 'set', v };
        },
      };
    }
    case 'add':
    case 'sub': {
      if (t.kind === 'counter') {
        const src = compileTerm(a.term, scalar('counter'), col.name, markers);
        return {
          col,
          build: (ctx) => {
            const v = src(ctx);
            if (v === UNSET) return null;
            if (v === null) throw invalid(`Invalid null value for counter increment`);
            const d = v.readBigInt64BE(0);
            return { k: 'counter', delta: a.op === 'add' ? d : -d };
          },
        };
      }
      let kind: CellOp['k'];
      let srcType: CqlType = t;
      if (t.kind === 'list') kind = a.op === 'add' ? 'append' : 'listRemove';
      else if (t.kind === 'set') kind = a.op === 'add' ? 'setAdd' : 'setRemove';
      else if (t.kind === 'map' && a.op === 'add') kind = 'mapPut';
      else if (t.kind === 'map') {
        kind = 'mapRemove';
        srcType = T.set(t.key);
      } else throw invalid(`Invalid operation (${col.name} = ${col.name} ${opText} ?) for non counter column ${col.name}`);
      const src = compileTerm(a.term, srcType, col.name, markers);
      return { col, build: (ctx) => collectionOp(kind, src(ctx)) };
    }
    case 'prepend': {
      if (t.kind !== 'list') throw invalid(`Invalid operation (${col.name} = ? + ${col.name}) for non list column ${col.name}`);
      const src = compileTerm(a.term, t, col.name, markers);
      return { col, build: (ctx) => collectionOp('prepend', src(ctx)) };
    }
    case 'setKey': {
      if (t.kind !== 'map') throw invalid(`Invalid operation (${col.name}[?] = ?) for non map column ${col.name}`);
      const key = compileTerm(a.key, t.key, `key(${col.name})`, markers);
      const value = compileTerm(a.term, t.value, `value(${col.name})`, markers);
      return {
        col,
        build: (ctx) => {
          const k = key(ctx);
          const v = value(ctx);
          if (k === null || k === UNSET) throw invalid(`Invalid null map key for ${col.name}`);
          if (v === UNSET) return null;
          return v === null ? { k: 'mapRemove', items: [k] } : { k: 'mapPut', entries: [[k, v]] };
        },
      };
    }
  }
}

function collectionOp(kind: CellOp['k'], v: WireValue): CellOp | null {
  if (v === UNSET) return null;
  if (kind === 'mapPut') {
    const entries = v === null ? [] : (decodeMap(v) ?? []).map(([a, b]): [Buffer, Buffer] => [Buffer.from(a), Buffer.from(b)]);
    return { k: 'mapPut', entries };
  }
  const items = v === null ? [] : (decodeCollection(v) ?? []).map((b) => Buffer.from(b));
  return { k: kind as 'append', items };
}

function requirePrimaryKeyOnly(shape: WhereShape): void {
  if (shape.regular.length > 0) {
    throw invalid(`Non PRIMARY KEY columns found in where clause: ${shape.regular.map((r) => r.col.name).join(', ')}`);
  }
}

function pkIndexesFromWhere(table: TableDef, where: readonly { col: string; op: string; terms: readonly Term[] }[]): number[] {
  const out: number[] = [];
  for (const col of table.partitionKey) {
    const rel = where.find((r) => r.col === col.name && r.op === '=');
    const idx = rel === undefined ? null : bindIndex(rel.terms[0]!);
    if (idx === null) return [];
    out.push(idx);
  }
  return out;
}

export function compileUpdate(table: TableDef, stmt: Update, markers: Markers): ModifyPlan {
  const ttl = compileIntTerm(stmt.ttl, '[ttl]', markers);
  const ts = compileBigintTerm(stmt.timestamp, '[timestamp]', markers);
  const assignments = stmt.assignments.map((a) => compileAssignment(table, a, markers));
  const where = compileWhere(table, stmt.where, markers);
  requirePrimaryKeyOnly(where);
  const counters = assignments.filter((a) => a.col.type.kind === 'counter').length;
  if (counters > 0 && stmt.ttl !== null) throw invalid('Cannot provide custom TTL for counter updates');
  const isCounter = counters > 0;
  return {
    kind: 'modify',
    table,
    isCounter,
    ifNotExists: false,
    pkIndexes: pkIndexesFromWhere(table, stmt.where),
    mutations(ctx) {
      const bound = bindWhere(where, ctx);
      const pks = partitionKeys(table, bound);
      const cks = clusteringKeys(table, bound);
      const exp = isCounter ? 0 : expiry(ttl, table, ctx);
      const time = writeTime(ts, ctx);
      const ops: Array<{ col: ColumnSpec; op: CellOp }> = [];
      for (const a of assignments) {
        const op = a.build(ctx);
        if (op !== null) ops.push({ col: a.col, op });
      }
      const out: Mutation[] = [];
      for (const pk of pks) for (const ck of cks) out.push({ k: 'upsert', table, pk, ck, marker: false, exp, ts: time, ops });
      return out;
    },
  };
}

export function compileDelete(table: TableDef, stmt: Delete, markers: Markers): ModifyPlan {
  const cols = stmt.columns.map((c) => {
    const col = resolveTable(table, c);
    if (col.kind !== 'regular') throw invalid(`Invalid identifier ${col.name} for deletion (should not be a PRIMARY KEY part)`);
    return col;
  });
  compileBigintTerm(stmt.timestamp, '[timestamp]', markers);
  const where = compileWhere(table, stmt.where, markers);
  requirePrimaryKeyOnly(where);
  if (where.ckNeedsFiltering !== null) throw invalid(where.ckNeedsFiltering);
  const isCounter = table.isCounter;
  return {
    kind: 'modify',
    table,
    isCounter,
    ifNotExists: false,
    pkIndexes: pkIndexesFromWhere(table, stmt.where),
    mutations(ctx) {
      const bound = bindWhere(where, ctx);
      const pks = partitionKeys(table, bound);
      const out: Mutation[] = [];
      if (cols.length > 0) {
        const cks = clusteringKeys(table, bound);
        for (const pk of pks) for (const ck of cks) out.push({ k: 'deleteCells', table, pk, ck, cols });
        return out;
      }
      // Clustering prefix from `=`/`IN` relations (product over IN), then an optional range.
      let prefixes: Buffer[][] = [[]];
      for (const col of table.clustering.slice(0, where.ckPrefix)) {
        const r = bound.find((b) => b.col === col)!;
        const next: Buffer[][] = [];
        for (const p of prefixes) for (const v of r.values) next.push([...p, v]);
        prefixes = next;
      }
      const range = bound.filter((b) => b.col.kind === 'clustering' && b.col.index === where.ckPrefix);
      for (const pk of pks) for (const prefix of prefixes) out.push({ k: 'deleteRows', table, pk, prefix, range });
      return out;
    },
  };
}

// ---- applying ----

function mergeCell(col: ColumnSpec, old: Buffer | null, op: CellOp): Buffer | null {
  const t = col.type;
  switch (op.k) {
    case 'set': {
      if (op.v === null) return null;
      if (t.kind === 'set') {
        const items = normalizeSet(t.elem, (decodeCollection(op.v) ?? []).map((b) => Buffer.from(b)));
        return items.length === 0 ? null : encodeCollection(items);
      }
      if (t.kind === 'map') {
        const entries = normalizeMap(t.key, (decodeMap(op.v) ?? []).map(([a, b]): [Buffer, Buffer] => [Buffer.from(a), Buffer.from(b)]));
        return entries.length === 0 ? null : encodeMap(entries);
      }
      if (t.kind === 'list' && (decodeCollection(op.v) ?? []).length === 0) return null;
      return op.v;
    }
    case 'counter': {
      const base = old === null || old.length === 0 ? 0n : old.readBigInt64BE(0);
      return encodeBigint(base + op.delta);
    }
    case 'mapPut':
    case 'mapRemove': {
      if (t.kind !== 'map') return old;
      const current = old === null ? [] : (decodeMap(old) ?? []).map(([a, b]): [Buffer, Buffer] => [Buffer.from(a), Buffer.from(b)]);
      let entries: Array<[Buffer, Buffer]>;
      if (op.k === 'mapPut') entries = normalizeMap(t.key, [...current, ...op.entries]);
      else entries = current.filter(([k]) => !op.items.some((x) => compareValues(t.key, k, x) === 0));
      return entries.length === 0 ? null : encodeMap(entries);
    }
    default: {
      if (t.kind !== 'list' && t.kind !== 'set') return old;
      const current = old === null ? [] : (decodeCollection(old) ?? []).map((b) => Buffer.from(b));
      const elem = t.elem;
      let items: Buffer[];
      switch (op.k) {
        case 'append':
          items = [...current, ...op.items];
          break;
        case 'prepend':
          items = [...op.items, ...current];
          break;
        case 'setAdd':
          items = normalizeSet(elem, [...current, ...op.items]);
          break;
        default:
          items = current.filter((v) => !op.items.some((x) => compareValues(elem, v, x) === 0));
      }
      return items.length === 0 ? null : encodeCollection(items);
    }
  }
}

export function applyMutation(m: Mutation, now: number): void {
  const table = m.table;
  const data = table.data;
  const cks = table.clustering;
  if (m.k === 'upsert') {
    const p = data.getOrCreate(m.pk);
    const row = rowFor(cks, p, m.ck);
    if (m.marker) row.marker = m.exp;
    for (const { col, op } of m.ops) {
      const old = cellValue(row.cells[col.index], now);
      const v = mergeCell(col, old, op);
      row.cells[col.index] = v === null ? undefined : { v, exp: m.exp, ts: m.ts };
    }
    data.purge(p, now);
    return;
  }
  const p: Partition | undefined = data.get(m.pk);
  if (p === undefined) return;
  if (m.k === 'deleteCells') {
    const row = p.rows.find((r) => compareClustering(cks, r.ck, m.ck) === 0);
    if (row !== undefined) for (const col of m.cols) row.cells[col.index] = undefined;
  } else if (m.prefix.length === 0 && m.range.length === 0) {
    p.rows = [];
  } else {
    p.rows = p.rows.filter((r) => !(compareClustering(cks, r.ck, m.prefix) === 0 && rowMatches(m.range, r, now)));
  }
  data.purge(p, now);
}

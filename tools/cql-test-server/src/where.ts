// WHERE clauses: compiled once per statement (columns resolved, marker types recorded, shape checked),
// bound per execution to concrete values.
import type { Relation, RelationOp } from './ast.js';
import { type WireValue, UNSET, invalid } from './protocol.js';
import type { ColumnSpec, TableDef } from './schema.js';
import { type Row, cellValue } from './storage.js';
import { type ExecCtx, type Markers, type ValueSource, compileTerm } from './terms.js';
import { compareValues, decodeCollection, T } from './types.js';

export interface CompiledRelation {
  readonly col: ColumnSpec;
  readonly op: RelationOp;
  /** One source for `=`/ranges/`IN ?` (the latter yields a serialized list), n for `IN (a, b...)`. */
  readonly sources: readonly ValueSource[];
  readonly inMarker: boolean;
}

export interface BoundRelation {
  readonly col: ColumnSpec;
  readonly op: RelationOp;
  /** One value, or the IN list. */
  readonly values: readonly Buffer[];
}

/** How a WHERE clause restricts the primary key, found at compile time. */
export interface WhereShape {
  readonly relations: readonly CompiledRelation[];
  /** Every partition key column has `=` or `IN`. */
  readonly pkFull: boolean;
  readonly pkRestricted: boolean;
  readonly pkIn: boolean;
  /** Leading clustering columns restricted by `=`/`IN`. */
  readonly ckPrefix: number;
  /** Whether clustering column `ckPrefix` has range bounds. */
  readonly ckRange: boolean;
  /** Why the clustering restrictions cannot be served by a slice (null when they can). */
  readonly ckNeedsFiltering: string | null;
  readonly regular: readonly CompiledRelation[];
  readonly ckIn: boolean;
}

export function compileWhere(table: TableDef, rels: readonly Relation[], markers: Markers): WhereShape {
  const relations: CompiledRelation[] = rels.map((r) => {
    const col = table.byName.get(r.col);
    if (col === undefined) throw invalid(`Undefined column name ${r.col}`);
    if (r.op === 'in' && r.inMarker) {
      return { col, op: r.op, sources: [compileTerm(r.terms[0]!, T.list(col.type), `in(${col.name})`, markers)], inMarker: true };
    }
    return { col, op: r.op, sources: r.terms.map((t) => compileTerm(t, col.type, col.name, markers)), inMarker: false };
  });

  const byCol = new Map<ColumnSpec, CompiledRelation[]>();
  for (const r of relations) {
    const list = byCol.get(r.col) ?? [];
    list.push(r);
    byCol.set(r.col, list);
  }
  for (const [col, list] of byCol) {
    const hasEq = list.some((r) => r.op === '=' || r.op === 'in');
    if (hasEq && list.length > 1) {
      throw invalid(`${col.name} cannot be restricted by more than one relation if it includes an Equal`);
    }
    for (const bound of [['>', '>='], ['<', '<=']] as const) {
      if (list.filter((r) => r.op === bound[0] || r.op === bound[1]).length > 1) {
        throw invalid(`More than one restriction was found for the ${bound[0] === '>' ? 'start' : 'end'} bound on ${col.name}`);
      }
    }
  }

  let pkCount = 0;
  let pkIn = false;
  for (const col of table.partitionKey) {
    const list = byCol.get(col);
    if (list === undefined) continue;
    const r = list[0]!;
    if (r.op !== '=' && r.op !== 'in') {
      throw invalid('Only EQ and IN relation are supported on the partition key (unless you use the token() function)');
    }
    pkCount++;
    if (r.op === 'in') pkIn = true;
  }

  let ckPrefix = 0;
  let ckRange = false;
  let ckIn = false;
  let ckNeedsFiltering: string | null = null;
  let previous: ColumnSpec | null = null;
  let stopped: 'gap' | 'range' | null = null;
  for (const col of table.clustering) {
    const list = byCol.get(col);
    if (list === undefined) {
      if (stopped === null) stopped = 'gap';
      previous = col;
      continue;
    }
    const isEq = list[0]!.op === '=' || list[0]!.op === 'in';
    if (stopped !== null) {
      ckNeedsFiltering ??=
        stopped === 'gap'
          ? `PRIMARY KEY column "${col.name}" cannot be restricted as preceding column "${previous!.name}" is not restricted`
          : `Clustering column "${col.name}" cannot be restricted (preceding column "${previous!.name}" is restricted by a non-EQ relation)`;
    } else if (isEq) {
      ckPrefix++;
      if (list[0]!.op === 'in') ckIn = true;
    } else {
      ckRange = true;
      stopped = 'range';
    }
    previous = col;
  }

  return {
    relations,
    pkFull: pkCount === table.partitionKey.length,
    pkRestricted: pkCount > 0,
    pkIn,
    ckPrefix,
    ckRange,
    ckNeedsFiltering,
    regular: relations.filter((r) => r.col.kind === 'regular'),
    ckIn,
  };
}

function bindValue(v: WireValue, col: ColumnSpec): Buffer {
  if (v === UNSET) throw invalid(`Invalid unset value for column ${col.name}`);
  if (v === null) throw invalid(`Invalid null value in condition for column ${col.name}`);
  return v;
}

export function bindWhere(shape: WhereShape, ctx: ExecCtx): BoundRelation[] {
  return shape.relations.map((r) => {
    if (r.inMarker) {
      const list = bindValue(r.sources[0]!(ctx), r.col);
      const items = decodeCollection(list);
      if (items === null) throw invalid(`Invalid list value for IN restriction on ${r.col.name}`);
      return { col: r.col, op: r.op, values: items.map((b) => Buffer.from(b)) };
    }
    return { col: r.col, op: r.op, values: r.sources.map((s) => bindValue(s(ctx), r.col)) };
  });
}

/** Every partition key the relations select (cartesian product of `=`/`IN` values), deduplicated. */
export function partitionKeys(table: TableDef, bound: readonly BoundRelation[]): Buffer[][] {
  let keys: Buffer[][] = [[]];
  for (const col of table.partitionKey) {
    const r = bound.find((b) => b.col === col);
    if (r === undefined) throw invalid(`Some partition key parts are missing: ${col.name}`);
    const next: Buffer[][] = [];
    for (const k of keys) for (const v of r.values) next.push([...k, v]);
    keys = next;
  }
  if (table.partitionKey.length === 1) {
    for (const k of keys) if (k[0]!.length === 0) throw invalid('Key may not be empty');
  }
  const seen = new Set<string>();
  return keys.filter((k) => {
    const id = k.map((b) => b.toString('hex')).join(':');
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Full clustering keys for `=`/`IN` on every clustering column (UPDATE, INSERT-like targets). */
export function clusteringKeys(table: TableDef, bound: readonly BoundRelation[]): Buffer[][] {
  let keys: Buffer[][] = [[]];
  const missing: string[] = [];
  for (const col of table.clustering) {
    const r = bound.find((b) => b.col === col);
    if (r === undefined || (r.op !== '=' && r.op !== 'in')) {
      missing.push(col.name);
      continue;
    }
    const next: Buffer[][] = [];
    for (const k of keys) for (const v of r.values) next.push([...k, v]);
    keys = next;
  }
  if (missing.length > 0) throw invalid(`Some clustering keys are missing: ${missing.join(', ')}`);
  return keys;
}

function test(op: RelationOp, c: number): boolean {
  switch (op) {
    case '=':
    case 'in':
      return c === 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
  }
}

/** Whether a row satisfies the clustering and regular-column relations. */
export function rowMatches(bound: readonly BoundRelation[], row: Row, now: number): boolean {
  for (const r of bound) {
    let v: Buffer | null;
    if (r.col.kind === 'clustering') v = row.ck[r.col.index]!;
    else if (r.col.kind === 'regular') v = cellValue(row.cells[r.col.index], now);
    else continue;
    if (v === null) return false;
    const type = r.col.type;
    if (r.op === 'in') {
      if (!r.values.some((x) => compareValues(type, v, x) === 0)) return false;
    } else if (!test(r.op, compareValues(type, v, r.values[0]!))) {
      return false;
    }
  }
  return true;
}

// SELECT: compile (selection, restrictions, ORDER BY, LIMIT) and run with paging.
import type { Select } from './ast.js';
import { BodyReader, BodyWriter, UNSET, type WireValue, invalid, protocolError } from './protocol.js';
import type { ColumnSpec, TableDef } from './schema.js';
import {
  type Partition,
  type Row,
  cellValue,
  compareClustering,
  comparePartitionKeys,
  isLive,
  rowAlive,
} from './storage.js';
import { type ExecCtx, type Markers, type ValueSource, compileIntTerm } from './terms.js';
import { type CqlType, T, encodeBigint, encodeInt } from './types.js';
import { type BoundRelation, type WhereShape, bindWhere, compileWhere, partitionKeys, rowMatches } from './where.js';

export interface ResultColumn {
  readonly name: string;
  readonly type: CqlType;
}

export interface RowsPage {
  readonly rows: Array<Array<Buffer | null>>;
  readonly pagingState: Buffer | null;
}

type Projection =
  | { readonly k: 'col'; readonly col: ColumnSpec }
  | { readonly k: 'ttl' | 'writetime'; readonly col: ColumnSpec };

const FILTERING_MESSAGE =
  'Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. ' +
  'If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING';

export class SelectPlan {
  readonly kind = 'select';
  readonly columns: ResultColumn[];
  private readonly projections: Projection[];
  private readonly count: boolean;
  private readonly where: WhereShape;
  private readonly limit: ValueSource | null;
  private readonly reversed: boolean;
  private readonly ordered: boolean;

  constructor(
    readonly table: TableDef,
    stmt: Select,
    markers: Markers,
  ) {
    this.columns = [];
    this.projections = [];
    this.count = false;
    if (stmt.selectors === null) {
      for (const col of table.starColumns) {
        this.columns.push({ name: col.name, type: col.type });
        this.projections.push({ k: 'col', col });
      }
    } else {
      for (const s of stmt.selectors) {
        if (s.k === 'count') {
          if (stmt.selectors.length > 1) throw invalid('count(*) cannot be combined with other selectors in the CQL test server');
          this.count = true;
          this.columns.push({ name: s.alias ?? 'count', type: T.bigint });
          continue;
        }
        const col = table.byName.get(s.col);
        if (col === undefined) throw invalid(`Undefined column name ${s.col}`);
        if (s.k === 'col') {
          this.columns.push({ name: s.alias ?? col.name, type: col.type });
          this.projections.push({ k: 'col', col });
        } else {
          if (col.kind !== 'regular') throw invalid(`Cannot use selection function ${s.k} on PRIMARY KEY part ${col.name}`);
          this.columns.push({ name: s.alias ?? `${s.k}(${col.name})`, type: s.k === 'ttl' ? T.int : T.bigint });
          this.projections.push({ k: s.k, col });
        }
      }
    }

    this.where = compileWhere(table, stmt.where, markers);
    const w = this.where;
    if (!stmt.allowFiltering) {
      if (w.pkRestricted && !w.pkFull) throw invalid(FILTERING_MESSAGE);
      if (w.ckNeedsFiltering !== null) throw invalid(w.ckNeedsFiltering);
      const ckRestricted = w.ckPrefix > 0 || w.ckRange;
      if (ckRestricted && !w.pkFull) throw invalid(FILTERING_MESSAGE);
      if (w.regular.length > 0) throw invalid(FILTERING_MESSAGE);
    }

    this.reversed = false;
    this.ordered = stmt.orderBy.length > 0;
    if (this.ordered) {
      if (!w.pkFull) throw invalid('ORDER BY is only supported when the partition key is restricted by an EQ or an IN.');
      let reversed: boolean | null = null;
      stmt.orderBy.forEach((o, i) => {
        const col = table.byName.get(o.col);
        if (col === undefined) throw invalid(`Order by on unknown column ${o.col}`);
        if (col.kind !== 'clustering') {
          throw invalid(`Order by is currently only supported on the clustered columns of the PRIMARY KEY, got ${o.col}`);
        }
        if (col.index !== i) {
          throw invalid('Order by currently only supports the ordering of columns following their declared order in the PRIMARY KEY');
        }
        const r = o.desc !== col.desc;
        if (reversed !== null && reversed !== r) throw invalid('Unsupported order by relation');
        reversed = r;
      });
      this.reversed = reversed ?? false;
    }
    this.limit = compileIntTerm(stmt.limit, '[limit]', markers);
  }

  /** Markers bound directly to partition key columns (`pk = ?`), for the driver's routing. */
  pkIndexes(stmt: Select): number[] {
    const out: number[] = [];
    for (const col of this.table.partitionKey) {
      const rel = stmt.where.find((r) => r.col === col.name && r.op === '=');
      const term = rel?.terms[0];
      if (term === undefined || term.k !== 'bind') return [];
      out.push(term.index);
    }
    return out;
  }

  run(ctx: ExecCtx, pageSize: number, pagingState: Buffer | null): RowsPage {
    const bound = bindWhere(this.where, ctx);
    const limit = this.limitValue(ctx);
    const partitions = this.partitions(bound, ctx.now);

    if (this.count) {
      let n = 0n;
      for (const p of partitions) for (const r of p.rows) if (this.matches(r, bound, ctx.now)) n++;
      return { rows: [[encodeBigint(n)]], pagingState: null };
    }

    if (this.ordered && this.where.pkIn) {
      // Rows of several partitions must be merged in clustering order: Cassandra does this after the
      // query and so refuses to page it.
      if (pageSize > 0) {
        throw invalid(
          'Cannot page queries with both ORDER BY and a IN restriction on the partition key; you must either remove the ' +
            'ORDER BY or the IN and sort client side, or disable paging for this query',
        );
      }
      const all: Array<[Partition, Row]> = [];
      for (const p of partitions) for (const r of p.rows) if (this.matches(r, bound, ctx.now)) all.push([p, r]);
      const dir = this.reversed ? -1 : 1;
      all.sort((a, b) => dir * compareClustering(this.table.clustering, a[1].ck, b[1].ck));
      return { rows: all.slice(0, limit).map(([p, r]) => this.project(p, r, ctx.now)), pagingState: null };
    }

    let remaining = limit;
    let start: { pk: Buffer[]; ck: Buffer[] } | null = null;
    if (pagingState !== null) {
      const st = decodePagingState(pagingState);
      start = st;
      if (st.remaining >= 0) remaining = Math.min(remaining, st.remaining);
    }
    const want = pageSize > 0 ? Math.min(pageSize, remaining) : remaining;
    const rows: Array<Array<Buffer | null>> = [];
    let last: [Partition, Row] | null = null;
    let more = false;
    outer: for (const p of partitions) {
      const cmp = start === null ? 1 : comparePartitionKeys(p.key, start.pk);
      if (cmp < 0) continue;
      for (const r of this.rowsFrom(p, cmp === 0 ? start!.ck : null)) {
        if (!this.matches(r, bound, ctx.now)) continue;
        if (rows.length >= want) {
          more = true;
          break outer;
        }
        rows.push(this.project(p, r, ctx.now));
        last = [p, r];
      }
    }
    const left = remaining - rows.length;
    const state = more && left > 0 && last !== null ? encodePagingState(last[0].key, last[1].ck, Number.isFinite(left) ? left : -1) : null;
    return { rows, pagingState: state };
  }

  private limitValue(ctx: ExecCtx): number {
    if (this.limit === null) return Infinity;
    const v: WireValue = this.limit(ctx);
    if (v === null || v === UNSET) throw invalid('Invalid null value of limit');
    const n = v.readInt32BE(0);
    if (n <= 0) throw invalid('LIMIT must be strictly positive');
    return n;
  }

  private partitions(bound: readonly BoundRelation[], now: number): Partition[] {
    const data = this.table.data;
    let list: Partition[];
    if (this.where.pkFull) {
      list = [];
      for (const key of partitionKeys(this.table, bound)) {
        const p = data.get(key);
        if (p !== undefined) list.push(p);
      }
    } else {
      list = [...data.partitions.values()];
    }
    for (const p of list) data.purge(p, now);
    return list.filter((p) => p.rows.length > 0).sort((a, b) => comparePartitionKeys(a.key, b.key));
  }

  /** Rows of a partition in result order, starting after `after` when resuming a page. */
  private *rowsFrom(p: Partition, after: Buffer[] | null): Generator<Row> {
    const cols = this.table.clustering;
    const rows = p.rows;
    if (!this.reversed) {
      for (const r of rows) if (after === null || compareClustering(cols, r.ck, after) > 0) yield r;
    } else {
      for (let i = rows.length - 1; i >= 0; i--) {
        const r = rows[i]!;
        if (after === null || compareClustering(cols, r.ck, after) < 0) yield r;
      }
    }
  }

  private matches(r: Row, bound: readonly BoundRelation[], now: number): boolean {
    return rowAlive(r, now) && rowMatches(bound, r, now);
  }

  private project(p: Partition, r: Row, now: number): Array<Buffer | null> {
    return this.projections.map((pr) => {
      const col = pr.col;
      if (col.kind === 'partition_key') return p.key[col.index]!;
      if (col.kind === 'clustering') return r.ck[col.index]!;
      const cell = r.cells[col.index];
      if (pr.k === 'col') return cellValue(cell, now);
      if (cell === undefined || !isLive(cell.exp, now)) return null;
      if (pr.k === 'writetime') return encodeBigint(cell.ts);
      return cell.exp === 0 ? null : encodeInt(Math.ceil((cell.exp - now) / 1000));
    });
  }
}

const PAGING_STATE_VERSION = 1;

function encodePagingState(pk: readonly Buffer[], ck: readonly Buffer[], remaining: number): Buffer {
  const w = new BodyWriter().byte(PAGING_STATE_VERSION).short(pk.length);
  for (const b of pk) w.bytes(b);
  w.short(ck.length);
  for (const b of ck) w.bytes(b);
  return w.int(remaining).finish();
}

function decodePagingState(b: Buffer): { pk: Buffer[]; ck: Buffer[]; remaining: number } {
  try {
    const r = new BodyReader(b);
    if (r.byte() !== PAGING_STATE_VERSION) throw protocolError('bad version');
    const pk: Buffer[] = [];
    for (let n = r.short(); n > 0; n--) pk.push(r.bytes() ?? Buffer.alloc(0));
    const ck: Buffer[] = [];
    for (let n = r.short(); n > 0; n--) ck.push(r.bytes() ?? Buffer.alloc(0));
    const remaining = r.int();
    if (r.remaining !== 0) throw protocolError('trailing bytes');
    return { pk, ck, remaining };
  } catch {
    throw protocolError('Invalid value for the paging state');
  }
}

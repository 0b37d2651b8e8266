// Keyspace and table definitions of the in-memory CQL engine.
import { TableData } from './storage.js';
import type { CqlType } from './types.js';

export type ColumnKind = 'partition_key' | 'clustering' | 'regular';

export interface ColumnSpec {
  readonly name: string;
  readonly type: CqlType;
  readonly kind: ColumnKind;
  /** Index within its kind: position in the partition key, the clustering key, or among regular columns. */
  readonly index: number;
  /** Clustering columns only: stored in descending order. */
  readonly desc: boolean;
}

export interface TableOptions {
  readonly defaultTtl: number;
  readonly comment: string;
  readonly gcGraceSeconds: number;
  readonly maps: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Every other property as given (read_repair, speculative_retry...). */
  readonly simple?: ReadonlyMap<string, string>;
}

export class TableDef {
  readonly byName = new Map<string, ColumnSpec>();
  readonly partitionKey: ColumnSpec[] = [];
  readonly clustering: ColumnSpec[] = [];
  readonly regular: ColumnSpec[] = [];
  /** `SELECT *` order, as Cassandra: partition key, clustering, then regular columns by name. */
  readonly starColumns: ColumnSpec[];
  readonly isCounter: boolean;
  readonly data = new TableData();

  constructor(
    readonly ks: string,
    readonly name: string,
    readonly id: Buffer,
    columns: readonly ColumnSpec[],
    /** Replaced by ALTER TABLE ... WITH. */
    public options: TableOptions,
  ) {
    for (const c of columns) {
      this.byName.set(c.name, c);
      if (c.kind === 'partition_key') this.partitionKey[c.index] = c;
      else if (c.kind === 'clustering') this.clustering[c.index] = c;
      else this.regular[c.index] = c;
    }
    this.starColumns = [...this.partitionKey, ...this.clustering, ...this.regular];
    this.isCounter = this.regular.some((c) => c.type.kind === 'counter');
  }

  /** Builds the column list with regular columns indexed in name order (what `SELECT *` shows). */
  static columns(
    defs: ReadonlyArray<{ name: string; type: CqlType }>,
    partitionKey: readonly string[],
    clustering: readonly string[],
    descending: ReadonlySet<string>,
  ): ColumnSpec[] {
    const out: ColumnSpec[] = [];
    const byName = new Map(defs.map((d) => [d.name, d.type]));
    partitionKey.forEach((name, index) =>
      out.push({ name, type: byName.get(name)!, kind: 'partition_key', index, desc: false }),
    );
    clustering.forEach((name, index) =>
      out.push({ name, type: byName.get(name)!, kind: 'clustering', index, desc: descending.has(name) }),
    );
    const keys = new Set([...partitionKey, ...clustering]);
    const regular = defs
      .filter((d) => !keys.has(d.name))
      .map((d) => d.name)
      .sort();
    regular.forEach((name, index) => out.push({ name, type: byName.get(name)!, kind: 'regular', index, desc: false }));
    return out;
  }
}

export class KeyspaceDef {
  readonly tables = new Map<string, TableDef>();
  constructor(
    readonly name: string,
    readonly replication: ReadonlyMap<string, string>,
    readonly durableWrites: boolean,
    /** system keyspaces reject user writes and schema changes. */
    readonly system: boolean,
  ) {}
}

// Rows of one table: partitions keyed by their serialized partition key, rows inside a partition kept
// sorted by the table's clustering order. Expired data is skipped on read and dropped when touched.
import type { ColumnSpec } from './schema.js';
import { compareValues } from './types.js';

/** `exp` is the expiry time in ms since the epoch, 0 for never; `ts` the write time in microseconds. */
export interface Cell {
  v: Buffer;
  exp: number;
  ts: bigint;
}

export interface Row {
  readonly ck: Buffer[];
  /** Row marker written by INSERT (keeps a row with only null cells alive): expiry as for cells, null if none. */
  marker: number | null;
  /** Indexed by the regular column's index. */
  cells: Array<Cell | undefined>;
}

export interface Partition {
  readonly key: Buffer[];
  readonly id: string;
  rows: Row[];
}

export const isLive = (exp: number, now: number): boolean => exp === 0 || exp > now;

export function cellValue(cell: Cell | undefined, now: number): Buffer | null {
  return cell !== undefined && isLive(cell.exp, now) ? cell.v : null;
}

export function rowAlive(row: Row, now: number): boolean {
  if (row.marker !== null && isLive(row.marker, now)) return true;
  for (const c of row.cells) if (c !== undefined && isLive(c.exp, now)) return true;
  return false;
}

export function partitionId(key: readonly Buffer[]): string {
  return key.map((b) => b.toString('hex')).join(':');
}

/** Partition order for scans and paging: component-wise unsigned bytes (stable, like ByteOrderedPartitioner). */
export function comparePartitionKeys(a: readonly Buffer[], b: readonly Buffer[]): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const c = Buffer.compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** Compares clustering prefixes in storage order; a shorter prefix equal so far compares equal. */
export function compareClustering(cols: readonly ColumnSpec[], a: readonly Buffer[], b: readonly Buffer[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const col = cols[i]!;
    const c = compareValues(col.type, a[i]!, b[i]!);
    if (c !== 0) return col.desc ? -c : c;
  }
  return 0;
}

export class TableData {
  readonly partitions = new Map<string, Partition>();

  get(key: readonly Buffer[]): Partition | undefined {
    return this.partitions.get(partitionId(key));
  }

  getOrCreate(key: readonly Buffer[]): Partition {
    const id = partitionId(key);
    let p = this.partitions.get(id);
    if (p === undefined) {
      p = { key: [...key], id, rows: [] };
      this.partitions.set(id, p);
    }
    return p;
  }

  /** Drops expired rows of a partition, and the partition itself once empty. */
  purge(p: Partition, now: number): void {
    if (p.rows.some((r) => !rowAlive(r, now))) p.rows = p.rows.filter((r) => rowAlive(r, now));
    if (p.rows.length === 0) this.partitions.delete(p.id);
  }

  clear(): void {
    this.partitions.clear();
  }
}

/** Index of the first row whose clustering key is >= `ck` in storage order. */
export function lowerBound(cols: readonly ColumnSpec[], rows: readonly Row[], ck: readonly Buffer[]): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareClustering(cols, rows[mid]!.ck, ck) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Finds or inserts the row with the full clustering key `ck`. */
export function rowFor(cols: readonly ColumnSpec[], p: Partition, ck: readonly Buffer[]): Row {
  const i = lowerBound(cols, p.rows, ck);
  const existing = p.rows[i];
  if (existing !== undefined && compareClustering(cols, existing.ck, ck) === 0) return existing;
  const row: Row = { ck: [...ck], marker: null, cells: [] };
  p.rows.splice(i, 0, row);
  return row;
}

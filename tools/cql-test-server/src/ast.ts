// Syntax tree for the CQL subset the test server understands.
import type { CqlType, Literal } from './types.js';

export interface QName {
  readonly ks: string | null;
  readonly name: string;
}

export type Term =
  | { readonly k: 'lit'; readonly lit: Literal }
  /** `index` numbers the bind markers of one request in order of appearance. */
  | { readonly k: 'bind'; readonly index: number; readonly name: string | null }
  | { readonly k: 'fn'; readonly name: string; readonly args: readonly Term[] }
  | { readonly k: 'list'; readonly items: readonly Term[] }
  | { readonly k: 'set'; readonly items: readonly Term[] }
  | { readonly k: 'map'; readonly entries: ReadonlyArray<readonly [Term, Term]> };

export type RelationOp = '=' | '<' | '>' | '<=' | '>=' | 'in';

export interface Relation {
  readonly col: string;
  readonly op: RelationOp;
  /** For `IN (a, b)` the list; for `IN ?` a single bind term; otherwise the compared term. */
  readonly terms: readonly Term[];
  readonly inMarker: boolean;
}

export type Selector =
  | { readonly k: 'col'; readonly col: string; readonly alias: string | null }
  | { readonly k: 'ttl'; readonly col: string; readonly alias: string | null }
  | { readonly k: 'writetime'; readonly col: string; readonly alias: string | null }
  | { readonly k: 'count'; readonly alias: string | null };

export type Assignment =
  | { readonly op: 'set'; readonly col: string; readonly term: Term }
  | { readonly op: 'add' | 'sub' | 'prepend'; readonly col: string; readonly term: Term }
  | { readonly op: 'setKey'; readonly col: string; readonly key: Term; readonly term: Term };

export interface Select {
  readonly kind: 'select';
  readonly table: QName;
  readonly selectors: readonly Selector[] | null;
  readonly where: readonly Relation[];
  readonly orderBy: ReadonlyArray<{ readonly col: string; readonly desc: boolean }>;
  readonly limit: Term | null;
  readonly allowFiltering: boolean;
}

export interface Insert {
  readonly kind: 'insert';
  readonly table: QName;
  readonly columns: readonly string[];
  readonly values: readonly Term[];
  readonly ifNotExists: boolean;
  readonly ttl: Term | null;
  readonly timestamp: Term | null;
}

export interface Update {
  readonly kind: 'update';
  readonly table: QName;
  readonly assignments: readonly Assignment[];
  readonly where: readonly Relation[];
  readonly ttl: Term | null;
  readonly timestamp: Term | null;
}

export interface Delete {
  readonly kind: 'delete';
  readonly table: QName;
  readonly columns: readonly string[];
  readonly where: readonly Relation[];
  readonly timestamp: Term | null;
}

export type Modification = Insert | Update | Delete;

export type BatchType = 'logged' | 'unlogged' | 'counter';

export interface Batch {
  readonly kind: 'batch';
  readonly type: BatchType;
  readonly statements: readonly Modification[];
}

export type OptionValue = string | ReadonlyMap<string, string>;

export interface CreateKeyspace {
  readonly kind: 'createKeyspace';
  readonly name: string;
  readonly ifNotExists: boolean;
  readonly options: ReadonlyMap<string, OptionValue>;
}

export interface ColumnDef {
  readonly name: string;
  readonly type: CqlType;
}

export interface CreateTable {
  readonly kind: 'createTable';
  readonly table: QName;
  readonly ifNotExists: boolean;
  readonly columns: readonly ColumnDef[];
  readonly partitionKey: readonly string[];
  readonly clustering: readonly string[];
  readonly clusteringOrder: ReadonlyMap<string, boolean>;
  readonly options: ReadonlyMap<string, OptionValue>;
}

/** ALTER TABLE ... WITH options (changing columns is not modelled). */
export interface AlterTable {
  readonly kind: 'alterTable';
  readonly table: QName;
  readonly options: ReadonlyMap<string, OptionValue>;
}

export interface DropKeyspace {
  readonly kind: 'dropKeyspace';
  readonly name: string;
  readonly ifExists: boolean;
}

export interface DropTable {
  readonly kind: 'dropTable';
  readonly table: QName;
  readonly ifExists: boolean;
}

export interface Truncate {
  readonly kind: 'truncate';
  readonly table: QName;
}

export interface Use {
  readonly kind: 'use';
  readonly name: string;
}

export type Statement =
  | Select
  | Modification
  | Batch
  | CreateKeyspace
  | CreateTable
  | AlterTable
  | DropKeyspace
  | DropTable
  | Truncate
  | Use;

export interface Parsed {
  readonly statement: Statement;
  /** Number of bind markers in the statement text. */
  readonly markers: number;
}

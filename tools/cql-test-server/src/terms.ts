// Compiling terms (literals, bind markers, function calls, collection literals) against the type of
// the place they are used, once per statement; evaluating them per execution.
import type { Term } from './ast.js';
import { type WireValue, UNSET, invalid } from './protocol.js';
import {
  type CqlType,
  T,
  compareValues,
  encodeBigint,
  encodeCollection,
  encodeMap,
  literalToBytes,
  newRandomUuid,
  newTimeuuid,
  scalar,
  timeuuidToUnixMs,
  typeName,
} from './types.js';

export interface ExecCtx {
  /** Bound values, already validated against the marker types. */
  readonly values: readonly WireValue[];
  /** Server clock in ms (tests may shift it to expire TTLs without sleeping). */
  readonly now: number;
  /** Client-supplied default timestamp (µs) or the server's. */
  readonly timestamp: bigint;
}

export interface MarkerSpec {
  readonly name: string;
  readonly type: CqlType;
}

export type ValueSource = (ctx: ExecCtx) => WireValue;

/** Collects bind marker types while a statement is compiled. */
export class Markers {
  readonly specs: Array<MarkerSpec | undefined>;
  constructor(count: number) {
    this.specs = new Array<MarkerSpec | undefined>(count).fill(undefined);
  }
  set(index: number, spec: MarkerSpec): void {
    this.specs[index] = spec;
  }
  done(): MarkerSpec[] {
    return this.specs.map((s, i) => {
      if (s === undefined) throw invalid(`Bind marker ${i} is used where its type cannot be inferred`);
      return s;
    });
  }
}

const MIN_CLOCK_SEQ_AND_NODE = Buffer.from('8080808080808080', 'hex');
const MAX_CLOCK_SEQ_AND_NODE = Buffer.from('7f7f7f7f7f7f7f7f', 'hex');

function timeuuidBound(ms: bigint, max: boolean): Buffer {
  const b = Buffer.allocUnsafe(16);
  const ticks = (max ? ms * 10000n + 9999n : ms * 10000n) + 0x01b21dd213814000n;
  b.writeUInt32BE(Number(ticks & 0xffffffffn), 0);
  b.writeUInt16BE(Number((ticks >> 32n) & 0xffffn), 4);
  b.writeUInt16BE(Number((ticks >> 48n) & 0x0fffn) | 0x1000, 6);
  (max ? MAX_CLOCK_SEQ_AND_NODE : MIN_CLOCK_SEQ_AND_NODE).copy(b, 8);
  return b;
}

function sortDedup(t: CqlType, items: Buffer[]): Buffer[] {
  items.sort((a, b) => compareValues(t, a, b));
  return items.filter((v, i) => i === 0 || compareValues(t, items[i - 1]!, v) !== 0);
}

/** Sets and maps are kept sorted by element/key and without duplicates, as Cassandra stores them. */
export function normalizeSet(t: CqlType, items: Buffer[]): Buffer[] {
  return sortDedup(t, items);
}

export function normalizeMap(keyType: CqlType, entries: Array<[Buffer, Buffer]>): Array<[Buffer, Buffer]> {
  const byKey = new Map<string, [Buffer, Buffer]>();
  for (const e of entries) byKey.set(e[0].toString('hex'), e); // later entries win
  return [...byKey.values()].sort((a, b) => compareValues(keyType, a[0], b[0]));
}

function resolved(v: WireValue, what: string): Buffer | null {
  if (v === UNSET) throw invalid(`Invalid unset value for ${what}`);
  return v;
}

/**
 * Compiles `term` for a receiver of type `type` named `receiver` (used in messages and as the default
 * bind marker name).
 */
export function compileTerm(term: Term, type: CqlType, receiver: string, markers: Markers): ValueSource {
  switch (term.k) {
    case 'bind': {
      markers.set(term.index, { name: term.name ?? receiver, type });
      const i = term.index;
      return (ctx) => ctx.values[i] ?? null;
    }
    case 'lit': {
      const bytes = literalToBytes(term.lit, type, receiver);
      return () => bytes;
    }
    case 'fn':
      return compileFunction(term.name, term.args, type, receiver, markers);
    case 'list': {
      if (type.kind !== 'list') throw invalid(`Invalid list literal for ${receiver} of type ${typeName(type)}`);
      const items = term.items.map((it) => compileTerm(it, type.elem, receiver, markers));
      return (ctx) => encodeCollection(items.map((s) => elementValue(s(ctx), receiver)));
    }
    case 'set': {
      if (type.kind !== 'set') throw invalid(`Invalid set literal for ${receiver} of type ${typeName(type)}`);
      const elem = type.elem;
      const items = term.items.map((it) => compileTerm(it, elem, receiver, markers));
      return (ctx) => encodeCollection(normalizeSet(elem, items.map((s) => elementValue(s(ctx), receiver))));
    }
    case 'map': {
      if (type.kind === 'set' && term.entries.length === 0) return () => encodeCollection([]);
      if (type.kind !== 'map') throw invalid(`Invalid map literal for ${receiver} of type ${typeName(type)}`);
      const { key, value } = type;
      const entries = term.entries.map(
        ([k, v]) => [compileTerm(k, key, receiver, markers), compileTerm(v, value, receiver, markers)] as const,
      );
      return (ctx) =>
        encodeMap(
          normalizeMap(
            key,
            entries.map(([k, v]) => [elementValue(k(ctx), receiver), elementValue(v(ctx), receiver)]),
          ),
        );
    }
  }
}

function elementValue(v: WireValue, receiver: string): Buffer {
  if (v === null || v === UNSET) throw invalid(`null is not supported inside collections (${receiver})`);
  return v;
}

function compileFunction(
  name: string,
  args: readonly Term[],
  type: CqlType,
  receiver: string,
  markers: Markers,
): ValueSource {
  const wrongType = (): never => {
    throw invalid(`Type error: cannot assign result of function ${name} to ${receiver} of type ${typeName(type)}`);
  };
  const arity = (n: number): void => {
    if (args.length !== n) throw invalid(`Invalid number of arguments in call to function ${name}: ${n} required but ${args.length} provided`);
  };
  switch (name) {
    case 'now':
      arity(0);
      if (type.kind !== 'timeuuid' && type.kind !== 'uuid') wrongType();
      return (ctx) => newTimeuuid(ctx.now);
    case 'uuid':
      arity(0);
      if (type.kind !== 'uuid') wrongType();
      return () => newRandomUuid();
    case 'currenttimestamp':
      arity(0);
      if (type.kind !== 'timestamp') wrongType();
      return (ctx) => encodeBigint(BigInt(ctx.now));
    case 'totimestamp':
    case 'tounixtimestamp': {
      arity(1);
      const want = name === 'totimestamp' ? 'timestamp' : 'bigint';
      if (type.kind !== want) wrongType();
      const arg = compileTerm(args[0]!, scalar('timeuuid'), `${name}(arg)`, markers);
      return (ctx) => {
        const v = resolved(arg(ctx), `argument of ${name}`);
        return v === null || v.length === 0 ? null : encodeBigint(timeuuidToUnixMs(v));
      };
    }
    case 'mintimeuuid':
    case 'maxtimeuuid': {
      arity(1);
      if (type.kind !== 'timeuuid') wrongType();
      const arg = compileTerm(args[0]!, scalar('timestamp'), `${name}(arg)`, markers);
      return (ctx) => {
        const v = resolved(arg(ctx), `argument of ${name}`);
        return v === null || v.length === 0 ? null : timeuuidBound(v.readBigInt64BE(0), name === 'maxtimeuuid');
      };
    }
    default:
      throw invalid(`Unknown function ${name} called`);
  }
}

/** An optional int-valued term (LIMIT, TTL): null when absent. */
export function compileIntTerm(term: Term | null, name: string, markers: Markers): ValueSource | null {
  return term === null ? null : compileTerm(term, T.int, name, markers);
}

export function compileBigintTerm(term: Term | null, name: string, markers: Markers): ValueSource | null {
  return term === null ? null : compileTerm(term, T.bigint, name, markers);
}

// CQL data types: parsing type names, the protocol's [option] encoding, validation, ordering and
// conversion of CQL literals to their serialized form. Values are kept serialized (Buffer) everywhere
// in the test server: bytes arrive from the client and leave unchanged, so only comparisons decode.
import { randomBytes } from 'node:crypto';
import { BodyWriter, invalid } from './protocol.js';

export type ScalarKind =
  | 'ascii'
  | 'bigint'
  | 'blob'
  | 'boolean'
  | 'counter'
  | 'double'
  | 'float'
  | 'inet'
  | 'int'
  | 'smallint'
  | 'text'
  | 'timestamp'
  | 'timeuuid'
  | 'tinyint'
  | 'uuid';

export type CqlType =
  | { readonly kind: ScalarKind }
  | { readonly kind: 'list' | 'set'; readonly elem: CqlType; readonly frozen: boolean }
  | { readonly kind: 'map'; readonly key: CqlType; readonly value: CqlType; readonly frozen: boolean };

const OPTION_CODES: Readonly<Record<CqlType['kind'], number>> = {
  ascii: 0x0001,
  bigint: 0x0002,
  blob: 0x0003,
  boolean: 0x0004,
  counter: 0x0005,
  double: 0x0007,
  float: 0x0008,
  int: 0x0009,
  timestamp: 0x000b,
  uuid: 0x000c,
  text: 0x000d,
  timeuuid: 0x000f,
  inet: 0x0010,
  smallint: 0x0013,
  tinyint: 0x0014,
  list: 0x0020,
  map: 0x0021,
  set: 0x0022,
};

const SCALAR_ALIASES: Readonly<Record<string, ScalarKind>> = {
  ascii: 'ascii',
  bigint: 'bigint',
  blob: 'blob',
  boolean: 'boolean',
  counter: 'counter',
  double: 'double',
  float: 'float',
  inet: 'inet',
  int: 'int',
  smallint: 'smallint',
  text: 'text',
  varchar: 'text',
  timestamp: 'timestamp',
  timeuuid: 'timeuuid',
  tinyint: 'tinyint',
  uuid: 'uuid',
};

const scalarCache = new Map<ScalarKind, CqlType>();
export function scalar(kind: ScalarKind): CqlType {
  let t = scalarCache.get(kind);
  if (t === undefined) {
    t = { kind };
    scalarCache.set(kind, t);
  }
  return t;
}

export const T = {
  text: scalar('text'),
  int: scalar('int'),
  bigint: scalar('bigint'),
  uuid: scalar('uuid'),
  boolean: scalar('boolean'),
  inet: scalar('inet'),
  double: scalar('double'),
  blob: scalar('blob'),
  list: (elem: CqlType, frozen = false): CqlType => ({ kind: 'list', elem, frozen }),
  set: (elem: CqlType, frozen = false): CqlType => ({ kind: 'set', elem, frozen }),
  map: (key: CqlType, value: CqlType, frozen = false): CqlType => ({ kind: 'map', key, value, frozen }),
} as const;

export function scalarByName(name: string): CqlType | null {
  const kind = SCALAR_ALIASES[name.toLowerCase()];
  return kind === undefined ? null : scalar(kind);
}

export function isCollection(t: CqlType): t is Extract<CqlType, { frozen: boolean }> {
  return t.kind === 'list' || t.kind === 'set' || t.kind === 'map';
}

/** The CQL spelling, as Cassandra writes it in system_schema.columns.type. */
export function typeName(t: CqlType): string {
  switch (t.kind) {
    case 'list':
    case 'set': {
      const inner = `${t.kind}<${typeName(t.elem)}>`;
      return t.frozen ? `frozen<${inner}>` : inner;
    }
    case 'map': {
      const inner = `map<${typeName(t.key)}, ${typeName(t.value)}>`;
      return t.frozen ? `frozen<${inner}>` : inner;
    }
    default:
      return t.kind;
  }
}

/** Writes the protocol's [option] describing a type (result and prepared metadata). */
export function writeTypeOption(w: BodyWriter, t: CqlType): void {
  w.short(OPTION_CODES[t.kind]);
  if (t.kind === 'list' || t.kind === 'set') writeTypeOption(w, t.elem);
  else if (t.kind === 'map') {
    writeTypeOption(w, t.key);
    writeTypeOption(w, t.value);
  }
}

// ---- collections (v3+ layout: [int n] then n x [int len][bytes]) ----

export function decodeCollection(b: Buffer): Buffer[] | null {
  if (b.length < 4) return null;
  const n = b.readInt32BE(0);
  if (n < 0) return null;
  const out: Buffer[] = [];
  let pos = 4;
  for (let i = 0; i < n; i++) {
    if (pos + 4 > b.length) return null;
    const len = b.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > b.length) return null;
    out.push(b.subarray(pos, pos + len));
    pos += len;
  }
  return pos === b.length ? out : null;
}

export function encodeCollection(items: readonly Buffer[]): Buffer {
  let size = 4;
  for (const it of items) size += 4 + it.length;
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(items.length, 0);
  let pos = 4;
  for (const it of items) {
    out.writeInt32BE(it.length, pos);
    pos += 4;
    it.copy(out, pos);
    pos += it.length;
  }
  return out;
}

/** A map is stored as a flat collection of key, value, key, value...; n counts entries, not items. */
export function decodeMap(b: Buffer): Array<[Buffer, Buffer]> | null {
  if (b.length < 4) return null;
  const n = b.readInt32BE(0);
  if (n < 0) return null;
  const out: Array<[Buffer, Buffer]> = [];
  let pos = 4;
  const next = (): Buffer | null => {
    if (pos + 4 > b.length) return null;
    const len = b.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > b.length) return null;
    const v = b.subarray(pos, pos + len);
    pos += len;
    return v;
  };
  for (let i = 0; i < n; i++) {
    const k = next();
    const v = next();
    if (k === null || v === null) return null;
    out.push([k, v]);
  }
  return pos === b.length ? out : null;
}

export function encodeMap(entries: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer {
  const flat: Buffer[] = [];
  for (const [k, v] of entries) flat.push(k, v);
  const out = encodeCollection(flat);
  out.writeInt32BE(entries.length, 0);
  return out;
}

// ---- validation ----

const FIXED: Partial<Record<ScalarKind, [number, string]>> = {
  bigint: [8, 'Expected 8 or 0 byte long'],
  counter: [8, 'Expected 8 or 0 byte long'],
  timestamp: [8, 'Expected 8 or 0 byte long for date'],
  double: [8, 'Expected 8 or 0 byte value for a double'],
  float: [4, 'Expected 4 or 0 byte value for a float'],
  int: [4, 'Expected 4 or 0 byte int'],
  smallint: [2, 'Expected 2 bytes for a smallint'],
  tinyint: [1, 'Expected 1 byte for a tinyint'],
  boolean: [1, 'Expected 1 or 0 byte value'],
  uuid: [16, 'UUID should be 16 or 0 bytes'],
  timeuuid: [16, 'UUID should be 16 or 0 bytes'],
};

/** Returns why `b` is not a valid serialized value of `t`, or null when it is. */
export function validateValue(t: CqlType, b: Buffer): string | null {
  switch (t.kind) {
    case 'list':
    case 'set': {
      const items = decodeCollection(b);
      if (items === null) return `Not enough bytes to read a ${t.kind}`;
      for (const it of items) {
        const e = validateValue(t.elem, it);
        if (e !== null) return e;
      }
      return null;
    }
    case 'map': {
      const entries = decodeMap(b);
      if (entries === null) return 'Not enough bytes to read a map';
      for (const [k, v] of entries) {
        const e = validateValue(t.key, k) ?? validateValue(t.value, v);
        if (e !== null) return e;
      }
      return null;
    }
    case 'text':
      return Buffer.from(b.toString('utf8'), 'utf8').equals(b) ? null : "String didn't validate.";
    case 'ascii':
      return b.every((c) => c < 0x80) ? null : 'Invalid byte for ascii';
    case 'blob':
      return null;
    case 'inet':
      return b.length === 0 || b.length === 4 || b.length === 16 ? null : `Invalid length for inet (${b.length})`;
    default: {
      const fixed = FIXED[t.kind];
      if (fixed === undefined) return null;
      const [size, msg] = fixed;
      const allowsEmpty = t.kind !== 'smallint' && t.kind !== 'tinyint';
      if (b.length !== size && !(allowsEmpty && b.length === 0)) return `${msg} (${b.length})`;
      if (t.kind === 'timeuuid' && b.length === 16 && b[6]! >> 4 !== 1) return 'Invalid version for TimeUUID type.';
      return null;
    }
  }
}

// ---- ordering (Cassandra's comparators, so clustering order matches a real node) ----

function signedCompare(a: Buffer, b: Buffer): number {
  // Two's-complement big-endian integers of equal width: flip the sign bit, then compare as unsigned.
  if (a.length !== b.length) return a.length - b.length;
  if (a.length === 0) return 0;
  const a0 = a[0]! ^ 0x80;
  const b0 = b[0]! ^ 0x80;
  if (a0 !== b0) return a0 - b0;
  return Buffer.compare(a.subarray(1), b.subarray(1));
}

function signedByteCompare(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = (a[i]! << 24) >> 24;
    const y = (b[i]! << 24) >> 24;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

export function timeuuidTimestamp(b: Buffer): bigint {
  const low = BigInt(b.readUInt32BE(0));
  const mid = BigInt(b.readUInt16BE(4));
  const hi = BigInt(b.readUInt16BE(6) & 0x0fff);
  return (hi << 48n) | (mid << 32n) | low;
}

function compareTimeuuid(a: Buffer, b: Buffer): number {
  const ta = timeuuidTimestamp(a);
  const tb = timeuuidTimestamp(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return signedByteCompare(a.subarray(8), b.subarray(8));
}

export function compareValues(t: CqlType, a: Buffer, b: Buffer): number {
  if (a.length === 0 || b.length === 0) return a.length - b.length;
  switch (t.kind) {
    case 'int':
    case 'bigint':
    case 'counter':
    case 'timestamp':
    case 'smallint':
    case 'tinyint':
      return signedCompare(a, b);
    case 'double':
      return Math.sign(a.readDoubleBE(0) - b.readDoubleBE(0));
    case 'float':
      return Math.sign(a.readFloatBE(0) - b.readFloatBE(0));
    case 'timeuuid':
      return compareTimeuuid(a, b);
    case 'uuid': {
      const va = a[6]! >> 4;
      const vb = b[6]! >> 4;
      if (va !== vb) return va - vb;
      if (va === 1) return compareTimeuuid(a, b);
      return Buffer.compare(a, b);
    }
    default:
      return Buffer.compare(a, b);
  }
}

// ---- serializing JS values (used for literals and for the server's own system rows) ----

export function encodeInt(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v, 0);
  return b;
}

export function encodeBigint(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt.asIntN(64, v), 0);
  return b;
}

export function encodeDouble(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(v, 0);
  return b;
}

export function encodeText(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

export function encodeBoolean(v: boolean): Buffer {
  return Buffer.from([v ? 1 : 0]);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function encodeUuid(s: string): Buffer | null {
  return UUID_RE.test(s) ? Buffer.from(s.replace(/-/g, ''), 'hex') : null;
}

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function encodeInet(s: string): Buffer | null {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? Buffer.from(parts) : null;
  }
  return null;
}

export function decodeIntLike(b: Buffer): bigint {
  switch (b.length) {
    case 1:
      return BigInt(b.readInt8(0));
    case 2:
      return BigInt(b.readInt16BE(0));
    case 4:
      return BigInt(b.readInt32BE(0));
    case 8:
      return b.readBigInt64BE(0);
    default:
      return 0n;
  }
}

/** 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch. */
const UUID_EPOCH_OFFSET = 0x01b21dd213814000n;
const node = randomBytes(6);
node[0] = node[0]! | 0x01; // multicast bit: a random node id, as RFC 4122 asks
let lastTicks = 0n;

/** A version-1 UUID for `now()`, unique within this process even within one millisecond. */
export function newTimeuuid(nowMs: number): Buffer {
  let ticks = BigInt(nowMs) * 10000n + UUID_EPOCH_OFFSET;
  if (ticks <= lastTicks) ticks = lastTicks + 1n;
  lastTicks = ticks;
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(Number(ticks & 0xffffffffn), 0);
  b.writeUInt16BE(Number((ticks >> 32n) & 0xffffn), 4);
  b.writeUInt16BE(Number((ticks >> 48n) & 0x0fffn) | 0x1000, 6);
  const seq = randomBytes(2);
  b.writeUInt8((seq[0]! & 0x3f) | 0x80, 8);
  b.writeUInt8(seq[1]!, 9);
  node.copy(b, 10);
  return b;
}

export function timeuuidToUnixMs(b: Buffer): bigint {
  return (timeuuidTimestamp(b) - UUID_EPOCH_OFFSET) / 10000n;
}

export function newRandomUuid(): Buffer {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

// ---- literals ----

export type Literal =
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'integer'; readonly v: string }
  | { readonly t: 'float'; readonly v: string }
  | { readonly t: 'boolean'; readonly v: boolean }
  | { readonly t: 'uuid'; readonly v: string }
  | { readonly t: 'hex'; readonly v: Buffer }
  | { readonly t: 'null' };

const INT_RANGES: Partial<Record<ScalarKind, [bigint, bigint, number]>> = {
  tinyint: [-128n, 127n, 1],
  smallint: [-32768n, 32767n, 2],
  int: [-2147483648n, 2147483647n, 4],
  bigint: [-(2n ** 63n), 2n ** 63n - 1n, 8],
  counter: [-(2n ** 63n), 2n ** 63n - 1n, 8],
  timestamp: [-(2n ** 63n), 2n ** 63n - 1n, 8],
};

function describeLiteral(l: Literal): string {
  switch (l.t) {
    case 'string':
      return `STRING constant (${l.v})`;
    case 'integer':
      return `INTEGER constant (${l.v})`;
    case 'float':
      return `FLOAT constant (${l.v})`;
    case 'boolean':
      return `BOOLEAN constant (${String(l.v)})`;
    case 'uuid':
      return `UUID constant (${l.v})`;
    case 'hex':
      return `HEX constant (0x${l.v.toString('hex')})`;
    case 'null':
      return 'null';
  }
}

/** Serializes a scalar literal for a receiver of type `t` (null literal → null). */
export function literalToBytes(l: Literal, t: CqlType, receiver: string): Buffer | null {
  if (l.t === 'null') return null;
  const bad = (): never => {
    throw invalid(`Invalid ${describeLiteral(l)} for "${receiver}" of type ${typeName(t)}`);
  };
  const k = t.kind;
  if (l.t === 'integer') {
    const range = INT_RANGES[k as ScalarKind];
    if (range !== undefined) {
      const v = BigInt(l.v);
      if (v < range[0] || v > range[1]) bad();
      const b = Buffer.alloc(range[2]);
      if (range[2] === 1) b.writeInt8(Number(v), 0);
      else if (range[2] === 2) b.writeInt16BE(Number(v), 0);
      else if (range[2] === 4) b.writeInt32BE(Number(v), 0);
      else b.writeBigInt64BE(v, 0);
      return b;
    }
    if (k === 'double') return encodeDouble(Number(l.v));
    if (k === 'float') {
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(Number(l.v), 0);
      return b;
    }
    return bad();
  }
  if (l.t === 'float') {
    if (k === 'double') return encodeDouble(Number(l.v));
    if (k === 'float') {
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(Number(l.v), 0);
      return b;
    }
    return bad();
  }
  if (l.t === 'boolean') return k === 'boolean' ? encodeBoolean(l.v) : bad();
  if (l.t === 'hex') return k === 'blob' ? l.v : bad();
  if (l.t === 'uuid') {
    if (k !== 'uuid' && k !== 'timeuuid') return bad();
    const b = encodeUuid(l.v) ?? bad();
    if (k === 'timeuuid' && b[6]! >> 4 !== 1) bad();
    return b;
  }
  // string
  switch (k) {
    case 'text':
      return encodeText(l.v);
    case 'ascii':
      return [...l.v].every((ch) => ch.charCodeAt(0) < 0x80) ? Buffer.from(l.v, 'ascii') : bad();
    case 'timestamp': {
      const ms = /^-?\d+$/.test(l.v) ? Number(l.v) : Date.parse(l.v);
      return Number.isFinite(ms) ? encodeBigint(BigInt(ms)) : bad();
    }
    case 'inet':
      return encodeInet(l.v) ?? bad();
    default:
      return bad();
  }
}

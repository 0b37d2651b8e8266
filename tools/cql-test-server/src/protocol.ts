// CQL native protocol v4 constants and the byte-level reader/writer used by the test server.
// Reference: https://github.com/apache/cassandra/blob/cassandra-3.11/doc/native_protocol_v4.spec

export const PROTOCOL_VERSION = 4;
export const HEADER_LENGTH = 9;
/** Cassandra's own cap on a frame body; a bigger length means a corrupt or hostile stream. */
export const MAX_FRAME_BODY = 256 * 1024 * 1024;

export const Opcode = {
  ERROR: 0x00,
  STARTUP: 0x01,
  READY: 0x02,
  AUTHENTICATE: 0x03,
  OPTIONS: 0x05,
  SUPPORTED: 0x06,
  QUERY: 0x07,
  RESULT: 0x08,
  PREPARE: 0x09,
  EXECUTE: 0x0a,
  REGISTER: 0x0b,
  EVENT: 0x0c,
  BATCH: 0x0d,
  AUTH_CHALLENGE: 0x0e,
  AUTH_RESPONSE: 0x0f,
  AUTH_SUCCESS: 0x10,
} as const;

export const OPCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Opcode).map(([name, code]) => [code, name]),
);

export const ErrorCode = {
  SERVER_ERROR: 0x0000,
  PROTOCOL_ERROR: 0x000a,
  BAD_CREDENTIALS: 0x0100,
  UNAVAILABLE: 0x1000,
  OVERLOADED: 0x1001,
  IS_BOOTSTRAPPING: 0x1002,
  TRUNCATE_ERROR: 0x1003,
  WRITE_TIMEOUT: 0x1100,
  READ_TIMEOUT: 0x1200,
  SYNTAX_ERROR: 0x2000,
  UNAUTHORIZED: 0x2100,
  INVALID: 0x2200,
  CONFIG_ERROR: 0x2300,
  ALREADY_EXISTS: 0x2400,
  UNPREPARED: 0x2500,
} as const;

export const ResultKind = {
  VOID: 0x0001,
  ROWS: 0x0002,
  SET_KEYSPACE: 0x0003,
  PREPARED: 0x0004,
  SCHEMA_CHANGE: 0x0005,
} as const;

export const QueryFlag = {
  VALUES: 0x01,
  SKIP_METADATA: 0x02,
  PAGE_SIZE: 0x04,
  PAGING_STATE: 0x08,
  SERIAL_CONSISTENCY: 0x10,
  DEFAULT_TIMESTAMP: 0x20,
  NAMES_FOR_VALUES: 0x40,
} as const;

export const RowsFlag = {
  GLOBAL_TABLES_SPEC: 0x0001,
  HAS_MORE_PAGES: 0x0002,
  NO_METADATA: 0x0004,
} as const;

export const FrameFlag = {
  COMPRESSION: 0x01,
  TRACING: 0x02,
  CUSTOM_PAYLOAD: 0x04,
  WARNING: 0x08,
} as const;

export const Consistency = {
  ANY: 0x0000,
  ONE: 0x0001,
  TWO: 0x0002,
  THREE: 0x0003,
  QUORUM: 0x0004,
  ALL: 0x0005,
  LOCAL_QUORUM: 0x0006,
  EACH_QUORUM: 0x0007,
  SERIAL: 0x0008,
  LOCAL_SERIAL: 0x0009,
  LOCAL_ONE: 0x000a,
} as const;

/**
 * A CQL error aborts the whole request, so it travels as one exception type from wherever it is found
 * (reader, parser, engine) to the single place that turns it into an ERROR frame.
 */
export class CqlError extends Error {
  constructor(
    readonly code: number,
    message: string,
    /** Bytes appended after the message (error-specific fields, e.g. UNPREPARED's statement id). */
    readonly extra: Buffer = Buffer.alloc(0),
  ) {
    super(message);
    this.name = 'CqlError';
  }
}

export const protocolError = (message: string): CqlError => new CqlError(ErrorCode.PROTOCOL_ERROR, message);
export const invalid = (message: string): CqlError => new CqlError(ErrorCode.INVALID, message);
export const syntaxError = (message: string): CqlError => new CqlError(ErrorCode.SYNTAX_ERROR, message);

/** A bound value as it arrives on the wire: bytes, null (length -1) or "not set" (length -2). */
export type WireValue = Buffer | null | typeof UNSET;
export const UNSET: unique symbol = Symbol('unset');

/** Reads protocol notation types from a frame body; any overrun is a protocol error. */
export class BodyReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      throw protocolError(`Not enough bytes to read (need ${n}, have ${this.buf.length - this.pos})`);
    }
  }

  byte(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }

  short(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  long(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  raw(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  string(): string {
    return this.raw(this.short()).toString('utf8');
  }

  longString(): string {
    const n = this.int();
    if (n < 0) throw protocolError('Negative [long string] length');
    return this.raw(n).toString('utf8');
  }

  shortBytes(): Buffer {
    return Buffer.from(this.raw(this.short()));
  }

  /** [bytes]: copied, because frame buffers are reused while stored cells outlive them. */
  bytes(): Buffer | null {
    const n = this.int();
    if (n < 0) return null;
    return Buffer.from(this.raw(n));
  }

  value(): WireValue {
    const n = this.int();
    if (n === -1) return null;
    if (n === -2) return UNSET;
    if (n < 0) throw protocolError(`Invalid [value] length ${n}`);
    return Buffer.from(this.raw(n));
  }

  stringList(): string[] {
    const n = this.short();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.string());
    return out;
  }

  stringMap(): Map<string, string> {
    const n = this.short();
    const out = new Map<string, string>();
    for (let i = 0; i < n; i++) out.set(this.string(), this.string());
    return out;
  }
}

/** Builds a frame body; grows its buffer by doubling. */
export class BodyWriter {
  private buf: Buffer;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf.writeUInt8(v, this.pos++);
    return this;
  }

  short(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.short(b.length).raw(b);
  }

  shortBytes(b: Uint8Array): this {
    return this.short(b.length).raw(b);
  }

  bytes(b: Uint8Array | null): this {
    if (b === null) return this.int(-1);
    return this.int(b.length).raw(b);
  }

  stringList(list: readonly string[]): this {
    this.short(list.length);
    for (const s of list) this.string(s);
    return this;
  }

  stringMultimap(map: ReadonlyMap<string, readonly string[]>): this {
    this.short(map.size);
    for (const [k, v] of map) this.string(k).stringList(v);
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** A complete response frame (v4 header + body). */
export function encodeFrame(stream: number, opcode: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  frame.writeUInt8(0x80 | PROTOCOL_VERSION, 0);
  frame.writeUInt8(0, 1);
  frame.writeInt16BE(stream, 2);
  frame.writeUInt8(opcode, 4);
  frame.writeInt32BE(body.length, 5);
  body.copy(frame, HEADER_LENGTH);
  return frame;
}

export function errorBody(err: CqlError): Buffer {
  return new BodyWriter().int(err.code).string(err.message).raw(err.extra).finish();
}

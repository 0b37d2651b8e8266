// A CQL native protocol v4 server over TCP for tests: enough for the real cassandra-driver to connect
// with default options, backed by the in-memory engine, with fault injection and stop/start on the
// same port to play a cluster going away and coming back.
//
//   const server = await CqlTestServer.start({ port: 0 });
//   const client = new cassandra.Client({ contactPoints: [server.contactPoint], localDataCenter: 'dc1' });
//
// One node (dc1/rack1, Cassandra 3.11.16, Murmur3, token 0), no compression, no TLS. Protocol v4
// only: the driver's first STARTUP (DSE v2, 0x42) gets "Invalid or unsupported protocol version" in a
// v4 frame and the driver reconnects with v4. The CQL subset (see parser.ts) covers what a trace store
// needs: CREATE/DROP KEYSPACE|TABLE, TRUNCATE, USE, INSERT [IF NOT EXISTS] [USING TTL|TIMESTAMP],
// UPDATE (columns, counters, collections), DELETE (rows, ranges, partitions, columns), SELECT with
// partition =/IN, clustering slices, ORDER BY, LIMIT, ALLOW FILTERING, count(*), ttl(), writetime(),
// paging, BEGIN ... APPLY BATCH. Not modelled: secondary indexes, static columns, UDTs, tuples,
// materialized views, LWT beyond INSERT IF NOT EXISTS, and last-write-wins by timestamp (writes apply
// in arrival order; USING TIMESTAMP only feeds writetime()). Anything outside the subset is a
// SYNTAX_ERROR or INVALID that names it.
import net from 'node:net';
import type { BatchType } from './ast.js';
import { Engine, type ExecResult, type Prepared, type SchemaChange } from './engine.js';
import type { TableOptions } from './schema.js';
import { rowAlive } from './storage.js';
import {
  BodyReader,
  BodyWriter,
  Consistency,
  CqlError,
  ErrorCode,
  FrameFlag,
  HEADER_LENGTH,
  MAX_FRAME_BODY,
  OPCODE_NAMES,
  Opcode,
  PROTOCOL_VERSION,
  QueryFlag,
  ResultKind,
  RowsFlag,
  type WireValue,
  encodeFrame,
  errorBody,
  protocolError,
} from './protocol.js';
import { type CqlType, newRandomUuid, writeTypeOption } from './types.js';

export type CqlFault =
  | { readonly kind: 'none' }
  /** Delays responses to QUERY/PREPARE/EXECUTE/BATCH (matching `match` when given). */
  | { readonly kind: 'slow'; readonly delayMs: number; readonly match?: RegExp; readonly times?: number }
  /** Writes to user keyspaces fail with WRITE_TIMEOUT (nothing is applied). */
  | { readonly kind: 'write_timeout'; readonly match?: RegExp; readonly times?: number }
  /** Reads and writes on user keyspaces fail with UNAVAILABLE. */
  | { readonly kind: 'unavailable'; readonly match?: RegExp; readonly times?: number }
  /** Closes every open connection now, and each new one as soon as it is accepted, while set. */
  | { readonly kind: 'drop_connections' };

export interface CqlServerOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** When set, clients must log in with PasswordAuthenticator. */
  readonly auth?: { readonly username: string; readonly password: string } | null;
  readonly dataCenter?: string;
  readonly rack?: string;
  /** Reported in system.local; 3.x makes the driver read system_schema the 3.x way. */
  readonly releaseVersion?: string;
}

export interface CqlServerStats {
  /** Connections accepted since the server was created. */
  accepted: number;
  /** Requests received, by opcode name (QUERY, PREPARE, EXECUTE, BATCH...). */
  readonly requests: Record<string, number>;
}

interface Conn {
  readonly socket: net.Socket;
  pending: Buffer;
  state: 'new' | 'authenticating' | 'ready';
  keyspace: string | null;
  readonly events: Set<string>;
}

interface QueryParams {
  readonly consistency: number;
  readonly values: WireValue[];
  readonly names: string[] | null;
  readonly skipMetadata: boolean;
  readonly pageSize: number;
  readonly pagingState: Buffer | null;
  readonly timestamp: bigint | null;
}

const PASSWORD_AUTHENTICATOR = 'org.apache.cassandra.auth.PasswordAuthenticator';
const SYSTEM_KEYSPACES = new Set(['system', 'system_schema', 'system_auth', 'system_distributed', 'system_traces']);

export class CqlTestServer {
  readonly host: string;
  port: number;
  readonly engine: Engine;
  readonly stats: CqlServerStats = { accepted: 0, requests: {} };
  private readonly auth: CqlServerOptions['auth'];
  private readonly prepared = new Map<string, Prepared>();
  private readonly conns = new Set<Conn>();
  private server: net.Server | null = null;
  private fault: CqlFault = { kind: 'none' };
  private clockOffset = 0;

  private constructor(opts: CqlServerOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.auth = opts.auth ?? null;
    this.engine = new Engine(() => Date.now() + this.clockOffset, {
      clusterName: 'midotrace-test',
      dataCenter: opts.dataCenter ?? 'dc1',
      rack: opts.rack ?? 'rack1',
      releaseVersion: opts.releaseVersion ?? '3.11.16',
      hostId: newRandomUuid(),
      tokens: ['0'],
    });
    this.engine.onSchemaChange((c) => this.broadcastSchemaChange(c));
  }

  static async start(opts: CqlServerOptions = {}): Promise<CqlTestServer> {
    const s = new CqlTestServer(opts);
    await s.start();
    return s;
  }

  /** `host:port`, as the driver's `contactPoints` wants it. */
  get contactPoint(): string {
    return `${this.host}:${this.port}`;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Listens again (on the same port after a stop); data and prepared statements are kept. */
  async start(): Promise<void> {
    if (this.server !== null) return;
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops every connection, like a node going down. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
    await closed;
  }

  setFault(fault: CqlFault): void {
    this.fault = fault;
    if (fault.kind === 'drop_connections') {
      for (const c of this.conns) c.socket.destroy();
      this.conns.clear();
    }
  }

  /**
   * Live rows per partition of a table, from the server's own storage (what `nodetool tablehistograms`
   * reports on a real node): for tests that bound partition sizes. Empty when the table is absent.
   */
  partitionRowCounts(keyspace: string, table: string): { key: Buffer[]; rows: number }[] {
    const t = this.engine.keyspaces.get(keyspace)?.tables.get(table);
    if (t === undefined) return [];
    const now = Date.now() + this.clockOffset;
    const out: { key: Buffer[]; rows: number }[] = [];
    for (const p of t.data.partitions.values()) {
      let rows = 0;
      for (const r of p.rows) if (rowAlive(r, now)) rows++;
      if (rows > 0) out.push({ key: p.key, rows });
    }
    return out;
  }

  /** A table's properties as created or altered (tests check TTL and read repair settings). */
  tableOptions(keyspace: string, table: string): TableOptions | null {
    return this.engine.keyspaces.get(keyspace)?.tables.get(table)?.options ?? null;
  }

  /** Moves the server clock forward, so TTLs expire without sleeping. */
  advanceClock(ms: number): void {
    this.clockOffset += ms;
  }

  /** Forgets prepared statements, as a restarted node does: the next EXECUTE gets UNPREPARED. */
  forgetPrepared(): void {
    this.prepared.clear();
  }

  // ---- connections and framing ----

  private accept(socket: net.Socket): void {
    this.stats.accepted++;
    if (this.fault.kind === 'drop_connections') {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Conn = { socket, pending: Buffer.alloc(0), state: 'new', keyspace: null, events: new Set() };
    this.conns.add(conn);
    socket.on('data', (chunk) => this.onData(conn, chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.conns.delete(conn));
  }

  private onData(conn: Conn, chunk: Buffer): void {
    conn.pending = conn.pending.length === 0 ? chunk : Buffer.concat([conn.pending, chunk]);
    while (conn.pending.length >= HEADER_LENGTH) {
      const b = conn.pending;
      const version = b[0]! & 0x7f;
      if ((b[0]! & 0x80) !== 0) {
        this.send(conn, 0, Opcode.ERROR, errorBody(protocolError('Invalid message direction')));
        conn.socket.end();
        return;
      }
      // v1/v2 headers are 8 bytes with a 1-byte stream id; v3+ (and the DSE versions) 9 with 2 bytes.
      const small = version < 3;
      const headerLen = small ? 8 : HEADER_LENGTH;
      const stream = small ? b.readInt8(2) : b.readInt16BE(2);
      const flags = b[1]!;
      const opcode = b[small ? 3 : 4]!;
      const length = b.readInt32BE(small ? 4 : 5);
      if (length < 0 || length > MAX_FRAME_BODY) {
        this.send(conn, stream, Opcode.ERROR, errorBody(protocolError(`Invalid frame body length ${length}`)));
        conn.socket.end();
        return;
      }
      if (b.length < headerLen + length) return;
      const body = b.subarray(headerLen, headerLen + length);
      conn.pending = b.subarray(headerLen + length);
      if (version !== PROTOCOL_VERSION) {
        // The driver starts at its highest version and steps down when told which one the node speaks.
        const msg = `Invalid or unsupported protocol version (${version}); supported versions are (4/v4)`;
        this.send(conn, stream, Opcode.ERROR, errorBody(protocolError(msg)));
        continue;
      }
      this.stats.requests[OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16)}`] =
        (this.stats.requests[OPCODE_NAMES[opcode] ?? `0x${opcode.toString(16)}`] ?? 0) + 1;
      void this.handle(conn, stream, flags, opcode, Buffer.from(body));
    }
  }

  private send(conn: Conn, stream: number, opcode: number, body: Buffer): void {
    if (conn.socket.destroyed || !conn.socket.writable) return;
    conn.socket.write(encodeFrame(stream, opcode, body));
  }

  private async handle(conn: Conn, stream: number, flags: number, opcode: number, body: Buffer): Promise<void> {
    let reply: { opcode: number; body: Buffer };
    try {
      if ((flags & FrameFlag.COMPRESSION) !== 0) throw protocolError('Compression is not supported by the CQL test server');
      const r = new BodyReader(body);
      if ((flags & FrameFlag.CUSTOM_PAYLOAD) !== 0) {
        for (let n = r.short(); n > 0; n--) {
          r.string();
          r.bytes();
        }
      }
      reply = await this.dispatch(conn, opcode, r);
    } catch (err) {
      const e = err instanceof CqlError ? err : new CqlError(ErrorCode.SERVER_ERROR, err instanceof Error ? err.message : String(err));
      reply = { opcode: Opcode.ERROR, body: errorBody(e) };
    }
    this.send(conn, stream, reply.opcode, reply.body);
  }

  private async dispatch(conn: Conn, opcode: number, r: BodyReader): Promise<{ opcode: number; body: Buffer }> {
    const empty = Buffer.alloc(0);
    switch (opcode) {
      case Opcode.OPTIONS:
        return {
          opcode: Opcode.SUPPORTED,
          body: new BodyWriter()
            .stringMultimap(
              new Map([
                ['CQL_VERSION', ['3.4.4']],
                ['COMPRESSION', []],
                ['PROTOCOL_VERSIONS', ['4/v4']],
              ]),
            )
            .finish(),
        };
      case Opcode.STARTUP: {
        const options = r.stringMap();
        const compression = options.get('COMPRESSION');
        if (compression !== undefined && compression !== '') throw protocolError(`Unknown compression algorithm: ${compression}`);
        if (this.auth !== null) {
          conn.state = 'authenticating';
          return { opcode: Opcode.AUTHENTICATE, body: new BodyWriter().string(PASSWORD_AUTHENTICATOR).finish() };
        }
        conn.state = 'ready';
        return { opcode: Opcode.READY, body: empty };
      }
      case Opcode.AUTH_RESPONSE: {
        if (conn.state !== 'authenticating') throw protocolError('Unexpected message AUTH_RESPONSE');
        const token = r.bytes() ?? Buffer.alloc(0);
        // SASL PLAIN: [authzid] NUL authcid NUL password
        const parts = token.toString('utf8').split('\u0000');
        const user = parts[1] ?? '';
        const password = parts[2] ?? '';
        const auth = this.auth;
        if (auth === null || auth === undefined || user !== auth.username || password !== auth.password) {
          throw new CqlError(ErrorCode.BAD_CREDENTIALS, `Provided username ${user} and/or password are incorrect`);
        }
        conn.state = 'ready';
        return { opcode: Opcode.AUTH_SUCCESS, body: new BodyWriter().bytes(null).finish() };
      }
      default:
        break;
    }
    if (conn.state === 'new') throw protocolError(`Unexpected message ${OPCODE_NAMES[opcode] ?? opcode}, expecting STARTUP or OPTIONS`);
    if (conn.state === 'authenticating') throw new CqlError(ErrorCode.UNAUTHORIZED, 'You have not logged in');
    switch (opcode) {
      case Opcode.REGISTER:
        for (const e of r.stringList()) conn.events.add(e);
        return { opcode: Opcode.READY, body: empty };
      case Opcode.QUERY: {
        const query = r.longString();
        const params = readQueryParams(r);
        const prepared = this.engine.prepare(query, conn.keyspace);
        const values = params.names === null ? params.values : this.engine.orderNamedValues(prepared, params.names, params.values);
        await this.applyFault([prepared], params.consistency, false);
        return this.result(conn, this.engine.execute(prepared, values, params), params.skipMetadata, prepared);
      }
      case Opcode.PREPARE: {
        const query = r.longString();
        const prepared = this.engine.prepare(query, conn.keyspace);
        this.prepared.set(prepared.id.toString('hex'), prepared);
        await this.applyFault([prepared], Consistency.ONE, true);
        return { opcode: Opcode.RESULT, body: preparedBody(prepared) };
      }
      case Opcode.EXECUTE: {
        const prepared = this.lookup(r.shortBytes());
        const params = readQueryParams(r);
        await this.applyFault([prepared], params.consistency, false);
        return this.result(conn, this.engine.execute(prepared, params.values, params), params.skipMetadata, prepared);
      }
      case Opcode.BATCH: {
        const typeCode = r.byte();
        const type: BatchType | undefined = (['logged', 'unlogged', 'counter'] as const)[typeCode];
        if (type === undefined) throw protocolError(`Unknown batch type ${typeCode}`);
        const items: Array<{ prepared: Prepared; values: WireValue[] }> = [];
        for (let n = r.short(); n > 0; n--) {
          const kind = r.byte();
          const prepared = kind === 0 ? this.engine.prepare(r.longString(), conn.keyspace) : this.lookup(r.shortBytes());
          const values: WireValue[] = [];
          for (let v = r.short(); v > 0; v--) values.push(r.value());
          items.push({ prepared, values });
        }
        const consistency = r.short();
        const flags = r.byte();
        if ((flags & QueryFlag.NAMES_FOR_VALUES) !== 0) throw protocolError('Named values are not supported in batches');
        if ((flags & QueryFlag.SERIAL_CONSISTENCY) !== 0) r.short();
        const timestamp = (flags & QueryFlag.DEFAULT_TIMESTAMP) !== 0 ? r.long() : null;
        await this.applyFault(
          items.map((i) => i.prepared),
          consistency,
          false,
          type === 'logged' ? 'BATCH' : type === 'unlogged' ? 'UNLOGGED_BATCH' : 'COUNTER',
        );
        return this.result(conn, this.engine.batch(type, items, timestamp), false, null);
      }
      default:
        throw protocolError(`Unknown opcode 0x${opcode.toString(16)}`);
    }
  }

  private lookup(id: Buffer): Prepared {
    const hex = id.toString('hex');
    const p = this.prepared.get(hex);
    if (p === undefined || this.engine.isStale(p)) {
      this.prepared.delete(hex);
      throw new CqlError(
        ErrorCode.UNPREPARED,
        `Prepared query with ID ${hex} not found (either the query was not prepared on this host (maybe the host has been restarted?) or you have prepared too many queries and it has been evicted from the internal cache)`,
        new BodyWriter().shortBytes(id).finish(),
      );
    }
    return p;
  }

  private result(conn: Conn, res: ExecResult, skipMetadata: boolean, prepared: Prepared | null): { opcode: number; body: Buffer } {
    const w = new BodyWriter();
    switch (res.kind) {
      case 'void':
        w.int(ResultKind.VOID);
        break;
      case 'setKeyspace':
        conn.keyspace = res.keyspace;
        w.int(ResultKind.SET_KEYSPACE).string(res.keyspace);
        break;
      case 'schemaChange':
        w.int(ResultKind.SCHEMA_CHANGE);
        writeSchemaChange(w, res);
        break;
      case 'rows': {
        w.int(ResultKind.ROWS);
        // Skipping metadata is only safe when the client holds the same columns from PREPARE.
        const skip = skipMetadata && prepared?.resultColumns === res.columns;
        let flags = skip ? RowsFlag.NO_METADATA : RowsFlag.GLOBAL_TABLES_SPEC;
        if (res.pagingState !== null) flags |= RowsFlag.HAS_MORE_PAGES;
        w.int(flags).int(res.columns.length);
        if (res.pagingState !== null) w.bytes(res.pagingState);
        if (!skip) {
          w.string(res.keyspace).string(res.table);
          for (const c of res.columns) {
            w.string(c.name);
            writeTypeOption(w, c.type);
          }
        }
        w.int(res.rows.length);
        for (const row of res.rows) for (const v of row) w.bytes(v);
        break;
      }
    }
    return { opcode: Opcode.RESULT, body: w.finish() };
  }

  private broadcastSchemaChange(c: SchemaChange): void {
    const w = new BodyWriter().string('SCHEMA_CHANGE');
    writeSchemaChange(w, c);
    const body = w.finish();
    for (const conn of this.conns) if (conn.events.has('SCHEMA_CHANGE')) this.send(conn, -1, Opcode.EVENT, body);
  }

  // ---- faults ----

  /** Applies the current fault to a data request: waits (slow) or throws the injected error. */
  private async applyFault(statements: readonly Prepared[], consistency: number, isPrepare: boolean, batchWriteType?: string): Promise<void> {
    const f = this.fault;
    if (f.kind === 'none' || f.kind === 'drop_connections') return;
    if (f.match !== undefined && !statements.some((s) => f.match!.test(s.query))) return;
    const userKeyspace = statements.some((s) => s.table !== null && !SYSTEM_KEYSPACES.has(s.table.ks));
    const isWrite = statements.some((s) => s.plan.kind === 'modify' || s.plan.kind === 'batch');
    if (f.kind === 'slow') {
      this.consumeFault();
      await new Promise((resolve) => setTimeout(resolve, f.delayMs));
      return;
    }
    if (isPrepare || !userKeyspace) return;
    const blockFor = consistencyBlockFor(consistency);
    if (f.kind === 'unavailable') {
      this.consumeFault();
      throw new CqlError(
        ErrorCode.UNAVAILABLE,
        'Cannot achieve consistency level',
        new BodyWriter().short(consistency).int(blockFor).int(0).finish(),
      );
    }
    if (f.kind === 'write_timeout' && isWrite) {
      this.consumeFault();
      const writeType = batchWriteType ?? (statements.some((s) => s.plan.kind === 'modify' && s.plan.isCounter) ? 'COUNTER' : 'SIMPLE');
      throw new CqlError(
        ErrorCode.WRITE_TIMEOUT,
        'Operation timed out - received only 0 responses.',
        new BodyWriter().short(consistency).int(0).int(blockFor).string(writeType).finish(),
      );
    }
  }

  private consumeFault(): void {
    const f = this.fault;
    if (f.kind === 'none' || f.kind === 'drop_connections' || f.times === undefined) return;
    if (f.times <= 1) this.fault = { kind: 'none' };
    else this.fault = { ...f, times: f.times - 1 };
  }
}

function consistencyBlockFor(cl: number): number {
  switch (cl) {
    case Consistency.TWO:
    case Consistency.QUORUM:
    case Consistency.LOCAL_QUORUM:
    case Consistency.EACH_QUORUM:
    case Consistency.ALL:
      return 2;
    case Consistency.THREE:
      return 3;
    default:
      return 1;
  }
}

function writeSchemaChange(w: BodyWriter, c: SchemaChange): void {
  w.string(c.change).string(c.target).string(c.keyspace);
  if (c.target === 'TABLE') w.string(c.table ?? '');
}

function readQueryParams(r: BodyReader): QueryParams {
  const consistency = r.short();
  const flags = r.byte();
  const values: WireValue[] = [];
  let names: string[] | null = null;
  if ((flags & QueryFlag.VALUES) !== 0) {
    const n = r.short();
    if ((flags & QueryFlag.NAMES_FOR_VALUES) !== 0) names = [];
    for (let i = 0; i < n; i++) {
      if (names !== null) names.push(r.string());
      values.push(r.value());
    }
  }
  const pageSize = (flags & QueryFlag.PAGE_SIZE) !== 0 ? r.int() : -1;
  const pagingState = (flags & QueryFlag.PAGING_STATE) !== 0 ? r.bytes() : null;
  if ((flags & QueryFlag.SERIAL_CONSISTENCY) !== 0) r.short();
  const timestamp = (flags & QueryFlag.DEFAULT_TIMESTAMP) !== 0 ? r.long() : null;
  return { consistency, values, names, skipMetadata: (flags & QueryFlag.SKIP_METADATA) !== 0, pageSize, pagingState, timestamp };
}

function writeColumnSpecs(w: BodyWriter, ks: string, table: string, cols: ReadonlyArray<{ name: string; type: CqlType }>): void {
  if (cols.length > 0) w.string(ks).string(table);
  for (const c of cols) {
    w.string(c.name);
    writeTypeOption(w, c.type);
  }
}

function preparedBody(p: Prepared): Buffer {
  const ks = p.table?.ks ?? p.keyspace ?? '';
  const table = p.table?.name ?? '';
  const w = new BodyWriter().int(ResultKind.PREPARED).shortBytes(p.id);
  // Bind variables: [flags][count][pk_count][pk_index...][global spec][specs]
  w.int(p.markers.length > 0 ? RowsFlag.GLOBAL_TABLES_SPEC : 0).int(p.markers.length).int(p.pkIndexes.length);
  for (const i of p.pkIndexes) w.short(i);
  writeColumnSpecs(w, ks, table, p.markers);
  // Result metadata: rows of a SELECT, none otherwise.
  if (p.resultColumns === null) {
    w.int(RowsFlag.NO_METADATA).int(0);
  } else {
    w.int(p.resultColumns.length > 0 ? RowsFlag.GLOBAL_TABLES_SPEC : 0).int(p.resultColumns.length);
    writeColumnSpecs(w, ks, table, p.resultColumns);
  }
  return w.finish();
}

// The CQL test server, exercised through the real cassandra-driver (and raw frames for the wire details).
import net from 'node:net';
import cassandra from 'cassandra-driver';
import t from 'tap';
import { CqlTestServer } from '../tools/cql-test-server/src/server.js';
import { waitUntil } from './helpers/wait.js';

const { types, errors, policies } = cassandra;
const codes = types.responseErrorCodes;

function client(server: CqlTestServer, extra: Partial<cassandra.ClientOptions> = {}): cassandra.Client {
  const c = new cassandra.Client({
    contactPoints: [server.contactPoint],
    localDataCenter: 'dc1',
    policies: { reconnection: new policies.reconnection.ConstantReconnectionPolicy(50) },
    ...extra,
  });
  // cassandra-driver 4.10: after every node was unreachable, the control connection re-initializes and
  // replaces the Host objects (NODEJS-632 path) without shutting down the old hosts' pools, which then
  // reconnect forever, even after client.shutdown(). Shutting down a replaced host's pool plugs the leak.
  c.on('hostRemove', (h: cassandra.Host) => void (h as unknown as { shutdown(wait: boolean): Promise<void> }).shutdown(false));
  return c;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}

/** The response code of a driver error, looking inside NoHostAvailableError when the driver retried. */
function responseCode(err: Error): number | undefined {
  if (err instanceof errors.ResponseError) return err.code;
  if (err instanceof errors.NoHostAvailableError) {
    for (const inner of Object.values(err.innerErrors as Record<string, Error>)) {
      if (inner instanceof errors.ResponseError) return inner.code;
    }
  }
  return undefined;
}

/** A failure to reach the node ("Socket was closed" or, once the host is down, NoHostAvailableError). */
function isConnectionError(err: Error): boolean {
  return err instanceof errors.DriverError && !(err instanceof errors.ResponseError) && responseCode(err) === undefined;
}

const server = await CqlTestServer.start({ port: 0 });
const db = client(server);
// Clients first: a driver pool still reconnecting to a stopped server can outlive shutdown().
t.teardown(async () => {
  await db.shutdown();
  await server.stop();
});
await db.connect();

const KS = "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}";
await db.execute(KS);
await db.execute(
  'CREATE TABLE ks.steps (trace_id timeuuid, step int, host text, msg text, PRIMARY KEY (trace_id, step)) ' +
    'WITH CLUSTERING ORDER BY (step DESC)',
);

t.test('the driver connects with default options and sees the node as Cassandra 3.11 in dc1', async (t) => {
  const hosts = db.hosts.values();
  t.equal(hosts.length, 1);
  const host = hosts[0]!;
  t.equal(host.datacenter, 'dc1');
  t.equal(host.rack, 'rack1');
  t.same(host.getCassandraVersion(), [3, 11, 16]);
  t.ok(db.metadata.keyspaces['system'], 'system keyspaces are listed from system_schema.keyspaces');
  const local = await db.execute("SELECT data_center, partitioner, tokens, host_id FROM system.local WHERE key = 'local'");
  t.equal(local.rows[0]!['data_center'], 'dc1');
  t.match(local.rows[0]!['partitioner'], /Murmur3Partitioner$/);
  t.same(local.rows[0]!['tokens'], ['0']);
  t.equal(String(local.rows[0]!['host_id']), String(host.hostId));
  const peers = await db.execute('SELECT * FROM system.peers');
  t.equal(peers.rowLength, 0);
});

/** Sends raw frames on a fresh connection and returns the first complete response frame. */
async function rawExchange(...frames: Buffer[]): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const sock = net.connect(server.port, server.host);
    let data = Buffer.alloc(0);
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 9 && data.length >= 9 + data.readInt32BE(5)) {
        sock.destroy();
        resolve(data.subarray(0, 9 + data.readInt32BE(5)));
      }
    });
    sock.on('error', reject);
    sock.write(Buffer.concat(frames));
  });
}

function frame(version: number, stream: number, opcode: number, body: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt8(version, 0);
  header.writeInt16BE(stream, 2);
  header.writeUInt8(opcode, 4);
  header.writeInt32BE(body.length, 5);
  return Buffer.concat([header, body]);
}

/** [code, message] of an ERROR frame. */
function errorOf(reply: Buffer): [number, string] {
  if (reply[4] !== 0x00) throw new Error(`expected an ERROR frame, got opcode ${reply[4]}`);
  const len = reply.readUInt16BE(13);
  return [reply.readInt32BE(9), reply.subarray(15, 15 + len).toString()];
}

const STARTUP_BODY = Buffer.from([0, 1, 0, 11, ...Buffer.from('CQL_VERSION'), 0, 5, ...Buffer.from('3.0.0')]);

t.test('a v5 (or DSE) request gets a protocol error in a v4 frame, which makes the driver step down', async (t) => {
  const reply = await rawExchange(frame(0x05, 7, 0x01, STARTUP_BODY));
  t.equal(reply[0], 0x84, 'response header says v4');
  t.equal(reply.readInt16BE(2), 7, 'same stream id');
  const [code, message] = errorOf(reply);
  t.equal(code, 0x000a, 'protocol error code');
  t.match(message, /^Invalid or unsupported protocol version \(5\)/);
});

t.test('wire: OPTIONS before STARTUP is fine, QUERY before STARTUP is a protocol error', async (t) => {
  const supported = await rawExchange(frame(0x04, 1, 0x05, Buffer.alloc(0)));
  t.equal(supported[4], 0x06, 'SUPPORTED');
  t.match(supported.toString('latin1'), /PROTOCOL_VERSIONS.*4\/v4/s);
  const query = Buffer.concat([Buffer.from([0, 0, 0, 8]), Buffer.from('SELECT 1'), Buffer.from([0, 1, 0])]);
  const [code, message] = errorOf(await rawExchange(frame(0x04, 2, 0x07, query)));
  t.equal(code, 0x000a);
  t.match(message, /expecting STARTUP/);
  const [compressed] = errorOf(await rawExchange(Buffer.from([0x04, 0x01, 0, 3, 0x01, 0, 0, 0, 0])));
  t.equal(compressed, 0x000a, 'compressed frames are refused');
});

t.test('schema statements: metadata, IF NOT EXISTS and ALREADY_EXISTS', async (t) => {
  const table = await db.metadata.getTable('ks', 'steps');
  t.ok(table);
  t.same(
    table!.partitionKeys.map((c) => c.name),
    ['trace_id'],
  );
  t.same(
    table!.clusteringKeys.map((c) => c.name),
    ['step'],
  );
  t.same(table!.clusteringOrder, ['DESC']);
  await db.execute('CREATE TABLE IF NOT EXISTS ks.steps (a int PRIMARY KEY)');
  const err = await rejection(db.execute('CREATE TABLE ks.steps (a int PRIMARY KEY)'));
  t.equal(responseCode(err), codes.alreadyExists);
  const other = await rejection(db.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
  t.equal(responseCode(other), codes.alreadyExists);
});

t.test('prepared inserts, batches and paged selects', async (t) => {
  const trace = types.TimeUuid.now();
  const insert = 'INSERT INTO ks.steps (trace_id, step, host, msg) VALUES (?, ?, ?, ?)';
  for (let i = 1; i <= 4; i++) await db.execute(insert, [trace, i, 'h1', `step ${i}`], { prepare: true });
  await db.batch(
    [5, 6, 7].map((i) => ({ query: insert, params: [trace, i, 'h1', `step ${i}`] })),
    { prepare: true },
  );
  await db.batch(
    [8, 9, 10, 11].map((i) => ({ query: insert, params: [trace, i, 'h2', `step ${i}`] })),
    { prepare: true, logged: false },
  );

  // Pages of 3 over 11 rows, newest (highest step) first as the table's clustering order says.
  const seen: number[] = [];
  let pageState: string | undefined;
  let pages = 0;
  do {
    const rs: cassandra.types.ResultSet = await db.execute('SELECT step, msg FROM ks.steps WHERE trace_id = ?', [trace], {
      prepare: true,
      fetchSize: 3,
      ...(pageState === undefined ? {} : { pageState }),
    });
    for (const r of rs.rows) seen.push(r['step'] as number);
    pageState = rs.pageState ?? undefined;
    pages++;
  } while (pageState !== undefined);
  t.same(seen, [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  t.equal(pages, 4);

  // Paging driven by the driver itself (eachRow with autoPage), in reversed order with a range.
  const asc: number[] = [];
  await new Promise<void>((resolve, reject) => {
    db.eachRow(
      'SELECT step FROM ks.steps WHERE trace_id = ? AND step > ? AND step <= ? ORDER BY step ASC',
      [trace, 2, 9],
      { prepare: true, fetchSize: 2, autoPage: true },
      (_n, row) => asc.push(row['step'] as number),
      (err) => (err ? reject(err) : resolve()),
    );
  });
  t.same(asc, [3, 4, 5, 6, 7, 8, 9]);

  // LIMIT spans pages: 5 rows in pages of 2.
  const limited: number[] = [];
  pageState = undefined;
  do {
    const rs: cassandra.types.ResultSet = await db.execute('SELECT step FROM ks.steps WHERE trace_id = ? LIMIT 5', [trace], {
      prepare: true,
      fetchSize: 2,
      ...(pageState === undefined ? {} : { pageState }),
    });
    for (const r of rs.rows) limited.push(r['step'] as number);
    pageState = rs.pageState ?? undefined;
  } while (pageState !== undefined);
  t.same(limited, [11, 10, 9, 8, 7]);

  const one = await db.execute('SELECT msg FROM ks.steps WHERE trace_id = ? AND step = ?', [trace, 6], { prepare: true });
  t.equal(one.first()['msg'], 'step 6');
  const count = await db.execute('SELECT count(*) FROM ks.steps WHERE trace_id = ?', [trace], { prepare: true });
  t.equal(count.first()['count'].toNumber(), 11);
  const filtered = await db.execute("SELECT step FROM ks.steps WHERE trace_id = ? AND host = 'h2' ALLOW FILTERING", [trace], {
    prepare: true,
  });
  t.same(
    filtered.rows.map((r) => r['step']),
    [11, 10, 9, 8],
  );
  const noFiltering = await rejection(db.execute("SELECT step FROM ks.steps WHERE trace_id = ? AND host = 'h2'", [trace], { prepare: true }));
  t.equal(responseCode(noFiltering), codes.invalid);
});

t.test('a page resumes after the last row returned even when rows are inserted in between', async (t) => {
  const trace = types.TimeUuid.now();
  const insert = 'INSERT INTO ks.steps (trace_id, step, msg) VALUES (?, ?, ?)';
  for (const i of [10, 20, 30, 40]) await db.execute(insert, [trace, i, 'x'], { prepare: true });
  const first = await db.execute('SELECT step FROM ks.steps WHERE trace_id = ?', [trace], { prepare: true, fetchSize: 2 });
  t.same(
    first.rows.map((r) => r['step']),
    [40, 30],
  );
  await db.execute(insert, [trace, 50, 'new, sorts before the page'], { prepare: true });
  await db.execute(insert, [trace, 25, 'new, sorts after the page'], { prepare: true });
  const second = await db.execute('SELECT step FROM ks.steps WHERE trace_id = ?', [trace], {
    prepare: true,
    fetchSize: 10,
    pageState: first.pageState,
  });
  t.same(
    second.rows.map((r) => r['step']),
    [25, 20, 10],
  );
});

t.test('IN on the partition key, and IN with ORDER BY refused while paging (as Cassandra does)', async (t) => {
  const a = types.TimeUuid.now();
  const b = types.TimeUuid.now();
  const insert = 'INSERT INTO ks.steps (trace_id, step, msg) VALUES (?, ?, ?)';
  await db.execute(insert, [a, 1, 'a1'], { prepare: true });
  await db.execute(insert, [b, 2, 'b2'], { prepare: true });
  await db.execute(insert, [b, 3, 'b3'], { prepare: true });
  const rs = await db.execute('SELECT msg FROM ks.steps WHERE trace_id IN ?', [[a, b]], { prepare: true });
  t.same(rs.rows.map((r) => r['msg']).sort(), ['a1', 'b2', 'b3']);
  const listed = await db.execute('SELECT msg FROM ks.steps WHERE trace_id IN (?, ?)', [a, b], { prepare: true });
  t.equal(listed.rowLength, 3);
  const err = await rejection(db.execute('SELECT msg FROM ks.steps WHERE trace_id IN ? ORDER BY step ASC', [[a, b]], { prepare: true }));
  t.equal(responseCode(err), codes.invalid);
  t.match(err.message, /Cannot page queries with both ORDER BY and a IN restriction/);
  const merged = await db.execute('SELECT msg FROM ks.steps WHERE trace_id IN ? ORDER BY step ASC', [[a, b]], {
    prepare: true,
    fetchSize: 0,
  });
  t.same(
    merged.rows.map((r) => r['msg']),
    ['a1', 'b2', 'b3'],
  );
});

t.test('every required type round-trips through the driver', async (t) => {
  await db.execute(
    'CREATE TABLE ks.types (id uuid PRIMARY KEY, tu timeuuid, s text, i int, b bigint, ts timestamp, f boolean, ' +
      'data blob, l list<text>, m map<text, text>, tags set<text>, d double)',
  );
  const row = {
    id: types.Uuid.random(),
    tu: types.TimeUuid.now(),
    s: 'héllo ✓',
    i: -42,
    b: types.Long.fromString('-9007199254740993'),
    ts: new Date('2024-02-29T12:34:56.789Z'),
    f: true,
    data: Buffer.from([0, 1, 2, 255]),
    l: ['z', 'a', 'z'],
    m: { k2: 'v2', k1: 'v1' },
    tags: ['b', 'a', 'b'],
    d: 1.5,
  };
  await db.execute(
    'INSERT INTO ks.types (id, tu, s, i, b, ts, f, data, l, m, tags, d) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    Object.values(row),
    { prepare: true },
  );
  const got = (await db.execute('SELECT * FROM ks.types WHERE id = ?', [row.id], { prepare: true })).first();
  t.equal(String(got['id']), String(row.id));
  t.equal(String(got['tu']), String(row.tu));
  t.equal(got['s'], row.s);
  t.equal(got['i'], row.i);
  t.equal(String(got['b']), '-9007199254740993');
  t.equal((got['ts'] as Date).toISOString(), row.ts.toISOString());
  t.equal(got['f'], true);
  t.same(got['data'], row.data);
  t.same(got['l'], ['z', 'a', 'z'], 'lists keep order and duplicates');
  t.same(got['m'], { k1: 'v1', k2: 'v2' });
  t.same(got['tags'], ['a', 'b'], 'sets are sorted and deduplicated');
  t.equal(got['d'], 1.5);

  // Literals in the CQL text go through the same types.
  const id = types.Uuid.random();
  await db.execute(
    `INSERT INTO ks.types (id, tu, s, i, b, ts, f, data, l, m) VALUES (${id}, now(), 'it''s', 7, 8, '2020-01-01T00:00:00Z', false, 0xcafe, ['x'], {'a': 'b'})`,
  );
  const lit = (await db.execute(`SELECT * FROM ks.types WHERE id = ${id}`)).first();
  t.equal(lit['s'], "it's");
  t.equal(lit['i'], 7);
  t.equal(String(lit['b']), '8');
  t.equal((lit['ts'] as Date).toISOString(), '2020-01-01T00:00:00.000Z');
  t.same(lit['data'], Buffer.from('cafe', 'hex'));
  t.same(lit['m'], { a: 'b' });
  t.equal((lit['tu'] as cassandra.types.TimeUuid).getDate().getTime() > Date.now() - 60_000, true, 'now() is a current timeuuid');

  // Named values on a simple (unprepared) statement.
  const named = await db.execute('SELECT s FROM ks.types WHERE id = :id', { id: row.id });
  t.equal(named.first()['s'], row.s);

  // A null overwrites, an unset value leaves the column alone.
  await db.execute('INSERT INTO ks.types (id, s, i) VALUES (?, ?, ?)', [row.id, null, types.unset], { prepare: true });
  const after = (await db.execute('SELECT s, i FROM ks.types WHERE id = ?', [row.id], { prepare: true })).first();
  t.equal(after['s'], null);
  t.equal(after['i'], -42);
});

t.test('TTL: USING TTL and default_time_to_live expire rows', async (t) => {
  await db.execute('CREATE TABLE ks.ttl (k text, c int, v text, PRIMARY KEY (k, c)) WITH default_time_to_live = 100');
  await db.execute('INSERT INTO ks.ttl (k, c, v) VALUES (?, ?, ?) USING TTL ?', ['a', 1, 'short', 2], { prepare: true });
  await db.execute('INSERT INTO ks.ttl (k, c, v) VALUES (?, ?, ?)', ['a', 2, 'default'], { prepare: true });
  await db.execute('INSERT INTO ks.ttl (k, c, v) VALUES (?, ?, ?) USING TTL 0', ['a', 3, 'forever'], { prepare: true });
  const ttls = await db.execute("SELECT c, ttl(v) FROM ks.ttl WHERE k = 'a'");
  t.same(
    ttls.rows.map((r) => [r['c'], r['ttl(v)']]),
    [
      [1, 2],
      [2, 100],
      [3, null],
    ],
  );
  server.advanceClock(2_500);
  const rows = async (): Promise<number[]> => (await db.execute("SELECT c FROM ks.ttl WHERE k = 'a'")).rows.map((r) => r['c'] as number);
  t.same(await rows(), [2, 3], 'the 2 s row expired');
  server.advanceClock(100_000);
  t.same(await rows(), [3], 'the default TTL expired too');

  // Real time, no clock shift: a 1 s TTL row is gone after a little over a second.
  await db.execute("INSERT INTO ks.ttl (k, c, v) VALUES ('b', 1, 'x') USING TTL 1");
  t.equal((await db.execute("SELECT * FROM ks.ttl WHERE k = 'b'")).rowLength, 1);
  await new Promise((r) => setTimeout(r, 1_100));
  t.equal((await db.execute("SELECT * FROM ks.ttl WHERE k = 'b'")).rowLength, 0);
});

t.test('ALTER TABLE WITH, read repair spelt as the release spells it, and partition row counts', async (t) => {
  await db.execute('CREATE TABLE ks.alt (k text, c int, v text, PRIMARY KEY (k, c)) WITH read_repair_chance = 0');
  t.equal((await rejection(db.execute("CREATE TABLE ks.alt4 (k text PRIMARY KEY) WITH read_repair = 'NONE'"))).message,
    "Unknown property 'read_repair'", '3.11 has no read_repair property');
  await db.execute('ALTER TABLE ks.alt WITH default_time_to_live = 60 AND gc_grace_seconds = 3600');
  t.match(server.tableOptions('ks', 'alt'), { defaultTtl: 60, gcGraceSeconds: 3600 });
  await db.execute("INSERT INTO ks.alt (k, c, v) VALUES ('a', 1, 'x')");
  await db.execute("INSERT INTO ks.alt (k, c, v) VALUES ('a', 2, 'x')");
  await db.execute("INSERT INTO ks.alt (k, c, v) VALUES ('b', 1, 'x')");
  t.same(server.partitionRowCounts('ks', 'alt').map((p) => [p.key[0]!.toString(), p.rows]).sort(), [['a', 2], ['b', 1]]);
  t.equal((await db.execute("SELECT ttl(v) FROM ks.alt WHERE k = 'a' AND c = 1")).first()['ttl(v)'], 60, 'the altered default TTL applies');

  const v4 = await CqlTestServer.start({ port: 0, releaseVersion: '4.1.5' });
  const c4 = client(v4);
  try {
    await c4.execute(KS);
    await c4.execute("CREATE TABLE ks.rr (k text PRIMARY KEY, v text) WITH read_repair = 'NONE'");
    t.equal(v4.tableOptions('ks', 'rr')?.simple?.get('read_repair'), 'NONE');
    t.equal((await rejection(c4.execute('ALTER TABLE ks.rr WITH read_repair_chance = 0'))).message,
      "Unknown property 'read_repair_chance'", '4.x dropped read_repair_chance');
  } finally {
    await c4.shutdown();
    await v4.stop();
  }
});

t.test('UPDATE (columns, counters, map entries) and DELETE (row, range, partition, column)', async (t) => {
  await db.execute('CREATE TABLE ks.counts (k text PRIMARY KEY, n counter)');
  await db.execute('UPDATE ks.counts SET n = n + ? WHERE k = ?', [types.Long.fromNumber(5), 'x'], { prepare: true });
  await db.execute('UPDATE ks.counts SET n = n - 2 WHERE k = ?', ['x'], { prepare: true });
  t.equal(String((await db.execute("SELECT n FROM ks.counts WHERE k = 'x'")).first()['n']), '3');
  const counterInsert = await rejection(db.execute("INSERT INTO ks.counts (k, n) VALUES ('y', 1)"));
  t.equal(responseCode(counterInsert), codes.invalid);

  await db.execute('CREATE TABLE ks.kv (k text, c int, v text, m map<text, text>, PRIMARY KEY (k, c))');
  await db.execute("UPDATE ks.kv SET v = 'one', m['a'] = '1' WHERE k = 'p' AND c = 1");
  await db.execute("UPDATE ks.kv SET m = m + {'b': '2'} WHERE k = 'p' AND c = 1");
  const r1 = (await db.execute("SELECT v, m FROM ks.kv WHERE k = 'p' AND c = 1")).first();
  t.equal(r1['v'], 'one');
  t.same(r1['m'], { a: '1', b: '2' });
  // An UPDATE that only writes nulls leaves no row behind (no row marker), unlike an INSERT.
  await db.execute("UPDATE ks.kv SET v = null WHERE k = 'p' AND c = 9");
  t.equal((await db.execute("SELECT * FROM ks.kv WHERE k = 'p' AND c = 9")).rowLength, 0);
  await db.execute("INSERT INTO ks.kv (k, c) VALUES ('p', 9)");
  t.equal((await db.execute("SELECT * FROM ks.kv WHERE k = 'p' AND c = 9")).rowLength, 1);

  for (let c = 2; c <= 6; c++) await db.execute('INSERT INTO ks.kv (k, c, v) VALUES (?, ?, ?)', ['p', c, `v${c}`], { prepare: true });
  await db.execute('DELETE v FROM ks.kv WHERE k = ? AND c = ?', ['p', 2], { prepare: true });
  t.equal((await db.execute("SELECT v FROM ks.kv WHERE k = 'p' AND c = 2")).first()['v'], null);
  await db.execute('DELETE FROM ks.kv WHERE k = ? AND c = ?', ['p', 3], { prepare: true });
  await db.execute('DELETE FROM ks.kv WHERE k = ? AND c >= ? AND c < ?', ['p', 5, 9], { prepare: true });
  const left = await db.execute("SELECT c FROM ks.kv WHERE k = 'p'");
  t.same(
    left.rows.map((r) => r['c']),
    [1, 2, 4, 9],
  );
  await db.execute("DELETE FROM ks.kv WHERE k = 'p'");
  t.equal((await db.execute("SELECT * FROM ks.kv WHERE k = 'p'")).rowLength, 0);

  const applied = await db.execute("INSERT INTO ks.kv (k, c, v) VALUES ('q', 1, 'first') IF NOT EXISTS");
  t.equal(applied.first()['[applied]'], true);
  const notApplied = await db.execute("INSERT INTO ks.kv (k, c, v) VALUES ('q', 1, 'second') IF NOT EXISTS");
  t.equal(notApplied.first()['[applied]'], false);
  t.equal(notApplied.first()['v'], 'first');
});

t.test('a logged batch with a bad statement applies nothing', async (t) => {
  const insert = 'INSERT INTO ks.kv (k, c, v) VALUES (?, ?, ?)';
  const err = await rejection(
    db.batch(
      [
        { query: insert, params: ['atomic', 1, 'a'] },
        { query: insert, params: [null, 2, 'b'] },
      ],
      { prepare: true },
    ),
  );
  t.equal(responseCode(err), codes.invalid);
  t.equal((await db.execute("SELECT * FROM ks.kv WHERE k = 'atomic'")).rowLength, 0);
});

t.test('errors reach the driver with their CQL codes', async (t) => {
  const syntax = await rejection(db.execute('SELEKT * FROM ks.kv'));
  t.equal(responseCode(syntax), codes.syntaxError);
  const unknownTable = await rejection(db.execute('SELECT * FROM ks.nope'));
  t.equal(responseCode(unknownTable), codes.invalid);
  t.match(unknownTable.message, /unconfigured table nope/);
  const unknownColumn = await rejection(db.execute("SELECT nope FROM ks.kv WHERE k = 'x'"));
  t.equal(responseCode(unknownColumn), codes.invalid);
  // Unprepared, a JS number is sent as a double: 8 bytes where an int wants 4, as a real node would say.
  const wrongType = await rejection(db.execute('INSERT INTO ks.kv (k, c, v) VALUES (?, ?, ?)', ['k', 1, 'v']));
  t.equal(responseCode(wrongType), codes.invalid);
  t.match(wrongType.message, /Expected 4 or 0 byte int \(8\)/);
  const missingKey = await rejection(db.execute("INSERT INTO ks.kv (k, v) VALUES ('k', 'v')"));
  t.equal(responseCode(missingKey), codes.invalid);
  const systemWrite = await rejection(db.execute("INSERT INTO system.local (key) VALUES ('x')"));
  t.equal(responseCode(systemWrite), codes.unauthorized);
  const dropMissing = await rejection(db.execute('DROP TABLE ks.nope'));
  t.equal(responseCode(dropMissing), codes.configError);
});

t.test('a client with a keyspace option sends USE and resolves unqualified names in it', async (t) => {
  const scoped = client(server, { keyspace: 'ks' });
  await scoped.connect();
  t.teardown(() => scoped.shutdown());
  await scoped.execute("INSERT INTO kv (k, c, v) VALUES ('scoped', 1, 'x')");
  t.equal((await scoped.execute('SELECT v FROM kv WHERE k = ?', ['scoped'], { prepare: true })).first()['v'], 'x');
  const unscoped = await rejection(db.execute('SELECT * FROM kv'));
  t.equal(responseCode(unscoped), codes.invalid);
  t.match(unscoped.message, /No keyspace has been specified/);
});

t.test('UNPREPARED after the node forgets its statements: the driver prepares again', async (t) => {
  const q = 'SELECT v FROM ks.kv WHERE k = ? AND c = ?';
  await db.execute("INSERT INTO ks.kv (k, c, v) VALUES ('re', 1, 'prepared')");
  t.equal((await db.execute(q, ['re', 1], { prepare: true })).first()['v'], 'prepared');
  const before = server.stats.requests['PREPARE'] ?? 0;
  server.forgetPrepared();
  t.equal((await db.execute(q, ['re', 1], { prepare: true })).first()['v'], 'prepared');
  t.equal(server.stats.requests['PREPARE'], before + 1, 'exactly one re-prepare');
});

t.test('schema changes are pushed to other clients as events', async (t) => {
  const other = client(server);
  await other.connect();
  t.teardown(() => other.shutdown());
  await db.execute("CREATE KEYSPACE evt WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await waitUntil('the other client to learn about keyspace evt', async () => other.metadata.keyspaces['evt'] !== undefined);
  await db.execute('DROP KEYSPACE evt');
  await waitUntil('the other client to forget keyspace evt', async () => other.metadata.keyspaces['evt'] === undefined);
  t.pass('events delivered');
});

t.test('PasswordAuthenticator', async (t) => {
  const secured = await CqlTestServer.start({ auth: { username: 'cassandra', password: 's3cret' } });
  const anonymous = client(secured);
  const noAuth = await rejection(anonymous.connect());
  t.ok(noAuth instanceof errors.NoHostAvailableError);
  t.match(Object.values((noAuth as cassandra.errors.NoHostAvailableError).innerErrors as Record<string, Error>)[0], errors.AuthenticationError);
  await anonymous.shutdown();
  const wrong = client(secured, { credentials: { username: 'cassandra', password: 'nope' } });
  const bad = await rejection(wrong.connect());
  t.match(String(Object.values((bad as cassandra.errors.NoHostAvailableError).innerErrors as Record<string, Error>)[0]), /incorrect/);
  await wrong.shutdown();
  const ok = client(secured, { credentials: { username: 'cassandra', password: 's3cret' } });
  await ok.connect();
  t.equal((await ok.execute("SELECT key FROM system.local WHERE key = 'local'")).first()['key'], 'local');
  await ok.shutdown();
  await secured.stop();
});

t.test('faults', async (t) => {
  const faulty = await CqlTestServer.start();
  const c = client(faulty, { socketOptions: { readTimeout: 300 } });
  t.teardown(async () => {
    await c.shutdown();
    await faulty.stop();
  });
  await c.connect();
  await c.execute(KS);
  await c.execute('CREATE TABLE ks.f (k text PRIMARY KEY, v text)');
  const insert = 'INSERT INTO ks.f (k, v) VALUES (?, ?)';
  const read = async (k: string): Promise<number> => (await c.execute('SELECT v FROM ks.f WHERE k = ?', [k], { prepare: true })).rowLength;

  t.test('write_timeout: writes fail with WRITE_TIMEOUT and are not applied; reads work', async (t) => {
    faulty.setFault({ kind: 'write_timeout' });
    const err = await rejection(c.execute(insert, ['wt', 'x'], { prepare: true }));
    t.equal(responseCode(err), codes.writeTimeout);
    t.equal((err as cassandra.errors.ResponseError & { writeType?: string }).writeType, 'SIMPLE');
    const batchErr = await rejection(c.batch([{ query: insert, params: ['wt', 'y'] }], { prepare: true }));
    t.equal(responseCode(batchErr), codes.writeTimeout);
    t.equal(await read('wt'), 0);
    faulty.setFault({ kind: 'none' });
    await c.execute(insert, ['wt', 'x'], { prepare: true });
    t.equal(await read('wt'), 1);
  });

  t.test('times: the fault clears itself after that many requests', async (t) => {
    faulty.setFault({ kind: 'write_timeout', times: 1 });
    t.equal(responseCode(await rejection(c.execute(insert, ['once', 'x'], { prepare: true }))), codes.writeTimeout);
    await c.execute(insert, ['once', 'x'], { prepare: true });
    t.equal(await read('once'), 1);
  });

  t.test('unavailable: reads and writes on user tables fail with UNAVAILABLE; system tables answer', async (t) => {
    faulty.setFault({ kind: 'unavailable' });
    t.equal(responseCode(await rejection(c.execute(insert, ['u', 'x'], { prepare: true }))), codes.unavailableException);
    t.equal(responseCode(await rejection(read('wt'))), codes.unavailableException);
    t.equal((await c.execute("SELECT key FROM system.local WHERE key = 'local'")).rowLength, 1);
    faulty.setFault({ kind: 'none' });
    t.equal(await read('wt'), 1);
  });

  t.test('slow: responses are delayed; past the read timeout the driver gives up', async (t) => {
    faulty.setFault({ kind: 'slow', delayMs: 100, match: /ks\.f/ });
    const started = Date.now();
    t.equal(await read('wt'), 1);
    t.ok(Date.now() - started >= 90, 'delayed');
    faulty.setFault({ kind: 'slow', delayMs: 1_000, match: /ks\.f/ });
    const err = await rejection(c.execute('SELECT v FROM ks.f WHERE k = ?', ['wt'], { prepare: true }));
    t.ok(err instanceof errors.NoHostAvailableError || err instanceof errors.OperationTimedOutError, String(err));
    faulty.setFault({ kind: 'none' });
    await waitUntil('the driver to use the connection again', () => read('wt').then((n) => n === 1, () => false));
  });

  t.test('drop_connections: requests fail while set, the driver reconnects after', async (t) => {
    faulty.setFault({ kind: 'drop_connections' });
    const err = await rejection(read('wt'));
    t.ok(isConnectionError(err), String(err));
    t.equal(faulty.connectionCount, 0);
    faulty.setFault({ kind: 'none' });
    await waitUntil('reconnection', () => read('wt').then((n) => n === 1, () => false));
    t.ok(faulty.connectionCount > 0);
  });

  t.test('stop/start on the same port: data survives, the driver reconnects', async (t) => {
    const port = faulty.port;
    await faulty.stop();
    const err = await rejection(read('wt'));
    t.ok(isConnectionError(err), String(err));
    await faulty.start();
    t.equal(faulty.port, port);
    await waitUntil('reconnection after restart', () => read('wt').then((n) => n === 1, () => false));
    t.pass('reconnected');
  });
});

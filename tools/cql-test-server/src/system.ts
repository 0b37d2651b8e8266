// The system tables a driver reads on connect (system.local, system.peers, system_schema.*), held as
// ordinary tables of the engine so the same SELECT path answers them. Their rows are rewritten from the
// live schema after every schema change.
import { applyMutation } from './modify.js';
import { KeyspaceDef, TableDef } from './schema.js';
import {
  type CqlType,
  T,
  encodeBoolean,
  encodeCollection,
  encodeDouble,
  encodeInet,
  encodeInt,
  encodeMap,
  encodeText,
  newRandomUuid,
  scalarByName,
  typeName,
} from './types.js';

export interface LocalInfo {
  readonly clusterName: string;
  readonly dataCenter: string;
  readonly rack: string;
  readonly releaseVersion: string;
  readonly hostId: Buffer;
  readonly tokens: readonly string[];
}

type Cols = ReadonlyArray<readonly [string, CqlType]>;

const textMap = T.map(T.text, T.text, true);
const LOCAL_STRATEGY = new Map([['class', 'org.apache.cassandra.locator.LocalStrategy']]);

function table(ks: string, name: string, cols: Cols, pk: readonly string[], ck: readonly string[] = []): TableDef {
  const columns = TableDef.columns(
    cols.map(([n, type]) => ({ name: n, type })),
    pk,
    ck,
    new Set(),
  );
  return new TableDef(ks, name, newRandomUuid(), columns, { defaultTtl: 0, comment: '', gcGraceSeconds: 0, maps: new Map() });
}

function t(name: string): CqlType {
  return scalarByName(name)!;
}

export function createSystemKeyspaces(): KeyspaceDef[] {
  const system = new KeyspaceDef('system', LOCAL_STRATEGY, true, true);
  const peerCols: Cols = [
    ['data_center', t('text')],
    ['host_id', t('uuid')],
    ['preferred_ip', t('inet')],
    ['rack', t('text')],
    ['release_version', t('text')],
    ['rpc_address', t('inet')],
    ['schema_version', t('uuid')],
    ['tokens', T.set(T.text)],
  ];
  system.tables.set(
    'local',
    table(
      'system',
      'local',
      [
        ['key', t('text')],
        ['bootstrapped', t('text')],
        ['broadcast_address', t('inet')],
        ['cluster_name', t('text')],
        ['cql_version', t('text')],
        ['data_center', t('text')],
        ['gossip_generation', t('int')],
        ['host_id', t('uuid')],
        ['listen_address', t('inet')],
        ['native_protocol_version', t('text')],
        ['partitioner', t('text')],
        ['rack', t('text')],
        ['release_version', t('text')],
        ['rpc_address', t('inet')],
        ['schema_version', t('uuid')],
        ['thrift_version', t('text')],
        ['tokens', T.set(T.text)],
      ],
      ['key'],
    ),
  );
  system.tables.set('peers', table('system', 'peers', [['peer', t('inet')], ...peerCols], ['peer']));
  system.tables.set('peers_v2', table('system', 'peers_v2', [['peer', t('inet')], ['peer_port', t('int')], ...peerCols], ['peer', 'peer_port']));

  const schema = new KeyspaceDef('system_schema', LOCAL_STRATEGY, true, true);
  const ksName: readonly [string, CqlType] = ['keyspace_name', t('text')];
  schema.tables.set(
    'keyspaces',
    table('system_schema', 'keyspaces', [ksName, ['durable_writes', t('boolean')], ['replication', textMap]], ['keyspace_name']),
  );
  schema.tables.set(
    'tables',
    table(
      'system_schema',
      'tables',
      [
        ksName,
        ['table_name', t('text')],
        ['bloom_filter_fp_chance', t('double')],
        ['caching', textMap],
        ['comment', t('text')],
        ['compaction', textMap],
        ['compression', textMap],
        ['crc_check_chance', t('double')],
        ['dclocal_read_repair_chance', t('double')],
        ['default_time_to_live', t('int')],
        ['extensions', T.map(T.text, T.blob, true)],
        ['flags', T.set(T.text, true)],
        ['gc_grace_seconds', t('int')],
        ['id', t('uuid')],
        ['max_index_interval', t('int')],
        ['memtable_flush_period_in_ms', t('int')],
        ['min_index_interval', t('int')],
        ['read_repair_chance', t('double')],
        ['speculative_retry', t('text')],
      ],
      ['keyspace_name'],
      ['table_name'],
    ),
  );
  schema.tables.set(
    'columns',
    table(
      'system_schema',
      'columns',
      [
        ksName,
        ['table_name', t('text')],
        ['column_name', t('text')],
        ['clustering_order', t('text')],
        ['column_name_bytes', t('blob')],
        ['kind', t('text')],
        ['position', t('int')],
        ['type', t('text')],
      ],
      ['keyspace_name'],
      ['table_name', 'column_name'],
    ),
  );
  schema.tables.set(
    'indexes',
    table('system_schema', 'indexes', [ksName, ['table_name', t('text')], ['index_name', t('text')], ['kind', t('text')], ['options', textMap]], ['keyspace_name'], ['table_name', 'index_name']),
  );
  schema.tables.set(
    'views',
    table(
      'system_schema',
      'views',
      [ksName, ['view_name', t('text')], ['base_table_id', t('uuid')], ['base_table_name', t('text')], ['include_all_columns', t('boolean')], ['where_clause', t('text')]],
      ['keyspace_name'],
      ['view_name'],
    ),
  );
  schema.tables.set(
    'types',
    table('system_schema', 'types', [ksName, ['type_name', t('text')], ['field_names', T.list(T.text, true)], ['field_types', T.list(T.text, true)]], ['keyspace_name'], ['type_name']),
  );
  const fnCols: Cols = [
    ['argument_types', T.list(T.text, true)],
    ['return_type', t('text')],
  ];
  schema.tables.set(
    'functions',
    table('system_schema', 'functions', [ksName, ['function_name', t('text')], ...fnCols, ['argument_names', T.list(T.text, true)], ['body', t('text')], ['called_on_null_input', t('boolean')], ['language', t('text')]], ['keyspace_name'], ['function_name', 'argument_types']),
  );
  schema.tables.set(
    'aggregates',
    table('system_schema', 'aggregates', [ksName, ['aggregate_name', t('text')], ...fnCols, ['final_func', t('text')], ['initcond', t('text')], ['state_func', t('text')], ['state_type', t('text')]], ['keyspace_name'], ['aggregate_name', 'argument_types']),
  );
  return [system, schema];
}

/** Writes one row; `values` maps column names to serialized values (absent = null). */
function putRow(tbl: TableDef, values: Readonly<Record<string, Buffer | null>>): void {
  const pk = tbl.partitionKey.map((c) => values[c.name]!);
  const ck = tbl.clustering.map((c) => values[c.name]!);
  const ops = tbl.regular
    .filter((c) => values[c.name] !== undefined)
    .map((col) => ({ col, op: { k: 'set' as const, v: values[col.name]! } }));
  applyMutation({ k: 'upsert', table: tbl, pk, ck, marker: true, exp: 0, ts: BigInt(Date.now()) * 1000n, ops }, Date.now());
}

const textSet = (items: readonly string[]): Buffer => encodeCollection(items.map(encodeText));
const textMapValue = (m: ReadonlyMap<string, string>): Buffer =>
  encodeMap([...m].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([k, v]) => [encodeText(k), encodeText(v)]));

export function writeLocalRow(system: KeyspaceDef, info: LocalInfo, schemaVersion: Buffer): void {
  const loopback = encodeInet('127.0.0.1')!;
  putRow(system.tables.get('local')!, {
    key: encodeText('local'),
    bootstrapped: encodeText('COMPLETED'),
    broadcast_address: loopback,
    cluster_name: encodeText(info.clusterName),
    cql_version: encodeText('3.4.4'),
    data_center: encodeText(info.dataCenter),
    gossip_generation: encodeInt(Math.floor(Date.now() / 1000)),
    host_id: info.hostId,
    listen_address: loopback,
    native_protocol_version: encodeText('4'),
    partitioner: encodeText('org.apache.cassandra.dht.Murmur3Partitioner'),
    rack: encodeText(info.rack),
    release_version: encodeText(info.releaseVersion),
    rpc_address: loopback,
    schema_version: schemaVersion,
    thrift_version: encodeText('20.1.0'),
    tokens: textSet(info.tokens),
  });
}

const DEFAULT_MAPS: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map([
  ['caching', new Map([['keys', 'ALL'], ['rows_per_partition', 'NONE']])],
  [
    'compaction',
    new Map([
      ['class', 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy'],
      ['max_threshold', '32'],
      ['min_threshold', '4'],
    ]),
  ],
  ['compression', new Map([['chunk_length_in_kb', '64'], ['class', 'org.apache.cassandra.io.compress.LZ4Compressor']])],
]);

/** Rewrites system_schema from the keyspaces (cheap: test schemas hold a handful of tables). */
export function writeSchemaRows(schema: KeyspaceDef, keyspaces: Iterable<KeyspaceDef>): void {
  for (const tbl of schema.tables.values()) tbl.data.clear();
  const ksTable = schema.tables.get('keyspaces')!;
  const tablesTable = schema.tables.get('tables')!;
  const columnsTable = schema.tables.get('columns')!;
  for (const ks of keyspaces) {
    const name = encodeText(ks.name);
    putRow(ksTable, { keyspace_name: name, durable_writes: encodeBoolean(ks.durableWrites), replication: textMapValue(ks.replication) });
    for (const tbl of ks.tables.values()) {
      const maps = (key: string): Buffer => textMapValue(tbl.options.maps.get(key) ?? DEFAULT_MAPS.get(key)!);
      putRow(tablesTable, {
        keyspace_name: name,
        table_name: encodeText(tbl.name),
        bloom_filter_fp_chance: encodeDouble(0.01),
        caching: maps('caching'),
        comment: encodeText(tbl.options.comment),
        compaction: maps('compaction'),
        compression: maps('compression'),
        crc_check_chance: encodeDouble(1),
        dclocal_read_repair_chance: encodeDouble(0.1),
        default_time_to_live: encodeInt(tbl.options.defaultTtl),
        extensions: encodeMap([]),
        flags: textSet(['compound']),
        gc_grace_seconds: encodeInt(tbl.options.gcGraceSeconds),
        id: tbl.id,
        max_index_interval: encodeInt(2048),
        memtable_flush_period_in_ms: encodeInt(0),
        min_index_interval: encodeInt(128),
        read_repair_chance: encodeDouble(0),
        speculative_retry: encodeText('99PERCENTILE'),
      });
      for (const col of tbl.starColumns) {
        putRow(columnsTable, {
          keyspace_name: name,
          table_name: encodeText(tbl.name),
          column_name: encodeText(col.name),
          clustering_order: encodeText(col.kind === 'clustering' ? (col.desc ? 'desc' : 'asc') : 'none'),
          column_name_bytes: encodeText(col.name),
          kind: encodeText(col.kind),
          position: encodeInt(col.kind === 'regular' ? -1 : col.index),
          type: encodeText(typeName(col.type)),
        });
      }
    }
  }
}

// The daemon's configuration: one schema with a default and a description per key, validated once
// (messages name the key), then deep-frozen. The README's reference table is generated from it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'must be HOST:PORT, e.g. 127.0.0.1:8181');

export const ConfigSchema = z.strictObject({
  listen: hostPort.default('127.0.0.1:8181').describe('address the REST API and panel listen on'),
  stateDir: z.string().min(1).default('./state').describe('directory for the host id (host_uuid.properties) and local state'),
  hostId: z.uuid().optional().describe('override the host id kept in stateDir'),
  topology: z.strictObject({
    source: z.enum(['file', 'zookeeper']).default('file').describe('where the virtual topology comes from'),
    file: z.string().default('examples/topology.json').describe('topology document (SPEC §2) when source is file; SIGHUP reloads it'),
  }).prefault({}).describe('virtual network topology'),
  conditions: z.strictObject({
    store: z.enum(['sqlite', 'zookeeper']).default('sqlite').describe('where trace conditions are kept'),
  }).prefault({}),
  sink: z.strictObject({
    backend: z.enum(['sqlite', 'cassandra']).default('sqlite').describe('where trace steps are written and read'),
    queueTraces: z.int().min(1).default(50_000).describe('traces the sink queue holds before dropping (counted, trace marked incomplete)'),
    queueSteps: z.int().min(1).default(500_000).describe('steps the sink queue holds before dropping'),
    retentionDays: z.number().positive().default(7).describe('traces older than this are deleted (MidoNet keeps 7 days)'),
  }).prefault({}),
  sqlite: z.strictObject({
    path: z.string().min(1).default('./midotrace.db').describe('SQLite file for traces and (offline) trace conditions'),
    walLimitMB: z.int().min(1).max(65_536).default(256).describe('write-ahead log size past which the writer truncates it (each truncation holds trace writes for ~0.1-0.2 s)'),
  }).prefault({}),
  zookeeper: z.strictObject({
    connect: z.string().min(1).default('127.0.0.1:2181').describe('ZooKeeper connect string, host:port[,host:port...][/chroot]'),
    sessionTimeoutMs: z.int().min(1000).max(120_000).default(10_000).describe('ZooKeeper session timeout'),
    root: z.string().regex(/^\/[^\s]*$/, 'must be an absolute znode path like /midonet').default('/midonet').describe('root znode; conditions live in <root>/trace-conditions'),
    resyncJitterMs: z.int().min(0).max(600_000).default(10_000)
      .describe('longest random wait before re-listing the whole topology (generation switch, new session), so hosts do not all list at once'),
    watchTopologyBuckets: z.boolean().default(false)
      .describe('also watch every topology bucket (~1,900 watches per host) to see objects written into ZooKeeper by hand at once; imports need only the one watch on current'),
  }).prefault({}),
  cassandra: z.strictObject({
    contactPoints: z.array(z.string().min(1)).default(['127.0.0.1:9042']).describe('Cassandra contact points, host[:port]'),
    localDataCenter: z.string().min(1).default('datacenter1').describe('local data center for the load-balancing policy'),
    keyspace: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,47}$/, 'must be a Cassandra identifier').default('midotrace').describe('keyspace, created when absent'),
    replication: z.record(z.string(), z.union([z.string(), z.number()])).default({ class: 'SimpleStrategy', replication_factor: 1 })
      .describe('replication map for CREATE KEYSPACE, e.g. { class: NetworkTopologyStrategy, dc1: 3 }'),
    username: z.string().optional().describe('PasswordAuthenticator user'),
    password: z.string().optional().describe('PasswordAuthenticator password'),
    tls: z.boolean().default(false).describe('connect with TLS (system CA store)'),
    readConsistency: z.enum(['one', 'localOne', 'localQuorum', 'quorum', 'all']).default('localQuorum').describe('consistency of reads'),
    writeConsistency: z.enum(['any', 'one', 'localOne', 'localQuorum', 'quorum', 'all']).default('localOne').describe('consistency of step writes'),
    maxInFlight: z.int().min(1).default(256).describe('most concurrent writes per host'),
    indexBucketSeconds: z.int().min(1).max(3600).refine((v) => 3600 % v === 0, 'must divide an hour')
      .default(60).describe('width of the listing index\'s time buckets for new data (recorded per bucket, so it may change)'),
    indexShards: z.int().min(1).max(1024).default(64).describe('partitions per bucket of the busy index scopes (all, result, condition); see README "Running at scale"'),
    maxRowsScannedPerPage: z.int().min(100).default(5_000).describe('index rows one GET /traces page may read; past it the page comes back short with a next link'),
  }).prefault({}),
  workers: z.strictObject({
    threads: z.int().min(1).max(256).optional().describe('simulation worker threads (default: the number of cores)'),
    batchSize: z.int().min(1).max(65_536).default(256).describe('packets per task sent to a worker'),
    maxConditions: z.int().min(1).default(4096).describe('most trace conditions held at once'),
    snapshotBytes: z.int().min(65_536).default(8 * 1024 * 1024).describe('bytes per half of the shared topology snapshot'),
  }).prefault({}),
  state: z.strictObject({
    macCapacity: z.int().min(16).default(65_536).describe('MAC table entries (all bridges)'),
    arpCapacity: z.int().min(16).default(16_384).describe('ARP cache entries (all routers)'),
    conntrackCapacity: z.int().min(16).default(1_048_576).describe('connection tracking entries'),
    natCapacity: z.int().min(16).default(262_144).describe('NAT binding entries'),
  }).prefault({}),
  datapath: z.strictObject({
    enabled: z.boolean().default(true).describe('carry real traffic on the ports bound to this host (SPEC §9; needs root or CAP_NET_RAW)'),
    arpRetryMs: z.int().min(100).default(10_000).describe('while a next hop\'s MAC is unknown, its ARP request is sent again this often (Midolman arp_retry_interval)'),
    arpTimeoutMs: z.int().min(100).default(60_000).describe('packets held for an unanswered ARP are answered ICMP host unreachable after this (Midolman arp_timeout)'),
    holdPerNextHop: z.int().min(1).max(4096).default(64).describe('packets held per next hop while its ARP is unanswered; more are dropped'),
    tunnelPort: z.int().min(1).max(65535).default(6677).describe('UDP port of the VXLAN tunnels to other hosts (SPEC §10); this host listens on it at its tunnel-zone address'),
  }).prefault({}),
  api: z.strictObject({
    bodyLimitBytes: z.int().min(1024).default(4 * 1024 * 1024).describe('largest request body (413 beyond)'),
    tokens: z.array(z.strictObject({
      token: z.string().min(16, 'tokens must be at least 16 characters'),
      role: z.enum(['admin', 'read']).describe('admin may change things; read may only look'),
    })).default([]).describe('bearer tokens; required when listening beyond loopback'),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level'),
  }).prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export type ConfigResult = { ok: true; config: Readonly<Config> } | { ok: false; errors: string[] };

/** Validates and freezes; errors read `sink.queueTraces: must be ...`. */
export function validateConfig(input: unknown): ConfigResult {
  const r = ConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    return { ok: false, errors: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`) };
  }
  const errors = crossChecks(r.data);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: deepFreeze(r.data) };
}

function crossChecks(c: Config): string[] {
  const errors: string[] = [];
  const host = c.listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (!isLoopback(host) && c.api.tokens.length === 0) {
    errors.push(`listen: ${c.listen} is not loopback; configure api.tokens (an admin token at least) before listening beyond this host`);
  }
  const port = Number(c.listen.slice(c.listen.lastIndexOf(':') + 1));
  if (port > 65535) errors.push('listen: port must be 0..65535');
  if (c.cassandra.password !== undefined && c.cassandra.username === undefined) errors.push('cassandra.username: required when cassandra.password is set');
  return errors;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Reads a JSON or YAML file (by extension, else tries both) and validates it. */
export function loadConfigFile(path: string, overrides: Record<string, unknown> = {}): ConfigResult {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) { return { ok: false, errors: [`${path}: ${(e as Error).message}`] }; }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    return { ok: false, errors: [`${path}: not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(e as Error).message}`] };
  }
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) return { ok: false, errors: [`${path}: must hold a mapping of keys`] };
  return validateConfig(merge((raw ?? {}) as Record<string, unknown>, overrides));
}

/** Overrides (from command-line flags) win, one level of nesting deep. */
export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)
      ? { ...(b as Record<string, unknown>), ...(v as Record<string, unknown>) }
      : v;
  }
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

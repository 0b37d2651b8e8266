// The driver client and its life: connect and create the schema in the background (retrying with
// backoff, so the daemon starts while Cassandra is down), then leave reconnection to the driver.
// Requests go out only once the session is ready; before that they fail at once, without a
// round trip, and the queue counts the loss.
import cassandra from 'cassandra-driver';
import type { ConnectionOptions } from 'node:tls';
import { ensureSchema, type Replication, type SchemaError } from './schema.js';
import type { IndexLayout } from './keys.js';

const { policies, types } = cassandra;

export type ConsistencyName = 'any' | 'one' | 'localOne' | 'localQuorum' | 'quorum' | 'all';

const CONSISTENCY: Record<ConsistencyName, number> = {
  any: types.consistencies.any,
  one: types.consistencies.one,
  localOne: types.consistencies.localOne,
  localQuorum: types.consistencies.localQuorum,
  quorum: types.consistencies.quorum,
  all: types.consistencies.all,
};

/** pino-compatible: what the session and the backend log through. */
export interface CassandraLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SessionOptions {
  /** `host` or `host:port`. */
  contactPoints: readonly string[];
  localDataCenter: string;
  keyspace: string;
  /** For CREATE KEYSPACE. Default SimpleStrategy with replication factor 1. */
  replication?: Replication;
  username?: string;
  password?: string;
  /** true: TLS with the system CA store; an object: Node TLS options (CA, client certificate...). */
  tls?: boolean | ConnectionOptions;
  /** Defaults localQuorum (reads) and localOne (writes): multi-DC safe, writes cheap. */
  readConsistency?: ConsistencyName;
  writeConsistency?: ConsistencyName;
  /** Create the keyspace and tables when absent. Default true. */
  createSchema?: boolean;
  /** Driver read timeout per request. Default 12,000 ms. */
  requestTimeoutMs?: number;
  /** Default 5,000 ms. */
  connectTimeoutMs?: number;
  /** Backoff of the first connection (ours) and of host reconnection (the driver's). Defaults 500 ms .. 30 s. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  log?: CassandraLog;
  /** Extra driver options (tests). */
  clientOptions?: Partial<cassandra.ClientOptions>;
  /** For the schema: tables' default_time_to_live and a migration's copies. */
  ttlSeconds?: number;
  /** The index layout a migration writes with. */
  layout?: IndexLayout;
}

export type SessionState = 'connecting' | 'ready' | 'failed' | 'closed';

export interface FirstAttempt {
  state: SessionState;
  /** Set when the schema check refused the keyspace (state 'failed'). */
  code?: SchemaError;
  error?: string;
}

/** Logs at most one line per `key` per interval, saying how many were held back. */
export class Throttle {
  private readonly last = new Map<string, { at: number; held: number }>();
  constructor(private readonly intervalMs: number, private readonly now: () => number = Date.now) {}

  pass(key: string): { ok: boolean; held: number } {
    const t = this.now();
    const e = this.last.get(key);
    if (e !== undefined && t - e.at < this.intervalMs) { e.held++; return { ok: false, held: 0 }; }
    const held = e?.held ?? 0;
    this.last.set(key, { at: t, held: 0 });
    return { ok: true, held };
  }
}

const NOOP_LOG: CassandraLog = { info() {}, warn() {}, error() {} };

export class CassandraSession {
  readonly client: cassandra.Client;
  readonly keyspace: string;
  readonly readConsistency: number;
  readonly writeConsistency: number;
  private st: SessionState = 'connecting';
  private lastError: string | null = null;
  private failCode: SchemaError | undefined;
  private readonly log: CassandraLog;
  private readonly throttle = new Throttle(10_000);
  private readonly opts: SessionOptions;
  private loop: Promise<void> | null = null;
  private notReadyError: Error | null = null;
  private wake: (() => void) | null = null;
  private firstDone!: (a: FirstAttempt) => void;
  /** Settles after the first connection attempt, whatever its outcome. */
  readonly firstAttempt: Promise<FirstAttempt>;

  constructor(o: SessionOptions) {
    this.opts = o;
    this.keyspace = o.keyspace;
    this.log = o.log ?? NOOP_LOG;
    this.readConsistency = CONSISTENCY[o.readConsistency ?? 'localQuorum'];
    this.writeConsistency = CONSISTENCY[o.writeConsistency ?? 'localOne'];
    if (this.readConsistency === undefined || this.writeConsistency === undefined) {
      throw new Error('options.readConsistency/writeConsistency must be one of ' + Object.keys(CONSISTENCY).join(', '));
    }
    this.firstAttempt = new Promise((resolve) => { this.firstDone = resolve; });
    const base = o.reconnectBaseMs ?? 500;
    const tls = o.tls === true ? {} : o.tls === false || o.tls === undefined ? undefined : o.tls;
    this.client = new cassandra.Client({
      contactPoints: [...o.contactPoints],
      localDataCenter: o.localDataCenter,
      ...(o.username !== undefined ? { credentials: { username: o.username, password: o.password ?? '' } } : {}),
      ...(tls !== undefined ? { sslOptions: tls } : {}),
      socketOptions: { connectTimeout: o.connectTimeoutMs ?? 5_000, readTimeout: o.requestTimeoutMs ?? 12_000 },
      policies: { reconnection: new policies.reconnection.ExponentialReconnectionPolicy(base, o.reconnectMaxMs ?? 30_000, true) },
      // Every statement here is an idempotent upsert or read: safe for the driver to retry elsewhere.
      queryOptions: { prepare: true, isIdempotent: true },
      ...o.clientOptions,
    });
    this.client.on('log', (level: string, className: string, message: string) => {
      if (level !== 'error' && level !== 'warning') return;
      this.logThrottled(`driver:${level}`, level === 'error' ? 'error' : 'warn', { driver: className, detail: message }, 'cassandra driver');
    });
    // cassandra-driver 4.10: once every node was unreachable, the control connection re-initializes
    // and replaces its Host objects without shutting down the old ones' pools, which then reconnect
    // forever, even after shutdown(). Shutting a replaced host down plugs that leak.
    this.client.on('hostRemove', (h: cassandra.Host) => {
      (h as unknown as { shutdown(wait: boolean): Promise<void> }).shutdown(false).catch(() => {});
    });
  }

  /** Starts connecting in the background (once). */
  start(): Promise<FirstAttempt> {
    this.loop ??= this.connectLoop();
    return this.firstAttempt;
  }

  get state(): SessionState { return this.st; }
  get ready(): boolean { return this.st === 'ready'; }

  /** Ready and at least one node is up, as far as the driver knows. */
  healthy(): boolean {
    if (this.st !== 'ready') return false;
    const hosts = this.client.hosts;
    return hosts !== undefined && hosts !== null && hosts.values().some((h) => h.isUp());
  }

  /** The error of a request refused because no node is up: one object per state, reused. */
  notReady(): Error {
    const d = this.describe();
    if (this.notReadyError === null || this.notReadyError.message !== NotReadyError.text(d)) {
      this.notReadyError = new NotReadyError(d);
    }
    return this.notReadyError;
  }

  describe(): string {
    switch (this.st) {
      case 'ready': {
        const hosts = this.client.hosts?.values() ?? [];
        return `${hosts.filter((h) => h.isUp()).length}/${hosts.length} nodes up`;
      }
      case 'connecting': return `connecting${this.lastError !== null ? ` (last error: ${this.lastError})` : ''}`;
      case 'failed': return `refused: ${this.lastError ?? 'unknown'}`;
      case 'closed': return 'closed';
    }
  }

  /** Logs an error at most once per 10 s per key; the count of the held-back ones rides along. */
  logThrottled(key: string, level: 'warn' | 'error', obj: object, msg: string): void {
    const p = this.throttle.pass(key);
    if (!p.ok) return;
    try { this.log[level](p.held > 0 ? { ...obj, suppressed: p.held } : obj, msg); } catch { /* a logger must not throw into us */ }
  }

  async close(): Promise<void> {
    if (this.st === 'closed') return;
    this.st = 'closed';
    this.wake?.();
    // The driver's shutdown() returns at once while a connect is in progress: let the attempt end.
    await this.loop?.catch(() => {});
    await this.client.shutdown().catch(() => {});
  }

  private async connectLoop(): Promise<void> {
    let delay = this.opts.reconnectBaseMs ?? 500;
    const max = this.opts.reconnectMaxMs ?? 30_000;
    for (;;) {
      if (this.st === 'closed') { this.firstDone({ state: 'closed' }); return; }
      try {
        await this.client.connect();
        const r = await ensureSchema(this.client, {
          keyspace: this.keyspace, replication: this.opts.replication ?? { class: 'SimpleStrategy', replication_factor: 1 },
          create: this.opts.createSchema ?? true, consistency: this.readConsistency,
          ...(this.opts.ttlSeconds !== undefined ? { ttlSeconds: this.opts.ttlSeconds } : {}),
          ...(this.opts.layout !== undefined ? { layout: this.opts.layout } : {}),
        });
        // close() may have run meanwhile (the type narrowing above cannot know).
        if ((this.st as SessionState) === 'closed') continue;
        if (r.ok) {
          this.st = 'ready';
          this.lastError = null;
          this.log.info({ keyspace: this.keyspace, created: r.created, ...(r.migrated ? { migrated: r.migrated } : {}) }, 'cassandra trace store ready');
          this.firstDone({ state: 'ready' });
          return;
        }
        this.lastError = r.message;
        if (r.fatal) {
          this.st = 'failed';
          this.failCode = r.code;
          this.log.error({ code: r.code, keyspace: this.keyspace }, r.message);
          this.firstDone({ state: 'failed', code: r.code, error: r.message });
          return;
        }
        this.logThrottled('connect', 'warn', { keyspace: this.keyspace, reason: r.message }, 'cassandra schema not ready; retrying');
      } catch (err) {
        this.lastError = errorText(err);
        this.logThrottled('connect', 'warn', { err: this.lastError, retryInMs: delay }, 'cannot reach cassandra; retrying');
      }
      this.firstDone({ state: this.st, error: this.lastError ?? '' });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        t.unref();
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = null;
      delay = Math.min(delay * 2, max);
    }
  }

  get failureCode(): SchemaError | undefined { return this.failCode; }
}

export class NotReadyError extends Error {
  static text(detail: string): string { return `cassandra trace store is not ready: ${detail}`; }
  constructor(detail: string) { super(NotReadyError.text(detail)); }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

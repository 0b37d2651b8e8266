// A thin promise wrapper over node-zookeeper-client (1.1.3, unmaintained since 2022; package.json pins
// that exact version because this file reads the library's private fields). It adds what the
// library lacks: promises with closed-union results carrying the ZooKeeper error code, fail-fast while
// disconnected plus a per-call timeout (the library would queue a call until the server returns),
// a watchdog on the link (the library never notices a server that stops answering, nor one that
// accepts the TCP connection but never completes the handshake), recursive create/remove,
// multi-op transactions, and recovery from session expiry (the expired library client is dead: the
// wrapper makes a new one and emits 'expired' then 'connected').
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import zookeeper from 'node-zookeeper-client';

export type ZkErrorCode =
  | 'SYSTEM_ERROR'
  | 'RUNTIME_INCONSISTENCY'
  | 'DATA_INCONSISTENCY'
  | 'CONNECTION_LOSS'
  | 'MARSHALLING_ERROR'
  | 'UNIMPLEMENTED'
  | 'OPERATION_TIMEOUT'
  | 'BAD_ARGUMENTS'
  | 'API_ERROR'
  | 'NO_NODE'
  | 'NO_AUTH'
  | 'BAD_VERSION'
  | 'NO_CHILDREN_FOR_EPHEMERALS'
  | 'NODE_EXISTS'
  | 'NOT_EMPTY'
  | 'SESSION_EXPIRED'
  | 'INVALID_ACL'
  | 'AUTH_FAILED'
  /** The wrapper was closed. */
  | 'CLOSED';

/** ZooKeeper's numeric codes (KeeperException.Code); CLOSED is the wrapper's own. */
const CODES: ReadonlyArray<readonly [number, ZkErrorCode]> = [
  [-1, 'SYSTEM_ERROR'],
  [-2, 'RUNTIME_INCONSISTENCY'],
  [-3, 'DATA_INCONSISTENCY'],
  [-4, 'CONNECTION_LOSS'],
  [-5, 'MARSHALLING_ERROR'],
  [-6, 'UNIMPLEMENTED'],
  [-7, 'OPERATION_TIMEOUT'],
  [-8, 'BAD_ARGUMENTS'],
  [-100, 'API_ERROR'],
  [-101, 'NO_NODE'],
  [-102, 'NO_AUTH'],
  [-103, 'BAD_VERSION'],
  [-108, 'NO_CHILDREN_FOR_EPHEMERALS'],
  [-110, 'NODE_EXISTS'],
  [-111, 'NOT_EMPTY'],
  [-112, 'SESSION_EXPIRED'],
  [-114, 'INVALID_ACL'],
  [-115, 'AUTH_FAILED'],
  [-1000, 'CLOSED'],
];
const BY_NUMBER = new Map(CODES);
const BY_NAME = new Map(CODES.map(([n, c]) => [c, n]));

export interface ZkError {
  readonly code: ZkErrorCode;
  /** ZooKeeper's numeric code (e.g. -101 for NO_NODE). */
  readonly zkCode: number;
  readonly path: string | null;
  readonly message: string;
  /** Transactions: index of the operation that failed. */
  readonly opIndex?: number;
}

export type ZkResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ZkError };

export interface ZkStat {
  readonly version: number;
  readonly cversion: number;
  readonly dataLength: number;
  readonly numChildren: number;
  readonly ctimeMs: number;
  readonly mtimeMs: number;
  readonly czxid: bigint;
  readonly mzxid: bigint;
  /** Session id (hex) owning an ephemeral node, null for persistent nodes. */
  readonly ephemeralOwner: string | null;
}

export type ZkCreateMode = 'persistent' | 'ephemeral' | 'persistent_sequential' | 'ephemeral_sequential';

export interface ZkWatchEvent {
  readonly type: 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';
  readonly path: string;
}
/** Watches fire once (ZooKeeper semantics) and are lost on session expiry: re-register on 'expired'. */
export type ZkWatcher = (event: ZkWatchEvent) => void;

export type ZkOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: Buffer; readonly mode?: ZkCreateMode }
  | { readonly op: 'setData'; readonly path: string; readonly data: Buffer; readonly version?: number }
  | { readonly op: 'remove'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version: number };

export type ZkOpResult =
  | { readonly op: 'create'; readonly path: string }
  | { readonly op: 'setData'; readonly stat: ZkStat }
  | { readonly op: 'remove' }
  | { readonly op: 'check' };

export type ZkState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

export interface ZkOptions {
  /** Requested session timeout in ms (the server clamps it to its min/max). Default 30000. */
  readonly sessionTimeout?: number;
  /** How long `connect()` waits for the first session. Default: the session timeout. */
  readonly connectTimeoutMs?: number;
  /** How long one call may wait for its answer. Default: the session timeout. */
  readonly operationTimeoutMs?: number;
  /** Max random delay between rounds of reconnection attempts. Default 1000 ms. */
  readonly spinDelay?: number;
  /** Resume an existing session (tests use it to steal and kill a session). */
  readonly session?: { readonly id: Buffer; readonly password: Buffer };
}

type Inner = zookeeper.Client;
type LibError = { getCode?: () => number; code?: number; message?: string };

const MODES: Readonly<Record<ZkCreateMode, number>> = {
  persistent: 0,
  ephemeral: 1,
  persistent_sequential: 2,
  ephemeral_sequential: 3,
};

const WATCH_TYPES: Readonly<Record<number, ZkWatchEvent['type']>> = {
  1: 'created',
  2: 'deleted',
  3: 'dataChanged',
  4: 'childrenChanged',
};

function error(code: ZkErrorCode, path: string | null, message?: string): ZkError {
  return { code, zkCode: BY_NAME.get(code) ?? -1, path, message: message ?? `${code}${path === null ? '' : ` ${path}`}` };
}

function fromLib(e: unknown, path: string | null): ZkError {
  const le = e as LibError;
  const num = typeof le.getCode === 'function' ? le.getCode() : le.code;
  if (typeof num === 'number' && BY_NUMBER.has(num)) return error(BY_NUMBER.get(num)!, path);
  // The library throws plain Errors (assertions) for bad paths, oversized data and the like.
  return error('BAD_ARGUMENTS', path, le.message ?? String(e));
}

function long(b: Buffer): bigint {
  return b.length === 8 ? b.readBigInt64BE(0) : 0n;
}

function toStat(s: zookeeper.Stat): ZkStat {
  const owner = long(s.ephemeralOwner);
  return {
    version: s.version,
    cversion: s.cversion,
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    ctimeMs: Number(long(s.ctime)),
    mtimeMs: Number(long(s.mtime)),
    czxid: long(s.czxid),
    mzxid: long(s.mzxid),
    ephemeralOwner: owner === 0n ? null : s.ephemeralOwner.toString('hex'),
  };
}

function wrapWatcher(w: ZkWatcher | undefined): ((e: zookeeper.Event) => void) | undefined {
  if (w === undefined) return undefined;
  return (e) => w({ type: WATCH_TYPES[e.getType()] ?? 'dataChanged', path: e.getPath() });
}

function parentsOf(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

export interface ZkClientEvents {
  connected: [];
  disconnected: [];
  expired: [];
}

export class ZkClient extends EventEmitter<ZkClientEvents> {
  private inner: Inner;
  private innerState: ZkState = 'connecting';
  private closing = false;
  private lastRead = Date.now();
  private readonly watchdog: NodeJS.Timeout;
  /** The socket seen by the watchdog while not connected, and when its TCP connection was first seen up. */
  private handshakeSocket: Socket | null = null;
  private handshakeSince = 0;
  private readonly sessionTimeout: number;
  private readonly opTimeout: number;

  private constructor(
    private readonly connectString: string,
    private readonly opts: ZkOptions,
  ) {
    super();
    this.sessionTimeout = opts.sessionTimeout ?? 30_000;
    this.opTimeout = opts.operationTimeoutMs ?? this.sessionTimeout;
    this.inner = this.makeInner(opts.session);
    this.watchdog = setInterval(() => this.checkLink(), Math.max(50, Math.floor(this.sessionTimeout / 12)));
    this.watchdog.unref();
  }

  /** Connects and waits for the first session (CONNECTION_LOSS when none comes in time). */
  static async connect(connectString: string, opts: ZkOptions = {}): Promise<ZkResult<ZkClient>> {
    const c = new ZkClient(connectString, opts);
    const timeout = opts.connectTimeoutMs ?? c.sessionTimeout;
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      c.once('connected', () => {
        clearTimeout(timer);
        resolve(true);
      });
      c.inner.connect();
    });
    if (connected) return { ok: true, value: c };
    await c.close();
    return { ok: false, error: error('CONNECTION_LOSS', null, `no ZooKeeper session from ${connectString} within ${timeout} ms`) };
  }

  get state(): ZkState {
    return this.innerState;
  }

  /** Current session id as hex, as ZooKeeper prints it. */
  get sessionId(): string {
    return this.inner.getSessionId().toString('hex');
  }

  /** Id and password of the current session (to resume it elsewhere). */
  get session(): { id: Buffer; password: Buffer } {
    return { id: this.inner.getSessionId(), password: this.inner.getSessionPassword() };
  }

  /** Session timeout granted by the server (ms). */
  get negotiatedSessionTimeout(): number {
    return this.inner.getSessionTimeout();
  }

  // ---- operations ----

  get(path: string, watcher?: ZkWatcher): Promise<ZkResult<{ data: Buffer; stat: ZkStat }>> {
    return this.call(path, (inner, done) => {
      const cb = (e: unknown, data: Buffer, stat: zookeeper.Stat): void =>
        done(e, () => ({ data: data ?? Buffer.alloc(0), stat: toStat(stat) }));
      const w = wrapWatcher(watcher);
      if (w === undefined) inner.getData(path, cb);
      else inner.getData(path, w, cb);
    });
  }

  getChildren(path: string, watcher?: ZkWatcher): Promise<ZkResult<{ children: string[]; stat: ZkStat }>> {
    return this.call(path, (inner, done) => {
      const cb = (e: unknown, children: string[], stat: zookeeper.Stat): void =>
        done(e, () => ({ children: [...children].sort(), stat: toStat(stat) }));
      const w = wrapWatcher(watcher);
      if (w === undefined) inner.getChildren(path, cb);
      else inner.getChildren(path, w, cb);
    });
  }

  /** The node's stat, or null when it does not exist (a watcher then fires on creation). */
  exists(path: string, watcher?: ZkWatcher): Promise<ZkResult<ZkStat | null>> {
    return this.call(path, (inner, done) => {
      const cb = (e: unknown, stat: zookeeper.Stat | null): void => done(e, () => (stat === null ? null : toStat(stat)));
      const w = wrapWatcher(watcher);
      if (w === undefined) inner.exists(path, cb as (e: unknown, s: zookeeper.Stat) => void);
      else inner.exists(path, w, cb as (e: unknown, s: zookeeper.Stat) => void);
    });
  }

  /**
   * Creates a node and returns its path (with the suffix for sequential modes). With `parents`, missing
   * ancestors are created first (empty, persistent); an existing ancestor is fine, an existing node is not.
   */
  async create(
    path: string,
    data: Buffer = Buffer.alloc(0),
    opts: { mode?: ZkCreateMode; parents?: boolean } = {},
  ): Promise<ZkResult<string>> {
    if (opts.parents === true) {
      for (const p of parentsOf(path)) {
        const r = await this.createOne(p, Buffer.alloc(0), 'persistent');
        if (!r.ok && r.error.code !== 'NODE_EXISTS') return r;
      }
    }
    return this.createOne(path, data, opts.mode ?? 'persistent');
  }

  private createOne(path: string, data: Buffer, mode: ZkCreateMode): Promise<ZkResult<string>> {
    return this.call(path, (inner, done) => inner.create(path, data, MODES[mode], (e: unknown, created: string) => done(e, () => created)));
  }

  /** Writes data if the node's version is `version` (-1: any version); returns the new stat. */
  setData(path: string, data: Buffer, version = -1): Promise<ZkResult<ZkStat>> {
    return this.call(path, (inner, done) => inner.setData(path, data, version, (e: unknown, stat: zookeeper.Stat) => done(e, () => toStat(stat))));
  }

  remove(path: string, version = -1): Promise<ZkResult<void>> {
    return this.call(path, (inner, done) => inner.remove(path, version, (e: unknown) => done(e, () => undefined)));
  }

  /**
   * Removes a node and everything below it, children first. Nodes removed concurrently by others are
   * fine; nodes added concurrently are retried a few times (then NOT_EMPTY).
   */
  async removeRecursive(path: string): Promise<ZkResult<void>> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const kids = await this.getChildren(path);
      if (!kids.ok) return kids;
      for (const child of kids.value.children) {
        const r = await this.removeRecursive(path === '/' ? `/${child}` : `${path}/${child}`);
        if (!r.ok && r.error.code !== 'NO_NODE') return r;
      }
      if (path === '/') return { ok: true, value: undefined };
      const r = await this.remove(path);
      if (r.ok || r.error.code === 'NO_NODE') return { ok: true, value: undefined };
      if (r.error.code !== 'NOT_EMPTY') return r;
    }
    return { ok: false, error: error('NOT_EMPTY', path, `NOT_EMPTY ${path}: children kept appearing`) };
  }

  /** All operations or none (ZooKeeper multi). On failure, `opIndex` says which operation failed. */
  transaction(ops: readonly ZkOp[]): Promise<ZkResult<ZkOpResult[]>> {
    return this.call(null, (inner, done) => {
      const tx = inner.transaction();
      // The library turns version 0 into -1 ("any version") in transactions (`version || -1`), which
      // would silently drop the check on a node never updated: write the version into the op ourselves.
      const queued = (tx as unknown as { ops: Array<{ version?: number }> }).ops;
      const pinVersion = (v: number): void => {
        const last = queued[queued.length - 1];
        if (last !== undefined) last.version = v;
      };
      for (const o of ops) {
        switch (o.op) {
          case 'create':
            tx.create(o.path, o.data ?? Buffer.alloc(0), MODES[o.mode ?? 'persistent']);
            break;
          case 'setData':
            tx.setData(o.path, o.data, o.version ?? -1);
            pinVersion(o.version ?? -1);
            break;
          case 'remove':
            tx.remove(o.path, o.version ?? -1);
            pinVersion(o.version ?? -1);
            break;
          case 'check':
            tx.check(o.path, o.version);
            pinVersion(o.version);
            break;
        }
      }
      tx.commit((e: unknown, results: Array<{ type: number; path?: string; stat?: zookeeper.Stat; err?: number }>) => {
        if (e !== null && e !== undefined) {
          const index = (results ?? []).findIndex((r) => r.err !== undefined && r.err !== 0);
          const base = fromLib(e, index >= 0 ? (ops[index]?.path ?? null) : null);
          done({ wrapped: { ...base, ...(index >= 0 ? { opIndex: index } : {}) } }, () => []);
          return;
        }
        done(null, () =>
          results.map((r, i): ZkOpResult => {
            const op = ops[i]!.op;
            if (op === 'create') return { op, path: r.path ?? ops[i]!.path };
            if (op === 'setData') return { op, stat: toStat(r.stat!) };
            return { op };
          }),
        );
      });
    });
  }

  /** Ends the session (ephemeral nodes go away) and stops reconnecting. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.watchdog);
    const inner = this.inner;
    const wasConnected = this.innerState === 'connected';
    this.innerState = 'closed';
    await new Promise<void>((resolve) => {
      // Wait for the server to acknowledge the session close when connected; never hang on a dead link.
      const timer = setTimeout(finish, wasConnected ? 2_000 : 0);
      inner.once('disconnected', finish);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      inner.close();
    });
    this.socketOf(inner)?.destroy();
    inner.removeAllListeners();
  }

  // ---- plumbing ----

  private call<T>(
    path: string | null,
    start: (inner: Inner, done: (e: unknown, value: () => T) => void) => void,
  ): Promise<ZkResult<T>> {
    if (this.closing) return Promise.resolve({ ok: false, error: error('CLOSED', path) });
    if (this.innerState === 'expired') return Promise.resolve({ ok: false, error: error('SESSION_EXPIRED', path) });
    if (this.innerState !== 'connected') return Promise.resolve({ ok: false, error: error('CONNECTION_LOSS', path) });
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: ZkResult<T>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      // A call sent just before the link died may sit in the library's queue until it reconnects.
      // Note a timed-out write may still be applied later.
      const timer = setTimeout(
        () => finish({ ok: false, error: error('OPERATION_TIMEOUT', path, `no answer within ${this.opTimeout} ms`) }),
        this.opTimeout,
      );
      try {
        start(this.inner, (e, value) => {
          if (e === null || e === undefined) finish({ ok: true, value: value() });
          else if (typeof e === 'object' && 'wrapped' in e) finish({ ok: false, error: (e as { wrapped: ZkError }).wrapped });
          else finish({ ok: false, error: fromLib(e, path) });
        });
      } catch (e) {
        finish({ ok: false, error: fromLib(e, path) });
      }
    });
  }

  private makeInner(session?: ZkOptions['session']): Inner {
    const options = {
      sessionTimeout: this.sessionTimeout,
      spinDelay: this.opts.spinDelay ?? 1_000,
      retries: 0,
      ...(session === undefined ? {} : { sessionId: session.id, sessionPassword: session.password }),
    };
    const inner = zookeeper.createClient(this.connectString, options as Partial<zookeeper.Option>);
    inner.on('state', (s: zookeeper.State) => {
      if (inner !== this.inner || this.closing) return;
      if (s === zookeeper.State.SYNC_CONNECTED || s === zookeeper.State.CONNECTED_READ_ONLY) this.onConnected(inner);
      else if (s === zookeeper.State.DISCONNECTED) this.transition('disconnected');
      else if (s === zookeeper.State.EXPIRED) this.onExpired(inner);
    });
    return inner;
  }

  private transition(state: 'connected' | 'disconnected' | 'expired'): void {
    if (this.innerState === state) return;
    this.innerState = state;
    this.emit(state);
  }

  private onConnected(inner: Inner): void {
    this.lastRead = Date.now();
    this.socketOf(inner)?.on('data', () => {
      this.lastRead = Date.now();
    });
    this.transition('connected');
  }

  /** The expired library client cannot be revived: replace it with a fresh one (a new session). */
  private onExpired(old: Inner): void {
    this.transition('expired');
    old.removeAllListeners();
    old.close();
    this.socketOf(old)?.destroy();
    this.inner = this.makeInner();
    this.inner.connect();
  }

  /**
   * ZooKeeper's own client drops a connection that has read nothing for 2/3 of the session timeout
   * (pings go out every third), and bounds the handshake by its connect timeout. node-zookeeper-client
   * does neither: a silent server looks alive, and a connection accepted while the server starts up
   * (which ZooKeeper 3.8 can leave unanswered) hangs forever. Dropping the socket makes it reconnect.
   */
  private checkLink(): void {
    const inner = this.inner;
    const sock = this.socketOf(inner);
    if (sock === undefined || sock.destroyed) return;
    const now = Date.now();
    if (this.innerState === 'connected') {
      this.handshakeSocket = null;
      if (now - this.lastRead > Math.floor((inner.getSessionTimeout() * 2) / 3)) sock.destroy();
      return;
    }
    if (sock.connecting) return; // TCP connect attempts fail by themselves
    if (sock !== this.handshakeSocket) {
      this.handshakeSocket = sock;
      this.handshakeSince = now;
    } else if (now - this.handshakeSince > Math.floor(this.sessionTimeout / 3)) {
      sock.destroy();
    }
  }

  private socketOf(inner: Inner): Socket | undefined {
    return (inner as unknown as { connectionManager?: { socket?: Socket } }).connectionManager?.socket;
  }
}

// One ZooKeeper session for a daemon's backends (shared: share(), attach()), started in the background so the daemon starts whether or
// not ZooKeeper answers. Until the first session exists it retries with capped exponential backoff;
// after that the client reconnects by itself (stores/zookeeper/client.ts) and replaces an expired session.
// Listeners learn of every transition: 'up' with fresh=true means a new session (all watches are
// gone: resync everything), fresh=false means the old session came back (ZooKeeper re-delivers the
// watches, including for changes made while this client was away).
import { EventEmitter } from 'node:events';
import { BackendUnavailableError } from '../../model/errors.js';
import type { Logger } from '../../model/logger.js';
import { ZkClient, type ZkError } from './client.js';
import { backoffMs } from '../backoff.js';
import { parseConnectString } from './paths.js';

export interface ZkSessionOptions {
  /** `host:port[,host:port...][/chroot]`. A missing chroot node is created. */
  connect: string;
  sessionTimeoutMs: number;
  log: Logger;
  /** Names the session in logs, e.g. `daemon`. */
  name: string;
  /** How long one connection attempt may take before the next (default 2000 ms). */
  attemptTimeoutMs?: number;
  /** Backoff between attempts before the first session: from 250 ms doubling to 5000 ms by default. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Delay between reconnection rounds of the client (default 200 ms). */
  spinDelayMs?: number;
}

export interface ZkSessionEvents {
  up: [fresh: boolean];
  down: [];
}

/** Thrown by writes while no session is available (the API answers 5xx; nothing was written). */
export class ZkUnavailableError extends BackendUnavailableError {}

/** Thrown when ZooKeeper refuses an operation in a way the caller cannot handle. */
export class ZkOperationError extends Error {
  constructor(
    message: string,
    readonly zk: ZkError,
  ) {
    super(message);
  }
}

export class ZkSession extends EventEmitter<ZkSessionEvents> {
  private zk: ZkClient | null = null;
  private closed = false;
  /** Backends holding the session (share()); close() ends it when the last one lets go. */
  private users = 1;
  private started = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastError = '';
  private downSince: number = Date.now();
  private freshPending = false;

  constructor(readonly opts: ZkSessionOptions) {
    super();
  }

  /** One more backend uses this session (daemon/zk-open.ts): each of them calls close() once. */
  share(): this {
    if (this.closed) throw new Error(`ZooKeeper session ${this.opts.name} is closed`);
    this.users++;
    return this;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A backend's 'up' listener, and start(). A backend that joins a session already up (shared with
   * another) hears 'up' with fresh=true at once: it has no watches of its own yet. Returns the
   * detach function for the backend's close().
   */
  attach(onUp: (fresh: boolean) => void): () => void {
    this.on('up', onUp);
    this.start();
    if (this.connected) onUp(true);
    return () => {
      this.off('up', onUp);
    };
  }

  /** Starts connecting (idempotent). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.attempt();
  }

  /** The client while its session is usable, else null. */
  get client(): ZkClient | null {
    return this.zk !== null && this.zk.state === 'connected' ? this.zk : null;
  }

  /** The client whatever its state (null before the first session). */
  get anyClient(): ZkClient | null {
    return this.zk;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /** The client, or throws ZkUnavailableError (for writes: never queue a write for later). */
  require(): ZkClient {
    const c = this.client;
    if (c === null) throw new ZkUnavailableError(`ZooKeeper ${this.opts.connect} is unavailable (${this.describe()})`);
    return c;
  }

  /** One line for /healthz. */
  describe(): string {
    if (this.closed) return 'closed';
    if (this.zk === null) {
      return `no session yet: ${this.attempts} connection attempt(s) to ${this.opts.connect}${this.lastError === '' ? '' : `, last: ${this.lastError}`}`;
    }
    if (this.zk.state === 'connected') return `session 0x${this.zk.sessionId} on ${this.opts.connect}`;
    return `${this.zk.state} from ${this.opts.connect} for ${Math.round((Date.now() - this.downSince) / 1000)} s`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (--this.users > 0) return;
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const zk = this.zk;
    this.zk = null;
    if (zk !== null) {
      zk.removeAllListeners();
      await zk.close();
    }
    this.removeAllListeners();
  }

  private async attempt(): Promise<void> {
    this.retryTimer = null;
    if (this.closed) return;
    this.attempts++;
    const { opts } = this;
    const clientOpts = {
      sessionTimeout: opts.sessionTimeoutMs,
      connectTimeoutMs: opts.attemptTimeoutMs ?? 2_000,
      spinDelay: opts.spinDelayMs ?? 200,
    };
    const r = await connectCreatingChroot(opts.connect, clientOpts);
    if (this.closed) {
      if (r.ok) await r.client.close();
      return;
    }
    if (!r.ok) return this.retry(r.message);
    const zk = r.client;
    this.zk = zk;
    zk.on('disconnected', () => this.onDown('connection lost'));
    zk.on('expired', () => {
      this.freshPending = true;
      this.onDown('session expired');
    });
    zk.on('connected', () => this.onUp());
    opts.log.info({ zookeeper: opts.connect, backend: opts.name, session: zk.sessionId, attempts: this.attempts }, 'ZooKeeper session established');
    this.downSince = 0;
    this.emit('up', true);
  }

  private retry(message: string): void {
    if (this.closed) return;
    this.lastError = message;
    const base = backoffMs(this.attempts, this.opts.retryMinMs ?? 250, this.opts.retryMaxMs ?? 5_000);
    const wait = Math.round(base * (0.75 + Math.random() * 0.5));
    if (this.attempts === 1 || this.attempts % 10 === 0) {
      this.opts.log.warn({ zookeeper: this.opts.connect, backend: this.opts.name, attempts: this.attempts, retryInMs: wait, reason: message }, 'ZooKeeper unreachable; retrying');
    }
    this.retryTimer = setTimeout(() => void this.attempt(), wait);
    this.retryTimer.unref();
  }

  private onDown(reason: string): void {
    if (this.closed) return;
    if (this.downSince === 0) this.downSince = Date.now();
    this.opts.log.warn({ zookeeper: this.opts.connect, backend: this.opts.name, reason }, 'ZooKeeper session down; serving the last snapshot');
    this.emit('down');
  }

  private onUp(): void {
    if (this.closed || this.zk === null) return;
    const fresh = this.freshPending;
    this.freshPending = false;
    this.downSince = 0;
    this.opts.log.info({ zookeeper: this.opts.connect, backend: this.opts.name, session: this.zk.sessionId, fresh }, fresh ? 'ZooKeeper: new session, resyncing' : 'ZooKeeper session resumed');
    this.emit('up', fresh);
  }
}

type ClientOptions = { sessionTimeout: number; connectTimeoutMs: number; spinDelay: number };

/**
 * Connects to `connect` (`hosts[/chroot]`). A chrooted client cannot create its own chroot, so with
 * `createChroot` a missing one is first created through a client without it.
 */
export async function connectCreatingChroot(
  connect: string,
  opts: ClientOptions,
  createChroot = true,
): Promise<{ ok: true; client: ZkClient } | { ok: false; message: string }> {
  const { hosts, chroot } = parseConnectString(connect);
  if (createChroot && chroot !== null) {
    const made = await ensurePath(hosts, chroot, opts);
    if (!made.ok) return made;
  }
  const r = await ZkClient.connect(connect, opts);
  return r.ok ? { ok: true, client: r.value } : { ok: false, message: r.error.message };
}

/** Creates `path` (and its parents) through a client connected to `hosts` (no chroot). */
async function ensurePath(hosts: string, path: string, opts: ClientOptions): Promise<{ ok: true } | { ok: false; message: string }> {
  const r = await ZkClient.connect(hosts, opts);
  if (!r.ok) return { ok: false, message: r.error.message };
  try {
    const exists = await r.value.exists(path);
    if (exists.ok && exists.value !== null) return { ok: true };
    const made = await r.value.create(path, Buffer.alloc(0), { parents: true });
    if (made.ok || made.error.code === 'NODE_EXISTS') return { ok: true };
    return { ok: false, message: `cannot create chroot ${path}: ${made.error.message}` };
  } finally {
    await r.value.close();
  }
}

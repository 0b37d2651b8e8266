// A throwaway standalone ZooKeeper (Debian's zookeeper 3.8 package) for tests: temp data dir, free
// loopback port, ready once it answers `ruok` with `imok`. See /work/shared/STACK.md.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Test } from 'tap';

const ZK_JAR = '/usr/share/java/zookeeper.jar';
const SLF4J_SIMPLE = '/usr/share/java/slf4j-simple.jar';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface ZooKeeperOptions {
  /** ms; sessions are checked once per tick. Default 500. */
  readonly tickTime?: number;
  /** Bounds the server imposes on the session timeout clients ask for. Defaults 1000 and 60000 ms. */
  readonly minSessionTimeout?: number;
  readonly maxSessionTimeout?: number;
}

export interface ZooKeeperServer {
  /** `127.0.0.1:PORT`, for node-zookeeper-client. */
  readonly connectString: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server for good and deletes its files. */
  stop(): Promise<void>;
  /** Stops and starts again on the same port and data (sessions survive if they have not expired). */
  restart(): Promise<void>;
  /** Stops the process, keeping port and data for `start()`: the ensemble "goes away". */
  kill(): Promise<void>;
  /** Starts again after `kill()`, on the same port and data dir. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server stops answering without closing sockets, like a network partition. */
  freeze(): void;
  thaw(): void;
  /** Last lines the server logged (warnings and errors; env MIDOTRACE_ZK_LOG_LEVEL=info for more). */
  log(): string;
}

function findJava(): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'java');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return null;
}

function missingReason(): string | null {
  if (!existsSync(ZK_JAR)) return `ZooKeeper is not installed (${ZK_JAR} missing); run scripts/ensure-deps.sh as root`;
  if (findJava() === null) return 'java is not on PATH (it comes with the zookeeper package); run scripts/ensure-deps.sh as root';
  return null;
}

/**
 * Whether a ZooKeeper server can be started here. Missing ZooKeeper is an error when CI=true (the suite
 * must not silently skip its production-backend tests there); elsewhere tests skip with a message.
 */
export function zookeeperAvailable(): boolean {
  const reason = missingReason();
  if (reason === null) return true;
  if (process.env['CI'] === 'true') throw new Error(`CI=true but ${reason}`);
  return false;
}

/** For tap's `skip` option: false when ZooKeeper is available, else the reason (throws when CI=true). */
export function zookeeperSkip(): string | false {
  return zookeeperAvailable() ? false : (missingReason() ?? 'ZooKeeper unavailable');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter command and returns the whole answer ('' when nobody answers). */
export async function fourLetter(port: number, cmd: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = '';
    const done = (): void => {
      sock.destroy();
      resolve(out);
    };
    sock.setTimeout(timeoutMs, done);
    sock.on('connect', () => sock.write(cmd));
    sock.on('data', (d) => (out += d.toString()));
    sock.on('end', done);
    sock.on('error', done);
  });
}

// Kill any server still running when the test process exits, so a failing test leaves no JVM behind.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The exit hook does not run when the test process is killed (tap's timeout, Ctrl-C twice): a tiny
 * shell loop then kills the JVM and removes its files once the test process is gone.
 */
function guardOrphan(proc: ChildProcess, dir: string): void {
  if (proc.pid === undefined) return;
  const script =
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${proc.pid} 2>/dev/null; do sleep 1; done; ` +
    `if ! kill -0 ${process.pid} 2>/dev/null; then kill -9 ${proc.pid} 2>/dev/null; rm -rf '${dir}'; fi`;
  spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}

export async function startZooKeeper(opts: ZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  const reason = missingReason();
  if (reason !== null) throw new Error(reason);
  const java = findJava()!;
  const dir = await mkdtemp(join(tmpdir(), 'midotrace-zk-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const logFile = join(dir, 'zookeeper.log');
  const classpath = existsSync(SLF4J_SIMPLE) ? `${ZK_JAR}:${SLF4J_SIMPLE}` : ZK_JAR;

  let port = 0;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const recent: string[] = [];
  const remember = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') recent.push(line);
    if (recent.length > 200) recent.splice(0, recent.length - 200);
    void appendFile(logFile, chunk).catch(() => undefined);
  };

  async function writeConfig(): Promise<string> {
    const cfg = join(dir, 'zoo.cfg');
    await writeFile(
      cfg,
      [
        `tickTime=${opts.tickTime ?? 500}`,
        `minSessionTimeout=${opts.minSessionTimeout ?? 1000}`,
        `maxSessionTimeout=${opts.maxSessionTimeout ?? 60000}`,
        `dataDir=${dataDir}`,
        `clientPort=${port}`,
        'clientPortAddress=127.0.0.1',
        'admin.enableServer=false',
        '4lw.commands.whitelist=ruok,srvr,stat,cons,mntr',
        'maxClientCnxns=0',
        // Test data need not survive a power cut: skip fsync, keep the preallocated log small.
        'forceSync=no',
        'preAllocSize=1024',
        '',
      ].join('\n'),
    );
    return cfg;
  }

  async function launch(): Promise<void> {
    const cfg = await writeConfig();
    const proc = spawn(
      java,
      [
        '-Xmx64m',
        '-XX:+UseSerialGC',
        '-XX:TieredStopAtLevel=1',
        `-Dorg.slf4j.simpleLogger.defaultLogLevel=${process.env['MIDOTRACE_ZK_LOG_LEVEL'] ?? 'warn'}`,
        '-Dzookeeper.jmx.log4j.disable=true',
        '-cp',
        classpath,
        'org.apache.zookeeper.server.ZooKeeperServerMain',
        cfg,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir },
    );
    child = proc;
    live.add(proc);
    guardOrphan(proc, dir);
    // A forgotten server must not keep the test process alive; the exit hook above kills it.
    proc.unref();
    for (const s of [proc.stdout, proc.stderr]) {
      s?.on('data', remember);
      (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
    let hasExited = false;
    exited = new Promise((resolve) =>
      proc.once('exit', () => {
        hasExited = true;
        live.delete(proc);
        resolve();
      }),
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (hasExited) throw new Error(`ZooKeeper exited during startup on port ${port}:\n${recent.slice(-20).join('\n')}`);
      if ((await fourLetter(port, 'ruok', 500)) === 'imok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await halt();
    throw new Error(`ZooKeeper did not answer ruok within ${READY_TIMEOUT_MS} ms on port ${port}:\n${recent.slice(-20).join('\n')}`);
  }

  async function halt(): Promise<void> {
    const proc = child;
    if (proc === null) return;
    child = null;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGCONT'); // a frozen JVM cannot act on SIGTERM
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
  }

  // A port found free can be taken before the JVM binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      await halt();
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  return {
    connectString: `127.0.0.1:${port}`,
    port,
    dataDir,
    async stop() {
      await halt();
      // MIDOTRACE_ZK_KEEP=1 keeps the data dir and zookeeper.log for a post-mortem.
      if (process.env['MIDOTRACE_ZK_KEEP'] === '1') process.stderr.write(`ZooKeeper files kept in ${dir}\n`);
      else await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    kill: halt,
    async start() {
      if (child === null) await launch();
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    log: () => recent.join('\n'),
  };
}

export interface TcpProxy {
  readonly port: number;
  /** `127.0.0.1:PORT` of the proxy. */
  readonly connectString: string;
  /** A network partition: bytes are dropped both ways, connections stay open, new ones hang. */
  cut(): void;
  /** Ends the partition: connections that lived through it are reset, new ones go through. */
  heal(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy to one port, for partitioning a single client from the server (SIGSTOP on the
 * server partitions every client at once).
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let partitioned = false;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket | null; tainted: boolean }>();
  const server = net.createServer((client) => {
    const pair: { client: net.Socket; upstream: net.Socket | null; tainted: boolean } = { client, upstream: null, tainted: partitioned };
    pairs.add(pair);
    const drop = (): void => {
      client.destroy();
      pair.upstream?.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop);
    client.on('close', drop);
    if (pair.tainted) return; // held: it will be reset on heal
    const upstream = net.connect(targetPort, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', drop);
    upstream.on('close', drop);
    client.on('data', (d) => {
      if (!pair.tainted) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!pair.tainted) client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connectString: `127.0.0.1:${port}`,
    cut() {
      partitioned = true;
      for (const p of pairs) p.tainted = true;
    },
    heal() {
      partitioned = false;
      for (const p of [...pairs]) {
        if (!p.tainted) continue;
        p.client.destroy();
        p.upstream?.destroy();
        pairs.delete(p);
      }
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const p of pairs) {
        p.client.destroy();
        p.upstream?.destroy();
      }
      pairs.clear();
      await closed;
    },
  };
}

/**
 * Runs a test file's ZooKeeper tests, or, where ZooKeeper is missing outside CI, reports them skipped
 * with the reason: a skip, never a pass (in CI, zookeeperAvailable() throws instead).
 */
export async function runIfZooKeeper(t: Pick<Test, 'test'>, run: () => Promise<void>): Promise<void> {
  const skip = zookeeperSkip();
  if (skip === false) return run();
  await t.test('ZooKeeper tests', { skip }, () => {});
}

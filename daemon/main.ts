// `midotrace daemon`: start, serve, and on SIGTERM/SIGINT drain and exit 0 (bounded by a deadline).
// SIGHUP re-reads the config and the topology file; a bad one is refused and the old one keeps running.
import { loadConfigFile, validateConfig, type Config, type ConfigResult } from './config.js';
import { createLogger } from './log.js';
import { Daemon } from './service.js';
import { StartError } from './errors.js';
import { defaultPanelDir } from '../model/paths.js';

export interface DaemonCliOptions {
  config?: string;
  topology?: string;
  listen?: string;
  panelDir?: string;
}

/** Drain deadline: the systemd unit's TimeoutStopSec is set above this. */
export const STOP_DEADLINE_MS = 20_000;

function readConfig(o: DaemonCliOptions): ConfigResult {
  const overrides: Record<string, unknown> = {};
  if (o.listen !== undefined) overrides.listen = o.listen;
  if (o.topology !== undefined) overrides.topology = { source: 'file', file: o.topology };
  return o.config !== undefined ? loadConfigFile(o.config, overrides) : validateConfig(overrides);
}

export async function runDaemon(o: DaemonCliOptions): Promise<number> {
  const r = readConfig(o);
  if (!r.ok) {
    process.stderr.write(`midotrace: invalid configuration:\n${r.errors.map((e) => `  ${e}`).join('\n')}\n`);
    return 1;
  }
  const config: Readonly<Config> = r.config;
  const log = createLogger(config.log.level);
  let daemon: Daemon;
  try {
    const panelDir = o.panelDir ?? defaultPanelDir();
    daemon = await Daemon.start({ config, log, ...(panelDir !== undefined ? { panelDir } : {}) });
  } catch (e) {
    if (e instanceof StartError) {
      process.stderr.write(`midotrace: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
      process.stderr.write(`midotrace: cannot listen on ${config.listen}: ${err.message}\n`);
      return 1;
    }
    throw e;
  }
  const url = `http://${config.listen.replace(/:\d+$/, '')}:${daemon.port}`;
  process.stderr.write(`midotrace daemon ${daemon.hostId} serving on ${url}/ (panel ${url}/ui/). Try: midotrace --api ${url} list trace\n`);

  return await new Promise<number>((resolveExit) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: draining simulations and the trace sink');
      const deadline = setTimeout(() => {
        log.error({ deadlineMs: STOP_DEADLINE_MS }, 'drain did not finish in time; exiting');
        resolveExit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      daemon.stop().then(() => { clearTimeout(deadline); resolveExit(0); }, (e: unknown) => {
        log.error({ err: e }, 'error while stopping');
        clearTimeout(deadline);
        resolveExit(1);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      const next = readConfig(o);
      if (!next.ok) {
        log.error({ errors: next.errors }, 'SIGHUP: new configuration refused; the running one stays');
        return;
      }
      const { applied, needsRestart } = daemon.applyConfig(next.config);
      log.info({ applied, needsRestart }, needsRestart.length > 0
        ? 'SIGHUP: configuration applied; some changed keys take effect only after a restart'
        : 'SIGHUP: configuration applied');
      daemon.reloadTopology().then((t) => {
        if (!t.ok) log.error({ reason: t.message }, 'SIGHUP: topology refused; the running one stays');
        else log.info('SIGHUP: topology reloaded');
      }, (e: unknown) => log.error({ err: e }, 'SIGHUP: topology reload failed'));
    });
  });
}

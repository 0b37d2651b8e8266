#!/usr/bin/env node
// `midotrace`: the one binary (SPEC §7). Offline commands run in-process; the rest talk to the
// daemon's API. Exit 0 on success, 1 on a user error (one line), 2 when the daemon cannot be reached.
// Imports here stay few and light: a verb loads what it needs when it runs, so `simulate` and
// `--version` start without the HTTP client's helpers, the daemon, its config schema or the stores.
import { Command, CommanderError } from 'commander';
import { registerApiCommands } from './commands.js';
import { registerTopologyCommands } from './topology.js';
import { EXIT_USER, UserError } from './exit.js';
import { VERSION } from '../model/version.js';

export function buildProgram(print: (s: string) => void): Command {
  const program = new Command();
  program
    .name('midotrace')
    .description('Packet tracing for MidoNet-style virtual networks')
    .version(VERSION, '-V, --version')
    .option('--api <url>', 'daemon API base URL (env MIDOTRACE_API)', process.env.MIDOTRACE_API ?? 'http://127.0.0.1:8181')
    .option('--json', 'print JSON instead of tables')
    .option('--timeout <seconds>', 'bound every call to the daemon (default 10; exit 2 when it expires)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  program.command('simulate')
    .description('simulate packets offline against a topology file (no daemon needed)')
    .requiredOption('--topology <file>', 'topology document (SPEC §2)')
    .option('--in-port <port>', 'the exterior ingress port: id or name')
    .option('--flow <expr>', 'ovn-trace microflow instead of --in-port/--packet: inport == "web1" && ip4.dst == 10.0.2.12 && tcp.dst == 5432')
    .option('--packet <json>', 'packet fields as JSON (SPEC §3)')
    .option('--frame <hex>', 'raw Ethernet frame as hex')
    .option('--packets <file>', 'JSON array of packets, each with its inPort, simulated in order with state carried over')
    .option('--trace', 'record and print the trace')
    .option('--minimal', 'print only what became of the packet: result and where it left')
    .option('--summary', 'print one line: each device the packet crossed, what decided there, the result')
    .option('--detailed', 'print the result and the whole trace (as --trace)')
    .option('--json', 'print JSON')
    .action(async (opts: Record<string, unknown>) => {
      const { runSimulate } = await import('./simulate.js');
      const levels = (['minimal', 'summary', 'detailed'] as const).filter((l) => opts[l] === true);
      if (levels.length > 1) throw new UserError(`give one of --minimal, --summary, --detailed (not --${levels.join(' and --')})`);
      await runSimulate({
        ...(opts.flow !== undefined ? { flow: String(opts.flow) } : {}),
        ...(levels[0] === 'summary' || levels[0] === 'minimal' ? { level: levels[0] } : {}),
        topology: String(opts.topology),
        inPort: opts.inPort as string | undefined,
        packet: opts.packet as string | undefined,
        frame: opts.frame as string | undefined,
        packets: opts.packets as string | undefined,
        trace: opts.trace === true || levels[0] === 'detailed',
        json: opts.json === true || program.opts().json === true,
      }, print);
    });

  program.command('install-service')
    .description('install the systemd unit, an example config and the environment file')
    .option('--root <dir>', 'install under this directory instead of /')
    .option('--bin <path>', 'the midotrace executable for ExecStart (default: this one)')
    .action(async (opts: Record<string, unknown>) => {
      const { installService } = await import('./install-service.js');
      installService({ ...(opts.root ? { root: String(opts.root) } : {}), ...(opts.bin ? { bin: String(opts.bin) } : {}) }, print);
    });

  program.command('daemon')
    .description('run the tracing daemon (REST API, worker pool, trace sink)')
    .option('--config <file>', 'configuration file (JSON or YAML)')
    .option('--topology <file>', 'topology document to load (offline mode)')
    .option('--listen <host:port>', 'listen address (default 127.0.0.1:8181)')
    .action(async (opts: Record<string, unknown>) => {
      const { runDaemon } = await import('../daemon/main.js');
      const code = await runDaemon({
        config: opts.config as string | undefined,
        topology: opts.topology as string | undefined,
        listen: opts.listen as string | undefined,
      });
      if (code !== 0) throw new UserError('daemon exited with an error', code);
    });

  registerApiCommands(program, print);
  registerTopologyCommands(program, print);

  program.command('completion').description('print a shell completion script: completion bash|zsh')
    .argument('<shell>', 'bash or zsh')
    .action(async (shell: string) => {
      const { completionScript } = await import('./completion.js');
      const script = completionScript(program, shell);
      if (script === null) throw new UserError(`completion: ${JSON.stringify(shell)} must be bash or zsh`);
      process.stdout.write(script);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const print = (s: string): void => { process.stdout.write(s + '\n'); };
  const program = buildProgram(print);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USER;
    if (e instanceof UserError) {
      process.stderr.write(`midotrace: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

const invoked = process.argv[1] ?? '';
if (invoked.endsWith('/cli/main.js') || invoked.endsWith('/cli/main.ts') || invoked.endsWith('/midotrace')) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    process.stderr.write(`midotrace: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 70;
  });
}

// Running the `midotrace` binary as a real process, and what a user error must look like (SPEC §7).
import { spawn } from 'node:child_process';
import type t from 'tap';
import { CLI_ENTRY, ROOT } from './cli-entry.js';

export interface Run { code: number | null; stdout: string; stderr: string }

export function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { MIDOTRACE_API: _a, MIDOTRACE_TOKEN: _t, ...base } = process.env;
    const child = spawn(process.execPath, [...CLI_ENTRY, ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export type TestT = Parameters<Parameters<typeof t.test>[0]>[0];

/** Exit 1 with exactly one line on stderr, matching `re`. */
export function userError(t: TestT, r: Run, re: RegExp, what: string): void {
  t.equal(r.code, 1, `${what}: exit 1`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `${what}: one line (${r.stderr.trimEnd()})`);
  t.match(lines[0]!, re, what);
}

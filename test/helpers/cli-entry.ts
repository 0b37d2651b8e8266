// How tests start the `midotrace` binary: the built dist/cli/main.js when it is up to date with the
// sources (it starts in a third of the time), else the sources under tsx. MIDOTRACE_TEST_DIST=1 forces
// dist, =0 forces the sources.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** True when dist/ holds a build at least as new as every source file it is built from. */
function distIsFresh(): boolean {
  const walk = (dir: string): string[] => readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : []);
  try {
    return ['api', 'cli', 'daemon', 'engine', 'model', 'stores'].flatMap(walk).every((src) =>
      statSync(join(ROOT, 'dist', src.replace(/\.ts$/, '.js'))).mtimeMs >= statSync(join(ROOT, src)).mtimeMs);
  } catch {
    return false;
  }
}

export const USE_DIST = process.env.MIDOTRACE_TEST_DIST === '1' || (process.env.MIDOTRACE_TEST_DIST !== '0' && distIsFresh());
/** Node arguments that run the CLI. */
export const CLI_ENTRY: string[] = USE_DIST ? ['dist/cli/main.js'] : ['--import', 'tsx', 'cli/main.ts'];

// Where the package's own files are, whether running from dist/ or from sources under tsx.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding midotrace's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'midotrace') return dir;
      } catch { /* keep looking */ }
    }
    dir = dirname(dir);
  }
  return process.cwd();
}

/** The built control panel, when `npm run build` made it. */
export function defaultPanelDir(): string | undefined {
  const dir = join(packageRoot(), 'panel', 'dist');
  return existsSync(join(dir, 'index.html')) ? dir : undefined;
}

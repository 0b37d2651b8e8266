import { readFileSync } from 'node:fs';

function readVersion(): string {
  // Works from sources (cli/) and from dist/cli/: package.json is one or two levels up.
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'midotrace' && typeof pkg.version === 'string') return pkg.version;
    } catch { /* try the next location */ }
  }
  return '0.0.0';
}

export const VERSION = readVersion();

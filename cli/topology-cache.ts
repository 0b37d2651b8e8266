// `midotrace simulate` on a topology file it has already validated starts without the topology
// schema: loading zod and building the schema costs more than the whole rest of a one-shot run.
// A document that passed validation is kept, as the validator returned it (defaults filled), under
// a key made of the file's bytes and of the validator's own files; a run on the same bytes with the
// same validator reads that copy instead. Anything unexpected (no cache directory, an unreadable or
// corrupt entry) means validating again; the cache never decides that a document is valid on its own.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TopologyDoc } from '../model/topology/doc.js';
import { VERSION } from '../model/version.js';

/** Entries kept; the least recently written go first. */
const MAX_ENTRIES = 16;

/** `MIDOTRACE_CACHE_DIR`, else `$XDG_CACHE_HOME/midotrace`, else `~/.cache/midotrace`. */
export function cacheDir(): string {
  const env = process.env.MIDOTRACE_CACHE_DIR;
  if (env !== undefined && env !== '') return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'midotrace');
}

/** The validator's files: a changed schema or checker (a new release, a rebuild) changes every key. */
function validatorStamp(): string {
  const ext = extname(fileURLToPath(import.meta.url));
  let stamp = VERSION;
  for (const f of ['schema', 'load']) {
    try {
      const s = statSync(fileURLToPath(new URL(`../model/topology/${f}${ext}`, import.meta.url)));
      stamp += `:${s.size}:${s.mtimeMs}`;
    } catch { stamp += ':?'; }
  }
  return stamp;
}

export function cacheKey(bytes: Uint8Array): string {
  return createHash('sha256').update(validatorStamp()).update('\0').update(bytes).digest('hex').slice(0, 40);
}

/** The validated document stored under `key`, or null (absent, unreadable, not JSON). */
export function readCached(key: string): TopologyDoc | null {
  try {
    return JSON.parse(readFileSync(join(cacheDir(), `topology-${key}.json`), 'utf8')) as TopologyDoc;
  } catch {
    return null;
  }
}

/** Stores a document the validator accepted. Best effort: a failure only costs the next run time. */
export function writeCached(key: string, doc: TopologyDoc): void {
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.topology-${key}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(doc), { mode: 0o600 });
    // Readers see the whole entry or none: rename is atomic within a directory.
    renameSync(tmp, join(dir, `topology-${key}.json`));
    const entries = readdirSync(dir).filter((f) => f.startsWith('topology-'))
      .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs })).sort((a, b) => b.t - a.t);
    for (const e of entries.slice(MAX_ENTRIES)) unlinkSync(join(dir, e.f));
  } catch { /* read-only home, full disk: validate again next time */ }
}

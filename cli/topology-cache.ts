// `midotrace simulate` on a topology file it has already validated starts without the topology
// schema: loading zod and building the schema costs more than the whole rest of a one-shot run.
// A document that passed validation is kept, as the validator returned it (defaults filled), under
// a key made of the file's identity (device, inode, size, modification and change times, in ns: any
// write changes the change time, whatever a tool does to the modification time) and of the
// validator's own files; a run on the same file with the same validator reads that copy instead,
// without reading or hashing the file itself (a 20 MB document would cost ~100 ms of hashing). Anything unexpected (no cache directory, an unreadable or
// corrupt entry) means validating again; the cache never decides that a document is valid on its own.
import { isAscii } from 'node:buffer';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { extname, join, resolve } from 'node:path';
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

/** The key of the file at `path` as it is now, or null when it cannot be stat'ed. */
export function cacheKey(path: string): string | null {
  let id: string;
  try {
    const s = statSync(path, { bigint: true });
    id = `${resolve(path)}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return null;
  }
  // FNV-1a, 2 × 32 bits: names a file in the cache directory; the whole identity is checked on read.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  const text = `${validatorStamp()}|${id}`;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x01000193 ^ 0x5bd1e995) >>> 0;
  }
  return `${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0')}\n${text}`;
}

const fileOf = (key: string): string => join(cacheDir(), `topology-${key.slice(0, key.indexOf('\n'))}.json`);

/**
 * The validated document stored under `key`, or null (absent, unreadable, another file's entry, not
 * JSON). An entry is its key's identity line, then the document.
 */
export function readCached(key: string): TopologyDoc | null {
  try {
    const text = bufferText(readFileSync(fileOf(key)));
    const nl = text.indexOf('\n', key.indexOf('\n') + 1);
    if (nl < 0 || text.slice(0, nl) !== key) return null;
    return JSON.parse(text.slice(nl + 1)) as TopologyDoc;
  } catch {
    return null;
  }
}

/**
 * A file's bytes as text. Topology documents are nearly always ASCII: then the bytes are the string's
 * Latin-1 (one byte a character, copied as they are), which reads a 20 MB document in half the time
 * UTF-8 decoding takes.
 */
export function bufferText(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

/** Stores a document the validator accepted. Best effort: a failure only costs the next run time. */
export function writeCached(key: string, doc: TopologyDoc): void {
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = fileOf(key);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${key}\n${JSON.stringify(doc)}`, { mode: 0o600 });
    // Readers see the whole entry or none: rename is atomic within a directory.
    renameSync(tmp, file);
    const entries = readdirSync(dir).filter((f) => f.startsWith('topology-') && f.endsWith('.json'))
      .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs })).sort((a, b) => b.t - a.t);
    for (const e of entries.slice(MAX_ENTRIES)) unlinkSync(join(dir, e.f));
  } catch { /* read-only home, full disk: validate again next time */ }
}

// `midotrace simulate` on a topology file it has already validated starts without the topology
// schema: loading zod and building the schema costs more than the whole rest of a one-shot run.
// A document that passed validation is kept, as the validator returned it (defaults filled), under
// a key made of the file's identity (device, inode, size, modification and change times, in ns: any
// write changes the change time, whatever a tool does to the modification time) and of the
// validator's own files; a run on the same file with the same validator reads that copy instead,
// without reading or hashing the file itself (a 20 MB document would cost ~100 ms of hashing). Anything unexpected (no cache directory, an unreadable or
// corrupt entry) means validating again; the cache never decides that a document is valid on its own.
import { isAscii } from 'node:buffer';
import { closeSync, mkdirSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
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
  // `lines`: the entry format (readCached); entries of an older format get other keys.
  let stamp = `${VERSION}:lines`;
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

/** Items of a long list per line of an entry (routes: ~200 kB a line). */
const ITEMS_PER_LINE = 1000;
/** The last line of a whole entry. */
const END = '"end"';

/**
 * The validated document stored under `key`, or null (absent, unreadable, another file's entry, cut
 * short, not JSON). An entry is its key's two lines, then the document as lines of JSON: the document
 * with its long lists empty, then `["routes", [...up to ITEMS_PER_LINE routes]]` lines, then END.
 * Read a line at a time through one small buffer, a 20 MB entry never exists as one 20 MB buffer and
 * one 20 MB string beside the parsed document (that was 42 MB of the one-shot's peak memory).
 */
export function readCached(key: string): TopologyDoc | null {
  let fd = -1;
  try {
    fd = openSync(fileOf(key), 'r');
    const lines = new LineReader(fd);
    const nl = key.indexOf('\n');
    if (lines.next() !== key.slice(0, nl) || lines.next() !== key.slice(nl + 1)) return null;
    const head = lines.next();
    if (head === null) return null;
    const doc = JSON.parse(head) as Record<string, unknown>;
    for (;;) {
      const line = lines.next();
      if (line === null) return null;
      if (line === END) return doc as TopologyDoc;
      const [field, items] = JSON.parse(line) as [unknown, unknown];
      const list = typeof field === 'string' && Object.hasOwn(doc, field) ? doc[field] : undefined;
      if (!Array.isArray(list) || !Array.isArray(items)) return null;
      for (let i = 0; i < items.length; i++) list.push(items[i]);
    }
  } catch {
    return null;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * The lines of a file, read through one buffer that grows only for a line longer than it. Lines split
 * at the byte 10: JSON text never holds a raw newline, and a UTF-8 sequence never holds that byte.
 */
class LineReader {
  private buf = Buffer.allocUnsafe(1024 * 1024);
  private start = 0;
  private end = 0;
  private eof = false;

  constructor(private readonly fd: number) {}

  next(): string | null {
    for (;;) {
      const nl = this.buf.indexOf(10, this.start);
      if (nl >= 0 && nl < this.end) {
        const line = bufferText(this.buf.subarray(this.start, nl));
        this.start = nl + 1;
        return line;
      }
      if (this.eof) {
        if (this.start >= this.end) return null;
        const last = bufferText(this.buf.subarray(this.start, this.end));
        this.start = this.end;
        return last;
      }
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else if (this.end === this.buf.length) {
        const grown = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(grown, 0, 0, this.end);
        this.buf = grown;
      }
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (n === 0) this.eof = true;
      this.end += n;
    }
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
  let tmp: string | null = null;
  try {
    const dir = cacheDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = fileOf(key);
    tmp = `${file}.${process.pid}.tmp`;
    const head: Record<string, unknown> = {};
    const long: [string, unknown[]][] = [];
    for (const [k, v] of Object.entries(doc)) {
      if (Array.isArray(v) && v.length > ITEMS_PER_LINE) { head[k] = []; long.push([k, v]); } else head[k] = v;
    }
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${key}\n${JSON.stringify(head)}\n`);
      for (const [k, list] of long) {
        for (let i = 0; i < list.length; i += ITEMS_PER_LINE) writeSync(fd, `${JSON.stringify([k, list.slice(i, i + ITEMS_PER_LINE)])}\n`);
      }
      writeSync(fd, END);
    } finally {
      closeSync(fd);
    }
    // Readers see the whole entry or none: rename is atomic within a directory.
    renameSync(tmp, file);
    tmp = null;
    const entries = readdirSync(dir).filter((f) => f.startsWith('topology-') && f.endsWith('.json'))
      .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs })).sort((a, b) => b.t - a.t);
    for (const e of entries.slice(MAX_ENTRIES)) unlinkSync(join(dir, e.f));
  } catch {
    /* read-only home, full disk: validate again next time */
    if (tmp !== null) try { unlinkSync(tmp); } catch { /* already gone */ }
  }
}

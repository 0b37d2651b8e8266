// The host id, kept like Midolman's host_uuid.properties so it survives restarts and reinstalls of the
// package (but not of the state directory).
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE = 'host_uuid.properties';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type HostIdResult = { ok: true; hostId: string; created: boolean } | { ok: false; message: string };

export function loadOrCreateHostId(stateDir: string): HostIdResult {
  const path = join(stateDir, FILE);
  let text: string | null = null;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, message: `${path}: ${(e as Error).message}` };
  }
  if (text !== null) {
    const m = /^\s*host_uuid\s*=\s*(\S+)\s*$/m.exec(text);
    if (!m || !UUID.test(m[1]!)) return { ok: false, message: `${path}: no valid host_uuid=<uuid> line; fix or remove the file` };
    return { ok: true, hostId: m[1]!.toLowerCase(), created: false };
  }
  const hostId = randomUUID();
  try {
    mkdirSync(stateDir, { recursive: true });
    // Written aside then renamed, so a crash never leaves a half-written id.
    writeFileSync(`${path}.tmp`, `# midotrace host id; keep it stable for this host\nhost_uuid=${hostId}\n`);
    renameSync(`${path}.tmp`, path);
  } catch (e) {
    return { ok: false, message: `${path}: ${(e as Error).message}` };
  }
  return { ok: true, hostId, created: true };
}

// Bulk ZooKeeper work: bounded parallel calls, splitting operations into transactions that respect
// the server's packet limit (jute.maxbuffer, 1 MB by default), and removing a large tree quickly.
import type { ZkClient, ZkError, ZkOp, ZkResult } from './client.js';
import { join } from './paths.js';
import { mapLimit } from '../limit.js';

/** The calls bulk code needs; tests wrap a real client to inject faults. */
export type ZkOps = Pick<ZkClient, 'get' | 'getChildren' | 'exists' | 'create' | 'setData' | 'remove' | 'transaction'>;

/** ZooKeeper refuses a znode (and a request) over 1 MB; stay well under it with the request overhead. */
export const MAX_NODE_BYTES = 1_000_000;
/** Default budget of one multi-op transaction. */
export const TXN_BYTES = 512 * 1024;
export const TXN_OPS = 2_000;

/** Bytes an operation adds to a multi request (path, data, and a generous fixed overhead). */
export function opBytes(op: ZkOp): number {
  const data = op.op === 'create' ? (op.data?.length ?? 0) : op.op === 'setData' ? op.data.length : 0;
  return Buffer.byteLength(op.path) + data + 64;
}

/** Splits operations, in order, into transactions of at most `maxBytes` and `maxOps` each. */
export function batchOps(ops: readonly ZkOp[], maxBytes = TXN_BYTES, maxOps = TXN_OPS): ZkOp[][] {
  const batches: ZkOp[][] = [];
  let cur: ZkOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const b = opBytes(op);
    if (cur.length > 0 && (bytes + b > maxBytes || cur.length >= maxOps)) {
      batches.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(op);
    bytes += b;
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}

/**
 * Every path under `path` (not `path` itself), parents before children, down to `maxDepth` levels
 * (nodes at the last level are listed but not asked for children: leaves cost no call).
 */
export async function listTree(zk: ZkOps, path: string, maxDepth = Infinity, concurrency = 64): Promise<ZkResult<string[]>> {
  const out: string[] = [];
  let level = [path];
  for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    let failure: ZkError | null = null;
    await mapLimit(level, concurrency, async (p) => {
      const r = await zk.getChildren(p);
      if (!r.ok) {
        if (r.error.code !== 'NO_NODE') failure ??= r.error;
        return;
      }
      for (const c of r.value.children) next.push(join(p, c));
    });
    if (failure !== null) return { ok: false, error: failure };
    out.push(...next);
    level = next;
  }
  return { ok: true, value: out };
}

/**
 * Removes `path` and everything below it (`maxDepth`: how deep nodes can be, as for listTree): the
 * deepest level first, many removes per transaction, several transactions in flight. Nodes already
 * gone are fine. Not atomic (readers must not be looking at the tree: generations are removed only
 * once no pointer names them).
 */
export async function removeTree(zk: ZkOps, path: string, maxDepth = Infinity, concurrency = 4): Promise<ZkResult<void>> {
  const listed = await listTree(zk, path, maxDepth);
  if (!listed.ok) return listed.error.code === 'NO_NODE' ? { ok: true, value: undefined } : listed;
  const depth = (p: string): number => p.split('/').length;
  const byDepth = new Map<number, string[]>();
  for (const p of [...listed.value, path]) {
    const d = depth(p);
    const list = byDepth.get(d) ?? [];
    list.push(p);
    byDepth.set(d, list);
  }
  for (const d of [...byDepth.keys()].sort((a, b) => b - a)) {
    const batches = batchOps(byDepth.get(d)!.map((p): ZkOp => ({ op: 'remove', path: p })));
    let failure: ZkError | null = null;
    await mapLimit(batches, concurrency, async (ops) => {
      const r = await zk.transaction(ops);
      if (r.ok) return;
      // Someone removed one of them already: fall back to one by one for this batch.
      for (const op of ops) {
        const one = await zk.remove(op.path);
        if (!one.ok && one.error.code !== 'NO_NODE') failure ??= one.error;
      }
    });
    if (failure !== null) return { ok: false, error: failure };
  }
  return { ok: true, value: undefined };
}

// The shared `limit` of trace conditions in ZooKeeper (P9 item 12): each traced packet of a limited
// condition claims one unit by creating a PERSISTENT_SEQUENTIAL znode under
// <root>/trace-condition-hits/<id>/. ZooKeeper numbers sequential children from the parent's cversion,
// one write at a time for the whole ensemble, so the unit's number says exactly how many claims came
// before it, whichever host made them and however often daemons restarted: the trace is kept when the
// number is below the limit. Children are never deleted while the condition lives (a deletion would
// bump cversion too and reuse no number, but it would make cversion stop meaning "claims"), so
// `hits` = min(cversion, limit) from one exists(). A claim costs one small write; once a daemon sees
// the limit spent it stops claiming (daemon/service.ts), so a limit of n leaves at most n plus the
// claims in flight at that moment.
import type { ConditionHits, HitClaim } from '../../model/stores.js';
import type { ZkError } from './client.js';
import { ConditionPaths, isUuid } from './paths.js';
import { ZkOperationError, ZkUnavailableError, type ZkSession } from './session.js';

/** A unit's name: ZooKeeper appends ten digits. */
const UNIT = 'h-';

export class ZkConditionHits implements ConditionHits {
  private readonly paths: ConditionPaths;

  /** `session` is the condition store's (shared; the store closes it). */
  constructor(private readonly session: ZkSession, root: string) {
    this.paths = new ConditionPaths(root);
  }

  async claim(id: string, limit: number): Promise<HitClaim> {
    if (limit <= 0) return 'exhausted';
    const zk = this.session.client;
    if (zk === null || !isUuid(id)) return 'unavailable';
    const unit = `${this.paths.hitsOf(id)}/${UNIT}`;
    let r = await zk.create(unit, Buffer.alloc(0), { mode: 'persistent_sequential' });
    // The condition's first claim anywhere: make its directory, then claim.
    if (!r.ok && r.error.code === 'NO_NODE') r = await zk.create(unit, Buffer.alloc(0), { mode: 'persistent_sequential', parents: true });
    if (!r.ok) return 'unavailable';
    const seq = Number(r.value.slice(r.value.lastIndexOf(UNIT) + UNIT.length));
    return seq < limit ? 'kept' : 'exhausted';
  }

  async count(id: string, limit: number): Promise<number> {
    if (!isUuid(id)) return 0;
    const zk = this.session.require();
    const r = await zk.exists(this.paths.hitsOf(id));
    if (!r.ok) throw failure(`reading the hits of trace condition ${id}`, r.error);
    return r.value === null ? 0 : Math.min(r.value.cversion, limit);
  }

  async forget(id: string): Promise<void> {
    if (!isUuid(id)) return;
    const zk = this.session.require();
    const r = await zk.removeRecursive(this.paths.hitsOf(id));
    if (!r.ok && r.error.code !== 'NO_NODE') throw failure(`removing the hits of trace condition ${id}`, r.error);
  }
}

function failure(what: string, e: ZkError): Error {
  if (e.code === 'CONNECTION_LOSS' || e.code === 'SESSION_EXPIRED' || e.code === 'OPERATION_TIMEOUT' || e.code === 'CLOSED') {
    return new ZkUnavailableError(`${what}: ${e.message}`);
  }
  return new ZkOperationError(`${what}: ${e.message}`, e);
}

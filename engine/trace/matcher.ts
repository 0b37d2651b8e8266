// Trace conditions compiled for the hot path (SPEC §5). Untraced packets pay one length check when no
// condition exists. With conditions, an index on the most selective field of each condition (ingress
// port, source or destination address, source or destination MAC) means a packet is tested only
// against conditions that could match it; the rest sit in a short `always` list.
import type { PacketContext, TraceMatcher } from '../context.js';
import { macLo } from '../addr.js';
import { compileCondition, matchCondition, refsFromTopology, F, type CCondition } from '../rules/condition.js';
import type { CompiledTopology } from '../topology/compiled.js';
import { bridgeDevice, portDevice, routerDevice } from '../topology/compiled.js';
import type { TraceConditionJson } from './types.js';

/** One enabled condition as published to workers: its hit-counter slot travels with it. */
export interface PublishedCondition {
  slot: number;
  condition: TraceConditionJson;
}

interface Entry {
  readonly id: string;
  readonly slot: number;
  /** Most traces it may start; -1 for unlimited. */
  readonly limit: number;
  readonly cond: CCondition;
  /** Packet serial of the last match: a condition counts once per packet, across restarts. */
  seen: number;
}

const enum Key { None = 0, InPort = 1, NwSrc = 2, NwDst = 3, DlSrc = 4, DlDst = 5 }
const KEYS = [Key.InPort, Key.NwSrc, Key.NwDst, Key.DlSrc, Key.DlDst] as const;

export class ConditionMatcher implements TraceMatcher {
  private readonly index: Map<number, Entry[]>[] = [new Map(), new Map(), new Map(), new Map(), new Map(), new Map()];
  /** Key kinds that have at least one condition, so a packet does only the lookups that can hit. */
  private readonly activeKeys: Key[] = [];
  private readonly always: Entry[] = [];
  private readonly scoped = new Map<number, Entry[]>();
  private readonly scopedFlags: Uint8Array;
  private serial = 0;
  readonly size: number;
  readonly tracksFlows: boolean;

  /**
   * `hits` is shared by all workers (one Int32 per slot) so that `limit` holds exactly across them.
   * Conditions referring to ids absent from the topology still compile (those fields match nothing).
   */
  constructor(topo: CompiledTopology, conditions: readonly PublishedCondition[], private readonly hits: Int32Array) {
    this.scopedFlags = new Uint8Array(topo.deviceCount);
    const refs = refsFromTopology(topo);
    for (const { slot, condition: c } of conditions) {
      if (c.enabled === false) continue;
      const entry: Entry = {
        id: c.id, slot, limit: c.limit ?? -1, cond: compileCondition(c, refs), seen: -1,
      };
      if (c.deviceId !== undefined) {
        const device = deviceNumber(topo, c.deviceType, c.deviceId);
        if (device < 0) continue; // scoped to a device this topology lacks: it can never match
        this.scopedFlags[device] = 1;
        let list = this.scoped.get(device);
        if (!list) this.scoped.set(device, list = []);
        list.push(entry);
        continue;
      }
      this.place(entry);
    }
    for (const k of KEYS) if (this.index[k]!.size > 0) this.activeKeys.push(k);
    this.size = conditions.length;
    this.tracksFlows = conditions.some(({ condition: c }) => c.enabled !== false && (c.matchForwardFlow === true || c.matchReturnFlow === true));
  }

  private place(e: Entry): void {
    const c = e.cond;
    const plain = (bit: number): boolean => !c.condInvert && (c.set & bit) !== 0 && (c.inv & bit) === 0;
    const add = (k: Key, value: number): void => {
      const m = this.index[k]!;
      let list = m.get(value);
      if (!list) m.set(value, list = []);
      list.push(e);
    };
    if (plain(F.InPorts) && c.inPorts.length > 0) {
      for (let i = 0; i < c.inPorts.length; i++) if (c.inPorts[i]! >= 0) add(Key.InPort, c.inPorts[i]!);
      return;
    }
    if (plain(F.NwSrc) && c.nwSrcMask === -1) return add(Key.NwSrc, c.nwSrc);
    if (plain(F.NwDst) && c.nwDstMask === -1) return add(Key.NwDst, c.nwDst);
    const full = 0xffffff;
    // MACs are indexed by their low 24 bits (a small integer key); the full match checks the rest.
    if (plain(F.DlSrc) && c.dlSrcMaskHi === full && c.dlSrcMaskLo === full) return add(Key.DlSrc, c.dlSrcLo);
    if (plain(F.DlDst) && c.dlDstMaskHi === full && c.dlDstMaskLo === full) return add(Key.DlDst, c.dlDstLo);
    this.always.push(e);
  }

  scopedAt(device: number): boolean { return this.scopedFlags[device] === 1; }

  matchAtIngress(ctx: PacketContext): boolean {
    const serial = ++this.serial;
    let matched = false;
    const keys = this.activeKeys;
    if (keys.length !== 0) {
      const pkt = ctx.pkt;
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        const value = key === Key.InPort ? ctx.ingressPort : key === Key.NwSrc ? (pkt.isIp ? pkt.nwSrc | 0 : NaN)
          : key === Key.NwDst ? (pkt.isIp ? pkt.nwDst | 0 : NaN) : key === Key.DlSrc ? macLo(pkt.ethSrc) : macLo(pkt.ethDst);
        const list = this.index[key]!.get(value);
        if (list !== undefined && this.test(list, ctx, serial)) matched = true;
      }
    }
    if (this.always.length !== 0 && this.test(this.always, ctx, serial)) matched = true;
    return matched;
  }

  matchAtDevice(ctx: PacketContext, device: number): boolean {
    const list = this.scoped.get(device);
    return list !== undefined && this.test(list, ctx, this.serial);
  }

  private test(list: readonly Entry[], ctx: PacketContext, serial: number): boolean {
    let matched = false;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.seen === serial) { matched = true; continue; }
      if (!matchCondition(e.cond, ctx) || !this.take(e)) continue;
      e.seen = serial;
      ctx.conditionIds.push(e.id);
      matched = true;
    }
    return matched;
  }

  /** Counts a hit; false when the condition's limit is already spent (exact across workers). */
  private take(e: Entry): boolean {
    const hits = this.hits;
    if (e.limit < 0) { Atomics.add(hits, e.slot, 1); return true; }
    for (;;) {
      const n = Atomics.load(hits, e.slot);
      if (n >= e.limit) return false;
      if (Atomics.compareExchange(hits, e.slot, n, n + 1) === n) return true;
    }
  }
}

function deviceNumber(t: CompiledTopology, type: string | undefined, id: string): number {
  const p = t.portIndex.get(id);
  if (p !== undefined && (type === undefined || type === 'port')) return portDevice(t, p);
  const b = t.bridgeIndex.get(id);
  if (b !== undefined && (type === undefined || type === 'bridge')) return bridgeDevice(t, b);
  const r = t.routerIndex.get(id);
  if (r !== undefined && (type === undefined || type === 'router')) return routerDevice(t, r);
  return -1;
}

// Trace conditions compiled for the hot path (SPEC §5). Untraced packets pay one length check when no
// condition exists. With conditions, an index on the most selective field of each condition (ingress
// port, source or destination address, source or destination MAC) means a packet is tested only
// against conditions that could match it; the rest sit in a short `always` list.
import type { PacketContext, TraceMatcher } from '../context.js';
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

const enum Key { InPort = 0, NwSrc = 1, NwDst = 2, DlSrc = 3, DlDst = 4, TpDst = 5 }

/**
 * One index lookup a packet makes: the packet's value for `key` (masked, for address prefixes) is
 * looked up in `map`. Address prefixes get one probe per distinct prefix length.
 */
interface Probe {
  readonly key: Key;
  readonly mask: number;
  readonly map: Map<number, Entry[]>;
  /**
   * A 65,536-bit filter over the map's keys: most packets match no condition, and one bit test turns
   * them away without the cost of a Map lookup.
   */
  readonly bits: Uint32Array;
}

function filterBit(value: number): number { return Math.imul(value, 0x9e3779b1) >>> 16; }

export class ConditionMatcher implements TraceMatcher {
  /** Only probes some condition sits in, so a packet does only the lookups that can hit. */
  private readonly probes: Probe[] = [];
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
    this.size = conditions.length;
    this.tracksFlows = conditions.some(({ condition: c }) => c.enabled !== false && (c.matchForwardFlow === true || c.matchReturnFlow === true));
  }

  /**
   * Indexes a condition under one field it requires (not inverted, and the whole condition not
   * inverted): the ingress port, a source or destination prefix (any length but /0), an exact MAC, or
   * a single destination port. A packet lacking that value can never match it. Others go to `always`.
   */
  private place(e: Entry): void {
    const c = e.cond;
    const plain = (bit: number): boolean => !c.condInvert && (c.set & bit) !== 0 && (c.inv & bit) === 0;
    const add = (key: Key, mask: number, value: number): void => {
      let probe = this.probes.find((p) => p.key === key && p.mask === mask);
      if (!probe) this.probes.push(probe = { key, mask, map: new Map(), bits: new Uint32Array(2048) });
      const bit = filterBit(value);
      probe.bits[bit >>> 5]! |= 1 << (bit & 31);
      let list = probe.map.get(value);
      if (!list) probe.map.set(value, list = []);
      list.push(e);
    };
    if (plain(F.InPorts) && c.inPorts.length > 0) {
      for (let i = 0; i < c.inPorts.length; i++) if (c.inPorts[i]! >= 0) add(Key.InPort, -1, c.inPorts[i]!);
      return;
    }
    if (plain(F.NwSrc) && c.nwSrcMask !== 0) return add(Key.NwSrc, c.nwSrcMask, c.nwSrc);
    if (plain(F.NwDst) && c.nwDstMask !== 0) return add(Key.NwDst, c.nwDstMask, c.nwDst);
    const full = 0xffffff;
    // MACs are indexed by their low 24 bits (a small integer key); the full match checks the rest.
    if (plain(F.DlSrc) && c.dlSrcMaskHi === full && c.dlSrcMaskLo === full) return add(Key.DlSrc, -1, c.dlSrcLo);
    if (plain(F.DlDst) && c.dlDstMaskHi === full && c.dlDstMaskLo === full) return add(Key.DlDst, -1, c.dlDstLo);
    if (plain(F.TpDst) && c.tpDstStart === c.tpDstEnd) return add(Key.TpDst, -1, c.tpDstStart);
    this.always.push(e);
  }

  scopedAt(device: number): boolean { return this.scopedFlags[device] === 1; }

  matchAtIngress(ctx: PacketContext): boolean {
    const serial = ++this.serial;
    let matched = false;
    const probes = this.probes;
    if (probes.length !== 0) {
      const pkt = ctx.pkt;
      const ip = pkt.isIp;
      for (let k = 0; k < probes.length; k++) {
        const probe = probes[k]!;
        const key = probe.key;
        let value: number;
        if (key === Key.InPort) value = ctx.ingressPort;
        else if (key === Key.NwSrc) { if (!ip) continue; value = pkt.nwSrc & probe.mask; }
        else if (key === Key.NwDst) { if (!ip) continue; value = pkt.nwDst & probe.mask; }
        else if (key === Key.DlSrc) value = pkt.ethSrc & 0xffffff;
        else if (key === Key.DlDst) value = pkt.ethDst & 0xffffff;
        else { if (!pkt.hasL4) continue; value = pkt.tpDst; }
        const bit = filterBit(value);
        if ((probe.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) continue;
        const list = probe.map.get(value);
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

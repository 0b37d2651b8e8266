// Trace conditions compiled for the hot path (SPEC §5). Untraced packets pay one branch when no
// condition exists. With conditions, an index on the most selective field of each condition (ingress
// port, source or destination address, source or destination MAC, destination port) means a packet
// is tested only against conditions that could match it; the rest sit in a short `always` list.
//
// Most packets match no condition, so the index is read in two stages. Stage one tests one bit per
// index probe in a filter; only when a bit is set does stage two do the Map lookups and condition
// tests. Stage one runs for every packet, between a simulation whose own working set crowds the L1
// cache, so everything it reads sits in one Int32Array (`prog`): a 64-byte header of seeds and masks,
// then the filter. Measured on the reference topology, each extra cache line stage one touched cost
// more than the arithmetic of a probe (bench/pool.ts pool.idle_conditions.100).
import type { PacketContext, TraceMatcher } from '../context.js';
import { compileCondition, matchCondition, refsFromTopology, F, type CCondition } from '../rules/condition.js';
import type { CompiledTopology } from '../topology/compiled.js';
import { bridgeDevice, portDevice, routerDevice } from '../topology/compiled.js';
import type { TraceConditionJson } from '../../model/trace.js';
import { ETH_IPV4, ETH_QINQ, ETH_VLAN, MAX_VLANS, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import { read16, read32 } from '../wire/bytes.js';
import { ETH_HDR_LEN, VLAN_TAG_LEN } from '../wire/ethernet.js';
import { IPV4_HDR_LEN } from '../wire/ipv4.js';
import { lookupId } from '../topology/id-lookup.js';

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
  /** ctx.packetSerial of the last match: a condition counts once per packet, across restarts. */
  seen: number;
}

const enum Key { InPort = 0, NwSrc = 1, NwDst = 2, DlSrc = 3, DlDst = 4, TpDst = 5 }

/**
 * One index lookup: the packet's value for `key` (masked, for address prefixes) is looked up in
 * `map`. Address prefixes get one probe per distinct prefix length; other keys have one probe.
 */
interface Probe {
  readonly key: Key;
  readonly mask: number;
  /** Mixed into the value before hashing, so that all probes share one filter. */
  readonly seed: number;
  readonly map: Map<number, Entry[]>;
}

/** Layout of `prog`'s header (int32 words). Prefix probes past the second per address use `extra`. */
const enum H {
  Keys = 0, InPortSeed = 1, DlSrcSeed = 2, DlDstSeed = 3, TpDstSeed = 4,
  SrcCount = 5, SrcMask0 = 6, SrcSeed0 = 7, SrcMask1 = 8, SrcSeed1 = 9,
  DstCount = 10, DstMask0 = 11, DstSeed0 = 12, DstMask1 = 13, DstSeed1 = 14,
  Words = 16,
}

/**
 * log2 of the filter's bits: 16 Kbit (2 KB). A few hundred indexed values set a few per cent of
 * it at most, which is how often a packet that matches nothing still pays for stage two.
 */
const FILTER_LOG2 = 14;
const FILTER_WORDS = 1 << (FILTER_LOG2 - 5);

/** Keys read only from IPv4 packets. */
const IP_KEYS = (1 << Key.NwSrc) | (1 << Key.NwDst) | (1 << Key.TpDst);

function probeSeed(k: number): number { return Math.imul(k + 1, 0x632be5ab); }

/** The filter bit (0 .. 2^FILTER_LOG2 - 1) of `value` under `seed`. */
function filterBit(seed: number, value: number): number {
  return Math.imul(value ^ seed, 0x9e3779b1) >>> (32 - FILTER_LOG2);
}

/** 1 when the filter in `prog` has the bit of `value` under `seed`, else 0. */
function inFilter(prog: Int32Array, seed: number, value: number): number {
  const bit = filterBit(seed, value);
  return (prog[H.Words + (bit >>> 5)]! >>> (bit & 31)) & 1;
}

export class ConditionMatcher implements TraceMatcher {
  /** Stage one's header and filter (see the file comment); the first field, so it shares a line with the object header. */
  private readonly prog = new Int32Array(H.Words + FILTER_WORDS);
  /** Only probes some condition sits in, so a packet does only the lookups that can hit. */
  private readonly probes: Probe[] = [];
  /** [mask, seed] pairs of the address probes past the second per address (rare). */
  private readonly extraSrc: number[] = [];
  private readonly extraDst: number[] = [];
  private readonly always: Entry[] = [];
  private readonly scoped = new Map<number, Entry[]>();
  private readonly scopedFlags: Uint8Array;
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
    this.writeHeader();
    this.size = conditions.length;
    this.tracksFlows = conditions.some(({ condition: c }) => c.enabled !== false && (c.matchForwardFlow === true || c.matchReturnFlow === true));
  }

  private writeHeader(): void {
    const h = this.prog;
    const seedSlot = [H.InPortSeed, -1, -1, H.DlSrcSeed, H.DlDstSeed, H.TpDstSeed];
    let keys = 0;
    for (const p of this.probes) {
      keys |= 1 << p.key;
      if (p.key === Key.NwSrc || p.key === Key.NwDst) {
        const [count, mask0, extra] = p.key === Key.NwSrc ? [H.SrcCount, H.SrcMask0, this.extraSrc] : [H.DstCount, H.DstMask0, this.extraDst];
        const n = h[count]!++;
        if (n < 2) { h[mask0 + 2 * n] = p.mask; h[mask0 + 2 * n + 1] = p.seed; } else extra.push(p.mask, p.seed);
      } else {
        h[seedSlot[p.key]!] = p.seed;
      }
    }
    h[H.Keys] = keys;
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
      if (!probe) this.probes.push(probe = { key, mask, seed: probeSeed(this.probes.length), map: new Map() });
      const bit = filterBit(probe.seed, value);
      this.prog[H.Words + (bit >>> 5)]! |= 1 << (bit & 31);
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
    const serial = ctx.packetSerial;
    const h = this.prog;
    const keys = h[H.Keys]!;
    if (keys === 0) return this.always.length !== 0 && this.test(this.always, ctx, serial);
    // Stage one: OR the filter bits of every probe, branching only on which keys exist (fixed per
    // matcher, so predicted).
    const pkt = ctx.pkt;
    let any = 0;
    if ((keys & (1 << Key.InPort)) !== 0) any |= inFilter(h, h[H.InPortSeed]!, ctx.ingressPort);
    if ((keys & (1 << Key.DlSrc)) !== 0) any |= inFilter(h, h[H.DlSrcSeed]!, pkt.ethSrc & 0xffffff);
    if ((keys & (1 << Key.DlDst)) !== 0) any |= inFilter(h, h[H.DlDstSeed]!, pkt.ethDst & 0xffffff);
    if ((keys & IP_KEYS) !== 0 && pkt.isIp) {
      // int32 addresses: a uint32 above 2^31 passed to a call that is not inlined would be boxed.
      any |= this.addressBits(h, pkt.nwSrc | 0, pkt.nwDst | 0);
      if ((keys & (1 << Key.TpDst)) !== 0 && pkt.hasL4) any |= inFilter(h, h[H.TpDstSeed]!, pkt.tpDst);
    }
    if (any === 0) return this.always.length !== 0 && this.test(this.always, ctx, serial);
    return this.lookup(ctx, serial);
  }

  /**
   * Stage one from the frames' bytes, for a worker's pass over a whole batch before it simulates any
   * of it: while the simulation runs between two packets it evicts what stage one reads, so in a tight
   * loop of its own stage one costs a fraction. Frame i is buf[offsets[i], offsets[i+1]) entering
   * port index ports[i]; out[i] becomes 0 when that frame, parsed, can match no condition at ingress
   * (the caller passes it to Simulator.runFrame, and simulate() skips matchAtIngress), else 1.
   * Ethernet II frames with IPv4 (or another ethertype), untagged or with the parser's up to
   * MAX_VLANS tags, are read here; frames the parser would refuse, or too short for the fields an
   * index reads, get 1 and are left to matchAtIngress after the parser has had its say. The values
   * read are those parseFrame() puts in the Packet:
   * test/matcher.test.ts checks the two against each other on random frames.
   */
  screenBatch(buf: Uint8Array, offsets: Int32Array, n: number, ports: Int32Array, out: Uint8Array): void {
    const h = this.prog;
    const keys = h[H.Keys]!;
    if (this.always.length !== 0 || keys === 0) {
      out.fill(this.always.length !== 0 ? 1 : 0, 0, n);
      return;
    }
    // What is fixed for the batch, out of the loop.
    const inPort = (keys & (1 << Key.InPort)) !== 0;
    const dlSrc = (keys & (1 << Key.DlSrc)) !== 0;
    const dlDst = (keys & (1 << Key.DlDst)) !== 0;
    const ipKeys = (keys & IP_KEYS) !== 0;
    const tpDst = (keys & (1 << Key.TpDst)) !== 0;
    const inPortSeed = h[H.InPortSeed]!;
    const dlSrcSeed = h[H.DlSrcSeed]!;
    const dlDstSeed = h[H.DlDstSeed]!;
    const tpDstSeed = h[H.TpDstSeed]!;
    const size = buf.length;
    let lastPort = -1;
    let portBit = 0;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      const end = offsets[i + 1]!;
      if (end - off < ETH_HDR_LEN || off < 0 || end > size) { out[i] = 1; continue; }
      let any = 0;
      if (inPort) {
        const port = ports[i]!;
        if (port !== lastPort) { lastPort = port; portBit = inFilter(h, inPortSeed, port); }
        any = portBit;
      }
      if (dlSrc) any |= inFilter(h, dlSrcSeed, read32(buf, off + 8) & 0xffffff);
      if (dlDst) any |= inFilter(h, dlDstSeed, read32(buf, off + 2) & 0xffffff);
      // Past up to MAX_VLANS tags, as the parser reads them; a frame it would refuse goes through.
      let typeAt = off + 12;
      let type = read16(buf, typeAt);
      let tags = 0;
      while (type === ETH_VLAN || type === ETH_QINQ) {
        if (tags++ === MAX_VLANS || typeAt + 6 > end) { type = -1; break; }
        typeAt += VLAN_TAG_LEN;
        type = read16(buf, typeAt);
      }
      if (type === -1) { out[i] = 1; continue; }
      if (type !== ETH_IPV4 || !ipKeys) { out[i] = any; continue; }
      const ip = typeAt + 2;
      if (end - ip < IPV4_HDR_LEN) { out[i] = 1; continue; }
      any |= this.addressBits(h, read32(buf, ip + 12) | 0, read32(buf, ip + 16) | 0);
      if (tpDst && (read16(buf, ip + 6) & 0x1fff) === 0) {
        // Not a later fragment, so the packet has L4 fields: TCP/UDP destination port, ICMP code (in
        // tpDst by MidoNet's convention), 0 for other protocols.
        const l4 = ip + (buf[ip]! & 15) * 4;
        const proto = buf[ip + 9]!;
        let tp = 0;
        if (proto === PROTO_TCP || proto === PROTO_UDP) {
          if (l4 + 4 > end) { out[i] = 1; continue; }
          tp = read16(buf, l4 + 2);
        } else if (proto === PROTO_ICMP) {
          if (l4 + 2 > end) { out[i] = 1; continue; }
          tp = buf[l4 + 1]!;
        }
        any |= inFilter(h, tpDstSeed, tp);
      }
      out[i] = any;
    }
  }

  /**
   * Stage one's probes of the IPv4 source and destination (int32). The first two prefix lengths of
   * each are unrolled: a loop's exit branch costs more here than the probe itself.
   */
  private addressBits(h: Int32Array, src: number, dst: number): number {
    let any = 0;
    const sn = h[H.SrcCount]!;
    if (sn !== 0) {
      any |= inFilter(h, h[H.SrcSeed0]!, src & h[H.SrcMask0]!);
      if (sn > 1) any |= inFilter(h, h[H.SrcSeed1]!, src & h[H.SrcMask1]!);
      if (sn > 2) any |= this.extraBits(this.extraSrc, src);
    }
    const dn = h[H.DstCount]!;
    if (dn !== 0) {
      any |= inFilter(h, h[H.DstSeed0]!, dst & h[H.DstMask0]!);
      if (dn > 1) any |= inFilter(h, h[H.DstSeed1]!, dst & h[H.DstMask1]!);
      if (dn > 2) any |= this.extraBits(this.extraDst, dst);
    }
    return any;
  }

  /** Filter bits of an address under the third and later prefix lengths ([mask, seed] pairs). */
  private extraBits(extra: readonly number[], addr: number): number {
    let any = 0;
    for (let i = 0; i < extra.length; i += 2) any |= inFilter(this.prog, extra[i + 1]!, addr & extra[i]!);
    return any;
  }

  /** Stage two, for the few packets some filter bit lets through: the index lookups proper. */
  private lookup(ctx: PacketContext, serial: number): boolean {
    let matched = false;
    const pkt = ctx.pkt;
    const probes = this.probes;
    for (let k = 0; k < probes.length; k++) {
      const probe = probes[k]!;
      const key = probe.key;
      let value: number;
      if (key === Key.InPort) value = ctx.ingressPort;
      else if (key === Key.NwSrc) { if (!pkt.isIp) continue; value = pkt.nwSrc & probe.mask; }
      else if (key === Key.NwDst) { if (!pkt.isIp) continue; value = pkt.nwDst & probe.mask; }
      else if (key === Key.DlSrc) value = pkt.ethSrc & 0xffffff;
      else if (key === Key.DlDst) value = pkt.ethDst & 0xffffff;
      else { if (!pkt.hasL4) continue; value = pkt.tpDst; }
      if (inFilter(this.prog, probe.seed, value) === 0) continue;
      const list = probe.map.get(value);
      if (list !== undefined && this.test(list, ctx, serial)) matched = true;
    }
    if (this.always.length !== 0 && this.test(this.always, ctx, serial)) matched = true;
    return matched;
  }

  matchAtDevice(ctx: PacketContext, device: number): boolean {
    const list = this.scoped.get(device);
    return list !== undefined && this.test(list, ctx, ctx.packetSerial);
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
  const p = lookupId(t.portIndex, id);
  if (p !== undefined && (type === undefined || type === 'port')) return portDevice(t, p);
  const b = lookupId(t.bridgeIndex, id);
  if (b !== undefined && (type === undefined || type === 'bridge')) return bridgeDevice(t, b);
  const r = lookupId(t.routerIndex, id);
  if (r !== undefined && (type === undefined || type === 'router')) return routerDevice(t, r);
  return -1;
}

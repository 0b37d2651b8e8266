// SPEC §3 packets as JSON: validating input into a Packet, rendering a Packet back, the trace `match`
// summary, and hex frames. JSON edges only; nothing here runs per packet inside the engine.
//
// Defaults for fields left out (deterministic, so the same JSON always simulates the same way):
//   ethSrc      02:00:00:00:00:01 (DEFAULT_ETH_SRC, a locally administered unicast MAC)
//   ethDst      ff:ff:ff:ff:ff:ff for an ARP request, else 02:00:00:00:00:02 (DEFAULT_ETH_DST)
//   etherType   2054 (ARP) when `arp` is given, else 2048 (IPv4)
//   arp         op 1 (request), sha = ethSrc, spa/tpa 0.0.0.0, tha 00:00:00:00:00:00
//   IPv4        nwSrc/nwDst 0.0.0.0, nwTos 0, ttl 64, ipId 0, not fragmented, DF clear
//   nwProto     1 (ICMP) when an icmp* field is given, else 0; it is required with tpSrc/tpDst
//   ICMP        icmpType 8 (echo request), icmpCode 0, icmpId 0, sequence 0; tpSrc/tpDst are
//               accepted as type/code (MidoNet's convention) but not together with icmpType/icmpCode
//   TCP         flags SYN, window 65535, seq/ack 0 (SPEC §3 has no fields for them)
//   fragment    "first": MF set, offset 0; "later": MF clear, offset 185 (as if after 1480 bytes)
//   payload     payloadLength zero bytes (default 0)
// `vlan` is an id 0..4095, or an array [outer, inner] for 802.1ad QinQ (outer TPID 0x88a8).
import { BROADCAST_MAC, ipToString, macToString, parseIp, parseMac } from '../model/addr.js';
import {
  EMPTY, ETH_ARP, ETH_IPV4, ETH_QINQ, ETH_VLAN, Frag, MAX_VLANS, PROTO_ICMP, PROTO_TCP, PROTO_UDP, type Packet,
} from './packet.js';
import type { MatchSummary } from '../model/trace.js';
import { ARP_REQUEST } from './wire/arp.js';
import { isEchoType } from './wire/icmp.js';
import { TCP_SYN } from './wire/tcp.js';
import { Layers } from './wire/parse.js';

export const DEFAULT_ETH_SRC = 0x020000000001;
export const DEFAULT_ETH_DST = 0x020000000002;
export const DEFAULT_TTL = 64;
/** Fragment offset (8-byte units) given to a "later" fragment built from JSON. */
export const LATER_FRAGMENT_OFFSET = 185;

export type { ArpJson, FragmentName, NwProtoName, PacketJson } from '../model/packet.js';
import type { FragmentName, PacketJson } from '../model/packet.js';

export type JsonResult = { ok: true } | { ok: false; path: string; message: string };

const PACKET_KEYS = new Set(['ethSrc', 'ethDst', 'vlan', 'etherType', 'arp', 'nwSrc', 'nwDst', 'nwProto', 'nwTos',
  'ttl', 'fragment', 'tpSrc', 'tpDst', 'icmpType', 'icmpCode', 'icmpId', 'payloadLength']);
const ARP_KEYS = new Set(['op', 'sha', 'spa', 'tha', 'tpa']);
const IPV4_KEYS = ['nwSrc', 'nwDst', 'nwProto', 'nwTos', 'ttl', 'fragment', 'tpSrc', 'tpDst', 'icmpType',
  'icmpCode', 'icmpId'] as const;
const ICMP_KEYS = ['icmpType', 'icmpCode', 'icmpId'] as const;
const PROTO_NAMES: Record<string, number> = { tcp: PROTO_TCP, udp: PROTO_UDP, icmp: PROTO_ICMP };

/** Thrown only inside packetFromJson to unwind to its single catch; never escapes. */
class Bad {
  constructor(readonly path: string, readonly message: string) {}
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function int(o: Record<string, unknown>, key: string, path: string, min: number, max: number, dflt: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new Bad(`${path}.${key}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function mac(o: Record<string, unknown>, key: string, path: string, dflt: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  const m = typeof v === 'string' ? parseMac(v) : -1;
  if (m < 0) throw new Bad(`${path}.${key}`, 'must be a MAC address like aa:bb:cc:dd:ee:ff');
  return m;
}

function ip(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (v === undefined) return 0;
  const a = typeof v === 'string' ? parseIp(v) : -1;
  if (a < 0) throw new Bad(`${path}.${key}`, 'must be an IPv4 address like 10.0.0.1');
  return a;
}

function rejectUnknown(o: Record<string, unknown>, known: Set<string>, path: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new Bad(`${path}.${k}`, `unknown field (known: ${[...known].join(', ')})`);
  }
}

/**
 * Validates SPEC §3 packet JSON and fills `pkt` (reset first). Errors name the JSON path under
 * `packet` (e.g. `packet.arp.tpa`). On success pkt.buf holds payloadLength fresh zero bytes.
 */
export function packetFromJson(json: unknown, pkt: Packet): JsonResult {
  pkt.reset();
  try {
    fill(json, pkt);
    return { ok: true };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, path: e.path, message: e.message };
    throw e;
  }
}

function fill(json: unknown, pkt: Packet): void {
  const P = 'packet';
  if (!isObject(json)) throw new Bad(P, 'must be an object');
  rejectUnknown(json, PACKET_KEYS, P);
  fillVlan(json.vlan, pkt);
  const ipKey = IPV4_KEYS.find((k) => json[k] !== undefined);
  if (json.arp !== undefined && ipKey !== undefined) {
    throw new Bad(`${P}.${ipKey}`, 'an ARP packet has no IPv4 fields');
  }
  const dfltType = json.arp !== undefined ? ETH_ARP : ETH_IPV4;
  const etherType = int(json, 'etherType', P, 0, 0xffff, dfltType);
  if (etherType === ETH_VLAN || etherType === ETH_QINQ) throw new Bad(`${P}.etherType`, 'VLAN tags are given with "vlan"');
  if (json.arp !== undefined && etherType !== ETH_ARP) throw new Bad(`${P}.etherType`, `must be ${ETH_ARP} (ARP) when "arp" is given`);
  if (ipKey !== undefined && etherType !== ETH_IPV4) throw new Bad(`${P}.etherType`, `must be ${ETH_IPV4} (IPv4) when "${ipKey}" is given`);
  pkt.etherType = etherType;
  pkt.ethSrc = mac(json, 'ethSrc', P, DEFAULT_ETH_SRC);
  if (etherType === ETH_ARP) {
    fillArp(json.arp ?? {}, pkt);
    if (json.payloadLength !== undefined) throw new Bad(`${P}.payloadLength`, 'an ARP packet has no payload');
    pkt.ethDst = mac(json, 'ethDst', P, pkt.arpOp === ARP_REQUEST ? BROADCAST_MAC : DEFAULT_ETH_DST);
    return;
  }
  pkt.ethDst = mac(json, 'ethDst', P, DEFAULT_ETH_DST);
  let maxPayload = 65535;
  if (etherType === ETH_IPV4) maxPayload -= 20 + fillIpv4(json, pkt);
  const len = int(json, 'payloadLength', P, 0, maxPayload, 0);
  pkt.buf = len === 0 ? EMPTY : new Uint8Array(len);
  pkt.payOff = 0;
  pkt.payLen = len;
}

function fillVlan(v: unknown, pkt: Packet): void {
  if (v === undefined) return;
  const ids = Array.isArray(v) ? v : [v];
  if (ids.length < 1 || ids.length > MAX_VLANS) throw new Bad('packet.vlan', 'must be a VLAN id or an array of 1 or 2 ids');
  ids.forEach((id: unknown, i) => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 4095) {
      throw new Bad(Array.isArray(v) ? `packet.vlan[${i}]` : 'packet.vlan', 'must be an integer from 0 to 4095');
    }
    pkt.vlanIds[i] = id;
    pkt.vlanTpids[i] = ids.length === 2 && i === 0 ? ETH_QINQ : ETH_VLAN;
  });
  pkt.vlanCount = ids.length;
}

function fillArp(a: unknown, pkt: Packet): void {
  const P = 'packet.arp';
  if (!isObject(a)) throw new Bad(P, 'must be an object');
  rejectUnknown(a, ARP_KEYS, P);
  const op = a.op === 'request' ? 1 : a.op === 'reply' ? 2 : a.op;
  pkt.arpOp = int({ op }, 'op', P, 0, 0xffff, ARP_REQUEST);
  pkt.arpSha = mac(a, 'sha', P, pkt.ethSrc);
  pkt.arpSpa = ip(a, 'spa', P);
  pkt.arpTha = mac(a, 'tha', P, 0);
  pkt.arpTpa = ip(a, 'tpa', P);
}

/** Fills the IPv4 and L4 fields; returns the L4 header length (0 when none). */
function fillIpv4(j: Record<string, unknown>, pkt: Packet): number {
  const P = 'packet';
  pkt.nwSrc = ip(j, 'nwSrc', P);
  pkt.nwDst = ip(j, 'nwDst', P);
  pkt.nwTos = int(j, 'nwTos', P, 0, 255, 0);
  pkt.ttl = int(j, 'ttl', P, 0, 255, DEFAULT_TTL);
  const frag = j.fragment ?? 'none';
  if (frag !== 'none' && frag !== 'first' && frag !== 'later') throw new Bad(`${P}.fragment`, 'must be "none", "first" or "later"');
  pkt.fragment = frag === 'first' ? Frag.First : frag === 'later' ? Frag.Later : Frag.None;
  pkt.moreFragments = frag === 'first';
  pkt.fragOffset = frag === 'later' ? LATER_FRAGMENT_OFFSET : 0;

  const icmpKey = ICMP_KEYS.find((k) => j[k] !== undefined);
  const portKey = j.tpSrc !== undefined ? 'tpSrc' : j.tpDst !== undefined ? 'tpDst' : undefined;
  let proto: number;
  if (j.nwProto === undefined) {
    if (icmpKey === undefined && portKey !== undefined) throw new Bad(`${P}.nwProto`, `is required when ${portKey} is given`);
    proto = icmpKey !== undefined ? PROTO_ICMP : 0;
  } else if (typeof j.nwProto === 'string') {
    const named = PROTO_NAMES[j.nwProto.toLowerCase()];
    if (named === undefined) throw new Bad(`${P}.nwProto`, 'must be "tcp", "udp", "icmp" or an integer from 0 to 255');
    proto = named;
  } else {
    proto = int(j, 'nwProto', P, 0, 255, 0);
  }
  pkt.nwProto = proto;

  if (pkt.fragment === Frag.Later) {
    const l4Key = portKey ?? icmpKey;
    if (l4Key !== undefined) throw new Bad(`${P}.${l4Key}`, 'a later fragment carries no L4 header');
    return 0;
  }
  if (proto === PROTO_ICMP) {
    if (j.icmpType !== undefined && j.tpSrc !== undefined) throw new Bad(`${P}.tpSrc`, 'give icmpType or tpSrc, not both');
    if (j.icmpCode !== undefined && j.tpDst !== undefined) throw new Bad(`${P}.tpDst`, 'give icmpCode or tpDst, not both');
    pkt.tpSrc = j.tpSrc !== undefined ? int(j, 'tpSrc', P, 0, 255, 0) : int(j, 'icmpType', P, 0, 255, 8);
    pkt.tpDst = j.tpDst !== undefined ? int(j, 'tpDst', P, 0, 255, 0) : int(j, 'icmpCode', P, 0, 255, 0);
    pkt.icmpId = int(j, 'icmpId', P, 0, 0xffff, 0);
    return 8;
  }
  if (icmpKey !== undefined) throw new Bad(`${P}.${icmpKey}`, 'is only for ICMP (nwProto 1)');
  if (proto !== PROTO_TCP && proto !== PROTO_UDP) {
    if (portKey !== undefined) throw new Bad(`${P}.${portKey}`, 'is only for tcp, udp or icmp');
    return 0;
  }
  pkt.tpSrc = int(j, 'tpSrc', P, 0, 0xffff, 0);
  pkt.tpDst = int(j, 'tpDst', P, 0, 0xffff, 0);
  if (proto === PROTO_UDP) return 8;
  pkt.tcpFlags = TCP_SYN;
  pkt.tcpWindow = 0xffff;
  return 20;
}

export const FRAGMENT_NAMES: readonly FragmentName[] = ['none', 'first', 'later'];

/** SPEC §3 JSON for pkt: numbers as numbers, lowercase MACs, dotted quads, only fields that apply. */
export function packetToJson(pkt: Packet): PacketJson {
  const j: PacketJson = { ethSrc: macToString(pkt.ethSrc), ethDst: macToString(pkt.ethDst) };
  if (pkt.vlanCount === 1) j.vlan = pkt.vlanIds[0]!;
  else if (pkt.vlanCount >= 2) j.vlan = [pkt.vlanIds[0]!, pkt.vlanIds[1]!];
  j.etherType = pkt.etherType;
  if (pkt.etherType === ETH_ARP) {
    j.arp = {
      op: pkt.arpOp, sha: macToString(pkt.arpSha), spa: ipToString(pkt.arpSpa),
      tha: macToString(pkt.arpTha), tpa: ipToString(pkt.arpTpa),
    };
    return j;
  }
  if (pkt.etherType === ETH_IPV4) {
    j.nwSrc = ipToString(pkt.nwSrc);
    j.nwDst = ipToString(pkt.nwDst);
    j.nwProto = pkt.nwProto;
    j.nwTos = pkt.nwTos;
    j.ttl = pkt.ttl;
    if (pkt.fragment !== Frag.None) j.fragment = FRAGMENT_NAMES[pkt.fragment]!;
    if (pkt.fragment !== Frag.Later) {
      if (pkt.nwProto === PROTO_TCP || pkt.nwProto === PROTO_UDP) {
        j.tpSrc = pkt.tpSrc;
        j.tpDst = pkt.tpDst;
      } else if (pkt.nwProto === PROTO_ICMP) {
        j.icmpType = pkt.tpSrc;
        j.icmpCode = pkt.tpDst;
        if (isEchoType(pkt.tpSrc)) j.icmpId = pkt.icmpId;
      }
    }
  }
  j.payloadLength = pkt.payLen;
  return j;
}

/**
 * The trace `match` (SPEC §5). For ARP it follows MidoNet's FlowMatch, which puts the sender and
 * target protocol addresses in nwSrc/nwDst and the opcode in nwProto. For ICMP tpSrc/tpDst are type
 * and code. L4 fields are left out for non-first fragments and for other protocols.
 */
/**
 * A trace's match: the packet's fields, down to `layers` (a malformed frame's match holds only what
 * its parse read, never a field left from an earlier packet).
 */
export function matchSummary(pkt: Packet, layers: Layers = Layers.All): MatchSummary {
  const m: MatchSummary = {};
  if (layers === Layers.None) return m;
  m.ethSrc = macToString(pkt.ethSrc);
  m.ethDst = macToString(pkt.ethDst);
  if (layers === Layers.Macs) return m;
  m.etherType = pkt.etherType;
  if (pkt.vlanCount > 0) m.vlan = pkt.vlanIds[0]!;
  if (layers === Layers.L2) return m;
  if (pkt.etherType === ETH_IPV4) {
    m.nwSrc = ipToString(pkt.nwSrc);
    m.nwDst = ipToString(pkt.nwDst);
    m.nwProto = pkt.nwProto;
    const p = pkt.nwProto;
    if (layers === Layers.All && pkt.fragment !== Frag.Later && (p === PROTO_TCP || p === PROTO_UDP || p === PROTO_ICMP)) {
      m.tpSrc = pkt.tpSrc;
      m.tpDst = pkt.tpDst;
    }
  } else if (pkt.etherType === ETH_ARP) {
    m.nwSrc = ipToString(pkt.arpSpa);
    m.nwDst = ipToString(pkt.arpTpa);
    m.nwProto = pkt.arpOp;
  }
  return m;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Hex digits (whitespace ignored, either case) to bytes; null when malformed or of odd length. */
export function hexToBytes(hex: string): Uint8Array | null {
  const s = /\s/.test(hex) ? hex.replace(/\s+/g, '') : hex;
  if (s.length % 2 !== 0) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigit(s.charCodeAt(2 * i));
    const lo = hexDigit(s.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Lowercase hex of bytes[off, off+len). */
export function bytesToHex(bytes: Uint8Array, off = 0, len = bytes.length - off): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + off, len).toString('hex');
}

/**
 * Validates the `frame` field of a SPEC §3 input: a string of hex digits, a whole number of bytes.
 * Any length passes: whether the bytes are a frame (at least a header, at most MAX_FRAME_LEN) is
 * parseFrame's call, and its verdict is a result (SPEC §6), not a refusal.
 */
export function frameFromHex(hex: unknown): { ok: true; bytes: Uint8Array } | { ok: false; path: string; message: string } {
  if (typeof hex !== 'string') return { ok: false, path: 'frame', message: 'must be a string of hex digits' };
  const bytes = hexToBytes(hex);
  if (bytes === null) return { ok: false, path: 'frame', message: 'must be hex digits with an even length' };
  return { ok: true, bytes };
}

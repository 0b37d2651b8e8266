// The datagram an ICMP error quotes (its IPv4 header and first 8 bytes), as NAT needs it: MidoNet's
// NatState keys an error on the quoted header (NatKey.processIcmp) and rewrites it (transformICMPData),
// so a reply that went through NAT is translated back together with what it complains about.
import { type Packet, PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../packet.js';
import { checksum } from '../wire/checksum.js';
import { read16, read32, write16, write32 } from '../wire/bytes.js';
import { ICMP_PARAM_PROBLEM, ICMP_TIME_EXCEEDED, ICMP_UNREACH } from '../wire/icmp.js';

/** The quoted datagram's fields, filled by readQuoted() (module scratch: nothing allocated per packet). */
export const quoted = { proto: 0, src: 0, dst: 0, sport: 0, dport: 0, hdrLen: 0 };

/** An ICMP error NAT translates (Midolman: unreachable, time exceeded, parameter problem). */
export function isNatIcmpError(p: Packet): boolean {
  if (p.nwProto !== PROTO_ICMP || !p.hasL4) return false;
  const t = p.tpSrc;
  return t === ICMP_UNREACH || t === ICMP_TIME_EXCEEDED || t === ICMP_PARAM_PROBLEM;
}

/**
 * Reads the datagram quoted by ICMP error `p` into `quoted`; false when too short to hold an IPv4
 * header and the ports (or ICMP identifier) after it. A quoted ICMP message uses its identifier as
 * both ports, as NAT keys ICMP echo.
 */
export function readQuoted(p: Packet): boolean {
  const b = p.buf;
  const o = p.payOff;
  const n = p.payLen;
  if (n < 20 || (b[o]! >> 4) !== 4) return false;
  const hl = (b[o]! & 0x0f) * 4;
  if (hl < 20 || n < hl + 4) return false;
  const proto = b[o + 9]!;
  quoted.proto = proto;
  quoted.src = read32(b, o + 12) | 0;
  quoted.dst = read32(b, o + 16) | 0;
  quoted.hdrLen = hl;
  if (proto === PROTO_ICMP) {
    if (n < hl + 6) return false;
    const id = read16(b, o + hl + 4);
    quoted.sport = id;
    quoted.dport = id;
  } else {
    quoted.sport = read16(b, o + hl);
    quoted.dport = read16(b, o + hl + 2);
  }
  return true;
}

/**
 * Rewrites the quoted datagram's source (`src` true) or destination address from `from` to `to`, and
 * its TCP/UDP port on that side to `port` unless it is -1; false (nothing changed) when the address is
 * not `from`. The bytes are copied first: pkt.buf is the caller's frame, and the trace and a traced
 * re-run read the packet as it arrived. Rare (ICMP errors through NAT), so the copy may allocate.
 */
export function rewriteQuoted(p: Packet, src: boolean, from: number, to: number, port: number): boolean {
  if (!readQuoted(p)) return false;
  if ((src ? quoted.src : quoted.dst) !== (from | 0)) return false;
  const copy = p.buf.slice(p.payOff, p.payOff + p.payLen);
  p.buf = copy;
  p.payOff = 0;
  const hl = quoted.hdrLen;
  write32(copy, src ? 12 : 16, to >>> 0);
  write16(copy, 10, 0);
  write16(copy, 10, checksum(copy, 0, hl));
  const proto = quoted.proto;
  if (port >= 0 && (proto === PROTO_TCP || proto === PROTO_UDP)) {
    write16(copy, hl + (src ? 0 : 2), port);
    // The quoted UDP checksum no longer fits; 0 means "none" (MidoNet clears it too). TCP's lies
    // beyond the 8 quoted bytes.
    if (proto === PROTO_UDP && copy.length >= hl + 8) write16(copy, hl + 6, 0);
  }
  return true;
}

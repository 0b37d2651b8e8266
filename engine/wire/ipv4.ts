// IPv4 (RFC 791) and the transport headers under it.
//
//   0 ver|ihl 1 tos 2 total length 4 id 6 flags|fragment offset 8 ttl 9 proto 10 checksum
//   12 src 16 dst 20 options (ihl*4 - 20 bytes)
//
// Lengths are checked, checksums are not (Midolman does not verify them either); every checksum is
// recomputed when a frame is built. Bytes after `total length` (Ethernet padding) are ignored.
import { Frag, PROTO_ICMP, PROTO_TCP, PROTO_UDP, type Packet } from '../packet.js';
import { copyBytes, paddedOptLen, read16, write16, write32 } from './bytes.js';
import { checksum, finish, pseudoHeaderSum, sumWords } from './checksum.js';
import { emitIcmpHeader, ICMP_CHECKSUM_OFF, ICMP_HDR_LEN, parseIcmp, type IcmpError } from './icmp.js';
import { emitTcpHeader, parseTcp, TCP_CHECKSUM_OFF, tcpHeaderLength, type TcpError } from './tcp.js';
import { emitUdpHeader, parseUdp, UDP_CHECKSUM_OFF, UDP_HDR_LEN, type UdpError } from './udp.js';

export const IPV4_HDR_LEN = 20;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
const IP_OFFSET_MASK = 0x1fff;

export type Ipv4Error =
  | 'ipv4_truncated' | 'ipv4_bad_version' | 'ipv4_bad_ihl' | 'ipv4_bad_total_length'
  | TcpError | UdpError | IcmpError;

/** Parses the IPv4 header at buf[p, end) and, unless this is a non-first fragment, its L4 header. */
export function parseIpv4(buf: Uint8Array, p: number, end: number, pkt: Packet): 'ok' | Ipv4Error {
  if (end - p < IPV4_HDR_LEN) return 'ipv4_truncated';
  const vihl = buf[p]!;
  if (vihl >> 4 !== 4) return 'ipv4_bad_version';
  const hl = (vihl & 15) * 4;
  if (hl < IPV4_HDR_LEN) return 'ipv4_bad_ihl';
  if (p + hl > end) return 'ipv4_truncated';
  const total = read16(buf, p + 2);
  if (total < hl) return 'ipv4_bad_total_length';
  if (p + total > end) return 'ipv4_truncated';
  pkt.nwTos = buf[p + 1]!;
  pkt.ipId = read16(buf, p + 4);
  const frag = read16(buf, p + 6);
  pkt.dontFragment = (frag & IP_DF) !== 0;
  pkt.moreFragments = (frag & IP_MF) !== 0;
  pkt.fragOffset = frag & IP_OFFSET_MASK;
  pkt.fragment = pkt.fragOffset !== 0 ? Frag.Later : pkt.moreFragments ? Frag.First : Frag.None;
  pkt.ttl = buf[p + 8]!;
  const proto = buf[p + 9]!;
  pkt.nwProto = proto;
  // Inline, not read32(): addresses above 2^31 returned from a call would be boxed per packet.
  const a = p + 12;
  pkt.nwSrc = (((buf[a]! << 24) | (buf[a + 1]! << 16) | (buf[a + 2]! << 8) | buf[a + 3]!) >>> 0);
  const d = p + 16;
  pkt.nwDst = (((buf[d]! << 24) | (buf[d + 1]! << 16) | (buf[d + 2]! << 8) | buf[d + 3]!) >>> 0);
  pkt.optOff = p + IPV4_HDR_LEN;
  pkt.optLen = hl - IPV4_HDR_LEN;
  const l4 = p + hl;
  const l4End = p + total;
  if (pkt.fragment !== Frag.Later) {
    if (proto === PROTO_UDP) return parseUdp(buf, l4, l4End, pkt);
    if (proto === PROTO_TCP) return parseTcp(buf, l4, l4End, pkt);
    if (proto === PROTO_ICMP) return parseIcmp(buf, l4, l4End, pkt);
  }
  pkt.payOff = l4;
  pkt.payLen = l4End - l4;
  return 'ok';
}

export function ipv4HeaderLength(pkt: Packet): number {
  return IPV4_HDR_LEN + paddedOptLen(pkt.optLen);
}

/** Bytes after the IPv4 header: the L4 header (unless a non-first fragment) and the payload. */
export function ipv4PayloadLength(pkt: Packet): number {
  if (pkt.fragment !== Frag.Later) {
    const proto = pkt.nwProto;
    if (proto === PROTO_UDP) return UDP_HDR_LEN + pkt.payLen;
    if (proto === PROTO_TCP) return tcpHeaderLength(pkt) + pkt.payLen;
    if (proto === PROTO_ICMP) return ICMP_HDR_LEN + pkt.payLen;
  }
  return pkt.payLen;
}

export function ipv4Length(pkt: Packet): number {
  return ipv4HeaderLength(pkt) + ipv4PayloadLength(pkt);
}

/**
 * Writes the IPv4 header, L4 header and payload at out[p] with correct IPv4, TCP, UDP and ICMP
 * checksums; returns the bytes written. A first fragment's L4 checksum can only cover the bytes this
 * fragment holds, so it differs from the one the original sender computed over the whole datagram.
 */
export function emitIpv4(pkt: Packet, out: Uint8Array, p: number): number {
  const hl = ipv4HeaderLength(pkt);
  const total = hl + ipv4PayloadLength(pkt);
  out[p] = 0x40 | (hl / 4);
  out[p + 1] = pkt.nwTos;
  write16(out, p + 2, total);
  write16(out, p + 4, pkt.ipId);
  write16(out, p + 6, (pkt.dontFragment ? IP_DF : 0) | (pkt.moreFragments ? IP_MF : 0) |
    (pkt.fragOffset & IP_OFFSET_MASK));
  out[p + 8] = pkt.ttl;
  out[p + 9] = pkt.nwProto;
  write16(out, p + 10, 0);
  write32(out, p + 12, pkt.nwSrc);
  write32(out, p + 16, pkt.nwDst);
  const optLen = Math.min(pkt.optLen, hl - IPV4_HDR_LEN);
  copyBytes(pkt.buf, pkt.optOff, out, p + IPV4_HDR_LEN, optLen);
  for (let i = IPV4_HDR_LEN + optLen; i < hl; i++) out[p + i] = 0;
  write16(out, p + 10, checksum(out, p, hl));

  const l4 = p + hl;
  let ck = -1;
  let l4Hdr = 0;
  if (pkt.fragment !== Frag.Later) {
    const proto = pkt.nwProto;
    if (proto === PROTO_UDP) { l4Hdr = emitUdpHeader(pkt, out, l4); ck = UDP_CHECKSUM_OFF; }
    else if (proto === PROTO_TCP) { l4Hdr = emitTcpHeader(pkt, out, l4); ck = TCP_CHECKSUM_OFF; }
    else if (proto === PROTO_ICMP) { l4Hdr = emitIcmpHeader(pkt, out, l4); ck = ICMP_CHECKSUM_OFF; }
  }
  copyBytes(pkt.buf, pkt.payOff, out, l4 + l4Hdr, pkt.payLen);
  if (ck >= 0) {
    const l4Len = total - hl;
    if (pkt.nwProto === PROTO_ICMP) {
      write16(out, l4 + ck, checksum(out, l4, l4Len));
    } else {
      const sum = sumWords(out, l4, l4Len, pseudoHeaderSum(pkt.nwSrc, pkt.nwDst, pkt.nwProto, l4Len));
      const c = finish(sum);
      // A computed UDP checksum of 0 is sent as 0xffff, since 0 means "no checksum" (RFC 768).
      write16(out, l4 + ck, c === 0 && ck === UDP_CHECKSUM_OFF ? 0xffff : c);
    }
  }
  return total;
}

// TCP header (RFC 9293 §3.1). Options ride along as offsets into pkt.buf.
//
//   0 src 2 dst 4 seq 8 ack 12 offset|reserved|NS 13 flags 14 window 16 checksum 18 urgent 20 options
import type { Packet } from '../packet.js';
import { copyBytes, paddedOptLen, read16, write16, write32 } from './bytes.js';

export const TCP_HDR_LEN = 20;
export const TCP_CHECKSUM_OFF = 16;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export type TcpError = 'tcp_truncated' | 'tcp_bad_offset';

/**
 * Parses the segment at buf[p, end) where `end` is the end of the IP payload. `tcpFlags` keeps the low
 * 12 bits of bytes 12–13 (reserved bits, NS and the eight classic flags) so a rebuilt header is exact.
 */
export function parseTcp(buf: Uint8Array, p: number, end: number, pkt: Packet): 'ok' | TcpError {
  if (end - p < TCP_HDR_LEN) return 'tcp_truncated';
  const hl = (buf[p + 12]! >> 4) * 4;
  if (hl < TCP_HDR_LEN || p + hl > end) return 'tcp_bad_offset';
  pkt.tpSrc = read16(buf, p);
  pkt.tpDst = read16(buf, p + 2);
  // Inline, not read32(): values above 2^31 returned from a call would be boxed per packet.
  const q = p + 4;
  pkt.tcpSeq = (((buf[q]! << 24) | (buf[q + 1]! << 16) | (buf[q + 2]! << 8) | buf[q + 3]!) >>> 0);
  const a = p + 8;
  pkt.tcpAck = (((buf[a]! << 24) | (buf[a + 1]! << 16) | (buf[a + 2]! << 8) | buf[a + 3]!) >>> 0);
  pkt.tcpFlags = read16(buf, p + 12) & 0xfff;
  pkt.tcpWindow = read16(buf, p + 14);
  pkt.tcpUrgent = read16(buf, p + 18);
  pkt.tcpOptOff = p + TCP_HDR_LEN;
  pkt.tcpOptLen = hl - TCP_HDR_LEN;
  pkt.payOff = p + hl;
  pkt.payLen = end - pkt.payOff;
  return 'ok';
}

/** Header length for pkt: options are padded to a 4-byte multiple and capped at 40 bytes. */
export function tcpHeaderLength(pkt: Packet): number {
  return TCP_HDR_LEN + paddedOptLen(pkt.tcpOptLen);
}

/** Writes the header (checksum 0, options copied from pkt.buf, zero padded) at out[p]; returns its length. */
export function emitTcpHeader(pkt: Packet, out: Uint8Array, p: number): number {
  const hl = tcpHeaderLength(pkt);
  write16(out, p, pkt.tpSrc);
  write16(out, p + 2, pkt.tpDst);
  write32(out, p + 4, pkt.tcpSeq);
  write32(out, p + 8, pkt.tcpAck);
  write16(out, p + 12, ((hl / 4) << 12) | (pkt.tcpFlags & 0xfff));
  write16(out, p + 14, pkt.tcpWindow);
  write16(out, p + TCP_CHECKSUM_OFF, 0);
  write16(out, p + 18, pkt.tcpUrgent);
  const n = Math.min(pkt.tcpOptLen, hl - TCP_HDR_LEN);
  copyBytes(pkt.buf, pkt.tcpOptOff, out, p + TCP_HDR_LEN, n);
  for (let i = TCP_HDR_LEN + n; i < hl; i++) out[p + i] = 0;
  return hl;
}

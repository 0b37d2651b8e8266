// ICMP header (RFC 792): 0 type 1 code 2 checksum 4 rest-of-header(4) 8 data.
//
// MidoNet's convention puts type in tpSrc and code in tpDst. The four rest-of-header bytes go to
// icmpId (bytes 4–5) and icmpSeq (bytes 6–7) for every type, not only echo: that keeps a rebuilt
// message exact and carries e.g. the next-hop MTU of a 3/4 "fragmentation needed" in icmpSeq.
import type { Packet } from '../packet.js';
import { read16, write16 } from './bytes.js';

export const ICMP_HDR_LEN = 8;
export const ICMP_CHECKSUM_OFF = 2;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;

export const UNREACH_NET = 0;
export const UNREACH_HOST = 1;
export const UNREACH_PROTOCOL = 2;
export const UNREACH_PORT = 3;
export const UNREACH_FRAG_NEEDED = 4;
export const UNREACH_FILTER_PROHIBITED = 13;
export const TIME_EXCEEDED_TTL = 0;

/** Error messages carry an embedded datagram (RFC 1122 §3.2.2); an error is never sent about one. */
export function isIcmpErrorType(type: number): boolean {
  return type === ICMP_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED || type === ICMP_PARAM_PROBLEM;
}

export function isEchoType(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
}

export type IcmpError = 'icmp_truncated';

/** Parses the message at buf[p, end); the payload is everything after the 8-byte header. */
export function parseIcmp(buf: Uint8Array, p: number, end: number, pkt: Packet): 'ok' | IcmpError {
  if (end - p < ICMP_HDR_LEN) return 'icmp_truncated';
  pkt.tpSrc = buf[p]!;
  pkt.tpDst = buf[p + 1]!;
  pkt.icmpId = read16(buf, p + 4);
  pkt.icmpSeq = read16(buf, p + 6);
  pkt.payOff = p + ICMP_HDR_LEN;
  pkt.payLen = end - pkt.payOff;
  return 'ok';
}

/** Writes the header with checksum 0 at out[p]; returns its length. */
export function emitIcmpHeader(pkt: Packet, out: Uint8Array, p: number): number {
  out[p] = pkt.tpSrc;
  out[p + 1] = pkt.tpDst;
  write16(out, p + ICMP_CHECKSUM_OFF, 0);
  write16(out, p + 4, pkt.icmpId);
  write16(out, p + 6, pkt.icmpSeq);
  return ICMP_HDR_LEN;
}

// UDP header (RFC 768): 0 src 2 dst 4 length 6 checksum 8.
import { Frag, type Packet } from '../packet.js';
import { read16, write16 } from './bytes.js';

export const UDP_HDR_LEN = 8;
export const UDP_CHECKSUM_OFF = 6;

export type UdpError = 'udp_truncated' | 'udp_bad_length';

/**
 * Parses the datagram at buf[p, end) where `end` is the end of the IP payload. An unfragmented
 * datagram's length field must fit the IP payload and decides the payload length; a first fragment's
 * length field describes the whole datagram, so there the fragment's own bytes are the payload.
 */
export function parseUdp(buf: Uint8Array, p: number, end: number, pkt: Packet): 'ok' | UdpError {
  if (end - p < UDP_HDR_LEN) return 'udp_truncated';
  pkt.tpSrc = read16(buf, p);
  pkt.tpDst = read16(buf, p + 2);
  pkt.payOff = p + UDP_HDR_LEN;
  if (pkt.fragment === Frag.None) {
    const len = read16(buf, p + 4);
    if (len < UDP_HDR_LEN || p + len > end) return 'udp_bad_length';
    pkt.payLen = len - UDP_HDR_LEN;
  } else {
    pkt.payLen = end - pkt.payOff;
  }
  return 'ok';
}

/** Writes the header with checksum 0 at out[p]; returns its length. */
export function emitUdpHeader(pkt: Packet, out: Uint8Array, p: number): number {
  write16(out, p, pkt.tpSrc);
  write16(out, p + 2, pkt.tpDst);
  write16(out, p + 4, UDP_HDR_LEN + pkt.payLen);
  write16(out, p + UDP_CHECKSUM_OFF, 0);
  return UDP_HDR_LEN;
}

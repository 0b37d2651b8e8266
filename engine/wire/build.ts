// Packet → frame. Writes into a buffer the caller owns; every checksum is computed afresh.
//
// What a rebuilt frame cannot keep (the Packet has no field for it): VLAN priority bits, the IPv4
// reserved flag, Ethernet padding, and a UDP checksum of 0 ("none"), which is written computed.
import { ETH_ARP, ETH_IPV4, type Packet } from '../packet.js';
import { ARP_LEN, emitArp } from './arp.js';
import { copyBytes } from './bytes.js';
import { emitEthernet, ethernetLength } from './ethernet.js';
import { emitIpv4, ipv4Length } from './ipv4.js';

/** Bytes after the Ethernet header and tags. */
export function l3Length(pkt: Packet): number {
  const type = pkt.etherType;
  if (type === ETH_IPV4) return ipv4Length(pkt);
  if (type === ETH_ARP) return ARP_LEN;
  return pkt.payLen;
}

/** Exact size buildFrame writes for pkt. */
export function frameLength(pkt: Packet): number {
  return ethernetLength(pkt) + l3Length(pkt);
}

/**
 * Writes pkt as an Ethernet frame at out[off]; returns the bytes written. Headers are written before
 * the options and payload are copied from pkt.buf, so `out` may be pkt.buf itself only at the offset
 * the frame was parsed from and only when no header grew (no VLAN pushed, no options added); else use
 * another buffer. Throws RangeError if `out` is too small, a caller bug: size it with frameLength().
 */
export function buildFrame(pkt: Packet, out: Uint8Array, off: number): number {
  const n = frameLength(pkt);
  if (off < 0 || off + n > out.length) {
    throw new RangeError(`buildFrame needs ${n} bytes at offset ${off}, buffer has ${out.length}`);
  }
  const l3 = emitEthernet(pkt, out, off);
  const type = pkt.etherType;
  if (type === ETH_IPV4) emitIpv4(pkt, out, l3);
  else if (type === ETH_ARP) emitArp(pkt, out, l3);
  else copyBytes(pkt.buf, pkt.payOff, out, l3, pkt.payLen);
  return n;
}

/** buildFrame into a new array of exactly frameLength(pkt) bytes (allocates: not for hot paths). */
export function buildFrameBytes(pkt: Packet): Uint8Array {
  const out = new Uint8Array(frameLength(pkt));
  buildFrame(pkt, out, 0);
  return out;
}

// ARP for IPv4 over Ethernet (RFC 826). Other hardware/protocol pairs are not something a MidoNet
// bridge or router answers, so they are reported as 'arp_bad_format' rather than half-parsed.
//
//   0 htype(1) 2 ptype(0x0800) 4 hlen(6) 5 plen(4) 6 op 8 sha 14 spa 18 tha 24 tpa 28
import { ETH_IPV4, type Packet } from '../packet.js';
import { read16, read32, readMac, write16, write32, writeMac } from './bytes.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export type ArpError = 'arp_truncated' | 'arp_bad_format';

/** Parses the ARP body at buf[p, end). Ethernet padding after the 28 bytes is ignored. */
export function parseArp(buf: Uint8Array, p: number, end: number, pkt: Packet): 'ok' | ArpError {
  if (end - p < ARP_LEN) return 'arp_truncated';
  if (read16(buf, p) !== 1 || read16(buf, p + 2) !== ETH_IPV4 || buf[p + 4] !== 6 || buf[p + 5] !== 4) {
    return 'arp_bad_format';
  }
  pkt.arpOp = read16(buf, p + 6);
  pkt.arpSha = readMac(buf, p + 8);
  pkt.arpSpa = read32(buf, p + 14);
  pkt.arpTha = readMac(buf, p + 18);
  pkt.arpTpa = read32(buf, p + 24);
  pkt.payOff = p + ARP_LEN;
  pkt.payLen = 0;
  return 'ok';
}

/** Writes the 28-byte ARP body at out[p]; returns its length. */
export function emitArp(pkt: Packet, out: Uint8Array, p: number): number {
  write16(out, p, 1);
  write16(out, p + 2, ETH_IPV4);
  out[p + 4] = 6;
  out[p + 5] = 4;
  write16(out, p + 6, pkt.arpOp);
  writeMac(out, p + 8, pkt.arpSha);
  write32(out, p + 14, pkt.arpSpa);
  writeMac(out, p + 18, pkt.arpTha);
  write32(out, p + 24, pkt.arpTpa);
  return ARP_LEN;
}

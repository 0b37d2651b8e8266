// Ethernet II header and 802.1Q / 802.1ad tags.
//
//   0      6      12         12+4k        (k = number of tags, at most MAX_VLANS)
//   | dst  | src  | [TPID TCI]* | ethertype | ...
//
// Only the 12-bit VLAN id of a tag is kept (MidoNet's FlowMatch keeps no PCP/DEI), so a rebuilt tag
// has priority 0.
import { ETH_QINQ, ETH_VLAN, MAX_VLANS, type Packet } from '../packet.js';
import { read16, write16, writeMac } from './bytes.js';

export const ETH_HDR_LEN = 14;
export const VLAN_TAG_LEN = 4;
/** Longest frame taken: a whole 65535-byte IPv4 datagram under MAX_VLANS tags. */
export const MAX_FRAME_LEN = ETH_HDR_LEN + MAX_VLANS * VLAN_TAG_LEN + 65535;

export type EthernetError = 'eth_truncated' | 'eth_too_long' | 'vlan_truncated' | 'too_many_vlans';

/**
 * Reads MACs, tags and the ethertype of buf[off, end) into pkt. Returns the offset of the L3 header,
 * or an error code (a string) when the frame is cut short, longer than MAX_FRAME_LEN or carries more
 * than MAX_VLANS tags.
 */
export function parseEthernet(buf: Uint8Array, off: number, end: number, pkt: Packet): number | EthernetError {
  if (end - off < ETH_HDR_LEN) return 'eth_truncated';
  if (end - off > MAX_FRAME_LEN) return 'eth_too_long';
  // Written inline, not through readMac(): a 48-bit value returned from a call that is not inlined
  // is boxed, which would allocate on every packet.
  pkt.ethDst = ((buf[off]! << 8) | buf[off + 1]!) * 0x100000000 + (((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0);
  const s = off + 6;
  pkt.ethSrc = ((buf[s]! << 8) | buf[s + 1]!) * 0x100000000 + (((buf[s + 2]! << 24) | (buf[s + 3]! << 16) | (buf[s + 4]! << 8) | buf[s + 5]!) >>> 0);
  let p = off + 12;
  let type = read16(buf, p);
  while (type === ETH_VLAN || type === ETH_QINQ) {
    const n = pkt.vlanCount;
    if (n === MAX_VLANS) return 'too_many_vlans';
    // TPID(2) + TCI(2) + the next type field(2) must all be present.
    if (p + 6 > end) return 'vlan_truncated';
    pkt.vlanTpids[n] = type;
    pkt.vlanIds[n] = read16(buf, p + 2) & 0xfff;
    pkt.vlanCount = n + 1;
    p += VLAN_TAG_LEN;
    type = read16(buf, p);
  }
  pkt.etherType = type;
  return p + 2;
}

export function ethernetLength(pkt: Packet): number {
  return ETH_HDR_LEN + VLAN_TAG_LEN * tagCount(pkt);
}

function tagCount(pkt: Packet): number {
  const n = pkt.vlanCount;
  return n <= 0 ? 0 : n >= MAX_VLANS ? MAX_VLANS : n;
}

/** Writes the Ethernet header and tags at out[off]; returns the offset of the L3 header. */
export function emitEthernet(pkt: Packet, out: Uint8Array, off: number): number {
  writeMac(out, off, pkt.ethDst);
  writeMac(out, off + 6, pkt.ethSrc);
  let p = off + 12;
  const n = tagCount(pkt);
  for (let i = 0; i < n; i++) {
    const tpid = pkt.vlanTpids[i]!;
    write16(out, p, tpid === ETH_QINQ ? ETH_QINQ : ETH_VLAN);
    write16(out, p + 2, pkt.vlanIds[i]! & 0xfff);
    p += VLAN_TAG_LEN;
  }
  write16(out, p, pkt.etherType);
  return p + 2;
}

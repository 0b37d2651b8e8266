// Cheap looks at raw frames on the datapath thread, before and after simulation: whether a frame is
// ARP, and the virtio_net_hdr an egress frame needs.
import { read16, read32 } from '../engine/wire/bytes.js';
import { pseudoHeaderSum } from '../engine/wire/checksum.js';

const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_IPV4 = 0x0800;
export const ETH_ARP = 0x0806;

/** Offset of the L3 header (past up to two VLAN tags) and its ethertype, packed: type * 65536 + off. */
function l3(b: Uint8Array, off: number, len: number): number {
  let p = off + 12;
  const end = off + len;
  if (p + 2 > end) return -1;
  let type = read16(b, p);
  for (let tags = 0; tags < 2 && (type === ETH_VLAN || type === ETH_QINQ) && p + 6 <= end; tags++) {
    p += 4;
    type = read16(b, p);
  }
  return type * 65536 + (p + 2 - off);
}

/** The sender IPv4 address of an ARP frame (as an unsigned number), or -1 for anything else. */
export function arpSender(b: Uint8Array, off: number, len: number): number {
  const x = l3(b, off, len);
  if (x < 0 || Math.floor(x / 65536) !== ETH_ARP || (x & 0xffff) + 28 > len) return -1;
  return read32(b, off + (x & 0xffff) + 14) >>> 0;
}

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_GSO_NONE = 0;

/**
 * Writes the virtio_net_hdr for an egress frame at hdr[at] (the frame follows at at + 10). A frame
 * that came in as a GSO super-frame leaves as one, so the kernel segments it for the receiver: same
 * gso type and size, the checksum offload asked for (NEEDS_CSUM: the field holds the pseudo-header
 * sum, the kernel finishes it per segment). Anything else carries a complete checksum (the simulation
 * rebuilt the frame) and gets a zero header.
 */
export function writeVnetHdr(hdr: Uint8Array, at: number, frameLen: number, gsoType: number, gsoSize: number): void {
  hdr.fill(0, at, at + 10);
  if (gsoType === VNET_GSO_NONE) return;
  const f = at + 10;
  const x = l3(hdr, f, frameLen);
  if (x < 0 || Math.floor(x / 65536) !== ETH_IPV4) return;
  const ip = f + (x & 0xffff);
  const ihl = (hdr[ip]! & 15) * 4;
  const proto = hdr[ip + 9]!;
  const l4 = ip + ihl;
  const l4Len = read16(hdr, ip + 2) - ihl;
  let csumOff: number;
  let l4Hdr: number;
  if (proto === 6) { csumOff = 16; l4Hdr = (hdr[l4 + 12]! >> 4) * 4; } else if (proto === 17) { csumOff = 6; l4Hdr = 8; } else return;
  let sum = pseudoHeaderSum(read32(hdr, ip + 12), read32(hdr, ip + 16), proto, l4Len);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  hdr[l4 + csumOff] = sum >>> 8;
  hdr[l4 + csumOff + 1] = sum & 0xff;
  const dv = new DataView(hdr.buffer, hdr.byteOffset + at, 10);
  dv.setUint8(0, VNET_F_NEEDS_CSUM);
  dv.setUint8(1, gsoType);
  dv.setUint16(2, l4 - f + l4Hdr, true);
  dv.setUint16(4, gsoSize, true);
  dv.setUint16(6, l4 - f, true);
  dv.setUint16(8, csumOff, true);
}

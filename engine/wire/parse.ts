// Frame → Packet. parseFrame never throws and never allocates: it fills a reused Packet with header
// fields and records options and payload as offsets into the caller's buffer (pkt.buf).
import { ETH_ARP, ETH_IPV4, type Packet } from '../packet.js';
import { parseArp, type ArpError } from './arp.js';
import { parseEthernet, type EthernetError } from './ethernet.js';
import { parseIpv4, type Ipv4Error } from './ipv4.js';

/**
 * Why a frame could not be parsed. Stable codes: they appear in API results and trace details.
 * 'ok' is success. Any other code leaves `pkt` holding the fields read before the failure.
 */
export type ParseError = 'ok' | 'bad_range' | EthernetError | ArpError | Ipv4Error;

export const PARSE_ERROR_MESSAGES: Readonly<Record<ParseError, string>> = Object.freeze({
  ok: 'The frame was parsed.',
  bad_range: 'The offset and length given lie outside the buffer.',
  eth_truncated: 'The frame is shorter than a 14-byte Ethernet header.',
  eth_too_long: 'The frame is longer than 65557 bytes (a 65535-byte IPv4 datagram under two VLAN tags).',
  vlan_truncated: 'The frame ends inside a VLAN tag.',
  too_many_vlans: 'The frame carries more than two VLAN tags.',
  arp_truncated: 'The ARP message is shorter than 28 bytes.',
  arp_bad_format: 'The ARP message is not IPv4 over Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4).',
  ipv4_truncated: 'The frame ends before the IPv4 header or the length its total-length field gives.',
  ipv4_bad_version: 'The IPv4 version field is not 4.',
  ipv4_bad_ihl: 'The IPv4 header length field is below 5 words.',
  ipv4_bad_total_length: 'The IPv4 total length is smaller than its header length.',
  tcp_truncated: 'The IPv4 payload is shorter than a 20-byte TCP header.',
  tcp_bad_offset: 'The TCP data offset is below 5 words or runs past the IPv4 payload.',
  udp_truncated: 'The IPv4 payload is shorter than an 8-byte UDP header.',
  udp_bad_length: 'The UDP length field is below 8 or runs past the IPv4 payload.',
  icmp_truncated: 'The IPv4 payload is shorter than an 8-byte ICMP header.',
});

/** How much of a packet a parse left valid (a trace's match shows only these fields). */
export const enum Layers { None = 0, Macs = 1, L2 = 2, L3 = 3, All = 4 }

/** What a parse that ended with `err` left in the packet that came from the frame. */
export function parsedLayers(err: ParseError): Layers {
  switch (err) {
    case 'ok': return Layers.All;
    case 'bad_range': case 'eth_truncated': return Layers.None;
    case 'vlan_truncated': case 'too_many_vlans': return Layers.Macs;
    case 'tcp_truncated': case 'tcp_bad_offset': case 'udp_truncated': case 'udp_bad_length':
    case 'icmp_truncated': return Layers.L3;
    default: return Layers.L2; // ARP and IPv4 header errors: the header's fields are not trusted
  }
}

/**
 * Parses the Ethernet frame at buf[off, off+len) into pkt (reset first; pkt.buf becomes buf).
 * ARP must be IPv4-over-Ethernet; IPv4 is parsed down to TCP/UDP/ICMP (not below a non-first
 * fragment); any other ethertype (IPv6 included) stops after L2 with the rest as payload.
 */
export function parseFrame(buf: Uint8Array, off: number, len: number, pkt: Packet): ParseError {
  pkt.reset();
  pkt.buf = buf;
  const end = off + len;
  if (!(off >= 0 && len >= 0 && end <= buf.length)) return 'bad_range';
  const l3 = parseEthernet(buf, off, end, pkt);
  if (typeof l3 !== 'number') return l3;
  const type = pkt.etherType;
  if (type === ETH_IPV4) return parseIpv4(buf, l3, end, pkt);
  if (type === ETH_ARP) return parseArp(buf, l3, end, pkt);
  pkt.payOff = l3;
  pkt.payLen = end - l3;
  return 'ok';
}

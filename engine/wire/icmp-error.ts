// Packets the virtual network generates in answer to one it received: ICMP errors (RFC 792, with
// RFC 1812 §4.3.2.7's rules on when not to send one), echo replies and ARP replies. Rare paths, so
// fillIcmpError may allocate; the others share the request's bytes.
import { isMulticastMac } from '../../model/addr.js';
import { ETH_ARP, ETH_IPV4, Frag, PROTO_ICMP, type Packet } from '../packet.js';
import { ARP_REPLY } from './arp.js';
import { ICMP_ECHO_REPLY, isIcmpErrorType } from './icmp.js';
import { emitIpv4, ipv4HeaderLength, ipv4Length } from './ipv4.js';

/** TTL of every generated IPv4 packet (Linux's default, as Midolman uses). */
export const GENERATED_TTL = 64;

/** Bytes of the original datagram's payload quoted after its header (RFC 792). */
export const ICMP_QUOTED_PAYLOAD = 8;

/**
 * True when an ICMP error may be sent about `orig` (RFC 1812 §4.3.2.7). Not about: a non-IPv4 packet,
 * an ICMP error, a non-first fragment, an L2 broadcast/multicast, an IP broadcast/multicast
 * destination, or a source that is not one host (0/8, 127/8 loopback, 224/4 multicast, 240/4 class E
 * which includes 255.255.255.255). Directed subnet broadcasts need the topology, so callers check those.
 */
export function icmpErrorAllowed(orig: Packet): boolean {
  if (orig.etherType !== ETH_IPV4) return false;
  if (orig.fragment === Frag.Later) return false;
  if (orig.nwProto === PROTO_ICMP && isIcmpErrorType(orig.tpSrc)) return false;
  if (isMulticastMac(orig.ethDst)) return false;
  const dst = orig.nwDst >>> 0;
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return false;
  const srcTop = orig.nwSrc >>> 24;
  if (srcTop === 0 || srcTop === 127 || srcTop >= 224) return false;
  return true;
}

/**
 * Makes `out` an ICMP error of `type`/`code` about `orig`, from `srcIp` to orig.nwSrc, TTL 64. The
 * quoted datagram is orig's IPv4 header (with options) and the first 8 bytes after it, serialized from
 * orig's current fields, so a rewritten (e.g. NATed) packet is quoted as it is now. `rest` fills the
 * four rest-of-header bytes (bytes 6–7 hold the next-hop MTU of a 3/4). MACs and VLANs are left 0 for
 * the caller. Throws if orig is not IPv4 (a caller bug: check icmpErrorAllowed first).
 */
export function fillIcmpError(orig: Packet, type: number, code: number, srcIp: number, out: Packet,
  rest = 0): void {
  if (orig.etherType !== ETH_IPV4) throw new Error('fillIcmpError: the original packet is not IPv4');
  const whole = new Uint8Array(ipv4Length(orig));
  emitIpv4(orig, whole, 0);
  const quoted = whole.slice(0, Math.min(whole.length, ipv4HeaderLength(orig) + ICMP_QUOTED_PAYLOAD));
  out.reset();
  out.etherType = ETH_IPV4;
  out.nwSrc = srcIp >>> 0;
  out.nwDst = orig.nwSrc;
  out.nwProto = PROTO_ICMP;
  out.ttl = GENERATED_TTL;
  out.tpSrc = type;
  out.tpDst = code;
  out.icmpId = (rest >>> 16) & 0xffff;
  out.icmpSeq = rest & 0xffff;
  out.buf = quoted;
  out.payOff = 0;
  out.payLen = quoted.length;
}

/**
 * Makes `out` the echo reply to the echo request `req`: MACs and IPs swapped, type 0 code 0, same
 * id, sequence, VLAN tags and payload bytes (shared, not copied), TTL 64, no IP options, unfragmented.
 */
export function fillEchoReply(req: Packet, out: Packet): void {
  out.copyFrom(req);
  out.ethSrc = req.ethDst;
  out.ethDst = req.ethSrc;
  out.nwSrc = req.nwDst;
  out.nwDst = req.nwSrc;
  out.ttl = GENERATED_TTL;
  out.ipId = 0;
  out.fragment = Frag.None;
  out.moreFragments = false;
  out.fragOffset = 0;
  out.optLen = 0;
  out.tpSrc = ICMP_ECHO_REPLY;
  out.tpDst = 0;
}

/**
 * Makes `out` the ARP reply to request `req`, answering that req.arpTpa is at `mac`: sent from `mac`
 * to the sender hardware address of the request (as Midolman does), on the same VLAN tags.
 */
export function fillArpReply(req: Packet, mac: number, out: Packet): void {
  out.reset();
  out.vlanCount = req.vlanCount;
  for (let i = 0; i < req.vlanCount; i++) {
    out.vlanIds[i] = req.vlanIds[i]!;
    out.vlanTpids[i] = req.vlanTpids[i]!;
  }
  out.ethSrc = mac;
  out.ethDst = req.arpSha;
  out.etherType = ETH_ARP;
  out.arpOp = ARP_REPLY;
  out.arpSha = mac;
  out.arpSpa = req.arpTpa;
  out.arpTha = req.arpSha;
  out.arpTpa = req.arpSpa;
}

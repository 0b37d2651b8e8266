// A fast, allocation-free 32-bit hash of a packet's flow (MurmurHash3's mixing steps), for ECMP and for
// spreading NAT allocations. Packets of one flow always hash alike; nothing else is promised. Results
// are signed int32 (see finishHash); consumers take `>>> 0` before a modulo, as lpm.ts does.
import { macHi, macLo } from '../../model/addr.js';
import type { Packet } from '../packet.js';
import { isTrackable, portsWord } from './conntrack.js';

/** Mix one 32-bit word into running hash `h` (MurmurHash3 body step). */
export function mixHash(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Final avalanche (MurmurHash3 fmix32). Returns a signed int32 (a Smi, so a result that crosses a call
 * boundary is never boxed into a heap number); take `>>> 0` before a modulo.
 */
export function finishHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Hash of the 5-tuple (ICMP echo: the identifier stands in for the ports; a later fragment hashes on
 * addresses and protocol only). Non-IP frames hash on their MACs and ethertype.
 */
export function flowHash(pkt: Packet): number {
  let h = 0x2f6b_1d3c;
  if (pkt.isIp) {
    h = mixHash(h, pkt.nwSrc | 0); // `| 0`: a uint32 above 2^31 would be boxed if mixHash is not inlined
    h = mixHash(h, pkt.nwDst | 0);
    h = mixHash(h, pkt.nwProto);
    if (isTrackable(pkt)) h = mixHash(h, portsWord(pkt));
    return finishHash(h);
  }
  h = mixHash(h, macHi(pkt.ethSrc));
  h = mixHash(h, macLo(pkt.ethSrc));
  h = mixHash(h, macHi(pkt.ethDst));
  h = mixHash(h, macLo(pkt.ethDst));
  h = mixHash(h, pkt.etherType);
  return finishHash(h);
}

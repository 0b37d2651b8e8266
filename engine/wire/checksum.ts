// The Internet checksum (RFC 1071) over bytes in a buffer. Sums are kept as plain 32-bit accumulators
// and folded once at the end, so a header and a pseudo-header can be summed in separate calls.

/** Adds the 16-bit big-endian words of buf[off, off+len) to `sum` (an odd last byte is padded with 0). */
export function sumWords(buf: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + len;
  let i = off;
  // Two words per step: a 1500-byte segment is summed in ~375 iterations without overflow, since
  // each step adds at most 0x1fffe and a double holds integers exactly up to 2^53.
  for (; i + 3 < end; i += 4) sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds carries into 16 bits and complements: the value to store in a checksum field. */
export function finish(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Checksum of buf[off, off+len) alone (IPv4 header, ICMP message). */
export function checksum(buf: Uint8Array, off: number, len: number): number {
  return finish(sumWords(buf, off, len, 0));
}

/** Sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 793 §3.1, RFC 768). */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Len;
}

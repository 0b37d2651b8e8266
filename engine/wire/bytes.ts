// Big-endian field access on a Uint8Array. Callers check lengths first (one check per header, as in
// smoltcp's `check_len`), so these never bounds-check; an out-of-range read yields undefined → 0
// through the bit operators rather than throwing.

export function read16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

export function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

export function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** A MAC as a 48-bit integer (see model/addr.ts). */
export function readMac(b: Uint8Array, o: number): number {
  return read16(b, o) * 0x100000000 + read32(b, o + 2);
}

export function writeMac(b: Uint8Array, o: number, mac: number): void {
  write16(b, o, Math.floor(mac / 0x100000000) & 0xffff);
  write32(b, o + 2, mac % 0x100000000);
}

/**
 * Copies n bytes. When src and dst are the same view (a frame rebuilt in place) copyWithin gives
 * memmove semantics; distinct views are assumed not to overlap. Short copies loop, which beats
 * creating a subarray view for the native copy.
 */
export function copyBytes(src: Uint8Array, so: number, dst: Uint8Array, d: number, n: number): void {
  if (n <= 0) return;
  if (src === dst) {
    if (so !== d) dst.copyWithin(d, so, so + n);
    return;
  }
  if (n <= 128) {
    for (let i = 0; i < n; i++) dst[d + i] = src[so + i]!;
    return;
  }
  dst.set(src.subarray(so, so + n), d);
}

/** Option bytes as written: padded with zeros to a 4-byte multiple, capped at the 40 bytes a header can hold. */
export function paddedOptLen(len: number): number {
  return len <= 0 ? 0 : len >= 40 ? 40 : (len + 3) & ~3;
}

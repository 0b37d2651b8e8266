// Addresses travel through the engine as plain numbers: an IPv4 address is a uint32 and a MAC a 48-bit
// integer (exact in a double). Strings exist only at the edges (JSON, CLI, trace text).

const HEX = '0123456789abcdef';

export function macToString(mac: number): string {
  // Two 24-bit halves in int32 arithmetic: a power of two with a variable exponent costs a call to
  // pow(), which showed in profiles of the API's result JSON.
  const hi = macHi(mac);
  const lo = macLo(mac);
  return hexByte(hi >>> 16) + ':' + hexByte((hi >>> 8) & 255) + ':' + hexByte(hi & 255) + ':'
    + hexByte(lo >>> 16) + ':' + hexByte((lo >>> 8) & 255) + ':' + hexByte(lo & 255);
}

function hexByte(b: number): string {
  return HEX[b >> 4]! + HEX[b & 15]!;
}

/** Accepts `aa:bb:cc:dd:ee:ff`, `aa-bb-...` and `aabb.ccdd.eeff`; returns -1 when malformed. */
export function parseMac(text: string): number {
  const hex = text.replace(/[:.-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) return -1;
  if (text.length !== 12 && !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(text) && !/^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$/.test(text)) return -1;
  return parseInt(hex, 16);
}

// Bitwise operators truncate a double to its low 32 bits exactly (for integers below 2^53), so the
// low half needs no modulo; a positive quotient truncates to its floor.
export function macHi(mac: number): number { return (mac / 0x1000000) | 0; }
export function macLo(mac: number): number { return mac & 0xffffff; }
export function macFrom(hi: number, lo: number): number { return hi * 0x1000000 + lo; }

export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 1) === 1;
}
export const BROADCAST_MAC = 0xffffffffffff;

export function ipToString(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/**
 * Dotted quad (four groups of 1-3 decimal digits, each at most 255) to uint32; -1 when malformed.
 * A character loop rather than a regex and four Numbers: a 100,000-route topology parses 200,000.
 */
export function parseIp(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let ip = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return -1;
      octet = octet * 10 + (c - 48);
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) return -1;
      ip = ip * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0 || octet > 255) return -1;
  return ip * 256 + octet;
}

/** Network mask for a prefix length 0..32, as uint32. */
export function prefixMask(len: number): number {
  return len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
}

export function inPrefix(ip: number, net: number, len: number): boolean {
  const m = prefixMask(len);
  return ((ip & m) >>> 0) === ((net & m) >>> 0);
}

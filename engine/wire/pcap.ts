// Capture files: classic pcap (either byte order, microsecond or nanosecond magic) and pcapng
// (SHB, IDB, EPB, SPB and the obsolete PB, any number of sections of either byte order). Reading
// never throws: a damaged file yields a closed error with the byte offset where it went wrong.
// Frames are views into the file's bytes (no copies); every frame is returned with its link type
// and callers simulate only LINKTYPE_ETHERNET ones.

export const LINKTYPE_ETHERNET = 1;

export interface CaptureFrame {
  /** The captured bytes (a view into the file). */
  data: Uint8Array;
  linkType: number;
  /** Capture time in milliseconds since the epoch (0 where the format has none, as in an SPB). */
  tsMs: number;
  /** Length on the wire; larger than data.length when the capture's snap length cut the frame. */
  origLen: number;
}

export type CaptureErrorCode =
  | 'capture_bad_magic' | 'capture_truncated' | 'capture_bad_length' | 'capture_bad_block'
  | 'capture_unknown_interface';

export type CaptureResult =
  | { ok: true; format: 'pcap' | 'pcapng'; frames: CaptureFrame[] }
  | { ok: false; code: CaptureErrorCode; message: string; offset: number };

/** Largest record accepted (libpcap's MAXIMUM_SNAPLEN); anything larger means a corrupt length. */
const MAX_RECORD = 262144;

const PCAP_MICRO = 0xa1b2c3d4;
const PCAP_NANO = 0xa1b23c4d;
const NG_SHB = 0x0a0d0d0a;
const NG_IDB = 0x00000001;
const NG_PB = 0x00000002;
const NG_SPB = 0x00000003;
const NG_EPB = 0x00000006;
const NG_BYTE_ORDER = 0x1a2b3c4d;

function fail(code: CaptureErrorCode, offset: number, message: string): CaptureResult {
  return { ok: false, code, message: `${message} at byte ${offset}`, offset };
}

/** Detects the format from the first four bytes and reads every frame. */
export function readCapture(file: Uint8Array): CaptureResult {
  if (file.length < 4) return fail('capture_truncated', 0, 'file too short for a capture header');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const be = dv.getUint32(0, false);
  const le = dv.getUint32(0, true);
  if (be === NG_SHB) return readPcapng(file, dv);
  if (be === PCAP_MICRO || be === PCAP_NANO) return readPcap(file, dv, false, be === PCAP_NANO);
  if (le === PCAP_MICRO || le === PCAP_NANO) return readPcap(file, dv, true, le === PCAP_NANO);
  return fail('capture_bad_magic', 0, `not a pcap or pcapng file (magic 0x${be.toString(16).padStart(8, '0')})`);
}

function readPcap(file: Uint8Array, dv: DataView, little: boolean, nano: boolean): CaptureResult {
  if (file.length < 24) return fail('capture_truncated', file.length, 'pcap file header cut short');
  const linkType = dv.getUint32(20, little) & 0x0fffffff; // the top bits may carry FCS information
  const frames: CaptureFrame[] = [];
  let o = 24;
  while (o < file.length) {
    if (o + 16 > file.length) return fail('capture_truncated', o, 'pcap record header cut short');
    const sec = dv.getUint32(o, little);
    const frac = dv.getUint32(o + 4, little);
    const capLen = dv.getUint32(o + 8, little);
    const origLen = dv.getUint32(o + 12, little);
    if (capLen > MAX_RECORD) return fail('capture_bad_length', o + 8, `pcap record length ${capLen} is implausible`);
    if (o + 16 + capLen > file.length) return fail('capture_truncated', o + 16, `pcap record of ${capLen} bytes cut short`);
    const tsMs = sec * 1000 + (nano ? Math.floor(frac / 1e6) : Math.floor(frac / 1e3));
    frames.push({ data: file.subarray(o + 16, o + 16 + capLen), linkType, tsMs, origLen: Math.max(origLen, capLen) });
    o += 16 + capLen;
  }
  return { ok: true, format: 'pcap', frames };
}

interface NgInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second (if_tsresol) and the seconds added to each (if_tsoffset). */
  unitsPerSec: number;
  offsetSec: number;
}

function readPcapng(file: Uint8Array, dv: DataView): CaptureResult {
  const frames: CaptureFrame[] = [];
  let ifaces: NgInterface[] = [];
  let little = true;
  let o = 0;
  while (o < file.length) {
    if (o + 12 > file.length) return fail('capture_truncated', o, 'pcapng block header cut short');
    const typeBe = dv.getUint32(o, false);
    if (typeBe === NG_SHB) {
      // A new section: its byte-order magic decides how everything up to the next SHB is read.
      const bom = dv.getUint32(o + 8, true);
      if (bom === NG_BYTE_ORDER) little = true;
      else if (bom === 0x4d3c2b1a) little = false;
      else return fail('capture_bad_block', o + 8, 'pcapng section header has no valid byte-order magic');
      ifaces = [];
    }
    const type = dv.getUint32(o, little);
    const len = dv.getUint32(o + 4, little);
    if (len < 12 || len % 4 !== 0) return fail('capture_bad_length', o + 4, `pcapng block length ${len} is invalid`);
    if (o + len > file.length) return fail('capture_truncated', o, `pcapng block of ${len} bytes cut short`);
    if (dv.getUint32(o + len - 4, little) !== len) {
      return fail('capture_bad_block', o + len - 4, 'pcapng block trailing length differs from its leading length');
    }
    const body = o + 8;
    const bodyLen = len - 12;
    if (type === NG_SHB) {
      if (bodyLen < 16) return fail('capture_bad_block', o, 'pcapng section header too short');
    } else if (type === NG_IDB) {
      if (bodyLen < 8) return fail('capture_bad_block', o, 'pcapng interface description too short');
      const iface: NgInterface = {
        linkType: dv.getUint16(body, little), snapLen: dv.getUint32(body + 4, little), unitsPerSec: 1e6, offsetSec: 0,
      };
      readIdbOptions(dv, body + 8, body + bodyLen, little, iface);
      ifaces.push(iface);
    } else if (type === NG_EPB || type === NG_PB) {
      if (bodyLen < 20) return fail('capture_bad_block', o, 'pcapng packet block too short');
      const ifIndex = type === NG_EPB ? dv.getUint32(body, little) : dv.getUint16(body, little);
      const iface = ifaces[ifIndex];
      if (iface === undefined) return fail('capture_unknown_interface', body, `pcapng packet names interface ${ifIndex}, which is not described`);
      const ts = dv.getUint32(body + 4, little) * 0x100000000 + dv.getUint32(body + 8, little);
      const capLen = dv.getUint32(body + 12, little);
      const origLen = dv.getUint32(body + 16, little);
      if (capLen > bodyLen - 20) return fail('capture_bad_length', body + 12, `pcapng packet length ${capLen} exceeds its block`);
      const tsMs = Math.floor((ts / iface.unitsPerSec + iface.offsetSec) * 1000);
      frames.push({ data: file.subarray(body + 20, body + 20 + capLen), linkType: iface.linkType, tsMs, origLen: Math.max(origLen, capLen) });
    } else if (type === NG_SPB) {
      if (bodyLen < 4) return fail('capture_bad_block', o, 'pcapng simple packet block too short');
      const iface = ifaces[0];
      if (iface === undefined) return fail('capture_unknown_interface', body, 'pcapng simple packet before any interface description');
      const origLen = dv.getUint32(body, little);
      // The captured length is implied: the original length, cut by the snap length and the block.
      let capLen = Math.min(origLen, bodyLen - 4);
      if (iface.snapLen > 0) capLen = Math.min(capLen, iface.snapLen);
      frames.push({ data: file.subarray(body + 4, body + 4 + capLen), linkType: iface.linkType, tsMs: 0, origLen });
    }
    // Other blocks (statistics, name resolution, custom, decryption secrets) carry no frames.
    o += len;
  }
  return { ok: true, format: 'pcapng', frames };
}

/** Reads if_tsresol (9) and if_tsoffset (14); malformed options are ignored, not fatal. */
function readIdbOptions(dv: DataView, o: number, end: number, little: boolean, iface: NgInterface): void {
  while (o + 4 <= end) {
    const code = dv.getUint16(o, little);
    const len = dv.getUint16(o + 2, little);
    if (code === 0 || o + 4 + len > end) return;
    if (code === 9 && len >= 1) {
      const r = dv.getUint8(o + 4);
      iface.unitsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
    } else if (code === 14 && len >= 8) {
      iface.offsetSec = Number(dv.getBigInt64(o + 4, little));
    }
    o += 4 + ((len + 3) & ~3);
  }
}

/** One record of a capture written by writePcap. */
export interface PcapRecord { data: Uint8Array; tsMs: number; /** Added to the microseconds, to order records of one millisecond. */ usec: number }

/**
 * A classic little-endian pcap (microsecond magic, LINKTYPE_ETHERNET, snap length 262144): the
 * format every capture tool opens, Wireshark and tshark included.
 */
export function writePcap(records: readonly PcapRecord[]): Uint8Array {
  let size = 24;
  for (const r of records) size += 16 + r.data.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, PCAP_MICRO, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, MAX_RECORD, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  let o = 24;
  for (const r of records) {
    const sec = Math.floor(r.tsMs / 1000);
    dv.setUint32(o, sec, true);
    dv.setUint32(o + 4, Math.min(999_999, (r.tsMs - sec * 1000) * 1000 + r.usec), true);
    dv.setUint32(o + 8, r.data.length, true);
    dv.setUint32(o + 12, r.data.length, true);
    out.set(r.data, o + 16);
    o += 16 + r.data.length;
  }
  return out;
}

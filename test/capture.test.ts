// Capture files: real pcap/pcapng files from dpkt and gopacket (test/fixtures/captures/README.md),
// synthesized variants (big-endian, nanosecond, obsolete packet blocks, timestamp options), and
// damaged files that must give the closed error with a byte offset, never an exception.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Packet } from '../engine/packet.js';
import { LINKTYPE_ETHERNET, readCapture, type CaptureErrorCode, type CaptureResult } from '../engine/wire/pcap.js';
import { parseFrame } from '../engine/wire/parse.js';

const DIR = fileURLToPath(new URL('./fixtures/captures/', import.meta.url));
const load = (name: string): Uint8Array => new Uint8Array(readFileSync(DIR + name));

/** Frame counts, link types and first timestamps as the upstream projects' own tests state them. */
const EXPECTED: Record<string, { frames: number; nonEthernet?: number; firstTsMs?: number; minOk: number }> = {
  'dpkt-http.pcap': { frames: 43, firstTsMs: 1084443427311, minOk: 43 },
  'dpkt-dns_icmp.pcap': { frames: 32, minOk: 32 },
  'dpkt-nb6-http.pcap': { frames: 62, minOk: 62 },
  'dpkt-truncated_dns.pcap': { frames: 1, minOk: 0 },
  'gopacket-test_ethernet.pcap': { frames: 10, minOk: 10 },
  'gopacket-ng-le-test001.pcapng': { frames: 4, firstTsMs: 0, minOk: 4 },
  'gopacket-ng-be-test001.pcapng': { frames: 4, firstTsMs: 0, minOk: 4 },
  // 0x4c39764ca47aa microseconds (gopacket's ngread_test.go); frames cut by snap lengths 96/128.
  'gopacket-ng-le-test006.pcapng': { frames: 5, nonEthernet: 1, firstTsMs: 1340954905298, minOk: 0 },
  // The same instant in nanoseconds (if_tsresol 9).
  'gopacket-ng-be-test008.pcapng': { frames: 4, firstTsMs: 1340954905, minOk: 0 },
  'gopacket-ng-le-test010.pcapng': { frames: 4, firstTsMs: 0, minOk: 4 },
  'gopacket-ng-be-test016.pcapng': { frames: 4, minOk: 4 },
  'gopacket-ng-le-test201.pcapng': { frames: 4, nonEthernet: 1, minOk: 0 },
  'gopacket-ng-be-test202.pcapng': { frames: 8, nonEthernet: 2, minOk: 0 },
  'gopacket-ng-le-test300.pcapng': { frames: 32, minOk: 32 },
};

t.test('every fixture is listed and every frame of it parses without throwing', async (t) => {
  const files = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f) && f !== 'dpkt-truncated_dns_2.pcap');
  t.same(files.sort(), Object.keys(EXPECTED).sort());
  const pkt = new Packet();
  let total = 0;
  let ok = 0;
  for (const name of files) {
    const want = EXPECTED[name]!;
    const r = readCapture(load(name));
    if (!r.ok) { t.fail(`${name}: ${r.code} ${r.message}`); continue; }
    t.equal(r.format, name.endsWith('.pcapng') ? 'pcapng' : 'pcap', name);
    t.equal(r.frames.length, want.frames, `${name}: frames`);
    t.equal(r.frames.filter((f) => f.linkType !== LINKTYPE_ETHERNET).length, want.nonEthernet ?? 0, `${name}: non-Ethernet frames`);
    if (want.firstTsMs !== undefined) t.equal(r.frames[0]!.tsMs, want.firstTsMs, `${name}: first timestamp`);
    let fileOk = 0;
    for (const f of r.frames) {
      t.ok(f.origLen >= f.data.length);
      if (f.linkType !== LINKTYPE_ETHERNET) continue;
      total++;
      if (parseFrame(f.data, 0, f.data.length, pkt) === 'ok') { ok++; fileOk++; }
    }
    t.ok(fileOk >= want.minOk, `${name}: ${fileOk} frames parse ok`);
  }
  t.ok(ok / total > 0.8, `most frames parse ok (${ok}/${total})`);
});

t.test('frames cut by the snap length are reported as truncated, not misread', async (t) => {
  const r = readCapture(load('dpkt-truncated_dns.pcap'));
  t.ok(r.ok);
  if (!r.ok) return;
  const f = r.frames[0]!;
  t.ok(f.origLen > f.data.length, 'the capture says the frame was longer');
  t.equal(parseFrame(f.data, 0, f.data.length, new Packet()), 'ipv4_truncated');
});

t.test('the dpkt http capture reads as an HTTP session', async (t) => {
  const r = readCapture(load('dpkt-http.pcap'));
  if (!r.ok) { t.fail(r.message); return; }
  const pkt = new Packet();
  const ports = new Set<number>();
  let syn = 0;
  for (const f of r.frames) {
    parseFrame(f.data, 0, f.data.length, pkt);
    if (pkt.nwProto === 6) { ports.add(pkt.tpSrc); ports.add(pkt.tpDst); }
    if (pkt.nwProto === 6 && (pkt.tcpFlags & 0x12) === 0x02) syn++;
  }
  t.ok(ports.has(80), 'port 80 is in it');
  t.equal(syn, 1, 'one connection opened');
  t.ok(r.frames.every((f, i) => i === 0 || f.tsMs >= r.frames[i - 1]!.tsMs), 'timestamps do not go back');
});

// ---- synthesized variants --------------------------------------------------------------------------

/** Rewrites a little-endian microsecond pcap as big-endian and/or nanosecond. */
function convertPcap(le: Uint8Array, bigEndian: boolean, nano: boolean): Uint8Array {
  const out = new Uint8Array(le);
  const src = new DataView(le.buffer, le.byteOffset, le.byteLength);
  const dst = new DataView(out.buffer);
  const u32 = (o: number, v: number): void => dst.setUint32(o, v, !bigEndian);
  u32(0, nano ? 0xa1b23c4d : 0xa1b2c3d4);
  dst.setUint16(4, src.getUint16(4, true), !bigEndian);
  dst.setUint16(6, src.getUint16(6, true), !bigEndian);
  for (const o of [8, 12, 16, 20]) u32(o, src.getUint32(o, true));
  for (let o = 24; o < le.length;) {
    const cap = src.getUint32(o + 8, true);
    u32(o, src.getUint32(o, true));
    u32(o + 4, src.getUint32(o + 4, true) * (nano ? 1000 : 1));
    u32(o + 8, cap);
    u32(o + 12, src.getUint32(o + 12, true));
    o += 16 + cap;
  }
  return out;
}

t.test('pcap in both byte orders and with nanosecond timestamps reads the same frames', async (t) => {
  const le = load('dpkt-dns_icmp.pcap');
  const base = readCapture(le);
  if (!base.ok) { t.fail(base.message); return; }
  for (const [be, nano] of [[true, false], [false, true], [true, true]] as const) {
    const r = readCapture(convertPcap(le, be, nano));
    if (!r.ok) { t.fail(`${be} ${nano}: ${r.message}`); continue; }
    t.equal(r.frames.length, base.frames.length);
    t.ok(r.frames.every((f, i) => Buffer.compare(f.data, base.frames[i]!.data) === 0), `be=${be} nano=${nano}: same bytes`);
    t.ok(r.frames.every((f, i) => f.tsMs === base.frames[i]!.tsMs), `be=${be} nano=${nano}: same times`);
  }
});

/** A pcapng block: type, body padded to 4 bytes, lengths before and after. */
function block(type: number, body: number[], little = true): number[] {
  const padded = [...body, ...new Array((4 - (body.length % 4)) % 4).fill(0)];
  const len = padded.length + 12;
  return [...u32(type, little), ...u32(len, little), ...padded, ...u32(len, little)];
}
function u32(v: number, little = true): number[] {
  const b = [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return little ? b.reverse() : b;
}
function u16(v: number, little = true): number[] {
  return little ? [v & 255, v >>> 8] : [v >>> 8, v & 255];
}
const shb = (little = true): number[] => block(0x0a0d0d0a, [...u32(0x1a2b3c4d, little), ...u16(1, little), ...u16(0, little), ...new Array(8).fill(0xff)], little);
const idb = (linkType: number, options: number[] = [], little = true): number[] =>
  block(1, [...u16(linkType, little), 0, 0, ...u32(0, little), ...options], little);
const FRAME = [...new Array(12).fill(0x11), 0x88, 0xcc, 1, 2, 3, 4];
const epb = (iface: number, tsHi: number, tsLo: number, data = FRAME, little = true): number[] =>
  block(6, [...u32(iface, little), ...u32(tsHi, little), ...u32(tsLo, little), ...u32(data.length, little), ...u32(data.length, little), ...data], little);

t.test('pcapng: obsolete packet blocks, if_tsresol, if_tsoffset, sections of both byte orders', async (t) => {
  // if_tsresol = 3 (milliseconds) and if_tsoffset = 1000 s, then a big-endian section with a PB.
  const opts = [...u16(9), ...u16(1), 3, 0, 0, 0, ...u16(14), ...u16(8), ...u32(1000), ...u32(0), ...u16(0), ...u16(0)];
  const pb = block(2, [...u16(0, false), ...u16(0, false), ...u32(0, false), ...u32(5_000_000, false),
    ...u32(FRAME.length, false), ...u32(FRAME.length, false), ...FRAME], false);
  const binRes = [...u16(9), ...u16(1), 0x80 | 10, 0, 0, 0]; // 2^-10 s units
  const file = Uint8Array.from([
    ...shb(), ...idb(1, opts), ...epb(0, 0, 2500),
    ...shb(false), ...idb(1, [], false), ...pb,
    ...shb(), ...idb(1, binRes), ...epb(0, 0, 2048),
  ]);
  const r = readCapture(file);
  if (!r.ok) { t.fail(r.message); return; }
  t.equal(r.frames.length, 3);
  t.equal(r.frames[0]!.tsMs, 1_002_500, 'milliseconds plus the offset');
  t.equal(r.frames[1]!.tsMs, 5_000, 'PB in a big-endian section, microseconds by default');
  t.equal(r.frames[2]!.tsMs, 2_000, 'binary resolution');
  t.ok(r.frames.every((f) => Buffer.from(f.data).equals(Buffer.from(FRAME))));
  t.equal(parseFrame(r.frames[0]!.data, 0, FRAME.length, new Packet()), 'ok');
});

// ---- damaged files ---------------------------------------------------------------------------------

const DAMAGED: [string, () => Uint8Array, CaptureErrorCode, number][] = [
  ['an empty file', () => new Uint8Array(0), 'capture_truncated', 0],
  ['a text file', () => new TextEncoder().encode('hello, world\n'), 'capture_bad_magic', 0],
  ['a pcap header cut short', () => load('dpkt-http.pcap').subarray(0, 20), 'capture_truncated', 20],
  ['stray bytes after the last record (a real file)', () => load('dpkt-truncated_dns_2.pcap'), 'capture_truncated', 240],
  ['a pcap record cut short', () => load('gopacket-test_ethernet.pcap').subarray(0, 100), 'capture_truncated', 40],
  ['a pcap record of an absurd length', () => {
    const f = new Uint8Array(load('gopacket-test_ethernet.pcap'));
    new DataView(f.buffer).setUint32(24 + 8, 0x7fffffff, true);
    return f;
  }, 'capture_bad_length', 32],
  ['a pcapng block cut short', () => load('gopacket-ng-le-test001.pcapng').subarray(0, 1000), 'capture_truncated', -1],
  ['a pcapng section with no byte-order magic', () => Uint8Array.from(block(0x0a0d0d0a, new Array(16).fill(0))), 'capture_bad_block', 8],
  ['a pcapng block length that is not a multiple of 4', () => Uint8Array.from([...shb(), ...u32(1), ...u32(13), 0, 0, 0, 0, 0, 0, 0, 0]), 'capture_bad_length', 32],
  ['a pcapng block length below 12', () => Uint8Array.from([...shb(), ...u32(1), ...u32(8), 0, 0, 0, 0]), 'capture_bad_length', 32],
  ['pcapng lengths that disagree', () => {
    const b = [...shb(), ...idb(1)];
    b[b.length - 4] = 99;
    return Uint8Array.from(b);
  }, 'capture_bad_block', 44],
  ['an EPB naming an undescribed interface', () => Uint8Array.from([...shb(), ...idb(1), ...epb(3, 0, 0)]), 'capture_unknown_interface', 56],
  ['an SPB before any interface', () => Uint8Array.from([...shb(), ...block(3, [...u32(4), 1, 2, 3, 4])]), 'capture_unknown_interface', 36],
  ['an EPB whose packet runs past the block', () => {
    const b = epb(0, 0, 0);
    b.splice(20, 4, ...u32(500));
    return Uint8Array.from([...shb(), ...idb(1), ...b]);
  }, 'capture_bad_length', 68],
  ['an IDB too short', () => Uint8Array.from([...shb(), ...block(1, [1, 0])]), 'capture_bad_block', 28],
];

t.test('damaged files give a closed error with the byte offset', async (t) => {
  for (const [what, make, code, offset] of DAMAGED) {
    let r: CaptureResult;
    try { r = readCapture(make()); } catch (e) { t.fail(`${what}: threw ${String(e)}`); continue; }
    if (r.ok) { t.fail(`${what}: read as ${r.frames.length} frames`); continue; }
    t.equal(r.code, code, what);
    if (offset >= 0) t.equal(r.offset, offset, `${what}: offset`);
    t.match(r.message, new RegExp(`at byte ${r.offset}$`), `${what}: the message names the offset`);
  }
});

t.test('every prefix and random corruption of real files reads or fails closed', async (t) => {
  const codes = new Set<string>();
  let s = 0x1234567;
  const rnd = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (const name of ['gopacket-test_ethernet.pcap', 'gopacket-ng-be-test016.pcapng', 'gopacket-ng-le-test201.pcapng']) {
    const file = load(name);
    for (let n = 0; n <= file.length; n++) {
      const r = readCapture(file.subarray(0, n));
      codes.add(r.ok ? 'ok' : r.code);
    }
    for (let i = 0; i < 3000; i++) {
      const f = new Uint8Array(file);
      const flips = 1 + (rnd() % 3);
      for (let k = 0; k < flips; k++) f[rnd() % f.length] = rnd() & 255;
      let r: CaptureResult;
      try { r = readCapture(f); } catch (e) { t.fail(`${name}: threw ${String(e)}`); return; }
      codes.add(r.ok ? 'ok' : r.code);
      if (r.ok) for (const fr of r.frames) parseFrame(fr.data, 0, fr.data.length, new Packet());
    }
  }
  t.ok(codes.has('ok') && codes.has('capture_truncated'), [...codes].join(' '));
});

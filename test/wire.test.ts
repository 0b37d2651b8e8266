// Wire layer: golden frames (bytes written out by hand, checksums checked here by an independent
// computation), parse ↔ build round trips, every parse error code, a fuzz run, and the generated
// packets of engine/wire/icmp-error.ts.
import { PerformanceObserver } from 'node:perf_hooks';
import t from 'tap';
import { ETH_ARP, ETH_IPV4, ETH_IPV6, ETH_QINQ, ETH_VLAN, Frag, Packet } from '../engine/packet.js';
import { buildFrame, buildFrameBytes, frameLength } from '../engine/wire/build.js';
import { MAX_FRAME_LEN } from '../engine/wire/ethernet.js';
import { fillArpReply, fillEchoReply, fillIcmpError, icmpErrorAllowed } from '../engine/wire/icmp-error.js';
import { PARSE_ERROR_MESSAGES, parseFrame, type ParseError } from '../engine/wire/parse.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RFC 1071 the slow, obvious way: BigInt sum of 16-bit words, folded; a correct field sums to 0xffff. */
function onesSum(...parts: Uint8Array[]): number {
  let s = 0n;
  for (const b of parts) {
    for (let i = 0; i < b.length; i += 2) s += BigInt((b[i]! << 8) + (i + 1 < b.length ? b[i + 1]! : 0));
  }
  while (s > 0xffffn) s = (s & 0xffffn) + (s >> 16n);
  return Number(s);
}

/** Where the IPv4 header starts (after Ethernet and any tags). */
function l3Offset(f: Uint8Array): number {
  let o = 12;
  while (((f[o]! << 8) | f[o + 1]!) === 0x8100 || ((f[o]! << 8) | f[o + 1]!) === 0x88a8) o += 4;
  return o + 2;
}

/** Checks every checksum of an IPv4 frame independently; returns the problems found. */
function checksumProblems(f: Uint8Array, checkL4 = true): string[] {
  const p = l3Offset(f);
  const hl = (f[p]! & 15) * 4;
  const total = (f[p + 2]! << 8) | f[p + 3]!;
  const out: string[] = [];
  if (onesSum(f.subarray(p, p + hl)) !== 0xffff) out.push('ipv4 header');
  const frag = ((f[p + 6]! << 8) | f[p + 7]!) & 0x3fff;
  if (!checkL4 || frag !== 0) return out;
  const l4 = f.subarray(p + hl, p + total);
  const proto = f[p + 9]!;
  const pseudo = Uint8Array.from([...f.subarray(p + 12, p + 20), 0, proto, l4.length >> 8, l4.length & 255]);
  if (proto === 1 && onesSum(l4) !== 0xffff) out.push('icmp');
  if ((proto === 6 || proto === 17) && onesSum(pseudo, l4) !== 0xffff) out.push(proto === 6 ? 'tcp' : 'udp');
  return out;
}

const A = 0x525400123456;
const B = 0x525400abcdef;
const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

interface Golden {
  name: string;
  frame: string;
  fields: Partial<Record<keyof Packet, number | boolean>>;
  vlans?: [number, number][];
  payload?: string;
  /** Bytes build() gives back when not the input itself (padding dropped, first-fragment checksum). */
  rebuilt?: string;
}

const GOLDEN: Golden[] = [
  {
    name: 'ARP request',
    frame: `ffffffffffff 525400123456 0806
            0001 0800 06 04 0001 525400123456 0a000002 000000000000 0a000001`,
    fields: { ethDst: 0xffffffffffff, ethSrc: A, etherType: ETH_ARP, arpOp: 1, arpSha: A, arpSpa: ip('10.0.0.2'),
      arpTha: 0, arpTpa: ip('10.0.0.1'), vlanCount: 0 },
  },
  {
    name: 'ARP reply on VLAN 100',
    frame: `525400123456 525400abcdef 8100 0064 0806
            0001 0800 06 04 0002 525400abcdef 0a000001 525400123456 0a000002`,
    fields: { etherType: ETH_ARP, arpOp: 2, arpSha: B, arpSpa: ip('10.0.0.1'), arpTha: A, arpTpa: ip('10.0.0.2'), vlanCount: 1 },
    vlans: [[ETH_VLAN, 100]],
  },
  {
    name: 'ICMP echo request, DF',
    frame: `525400abcdef 525400123456 0800
            4500 002c 1c46 4000 4001 0a89 0a000002 0a000001
            0800 2d0a 1234 0001 101112131415161718191a1b1c1d1e1f`,
    fields: { etherType: ETH_IPV4, nwSrc: ip('10.0.0.2'), nwDst: ip('10.0.0.1'), nwProto: 1, ttl: 64, ipId: 0x1c46,
      dontFragment: true, fragment: Frag.None, tpSrc: 8, tpDst: 0, icmpId: 0x1234, icmpSeq: 1, payLen: 16, optLen: 0 },
    payload: '101112131415161718191a1b1c1d1e1f',
  },
  {
    name: 'ICMP time exceeded quoting a UDP probe',
    frame: `525400123456 525400abcdef 0800
            45c0 0038 0001 0000 4001 6602 0a000001 0a000002
            0b00 c0d8 00000000
            4500 0028 7a01 0000 0111 7411 0a000002 c0a80109 829a 829b 0014 2edd`,
    fields: { nwSrc: ip('10.0.0.1'), nwDst: ip('10.0.0.2'), nwTos: 0xc0, nwProto: 1, tpSrc: 11, tpDst: 0, payLen: 28 },
    payload: '450000287a01000001117411 0a000002c0a80109829a829b00142edd',
  },
  {
    name: 'TCP SYN with MSS, SACK, timestamps, window scale',
    frame: `525400abcdef 525400123456 0800
            4500 003c d431 4000 4006 26ae 0a000002 5db8d822
            c93a 01bb 3b9aca07 00000000 a002 faf0 5a59 0000
            020405b4 0402080a 0001e240 00000000 01030307`,
    fields: { nwProto: 6, nwDst: ip('93.184.216.34'), tpSrc: 51514, tpDst: 443, tcpSeq: 0x3b9aca07, tcpAck: 0,
      tcpFlags: 0x002, tcpWindow: 64240, tcpUrgent: 0, tcpOptLen: 20, payLen: 0 },
  },
  {
    name: 'UDP DNS query under 802.1ad + 802.1Q',
    frame: `525400abcdef 525400123456 88a8 000a 8100 0014 0800
            4500 0039 0102 0000 4011 5fa1 0a000002 08080808
            9c40 0035 0025 cde1
            abcd01000001000000000000076578616d706c6503636f6d0000010001`,
    fields: { vlanCount: 2, nwProto: 17, tpSrc: 40000, tpDst: 53, payLen: 29, nwDst: ip('8.8.8.8'), ipId: 0x0102 },
    vlans: [[ETH_QINQ, 10], [ETH_VLAN, 20]],
    payload: 'abcd01000001000000000000076578616d706c6503636f6d0000010001',
  },
  {
    name: 'IGMP report with a router-alert IP option',
    frame: `01005e7ffffa 525400123456 0800
            46c0 0020 0000 0000 0102 2a1c 0a000002 effffffa 94040000
            1600 fa04 effffffa`,
    fields: { nwProto: 2, ttl: 1, optLen: 4, payLen: 8, tpSrc: 0, tpDst: 0, nwDst: ip('239.255.255.250') },
    payload: '1600fa04effffffa',
  },
  {
    name: 'first fragment of a UDP datagram',
    frame: `525400abcdef 525400123456 0800
            4500 007c beef 2000 4011 877f 0a000002 0a000001
            1388 1770 00a0 be9e
            00070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b4249
            50575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299`,
    fields: { fragment: Frag.First, moreFragments: true, fragOffset: 0, tpSrc: 5000, tpDst: 6000, payLen: 96, ipId: 0xbeef },
    // The UDP checksum covers the whole datagram, which a lone fragment cannot recompute.
    rebuilt: `525400abcdef 525400123456 0800
            4500 007c beef 2000 4011 877f 0a000002 0a000001
            1388 1770 0068 ${'XXXX'}
            00070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b4249
            50575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299`,
  },
  {
    name: 'later fragment: no L4 header parsed',
    frame: `525400abcdef 525400123456 0800
            4500 004c beef 000d 4011 a7a2 0a000002 0a000001
            a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21`,
    fields: { fragment: Frag.Later, moreFragments: false, fragOffset: 13, nwProto: 17, tpSrc: 0, tpDst: 0, payLen: 56 },
  },
  {
    name: 'IPv6: L2 only, the rest as payload',
    frame: `333300000001 525400123456 86dd
            6000000000083a40fe800000000000000000000000000001fe800000000000000000000000000002 8000d4a100010001`,
    fields: { etherType: ETH_IPV6, nwSrc: 0, nwProto: 0, payOff: 14, payLen: 48 },
  },
  {
    name: 'UDP padded to the 60-byte minimum',
    frame: `525400abcdef 525400123456 0800
            4500 001e 0000 0000 4011 66cd 0a000002 0a000001
            0001 0002 000a 836b 6869 000000000000000000000000000000000000`,
    fields: { tpSrc: 1, tpDst: 2, payLen: 2 },
    payload: '6869',
    rebuilt: `525400abcdef 525400123456 0800 4500 001e 0000 0000 4011 66cd 0a000002 0a000001 0001 0002 000a 836b 6869`,
  },
];

t.test('golden frames carry correct checksums (checked independently)', async (t) => {
  for (const g of GOLDEN) {
    const f = hex(g.frame);
    const l3 = l3Offset(f);
    if (((f[l3 - 2]! << 8) | f[l3 - 1]!) !== ETH_IPV4) continue;
    t.same(checksumProblems(f), [], g.name);
  }
});

t.test('parseFrame reads every field of the golden frames', async (t) => {
  const pkt = new Packet();
  for (const g of GOLDEN) {
    const f = hex(g.frame);
    t.equal(parseFrame(f, 0, f.length, pkt), 'ok', g.name);
    t.equal(pkt.buf, f, `${g.name}: offsets point into the caller's buffer`);
    for (const [k, v] of Object.entries(g.fields)) t.equal(pkt[k as keyof Packet], v, `${g.name}: ${k}`);
    if (g.vlans) {
      t.equal(pkt.vlanCount, g.vlans.length);
      g.vlans.forEach(([tpid, id], i) => { t.equal(pkt.vlanTpids[i], tpid); t.equal(pkt.vlanIds[i], id); });
    }
    if (g.payload !== undefined) t.equal(toHex(f.subarray(pkt.payOff, pkt.payOff + pkt.payLen)), g.payload.replace(/\s+/g, ''), `${g.name}: payload`);
  }
});

t.test('the same frame parses identically at an offset inside a larger buffer', async (t) => {
  const f = hex(GOLDEN[4]!.frame);
  const big = new Uint8Array(f.length + 37);
  big.set(f, 21);
  big.fill(0xee, 21 + f.length);
  const a = new Packet();
  const b = new Packet();
  parseFrame(f, 0, f.length, a);
  t.equal(parseFrame(big, 21, f.length, b), 'ok');
  t.equal(b.tcpOptOff - 21, a.tcpOptOff);
  t.equal(toHex(buildFrameBytes(b)), toHex(f));
});

t.test('build(parse(frame)) gives the frame back', async (t) => {
  const pkt = new Packet();
  for (const g of GOLDEN) {
    const f = hex(g.frame);
    parseFrame(f, 0, f.length, pkt);
    const out = buildFrameBytes(pkt);
    t.equal(frameLength(pkt), out.length);
    if (g.rebuilt === undefined) { t.equal(toHex(out), toHex(f), g.name); continue; }
    const want = g.rebuilt.replace(/\s+/g, '');
    const got = toHex(out);
    t.equal(got.length, want.length, g.name);
    const hole = want.indexOf('XXXX');
    t.equal(hole < 0 ? got : got.slice(0, hole) + 'XXXX' + got.slice(hole + 4), want, g.name);
    t.same(checksumProblems(out, hole < 0), [], `${g.name}: rebuilt checksums`);
  }
});

t.test('buildFrame writes at an offset, into pkt.buf in place, and refuses a short buffer', async (t) => {
  const f = hex(GOLDEN[5]!.frame);
  const pkt = new Packet();
  parseFrame(f, 0, f.length, pkt);
  const out = new Uint8Array(f.length + 10).fill(0xaa);
  t.equal(buildFrame(pkt, out, 5), f.length);
  t.equal(toHex(out.subarray(5, 5 + f.length)), toHex(f));
  t.equal(out[4], 0xaa);
  t.equal(out[5 + f.length], 0xaa);
  pkt.nwDst = ip('9.9.9.9'); // a DNAT-like rewrite, rebuilt over the buffer it was parsed from
  buildFrame(pkt, f, 0);
  const again = new Packet();
  t.equal(parseFrame(f, 0, f.length, again), 'ok');
  t.equal(again.nwDst, ip('9.9.9.9'));
  t.same(checksumProblems(f), []);
  t.equal(toHex(f.subarray(again.payOff, again.payOff + again.payLen)), GOLDEN[5]!.payload);
  t.throws(() => buildFrame(pkt, new Uint8Array(20), 0), RangeError);
});

t.test('NAT-style rewrites produce correct checksums', async (t) => {
  const pkt = new Packet();
  for (const i of [2, 4, 5]) {
    const f = hex(GOLDEN[i]!.frame);
    parseFrame(f, 0, f.length, pkt);
    pkt.nwSrc = ip('172.16.0.99');
    pkt.tpSrc = pkt.nwProto === 1 ? pkt.tpSrc : 61000;
    pkt.icmpId = 0x4242;
    pkt.ttl -= 1;
    pkt.pushVlan(7);
    const out = buildFrameBytes(pkt);
    t.same(checksumProblems(out), [], GOLDEN[i]!.name);
  }
});

t.test('parseFrame allocates nothing: two million parses trigger no garbage collection', async (t) => {
  const frames = [GOLDEN[0]!, GOLDEN[4]!, GOLDEN[5]!, GOLDEN[8]!].map((g) => hex(g.frame));
  const pkt = new Packet();
  for (let i = 0; i < 50_000; i++) parseFrame(frames[i & 3]!, 0, frames[i & 3]!.length, pkt); // warm up the JIT
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((r) => setImmediate(r));
  gcs = 0;
  let ok = 0;
  for (let i = 0; i < 2_000_000; i++) {
    const f = frames[i & 3]!;
    if (parseFrame(f, 0, f.length, pkt) === 'ok') ok++;
  }
  await new Promise((r) => setTimeout(r, 20)); // gc entries are delivered asynchronously
  obs.disconnect();
  t.equal(ok, 2_000_000);
  t.ok(gcs <= 1, `${gcs} collections during the loop`);
});

// ---- round trips from random packets ------------------------------------------------------------

/** Deterministic xorshift32 so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

const IP_FIELDS = ['nwSrc', 'nwDst', 'nwProto', 'nwTos', 'ttl', 'ipId', 'fragment', 'dontFragment', 'fragOffset',
  'moreFragments', 'optLen', 'payLen'] as const;
const FIELDS_BY_PROTO: Record<number, readonly (keyof Packet)[]> = {
  1: ['tpSrc', 'tpDst', 'icmpId', 'icmpSeq'],
  6: ['tpSrc', 'tpDst', 'tcpSeq', 'tcpAck', 'tcpFlags', 'tcpWindow', 'tcpUrgent', 'tcpOptLen'],
  17: ['tpSrc', 'tpDst'],
};

function randomPacket(r: () => number): Packet {
  const p = new Packet();
  p.ethSrc = (r() & 0xfeff) * 0x100000000 + r();
  p.ethDst = (r() & 0xffff) * 0x100000000 + r();
  const tags = r() % 3;
  for (let i = 0; i < tags; i++) p.pushVlan(r() & 0xfff, tags === 2 && i === 1 ? ETH_QINQ : ETH_VLAN);
  const buf = new Uint8Array(600);
  for (let i = 0; i < buf.length; i++) buf[i] = r() & 255;
  p.buf = buf;
  const kind = r() % 4;
  if (kind === 0) {
    p.etherType = ETH_ARP;
    p.arpOp = r() & 0xffff; p.arpSha = (r() & 0xffff) * 0x100000000 + r(); p.arpSpa = r();
    p.arpTha = (r() & 0xffff) * 0x100000000 + r(); p.arpTpa = r();
    return p;
  }
  if (kind === 1) {
    p.etherType = [ETH_IPV6, 0x88cc, 0x0842][r() % 3]!;
    p.payOff = r() % 100; p.payLen = r() % 300;
    return p;
  }
  p.etherType = ETH_IPV4;
  p.nwSrc = r(); p.nwDst = r(); p.nwTos = r() & 255; p.ttl = r() & 255; p.ipId = r() & 0xffff;
  p.nwProto = [1, 6, 17, 47, 2][r() % 5]!;
  p.dontFragment = (r() & 1) === 1;
  const fk = r() % 3;
  p.fragment = fk as Frag;
  p.moreFragments = fk === Frag.First || (fk === Frag.Later && (r() & 1) === 1);
  p.fragOffset = fk === Frag.Later ? 1 + (r() % 0x1ffe) : 0;
  p.optOff = r() % 100; p.optLen = 4 * (r() % 11);
  p.payOff = 100 + (r() % 100); p.payLen = r() % 300;
  if (fk !== Frag.Later) {
    p.tpSrc = p.nwProto === 1 ? r() & 255 : r() & 0xffff;
    p.tpDst = p.nwProto === 1 ? r() & 255 : r() & 0xffff;
    if (p.nwProto === 1) { p.icmpId = r() & 0xffff; p.icmpSeq = r() & 0xffff; }
    if (p.nwProto === 6) {
      p.tcpSeq = r(); p.tcpAck = r(); p.tcpFlags = r() & 0xfff; p.tcpWindow = r() & 0xffff; p.tcpUrgent = r() & 0xffff;
      p.tcpOptOff = r() % 100; p.tcpOptLen = 4 * (r() % 11);
    }
    if (p.nwProto !== 1 && p.nwProto !== 6 && p.nwProto !== 17) { p.tpSrc = 0; p.tpDst = 0; }
  }
  return p;
}

function bytesAt(p: Packet, off: number, len: number): string { return toHex(p.buf.subarray(off, off + len)); }

t.test('parse(build(pkt)) gives back every field of 3000 random packets', async (t) => {
  const r = rng(0x5eed);
  const back = new Packet();
  let bad = 0;
  for (let n = 0; n < 3000; n++) {
    const p = randomPacket(r);
    const f = buildFrameBytes(p);
    const err = parseFrame(f, 0, f.length, back);
    const fields: (keyof Packet)[] = ['ethSrc', 'ethDst', 'vlanCount', 'etherType'];
    if (p.etherType === ETH_ARP) fields.push('arpOp', 'arpSha', 'arpSpa', 'arpTha', 'arpTpa');
    if (p.etherType === ETH_IPV4) {
      fields.push(...IP_FIELDS);
      if (p.fragment !== Frag.Later) fields.push(...(FIELDS_BY_PROTO[p.nwProto] ?? []));
    } else if (p.etherType !== ETH_ARP) fields.push('payLen');
    const diffs: string[] = fields.filter((k) => back[k] !== p[k]);
    for (let i = 0; i < p.vlanCount; i++) {
      if (back.vlanIds[i] !== p.vlanIds[i] || back.vlanTpids[i] !== p.vlanTpids[i]) diffs.push('vlanIds');
    }
    if (bytesAt(back, back.payOff, back.payLen) !== bytesAt(p, p.payOff, p.payLen)) diffs.push('payload');
    if (bytesAt(back, back.optOff, back.optLen) !== bytesAt(p, p.optOff, p.optLen)) diffs.push('ip options');
    if (p.nwProto === 6 && bytesAt(back, back.tcpOptOff, back.tcpOptLen) !== bytesAt(p, p.tcpOptOff, p.tcpOptLen)) diffs.push('tcp options');
    if (p.etherType === ETH_IPV4 && checksumProblems(f, p.fragment === Frag.None).length > 0) diffs.push('checksum');
    if (err !== 'ok' || diffs.length > 0) {
      if (bad++ < 5) t.fail(`packet ${n}: ${err} ${diffs.join(',')}`);
    }
  }
  t.equal(bad, 0, 'no packet changed through build and parse');
});

t.test('options of odd lengths are zero-padded to whole words and capped at 40 bytes', async (t) => {
  const p = new Packet();
  p.etherType = ETH_IPV4; p.nwProto = 6; p.ttl = 9;
  p.buf = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
  p.optOff = 0; p.optLen = 3; p.tcpOptOff = 10; p.tcpOptLen = 50;
  const f = buildFrameBytes(p);
  t.equal(f.length, 14 + 24 + 60);
  const q = new Packet();
  t.equal(parseFrame(f, 0, f.length, q), 'ok');
  t.equal(q.optLen, 4);
  t.equal(bytesAt(q, q.optOff, 4), '01020300');
  t.equal(q.tcpOptLen, 40);
  t.equal(bytesAt(q, q.tcpOptOff, 40), toHex(p.buf.subarray(10, 50)));
  t.same(checksumProblems(f), []);
});

// ---- errors ----------------------------------------------------------------------------------------

const ETH = '525400abcdef5254001234560800';
const IPH = '45000028000000004006 0000 0a0000020a000001';
const ERRORS: [string, string, ParseError][] = [
  ['shorter than an Ethernet header', '525400abcdef52540012345608', 'eth_truncated'],
  ['longer than a 65535-byte datagram under two tags', ETH + '00'.repeat(MAX_FRAME_LEN - 13), 'eth_too_long'],
  ['ends inside a VLAN tag', '525400abcdef525400123456810000', 'vlan_truncated'],
  ['three VLAN tags', '525400abcdef52540012345688a800018100000281000003' + '0800' + '00'.repeat(40), 'too_many_vlans'],
  ['ARP cut short', '525400abcdef5254001234560806' + '0001080006040001525400123456', 'arp_truncated'],
  ['ARP for another hardware type', '525400abcdef5254001234560806' + '0006080006040001' + '00'.repeat(20), 'arp_bad_format'],
  ['ARP with a 16-byte protocol address', '525400abcdef5254001234560806' + '0001080006100001' + '00'.repeat(20), 'arp_bad_format'],
  ['IPv4 shorter than 20 bytes', ETH + '4500001c00000000', 'ipv4_truncated'],
  ['IP version 6 under ethertype 0x0800', ETH + '65000014' + '00'.repeat(16), 'ipv4_bad_version'],
  ['IHL 4', ETH + '44000014' + '00'.repeat(16), 'ipv4_bad_ihl'],
  ['IHL beyond the frame', ETH + '4f000014' + '00'.repeat(30), 'ipv4_truncated'],
  ['total length below the header', ETH + '45000010' + '00'.repeat(16), 'ipv4_bad_total_length'],
  ['total length beyond the frame', ETH + '450000ff00000000400100000a0000020a000001' + '00'.repeat(20), 'ipv4_truncated'],
  ['TCP header cut short', ETH + '4500001e000000004006 0000 0a0000020a000001 0001000200000000 0000', 'tcp_truncated'],
  ['TCP data offset 4', ETH + IPH + '00010002000000000000000040020000 00000000', 'tcp_bad_offset'],
  ['TCP data offset past the segment', ETH + IPH + '000100020000000000000000f0020000 00000000', 'tcp_bad_offset'],
  ['UDP header cut short', ETH + '4500001a000000004011 0000 0a0000020a000001 000100020008', 'udp_truncated'],
  ['UDP length 7', ETH + '4500001c000000004011 0000 0a0000020a000001 0001000200070000', 'udp_bad_length'],
  ['UDP length past the IP payload', ETH + '4500001c000000004011 0000 0a0000020a000001 0001000200090000', 'udp_bad_length'],
  ['ICMP header cut short', ETH + '4500001a000000004001 0000 0a0000020a000001 080000000000', 'icmp_truncated'],
  ['a first fragment too short for its TCP header', ETH + '4500001c000020004006 0000 0a0000020a000001 0001000200000000', 'tcp_truncated'],
];

t.test('each malformed frame gets its own stable code and a sentence', async (t) => {
  const pkt = new Packet();
  const seen = new Set<ParseError>();
  for (const [what, h, code] of ERRORS) {
    const f = hex(h);
    t.equal(parseFrame(f, 0, f.length, pkt), code, what);
    seen.add(code);
  }
  const f = hex(GOLDEN[0]!.frame);
  t.equal(parseFrame(f, 10, f.length, pkt), 'bad_range', 'a range past the buffer');
  t.equal(parseFrame(f, -1, 5, pkt), 'bad_range', 'a negative offset');
  t.equal(parseFrame(f, Number.NaN, 5, pkt), 'bad_range', 'a NaN offset');
  seen.add('bad_range');
  seen.add('ok');
  t.same([...seen].sort(), Object.keys(PARSE_ERROR_MESSAGES).sort(), 'every code is exercised');
  for (const [code, msg] of Object.entries(PARSE_ERROR_MESSAGES)) t.match(msg, /^[A-Z].*\.$/, `${code} is a sentence`);
});

t.test('a frame cut at every length either parses or reports a truncation code', async (t) => {
  const pkt = new Packet();
  const codes = new Set<string>();
  for (const g of GOLDEN) {
    const f = hex(g.frame);
    for (let n = 0; n < f.length; n++) codes.add(parseFrame(f, 0, n, pkt));
  }
  for (const c of codes) t.ok(c === 'ok' || /truncated|bad_length|bad_offset|bad_total_length/.test(c), c);
  // Cutting below the IPv4 total length is an IPv4 truncation, never an L4 one.
  t.ok(codes.has('eth_truncated') && codes.has('vlan_truncated') && codes.has('arp_truncated') && codes.has('ipv4_truncated'));
  t.notOk(codes.has('tcp_truncated'));
});

t.test('fuzz: 100k random and mutated frames never make parseFrame throw', async (t) => {
  const r = rng(0xf00d);
  const pkt = new Packet();
  const again = new Packet();
  const seeds = GOLDEN.map((g) => hex(g.frame));
  const buf = new Uint8Array(2048);
  let ok = 0;
  let unstable = 0;
  for (let n = 0; n < 100_000; n++) {
    let len: number;
    if (n % 2 === 0) {
      len = r() % 200;
      for (let i = 0; i < len; i++) buf[i] = r() & 255;
      // Steer a share of the random frames into the interesting ethertypes and protocols.
      if (len > 24 && (r() & 1) === 1) { buf[12] = 0x08; buf[13] = 0; buf[14] = 0x45; buf[23] = [1, 6, 17][r() % 3]!; }
    } else {
      const s = seeds[r() % seeds.length]!;
      buf.set(s);
      len = s.length;
      const flips = 1 + (r() % 4);
      for (let i = 0; i < flips; i++) buf[r() % len] = r() & 255;
      if ((r() & 3) === 0) len = r() % (len + 1);
    }
    let code: ParseError;
    try {
      code = parseFrame(buf, 0, len, pkt);
    } catch (e) {
      t.fail(`threw on ${toHex(buf.subarray(0, len))}: ${String(e)}`);
      return;
    }
    if (code !== 'ok') continue;
    ok++;
    // Whatever parses must also build, and build to something that parses to the same fields.
    const out = buildFrameBytes(pkt);
    if (parseFrame(out, 0, out.length, again) !== 'ok' || again.nwSrc !== pkt.nwSrc || again.tpDst !== pkt.tpDst ||
      again.payLen !== pkt.payLen || again.etherType !== pkt.etherType) unstable++;
  }
  t.ok(ok > 10_000, `${ok} of the frames parsed`);
  t.equal(unstable, 0, 'every parsed frame rebuilt and re-parsed to the same fields');
});

// ---- generated packets -----------------------------------------------------------------------------

function parsed(h: string): Packet {
  const f = hex(h);
  const p = new Packet();
  const err = parseFrame(f, 0, f.length, p);
  if (err !== 'ok') throw new Error(err);
  return p;
}

t.test('fillIcmpError quotes the IP header and 8 bytes as the packet is now', async (t) => {
  const orig = parsed(GOLDEN[5]!.frame); // UDP DNS
  orig.nwSrc = ip('10.0.0.2');
  orig.ttl = 1;
  const err = new Packet();
  fillIcmpError(orig, 11, 0, ip('10.0.0.1'), err);
  t.equal(err.ethSrc, 0); t.equal(err.ethDst, 0); t.equal(err.vlanCount, 0);
  t.equal(err.nwSrc, ip('10.0.0.1')); t.equal(err.nwDst, ip('10.0.0.2'));
  t.equal(err.ttl, 64); t.equal(err.nwProto, 1); t.equal(err.tpSrc, 11); t.equal(err.tpDst, 0);
  const f = buildFrameBytes(err);
  t.same(checksumProblems(f), []);
  t.equal(f.length, 14 + 20 + 8 + 28);
  const quoted = f.subarray(42);
  const origIp = buildFrameBytes(orig).subarray(22); // after Ethernet and two tags
  t.equal(toHex(quoted), toHex(origIp.subarray(0, 28)), 'IPv4 header + the UDP header');
  t.equal(quoted[8], 1, 'quoted TTL is the current one');
  t.equal(onesSum(quoted.subarray(0, 20)), 0xffff, 'the quoted header has a valid checksum');
  const back = new Packet();
  t.equal(parseFrame(f, 0, f.length, back), 'ok');
  t.equal(back.payLen, 28);
});

t.test('fillIcmpError keeps IP options, shorter payloads, and the 3/4 next-hop MTU', async (t) => {
  const igmp = parsed(GOLDEN[6]!.frame);
  const err = new Packet();
  fillIcmpError(igmp, 3, 4, ip('10.0.0.1'), err, 1400);
  const f = buildFrameBytes(err);
  t.same(checksumProblems(f), []);
  t.equal(err.payLen, 24 + 8, 'header with its 4 option bytes + 8 bytes');
  t.equal(toHex(f.subarray(34 + 4, 34 + 8)), '00000578', 'rest of header: unused + MTU 1400');
  t.equal(toHex(f.subarray(42 + 20, 42 + 24)), '94040000', 'quoted option');
  const arp = parsed(GOLDEN[0]!.frame);
  t.throws(() => fillIcmpError(arp, 3, 1, 1, err));
  const tiny = new Packet();
  tiny.etherType = ETH_IPV4; tiny.nwProto = 47; tiny.nwSrc = ip('10.1.1.1'); tiny.buf = Uint8Array.of(1, 2, 3); tiny.payLen = 3;
  fillIcmpError(tiny, 3, 2, ip('10.0.0.1'), err);
  t.equal(err.payLen, 23, 'a 3-byte payload is quoted whole');
});

t.test('icmpErrorAllowed follows RFC 1812 §4.3.2.7', async (t) => {
  const base = (): Packet => parsed(GOLDEN[5]!.frame);
  const cases: [string, (p: Packet) => void, boolean][] = [
    ['an ordinary unicast UDP packet', () => {}, true],
    ['an ICMP echo request', (p) => { p.nwProto = 1; p.tpSrc = 8; }, true],
    ['an ICMP destination unreachable', (p) => { p.nwProto = 1; p.tpSrc = 3; }, false],
    ['an ICMP time exceeded', (p) => { p.nwProto = 1; p.tpSrc = 11; }, false],
    ['an ICMP parameter problem', (p) => { p.nwProto = 1; p.tpSrc = 12; }, false],
    ['an ICMP redirect', (p) => { p.nwProto = 1; p.tpSrc = 5; }, false],
    ['a first fragment', (p) => { p.fragment = Frag.First; }, true],
    ['a later fragment', (p) => { p.fragment = Frag.Later; }, false],
    ['a later fragment of ICMP whose bytes look like an error', (p) => { p.nwProto = 1; p.tpSrc = 0; p.fragment = Frag.Later; }, false],
    ['an L2 broadcast', (p) => { p.ethDst = 0xffffffffffff; }, false],
    ['an L2 multicast', (p) => { p.ethDst = 0x01005e000001; }, false],
    ['to 255.255.255.255', (p) => { p.nwDst = 0xffffffff; }, false],
    ['to a multicast group', (p) => { p.nwDst = ip('224.0.0.5'); }, false],
    ['from 0.0.0.0', (p) => { p.nwSrc = 0; }, false],
    ['from loopback', (p) => { p.nwSrc = ip('127.0.0.1'); }, false],
    ['from multicast', (p) => { p.nwSrc = ip('239.1.1.1'); }, false],
    ['from class E / broadcast', (p) => { p.nwSrc = ip('255.255.255.255'); }, false],
    ['an ARP packet', (p) => { p.etherType = ETH_ARP; }, false],
  ];
  for (const [what, edit, want] of cases) {
    const p = base();
    edit(p);
    t.equal(icmpErrorAllowed(p), want, what);
  }
});

t.test('fillEchoReply answers an echo request', async (t) => {
  const req = parsed(GOLDEN[2]!.frame);
  req.pushVlan(30);
  const rep = new Packet();
  fillEchoReply(req, rep);
  t.equal(rep.ethSrc, req.ethDst); t.equal(rep.ethDst, req.ethSrc);
  t.equal(rep.nwSrc, req.nwDst); t.equal(rep.nwDst, req.nwSrc);
  t.equal(rep.tpSrc, 0); t.equal(rep.tpDst, 0);
  t.equal(rep.icmpId, 0x1234); t.equal(rep.icmpSeq, 1); t.equal(rep.ttl, 64);
  t.equal(rep.vlan, 30);
  const f = buildFrameBytes(rep);
  t.same(checksumProblems(f), []);
  t.equal(toHex(f.subarray(f.length - 16)), '101112131415161718191a1b1c1d1e1f', 'same payload');
  t.equal(req.tpSrc, 8, 'the request is left alone');
});

t.test('fillArpReply answers an ARP request', async (t) => {
  const req = parsed(GOLDEN[0]!.frame);
  req.pushVlan(5);
  const rep = new Packet();
  fillArpReply(req, B, rep);
  t.equal(rep.etherType, ETH_ARP); t.equal(rep.arpOp, 2);
  t.equal(rep.ethSrc, B); t.equal(rep.ethDst, A);
  t.equal(rep.arpSha, B); t.equal(rep.arpSpa, ip('10.0.0.1'));
  t.equal(rep.arpTha, A); t.equal(rep.arpTpa, ip('10.0.0.2'));
  t.equal(rep.vlan, 5);
  t.equal(toHex(buildFrameBytes(rep)), toHex(hex(
    `525400123456 525400abcdef 8100 0005 0806 0001 0800 06 04 0002 525400abcdef 0a000001 525400123456 0a000002`)));
});

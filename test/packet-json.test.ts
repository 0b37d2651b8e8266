// SPEC §3 packet JSON: validation with JSON paths, defaults, rendering, the trace match summary, hex.
import t from 'tap';
import { macToString, parseMac } from '../model/addr.js';
import { ETH_ARP, ETH_IPV4, ETH_QINQ, ETH_VLAN, Frag, Packet } from '../engine/packet.js';
import {
  DEFAULT_ETH_DST, DEFAULT_ETH_SRC, bytesToHex, frameFromHex, hexToBytes, matchSummary, packetFromJson, packetToJson,
  type PacketJson,
} from '../engine/packet-json.js';
import { buildFrameBytes } from '../engine/wire/build.js';
import { parseFrame } from '../engine/wire/parse.js';

const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

function fromJson(j: unknown): Packet {
  const p = new Packet();
  const r = packetFromJson(j, p);
  if (!r.ok) throw new Error(`${r.path}: ${r.message}`);
  return p;
}

t.test('a UDP packet from JSON builds the frame a sender would put on the wire', async (t) => {
  const p = fromJson({
    ethSrc: 'AA:BB:CC:00:00:01', ethDst: 'aa:bb:cc:00:00:02', nwSrc: '10.0.0.1', nwDst: '10.0.1.5',
    nwProto: 'udp', tpSrc: 5353, tpDst: 53, payloadLength: 12,
  });
  t.equal(p.etherType, ETH_IPV4);
  t.equal(p.ethSrc, 0xaabbcc000001);
  t.equal(p.nwProto, 17);
  t.equal(p.ttl, 64, 'default TTL');
  t.equal(p.payLen, 12);
  const f = buildFrameBytes(p);
  t.equal(f.length, 14 + 20 + 8 + 12);
  const back = new Packet();
  t.equal(parseFrame(f, 0, f.length, back), 'ok');
  t.equal(back.tpDst, 53);
  t.equal(bytesToHex(f, 42), '00'.repeat(12), 'payload is zero bytes');
});

t.test('defaults are deterministic and documented', async (t) => {
  const p = fromJson({});
  t.equal(p.etherType, ETH_IPV4);
  t.equal(p.ethSrc, DEFAULT_ETH_SRC);
  t.equal(p.ethDst, DEFAULT_ETH_DST);
  t.equal(p.nwSrc, 0); t.equal(p.nwProto, 0); t.equal(p.ttl, 64); t.equal(p.payLen, 0);
  t.equal(p.fragment, Frag.None);

  const arp = fromJson({ arp: { tpa: '10.0.0.1', spa: '10.0.0.2' } });
  t.equal(arp.etherType, ETH_ARP);
  t.equal(arp.arpOp, 1);
  t.equal(arp.ethDst, 0xffffffffffff, 'an ARP request is broadcast');
  t.equal(arp.arpSha, DEFAULT_ETH_SRC, 'sha defaults to ethSrc');
  t.equal(arp.arpTha, 0);
  t.equal(arp.arpTpa, ip('10.0.0.1'));
  const reply = fromJson({ ethSrc: '02:00:00:00:00:09', arp: { op: 'reply' } });
  t.equal(reply.arpOp, 2);
  t.equal(reply.arpSha, 0x020000000009);
  t.equal(reply.ethDst, DEFAULT_ETH_DST);

  const ping = fromJson({ nwSrc: '10.0.0.1', nwDst: '10.0.0.2', icmpId: 7 });
  t.equal(ping.nwProto, 1, 'an icmp field implies ICMP');
  t.equal(ping.tpSrc, 8, 'echo request');
  t.equal(ping.tpDst, 0);
  t.equal(ping.icmpId, 7);

  const syn = fromJson({ nwProto: 'TCP', tpDst: 22 });
  t.equal(syn.nwProto, 6);
  t.equal(syn.tcpFlags, 0x02, 'SYN');
  t.equal(syn.tcpWindow, 0xffff);
});

t.test('VLANs, fragments, ICMP aliases and raw ethertypes', async (t) => {
  const one = fromJson({ vlan: 100 });
  t.equal(one.vlanCount, 1); t.equal(one.vlan, 100); t.equal(one.vlanTpids[0], ETH_VLAN);
  const two = fromJson({ vlan: [10, 20] });
  t.equal(two.vlanCount, 2); t.equal(two.vlanIds[0], 10); t.equal(two.vlanIds[1], 20);
  t.equal(two.vlanTpids[0], ETH_QINQ); t.equal(two.vlanTpids[1], ETH_VLAN);

  const first = fromJson({ nwProto: 'udp', fragment: 'first', tpSrc: 1, tpDst: 2 });
  t.equal(first.fragment, Frag.First); t.ok(first.moreFragments); t.equal(first.fragOffset, 0);
  const later = fromJson({ nwProto: 'udp', fragment: 'later', payloadLength: 100 });
  t.equal(later.fragment, Frag.Later); t.notOk(later.moreFragments); t.ok(later.fragOffset > 0);
  for (const p of [first, later]) {
    const f = buildFrameBytes(p);
    const back = new Packet();
    t.equal(parseFrame(f, 0, f.length, back), 'ok');
    t.equal(back.fragment, p.fragment, 'the built frame is the same kind of fragment');
  }

  const unreach = fromJson({ nwProto: 1, tpSrc: 3, tpDst: 13 });
  t.equal(unreach.tpSrc, 3); t.equal(unreach.tpDst, 13);
  const byName = fromJson({ nwProto: 'icmp', icmpType: 11, icmpCode: 1 });
  t.equal(byName.tpSrc, 11); t.equal(byName.tpDst, 1);

  const v6 = fromJson({ etherType: 0x86dd, payloadLength: 40 });
  t.equal(v6.etherType, 0x86dd); t.equal(v6.payLen, 40);
  t.equal(buildFrameBytes(v6).length, 54);
});

const INVALID: [string, unknown, string, RegExp][] = [
  ['not an object', 'udp', 'packet', /object/],
  ['an array', [], 'packet', /object/],
  ['an unknown field', { nwSrc: '1.2.3.4', color: 'red' }, 'packet.color', /unknown field/],
  ['a bad MAC', { ethSrc: 'aa:bb:cc' }, 'packet.ethSrc', /MAC/],
  ['a MAC that is a number', { ethDst: 12 }, 'packet.ethDst', /MAC/],
  ['a bad IP', { nwSrc: '10.0.0.256' }, 'packet.nwSrc', /IPv4 address/],
  ['an IP with a prefix', { nwDst: '10.0.0.0/8' }, 'packet.nwDst', /IPv4 address/],
  ['VLAN 4096', { vlan: 4096 }, 'packet.vlan', /0 to 4095/],
  ['three VLANs', { vlan: [1, 2, 3] }, 'packet.vlan', /1 or 2/],
  ['a bad inner VLAN', { vlan: [1, 'x'] }, 'packet.vlan[1]', /0 to 4095/],
  ['a fractional TTL', { ttl: 6.5 }, 'packet.ttl', /integer from 0 to 255/],
  ['TTL 256', { ttl: 256 }, 'packet.ttl', /0 to 255/],
  ['nwTos as a string', { nwTos: '0' }, 'packet.nwTos', /integer/],
  ['an unknown protocol name', { nwProto: 'sctp' }, 'packet.nwProto', /tcp.*udp.*icmp/],
  ['protocol 300', { nwProto: 300 }, 'packet.nwProto', /0 to 255/],
  ['port 70000', { nwProto: 'tcp', tpDst: 70000 }, 'packet.tpDst', /0 to 65535/],
  ['a port without a protocol', { tpDst: 80 }, 'packet.nwProto', /required when tpDst/],
  ['ports on a protocol without them', { nwProto: 47, tpSrc: 1 }, 'packet.tpSrc', /only for tcp, udp or icmp/],
  ['ICMP fields on UDP', { nwProto: 'udp', icmpType: 8 }, 'packet.icmpType', /only for ICMP/],
  ['ICMP type 256', { nwProto: 'icmp', icmpType: 256 }, 'packet.icmpType', /0 to 255/],
  ['ICMP type given twice', { nwProto: 'icmp', icmpType: 8, tpSrc: 8 }, 'packet.tpSrc', /not both/],
  ['ICMP tpSrc above 255', { nwProto: 'icmp', tpSrc: 300 }, 'packet.tpSrc', /0 to 255/],
  ['a bad fragment kind', { fragment: 'middle' }, 'packet.fragment', /none.*first.*later/],
  ['ports on a later fragment', { nwProto: 'tcp', fragment: 'later', tpDst: 80 }, 'packet.tpDst', /later fragment/],
  ['a negative payload', { payloadLength: -1 }, 'packet.payloadLength', /integer/],
  ['a payload past 65535 bytes of IPv4', { nwProto: 'tcp', payloadLength: 65500 }, 'packet.payloadLength', /0 to 65495/],
  ['ARP with IPv4 fields', { arp: {}, nwSrc: '1.1.1.1' }, 'packet.nwSrc', /ARP/],
  ['ARP under another ethertype', { arp: {}, etherType: 2048 }, 'packet.etherType', /2054/],
  ['IPv4 fields under another ethertype', { etherType: 0x86dd, nwDst: '1.1.1.1' }, 'packet.etherType', /2048/],
  ['a VLAN TPID as ethertype', { etherType: 0x8100 }, 'packet.etherType', /vlan/],
  ['an ARP payload', { arp: {}, payloadLength: 4 }, 'packet.payloadLength', /no payload/],
  ['arp not an object', { arp: 1 }, 'packet.arp', /object/],
  ['an unknown ARP field', { arp: { opcode: 1 } }, 'packet.arp.opcode', /unknown field/],
  ['a bad ARP op', { arp: { op: 'announce' } }, 'packet.arp.op', /integer/],
  ['a bad ARP tpa', { arp: { tpa: 'x' } }, 'packet.arp.tpa', /IPv4/],
  ['a bad ARP sha', { arp: { sha: 'x' } }, 'packet.arp.sha', /MAC/],
];

t.test('invalid packets are rejected with the JSON path of the bad field', async (t) => {
  for (const [what, json, path, message] of INVALID) {
    const r = packetFromJson(json, new Packet());
    if (r.ok) { t.fail(`${what}: accepted`); continue; }
    t.equal(r.path, path, what);
    t.match(r.message, message, what);
  }
});

t.test('packetToJson renders parsed frames in the SPEC §3 shape', async (t) => {
  const p = new Packet();
  const syn = hexToBytes('525400abcdef5254001234568100006408004500003cd4314000400626ae0a0000025db8d822c93a01bb3b9aca0700000000a002faf05a590000020405b40402080a0001e2400000000001030307')!;
  t.equal(parseFrame(syn, 0, syn.length, p), 'ok');
  t.same(packetToJson(p), {
    ethSrc: '52:54:00:12:34:56', ethDst: '52:54:00:ab:cd:ef', vlan: 100, etherType: 2048,
    nwSrc: '10.0.0.2', nwDst: '93.184.216.34', nwProto: 6, nwTos: 0, ttl: 64, tpSrc: 51514, tpDst: 443,
    payloadLength: 0,
  });
  const arp = fromJson({ ethSrc: '52:54:00:12:34:56', arp: { spa: '10.0.0.2', tpa: '10.0.0.1' } });
  t.same(packetToJson(arp), {
    ethSrc: '52:54:00:12:34:56', ethDst: 'ff:ff:ff:ff:ff:ff', etherType: 2054,
    arp: { op: 1, sha: '52:54:00:12:34:56', spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.1' },
  });
  const ping = fromJson({ vlan: [3, 4], nwProto: 'icmp', icmpId: 9, payloadLength: 56 });
  const j = packetToJson(ping);
  t.same(j.vlan, [3, 4]);
  t.equal(j.icmpType, 8); t.equal(j.icmpCode, 0); t.equal(j.icmpId, 9); t.equal(j.payloadLength, 56);
  t.notOk('tpSrc' in j, 'ICMP is shown as icmpType/icmpCode');
  const err = fromJson({ nwProto: 'icmp', icmpType: 3, icmpCode: 1 });
  t.notOk('icmpId' in packetToJson(err), 'no id on an ICMP error');
  const later = packetToJson(fromJson({ nwProto: 'udp', fragment: 'later' }));
  t.equal(later.fragment, 'later');
  t.notOk('tpSrc' in later);
});

t.test('packetFromJson(packetToJson(p)) keeps every SPEC field', async (t) => {
  const inputs: PacketJson[] = [
    { ethSrc: '02:00:00:00:00:aa', nwSrc: '192.168.1.1', nwDst: '8.8.4.4', nwProto: 'tcp', tpSrc: 1000, tpDst: 80, nwTos: 0x10, ttl: 3, payloadLength: 5 },
    { vlan: 7, nwProto: 'icmp', icmpType: 0, icmpId: 77, fragment: 'first' },
    { arp: { op: 2, sha: '02:00:00:00:00:01', spa: '1.1.1.1', tha: '02:00:00:00:00:02', tpa: '1.1.1.2' } },
    { etherType: 0x88cc, payloadLength: 30 },
    { nwProto: 89, payloadLength: 44 },
  ];
  for (const input of inputs) {
    const j = packetToJson(fromJson(input));
    t.same(packetToJson(fromJson(j)), j, JSON.stringify(input));
    t.same(JSON.parse(JSON.stringify(j)), j, 'plain JSON');
  }
});

t.test('matchSummary is the trace match: outer VLAN, ICMP as tpSrc/tpDst, ARP as MidoNet shows it', async (t) => {
  t.same(matchSummary(fromJson({ ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:00:02', vlan: [5, 6], nwSrc: '1.2.3.4', nwDst: '5.6.7.8', nwProto: 'udp', tpSrc: 9, tpDst: 10 })), {
    ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:00:02', etherType: 2048, vlan: 5,
    nwSrc: '1.2.3.4', nwDst: '5.6.7.8', nwProto: 17, tpSrc: 9, tpDst: 10,
  });
  const icmp = matchSummary(fromJson({ nwProto: 'icmp', icmpType: 3, icmpCode: 4 }));
  t.equal(icmp.tpSrc, 3); t.equal(icmp.tpDst, 4);
  const frag = matchSummary(fromJson({ nwProto: 'tcp', fragment: 'later' }));
  t.equal(frag.nwProto, 6); t.notOk('tpSrc' in frag);
  const gre = matchSummary(fromJson({ nwProto: 47 }));
  t.notOk('tpSrc' in gre);
  t.same(matchSummary(fromJson({ arp: { op: 2, spa: '10.0.0.1', tpa: '10.0.0.2' } })), {
    ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:00:02', etherType: 2054,
    nwSrc: '10.0.0.1', nwDst: '10.0.0.2', nwProto: 2,
  });
  t.same(matchSummary(fromJson({ etherType: 0x86dd })), { ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:00:02', etherType: 0x86dd });
});

t.test('hex helpers and frame validation', async (t) => {
  t.same(hexToBytes('00ff10Ab'), Uint8Array.of(0, 255, 16, 171));
  t.same(hexToBytes(' 00 ff\n10 ab '), Uint8Array.of(0, 255, 16, 171), 'whitespace is ignored');
  t.same(hexToBytes(''), new Uint8Array(0));
  t.equal(hexToBytes('abc'), null, 'odd length');
  t.equal(hexToBytes('zz'), null, 'not hex');
  t.equal(hexToBytes('0x00'), null, 'no 0x prefix');
  const b = Uint8Array.of(1, 2, 0xfe, 0xff);
  t.equal(bytesToHex(b), '0102feff');
  t.equal(bytesToHex(b, 1, 2), '02fe');
  t.equal(bytesToHex(b.subarray(2)), 'feff', 'a view at an offset');

  const ok = frameFromHex('ffffffffffff5254001234560806' + '00'.repeat(28));
  t.ok(ok.ok);
  if (ok.ok) t.equal(ok.bytes.length, 42);
  // Any length of valid hex is a frame to simulate: a runt is parseFrame's verdict, not a refusal.
  for (const n of [0, 2, 13, 70000]) t.equal(frameFromHex('00'.repeat(n)).ok, true, `${n} bytes pass`);
  const bad: [unknown, RegExp][] = [[42, /string/], ['abc', /even/], ['gg'.repeat(20), /hex/]];
  for (const [input, msg] of bad) {
    const r = frameFromHex(input);
    t.notOk(r.ok);
    if (!r.ok) { t.equal(r.path, 'frame'); t.match(r.message, msg); }
  }
});

t.test('MAC strings: macToString and parseMac are inverses over the whole 48-bit range', async (t) => {
  const edges = ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:23:45:67:89:ab', '80:00:00:00:00:01', '00:00:01:ff:00:00', '00:00:00:80:00:00'];
  t.same(edges.map((m) => macToString(parseMac(m))), edges);
  let x = 12345;
  let wrong = 0;
  for (let i = 0; i < 20_000; i++) {
    x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0;
    const mac = (x >>> 16) * 2 ** 32 + (Math.imul(x, 0x9e3779b1) >>> 0); // bits 47..32 and 31..0
    const s = macToString(mac);
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(s) || parseMac(s) !== mac) wrong++;
  }
  t.equal(wrong, 0, '20,000 random MACs round-trip');
});

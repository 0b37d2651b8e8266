// COND words (SPEC §7) → TRACE CONDITION JSON: every word, `!` inversion, one-line errors, and the
// display form parsing back to the same condition. Every parsed condition passes the API's schema.
import t from 'tap';
import { COND_WORDS, describeCondition, parseCondWords } from '../model/cond-words.js';
import { TraceConditionSchema } from '../model/condition-schema.js';
import type { TraceConditionJson } from '../model/trace.js';

const P1 = '11111111-2222-4333-8444-555555555555';
const P2 = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

const OK: [string, Record<string, unknown>][] = [
  ['name web', { name: 'web' }],
  ['src 10.0.0.0/24', { nwSrcAddress: '10.0.0.0', nwSrcLength: 24 }],
  ['src 10.0.0.7', { nwSrcAddress: '10.0.0.7', nwSrcLength: 32 }],
  ['dst !192.168.1.0/24', { nwDstAddress: '192.168.1.0', nwDstLength: 24, invNwDst: true }],
  ['src ! 10.0.0.0/8', { nwSrcAddress: '10.0.0.0', nwSrcLength: 8, invNwSrc: true }],
  ['proto tcp', { nwProto: 6 }],
  ['proto UDP', { nwProto: 17 }],
  ['proto icmp', { nwProto: 1 }],
  ['proto 47', { nwProto: 47 }],
  ['proto !tcp', { nwProto: 6, invNwProto: true }],
  ['src-port 1024:65535', { tpSrc: { start: 1024, end: 65535 } }],
  ['dst-port 53', { tpDst: { start: 53, end: 53 } }],
  ['dst-port !80:81', { tpDst: { start: 80, end: 81 }, invTpDst: true }],
  ['hw-src AA:BB:CC:DD:EE:FF', { dlSrc: 'aa:bb:cc:dd:ee:ff' }],
  ['hw-dst !02-00-00-00-00-01', { dlDst: '02:00:00:00:00:01', invDlDst: true }],
  ['ethertype arp', { dlType: 0x0806 }],
  ['ethertype ipv4', { dlType: 0x0800 }],
  ['ethertype 0x86dd', { dlType: 0x86dd }],
  ['ethertype !2048', { dlType: 2048, invDlType: true }],
  [`in-ports ${P1},${P2}`, { inPorts: [P1, P2] }],
  [`out-ports !${P1}`, { outPorts: [P1], invOutPorts: true }],
  ['tos 16', { nwTos: 16 }],
  ['tos !0', { nwTos: 0, invNwTos: true }],
  ['vlan 100', { vlan: 100 }],
  ['no-vlan', { noVlan: true }],
  ['fragment-policy unfragmented', { fragmentPolicy: 'unfragmented' }],
  ['flow fwd', { matchForwardFlow: true }],
  ['flow return', { matchReturnFlow: true }],
  [`port-group !${P2}`, { portGroup: P2, invPortGroup: true }],
  ['limit 0', { limit: 0 }],
  ['limit 10', { limit: 10 }],
  ['disabled', { enabled: false }],
  [`port ${P1}`, { deviceType: 'port', deviceId: P1 }],
  [`bridge ${P1.toUpperCase()}`, { deviceType: 'bridge', deviceId: P1 }],
  [`router ${P2}`, { deviceType: 'router', deviceId: P2 }],
  ['inverted', { condInvert: true }],
  ['all', {}],
  ['name everything all limit 5', { name: 'everything', limit: 5 }],
  ['', {}],
  ['name !weird', { name: '!weird' }],
];

t.test('each word fills its SPEC §2 field', async (t) => {
  for (const [words, want] of OK) {
    const r = parseCondWords(words === '' ? [] : words.split(' '));
    t.same(r, { ok: true, condition: want }, words);
    if (r.ok) t.ok(TraceConditionSchema.safeParse(r.condition).success, `${words}: accepted by the API schema`);
  }
});

t.test('a condition for every packet must say all (SPEC §7)', async (t) => {
  const need = { requireMatch: true };
  for (const words of ['', 'name web', 'name web limit 3 disabled', 'inverted']) {
    const r = parseCondWords(words === '' ? [] : words.split(' '), need);
    t.match(r, { ok: false, message: /no word says which packets to match.*the word all/ }, `"${words}" refused`);
  }
  t.same(parseCondWords(['name', 'web', 'all'], need), { ok: true, condition: { name: 'web' } }, 'all says it is meant');
  t.same(parseCondWords(['proto', 'tcp'], need), { ok: true, condition: { nwProto: 6 } });
  t.same(parseCondWords([`bridge`, P1], need), { ok: true, condition: { deviceType: 'bridge', deviceId: P1 } }, 'a scope narrows too');
  t.match(parseCondWords(['all', 'proto', 'tcp']), { ok: false, message: 'all means every packet: it cannot be combined with proto' });
  t.same(parseCondWords([]), { ok: true, condition: {} }, 'without requireMatch, nothing is refused');
});

t.test('every word in COND_WORDS is covered above', async (t) => {
  const used = new Set(OK.flatMap(([w]) => w.split(' ')));
  for (const w of COND_WORDS) t.ok(used.has(w), w);
});

t.test('several words combine into one condition', async (t) => {
  const r = parseCondWords(['name', 'dns', 'src', '10.0.0.0/24', 'proto', 'udp', 'dst-port', '!53', 'limit', '5', 'port', P1]);
  t.same(r, {
    ok: true,
    condition: {
      name: 'dns', nwSrcAddress: '10.0.0.0', nwSrcLength: 24, nwProto: 17, tpDst: { start: 53, end: 53 }, invTpDst: true,
      limit: 5, deviceType: 'port', deviceId: P1,
    },
  });
});

const BAD: [string, RegExp][] = [
  ['frobnicate 1', /unknown condition word "frobnicate"/],
  ['src', /src needs a value/],
  ['src !', /src needs a value/],
  ['src 10.0.0.300/24', /src: "10\.0\.0\.300\/24" is not an IPv4/],
  ['src 10.0.0.0/33', /src: "33" must be an integer from 0 to 32/],
  ['dst 10.0.0.0/8/9', /dst: .* is not an IPv4/],
  ['proto sctp', /proto: "sctp" must be icmp, tcp, udp or a number up to 255/],
  ['proto 256', /proto: "256" must be an integer from 0 to 255/],
  ['src-port 80:70', /src-port: range 80:70 starts after it ends/],
  ['dst-port 70000', /dst-port: "70000" must be an integer from 0 to 65535/],
  ['dst-port :80', /dst-port: ":80" must be PORT or FIRST:LAST/],
  ['hw-src 00:11:22:33:44', /hw-src: "00:11:22:33:44" is not a MAC/],
  ['ethertype ipx', /ethertype: "ipx" must be ipv4, arp or a number/],
  ['in-ports 1234', /in-ports: "1234" is not a UUID/],
  [`in-ports ${P1},`, /in-ports: "" is not a UUID/],
  ['tos -1', /tos: "-1" must be an integer/],
  ['vlan 4096', /vlan: "4096" must be an integer from 0 to 4095/],
  ['vlan !5', /vlan cannot be inverted with !/],
  ['limit !5', /limit cannot be inverted/],
  ['fragment-policy some', /fragment-policy: "some" must be one of any, header, nonheader, unfragmented/],
  ['flow sideways', /flow: "sideways" must be fwd or return/],
  ['name a name b', /name is given twice/],
  [`port ${P1} bridge ${P2}`, /bridge and port cannot both be given/],
  ['disabled disabled', /disabled is given twice/],
  ['port not-a-uuid', /port: "not-a-uuid" is not a UUID/],
];

t.test('bad words give one line naming the word', async (t) => {
  for (const [words, re] of BAD) {
    const r = parseCondWords(words.split(' '));
    t.equal(r.ok, false, words);
    if (!r.ok) {
      t.match(r.message, re, words);
      t.notOk(r.message.includes('\n'), `${words}: one line`);
    }
  }
});

t.test('describeCondition prints words that parse back to the same condition', async (t) => {
  for (const [words, want] of OK) {
    const c = { id: P1, ...want } as TraceConditionJson;
    const text = describeCondition(c);
    if (Object.keys(want).every((k) => ['name', 'enabled', 'limit', 'deviceType', 'deviceId'].includes(k))) {
      t.equal(text, '(any packet)', `${words}: no match fields`);
      continue;
    }
    const back = parseCondWords(text.split(' '));
    t.same(back, { ok: true, condition: Object.fromEntries(Object.entries(want).filter(([k]) => !['name', 'enabled', 'limit', 'deviceType', 'deviceId'].includes(k))) }, `${words} → ${text}`);
  }
  t.equal(describeCondition({ id: P1, ipAddrGroupSrc: P2, traversedDevice: P1 }), `ipAddrGroupSrc="${P2}" traversedDevice="${P1}"`,
    'fields without a word are shown as field=JSON');
});

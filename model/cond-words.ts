// midonet-cli condition words (SPEC §7) to TRACE CONDITION JSON, and back for display.
// `add trace-condition src 10.0.0.0/24 proto udp dst-port !53` gives
// `{ nwSrcAddress, nwSrcLength, nwProto: 17, tpDst: { start: 53, end: 53 }, invTpDst: true }`.
import type { NewTraceCondition } from './stores.js';
import type { TraceConditionJson } from './trace.js';

export type CondWordsResult = { ok: true; condition: NewTraceCondition } | { ok: false; message: string };

type Cond = Record<string, unknown>;

/** Thrown inside the parser only; parseCondWords turns it into a result. */
class Bad extends Error {}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

const PROTOS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };
const ETHERTYPES: Record<string, number> = { ipv4: 0x0800, arp: 0x0806 };
const FRAGMENT_POLICIES = ['any', 'header', 'nonheader', 'unfragmented'];

function int(word: string, v: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) throw new Bad(`${word}: "${v}" must be an integer from ${min} to ${max}`);
  return Number(v);
}

function uuid(word: string, v: string): string {
  if (!UUID_RE.test(v)) throw new Bad(`${word}: "${v}" is not a UUID`);
  return v.toLowerCase();
}

function cidr(word: string, v: string): [string, number] {
  const [addr, len, extra] = v.split('/');
  if (extra !== undefined || !IPV4_RE.test(addr!)) throw new Bad(`${word}: "${v}" is not an IPv4 address or CIDR like 10.0.0.0/24`);
  return [addr!, len === undefined ? 32 : int(word, len, 0, 32)];
}

function range(word: string, v: string): { start: number; end: number } {
  const [a, b, extra] = v.split(':');
  if (extra !== undefined || a === '') throw new Bad(`${word}: "${v}" must be PORT or FIRST:LAST`);
  const start = int(word, a!, 0, 65535);
  const end = b === undefined ? start : int(word, b, 0, 65535);
  if (start > end) throw new Bad(`${word}: range ${v} starts after it ends`);
  return { start, end };
}

function named(word: string, v: string, names: Record<string, number>, max: number): number {
  const known = names[v.toLowerCase()];
  if (known !== undefined) return known;
  if (/^0x[0-9a-f]{1,4}$/i.test(v) && parseInt(v, 16) <= max) return parseInt(v, 16);
  if (/^\d+$/.test(v)) return int(word, v, 0, max);
  throw new Bad(`${word}: "${v}" must be ${Object.keys(names).join(', ')} or a number up to ${max}`);
}

/** What a device word names: ports (`in-ports`, `out-ports`, `port`), devices, port groups. */
export type DeviceKind = 'port' | 'bridge' | 'router' | 'port-group';

/** An id for a name or id prefix of a device of that kind, or why there is none (SPEC §7 LABEL). */
export type DeviceResolver = (kind: DeviceKind, label: string) => { ok: true; id: string } | { ok: false; message: string };

function device(word: string, resolve: DeviceResolver | undefined, kind: DeviceKind, v: string): string {
  if (UUID_RE.test(v) || resolve === undefined) return uuid(word, v);
  const r = resolve(kind, v);
  if (!r.ok) throw new Bad(`${word}: ${r.message}`);
  return r.id;
}

/** How each word that takes a value fills the condition; `inv` names the field `!` sets. */
interface ValueWord { inv?: string; apply(c: Cond, v: string, word: string, resolve?: DeviceResolver): void }

const VALUE_WORDS: Record<string, ValueWord> = {
  name: { apply: (c, v) => { c.name = v; } },
  src: { inv: 'invNwSrc', apply: (c, v, w) => { [c.nwSrcAddress, c.nwSrcLength] = cidr(w, v); } },
  dst: { inv: 'invNwDst', apply: (c, v, w) => { [c.nwDstAddress, c.nwDstLength] = cidr(w, v); } },
  proto: { inv: 'invNwProto', apply: (c, v, w) => { c.nwProto = named(w, v, PROTOS, 255); } },
  'src-port': { inv: 'invTpSrc', apply: (c, v, w) => { c.tpSrc = range(w, v); } },
  'dst-port': { inv: 'invTpDst', apply: (c, v, w) => { c.tpDst = range(w, v); } },
  'hw-src': { inv: 'invDlSrc', apply: (c, v, w) => { c.dlSrc = mac(w, v); } },
  'hw-dst': { inv: 'invDlDst', apply: (c, v, w) => { c.dlDst = mac(w, v); } },
  ethertype: { inv: 'invDlType', apply: (c, v, w) => { c.dlType = named(w, v, ETHERTYPES, 0xffff); } },
  'in-ports': { inv: 'invInPorts', apply: (c, v, w, r) => { c.inPorts = v.split(',').map((p) => device(w, r, 'port', p)); } },
  'out-ports': { inv: 'invOutPorts', apply: (c, v, w, r) => { c.outPorts = v.split(',').map((p) => device(w, r, 'port', p)); } },
  tos: { inv: 'invNwTos', apply: (c, v, w) => { c.nwTos = int(w, v, 0, 255); } },
  vlan: { apply: (c, v, w) => { c.vlan = int(w, v, 0, 4095); } },
  'fragment-policy': {
    apply: (c, v, w) => {
      if (!FRAGMENT_POLICIES.includes(v)) throw new Bad(`${w}: "${v}" must be one of ${FRAGMENT_POLICIES.join(', ')}`);
      c.fragmentPolicy = v;
    },
  },
  flow: {
    apply: (c, v, w) => {
      if (v === 'fwd' || v === 'forward') c.matchForwardFlow = true;
      else if (v === 'return') c.matchReturnFlow = true;
      else throw new Bad(`${w}: "${v}" must be fwd or return`);
    },
  },
  'port-group': { inv: 'invPortGroup', apply: (c, v, w, r) => { c.portGroup = device(w, r, 'port-group', v); } },
  limit: { apply: (c, v, w) => { c.limit = int(w, v, 0, 0x7fffffff); } },
  port: { apply: (c, v, w, r) => { c.deviceType = 'port'; c.deviceId = device(w, r, 'port', v); } },
  bridge: { apply: (c, v, w, r) => { c.deviceType = 'bridge'; c.deviceId = device(w, r, 'bridge', v); } },
  router: { apply: (c, v, w, r) => { c.deviceType = 'router'; c.deviceId = device(w, r, 'router', v); } },
};

function mac(word: string, v: string): string {
  if (!MAC_RE.test(v)) throw new Bad(`${word}: "${v}" is not a MAC address like aa:bb:cc:dd:ee:ff`);
  return v.toLowerCase().replaceAll('-', ':');
}

const FLAG_WORDS: Record<string, (c: Cond) => void> = {
  'no-vlan': (c) => { c.noVlan = true; },
  disabled: (c) => { c.enabled = false; },
  inverted: (c) => { c.condInvert = true; },
  // Sets nothing: it says that a condition with no matching word is meant to match every packet.
  all: () => {},
};

/** Words that do not narrow which packets match (the rest do, scope words included). */
const NON_MATCHING = new Set(['name', 'limit', 'disabled', 'inverted', 'all']);

/** Words that set the same fields: giving two of them is a mistake, not an override. */
const SLOT: Record<string, string> = { port: 'scope', bridge: 'scope', router: 'scope' };

export const COND_WORDS: readonly string[] = [...Object.keys(VALUE_WORDS), ...Object.keys(FLAG_WORDS)];

export interface CondWordsOptions {
  /**
   * Refuse words that set no matching field unless the word `all` is among them: a condition
   * without one traces every packet, which on a busy host is rarely what was meant (SPEC §7).
   */
  requireMatch?: boolean;
  /** Lets ports, devices and port groups be given by name or id prefix; without it they must be UUIDs. */
  resolve?: DeviceResolver;
}

/** Every word with an example and what it matches, for `add trace-condition --help`. */
export const COND_WORD_HELP: readonly (readonly [word: string, example: string, about: string])[] = [
  ['name', 'name web-tcp', 'a unique name for the condition (a LABEL for it)'],
  ['src', 'src 10.0.1.0/24', 'IPv4 source address or prefix'],
  ['dst', 'dst !10.0.2.12', 'IPv4 destination address or prefix'],
  ['proto', 'proto tcp', 'IP protocol: tcp, udp, icmp or a number'],
  ['src-port', 'src-port 1024:65535', 'TCP/UDP source port or range (ICMP: type)'],
  ['dst-port', 'dst-port 5432', 'TCP/UDP destination port or range (ICMP: code)'],
  ['hw-src', 'hw-src fa:16:3e:00:01:11', 'Ethernet source MAC'],
  ['hw-dst', 'hw-dst ff:ff:ff:ff:ff:ff', 'Ethernet destination MAC'],
  ['ethertype', 'ethertype arp', 'ethertype: arp, ipv4 or a number'],
  ['in-ports', 'in-ports web1,web2', 'the port the packet entered by (ids or names)'],
  ['out-ports', 'out-ports db1', 'the port the packet leaves by (ids or names)'],
  ['tos', 'tos 16', 'IPv4 TOS byte'],
  ['vlan', 'vlan 100', 'VLAN id'],
  ['no-vlan', 'no-vlan', 'untagged frames only'],
  ['fragment-policy', 'fragment-policy header', 'any, header, nonheader or unfragmented'],
  ['flow', 'flow return', 'fwd or return: the connection\'s direction (conntrack)'],
  ['port-group', 'port-group web-servers', 'the ingress port is in this port group (id or name)'],
  ['limit', 'limit 100', 'stop after this many traces (counted across hosts)'],
  ['disabled', 'disabled', 'store the condition disabled'],
  ['port', 'port web1', 'scope: match where the packet is at this port (id or name)'],
  ['bridge', 'bridge web', 'scope: match where the packet is at this bridge'],
  ['router', 'router edge', 'scope: match where the packet is at this router'],
  ['inverted', 'inverted', 'match the packets the other words do not'],
  ['all', 'all', 'match every packet (no other matching word)'],
];

export function parseCondWords(words: readonly string[], o: CondWordsOptions = {}): CondWordsResult {
  const c: Cond = {};
  const seen = new Map<string, string>();
  try {
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      const slot = SLOT[word] ?? word;
      const earlier = seen.get(slot);
      if (earlier !== undefined) throw new Bad(earlier === word ? `${word} is given twice` : `${word} and ${earlier} cannot both be given`);
      seen.set(slot, word);
      const flag = FLAG_WORDS[word];
      if (flag !== undefined) { flag(c); continue; }
      const vw = VALUE_WORDS[word];
      if (vw === undefined) throw new Bad(`unknown condition word "${word}"; known words: ${COND_WORDS.join(', ')}`);
      let value = words[++i];
      let inverted = false;
      if (value === '!') { inverted = true; value = words[++i]; } else if (value?.startsWith('!') && word !== 'name') { inverted = true; value = value.slice(1); }
      if (value === undefined || value === '') throw new Bad(`${word} needs a value`);
      if (inverted) {
        if (vw.inv === undefined) throw new Bad(`${word} cannot be inverted with !`);
        c[vw.inv] = true;
      }
      vw.apply(c, value, word, o.resolve);
    }
    const matching = [...seen.keys()].find((w) => !NON_MATCHING.has(w));
    if (seen.has('all') && matching !== undefined) throw new Bad(`all means every packet: it cannot be combined with ${seen.get(matching)}`);
    if (o.requireMatch === true && matching === undefined && !seen.has('all')) {
      throw new Bad('no word says which packets to match, so this would trace every packet: add a word such as proto, src or dst-port, or the word all if every packet is meant');
    }
  } catch (e) {
    if (e instanceof Bad) return { ok: false, message: e.message };
    throw e;
  }
  return { ok: true, condition: c as NewTraceCondition };
}

const inv = (c: Cond, field: string): string => (c[field] === true ? '!' : '');
const rangeText = (r: { start: number; end: number }): string => (r.start === r.end ? `${r.start}` : `${r.start}:${r.end}`);

/** Fields shown by describeCondition through a word (the rest are shown as field=JSON). */
const DESCRIBED = new Set([
  'id', 'name', 'enabled', 'limit', 'deviceType', 'deviceId', 'creationTimestampMs', 'condInvert', 'hits',
  'nwSrcAddress', 'nwSrcLength', 'invNwSrc', 'nwDstAddress', 'nwDstLength', 'invNwDst', 'nwProto', 'invNwProto',
  'tpSrc', 'invTpSrc', 'tpDst', 'invTpDst', 'dlSrc', 'invDlSrc', 'dlDst', 'invDlDst', 'dlType', 'invDlType',
  'inPorts', 'invInPorts', 'outPorts', 'invOutPorts', 'nwTos', 'invNwTos', 'vlan', 'noVlan', 'fragmentPolicy',
  'matchForwardFlow', 'matchReturnFlow', 'portGroup', 'invPortGroup',
]);

/**
 * The match part of a condition in COND words (what `add trace-condition` would take). `name` shows
 * ports and port groups by name where it knows one (the words take names too).
 */
export function describeCondition(t: TraceConditionJson, name: (id: string) => string = (id) => id): string {
  const c = t as unknown as Cond;
  const out: string[] = [];
  const protoName = Object.keys(PROTOS).find((k) => PROTOS[k] === t.nwProto);
  const typeName = Object.keys(ETHERTYPES).find((k) => ETHERTYPES[k] === t.dlType);
  if (t.nwSrcAddress !== undefined) out.push(`src ${inv(c, 'invNwSrc')}${t.nwSrcAddress}/${t.nwSrcLength ?? 32}`);
  if (t.nwDstAddress !== undefined) out.push(`dst ${inv(c, 'invNwDst')}${t.nwDstAddress}/${t.nwDstLength ?? 32}`);
  if (t.nwProto !== undefined) out.push(`proto ${inv(c, 'invNwProto')}${protoName ?? t.nwProto}`);
  if (t.tpSrc !== undefined) out.push(`src-port ${inv(c, 'invTpSrc')}${rangeText(t.tpSrc)}`);
  if (t.tpDst !== undefined) out.push(`dst-port ${inv(c, 'invTpDst')}${rangeText(t.tpDst)}`);
  if (t.dlSrc !== undefined) out.push(`hw-src ${inv(c, 'invDlSrc')}${t.dlSrc}`);
  if (t.dlDst !== undefined) out.push(`hw-dst ${inv(c, 'invDlDst')}${t.dlDst}`);
  if (t.dlType !== undefined) out.push(`ethertype ${inv(c, 'invDlType')}${typeName ?? t.dlType}`);
  if (t.inPorts !== undefined) out.push(`in-ports ${inv(c, 'invInPorts')}${t.inPorts.map(name).join(',')}`);
  if (t.outPorts !== undefined) out.push(`out-ports ${inv(c, 'invOutPorts')}${t.outPorts.map(name).join(',')}`);
  if (t.nwTos !== undefined) out.push(`tos ${inv(c, 'invNwTos')}${t.nwTos}`);
  if (t.vlan !== undefined) out.push(`vlan ${t.vlan}`);
  if (t.noVlan === true) out.push('no-vlan');
  if (t.fragmentPolicy !== undefined) out.push(`fragment-policy ${t.fragmentPolicy}`);
  if (t.matchForwardFlow === true) out.push('flow fwd');
  if (t.matchReturnFlow === true) out.push('flow return');
  if (t.portGroup !== undefined) out.push(`port-group ${inv(c, 'invPortGroup')}${name(t.portGroup)}`);
  for (const [k, v] of Object.entries(c)) {
    if (!DESCRIBED.has(k) && v !== undefined && v !== false) out.push(`${k}=${JSON.stringify(v)}`);
  }
  if (t.condInvert === true) out.push('inverted');
  return out.length > 0 ? out.join(' ') : '(any packet)';
}

// `midotrace simulate --flow EXPR`: ovn-trace's microflow syntax for the packet fields of SPEC §3,
//   inport == "web1" && ip4.dst == 10.0.2.12 && tcp.dst == 5432
// terms joined by `&&`, each `FIELD == VALUE` or a protocol word (tcp, udp, icmp, icmp4, arp, ip4,
// ip). Errors name the token and its column (1-based) and never throw.
import type { PacketJson } from './packet.js';

export type FlowResult = { ok: true; inPort: string; packet: PacketJson } | { ok: false; message: string };

type Kind = 'mac' | 'ip' | 'int' | 'string';
interface Field { kind: Kind; max?: number; set(p: Building, v: string | number): string | null }

/** The packet as the terms build it; `proto` remembers which term set the protocol. */
interface Building {
  inPort?: string;
  pkt: Record<string, unknown>;
  arp: Record<string, unknown> | null;
  proto: { value: number; by: string } | null;
  ip: string | null;
}

const PROTO: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

function setProto(p: Building, value: number, by: string): string | null {
  if (p.proto !== null && p.proto.value !== value) return `${by} contradicts ${p.proto.by}`;
  p.proto ??= { value, by };
  return null;
}

function ipv4(p: Building, by: string): string | null {
  if (p.arp !== null) return `${by} contradicts arp`;
  p.ip ??= by;
  return null;
}

function l4(proto: string, key: 'tpSrc' | 'tpDst'): Field {
  return {
    kind: 'int', max: 65535,
    set: (p, v) => setProto(p, PROTO[proto]!, `${proto}.${key === 'tpSrc' ? 'src' : 'dst'}`) ?? ipv4(p, proto) ?? (p.pkt[key] = v, null),
  };
}

function arpField(key: string, kind: Kind, max?: number): Field {
  return {
    kind, ...(max !== undefined ? { max } : {}),
    set: (p, v) => {
      if (p.ip !== null) return `arp.${key} contradicts ${p.ip}`;
      (p.arp ??= {})[key] = v;
      return null;
    },
  };
}

const FIELDS: Record<string, Field> = {
  inport: { kind: 'string', set: (p, v) => { p.inPort = String(v); return null; } },
  'eth.src': { kind: 'mac', set: (p, v) => { p.pkt.ethSrc = v; return null; } },
  'eth.dst': { kind: 'mac', set: (p, v) => { p.pkt.ethDst = v; return null; } },
  'eth.type': { kind: 'int', max: 0xffff, set: (p, v) => { p.pkt.etherType = v; return null; } },
  'vlan.vid': { kind: 'int', max: 4095, set: (p, v) => { p.pkt.vlan = v; return null; } },
  'ip4.src': { kind: 'ip', set: (p, v) => ipv4(p, 'ip4.src') ?? (p.pkt.nwSrc = v, null) },
  'ip4.dst': { kind: 'ip', set: (p, v) => ipv4(p, 'ip4.dst') ?? (p.pkt.nwDst = v, null) },
  'ip.proto': { kind: 'int', max: 255, set: (p, v) => ipv4(p, 'ip.proto') ?? setProto(p, v as number, 'ip.proto') },
  'ip.ttl': { kind: 'int', max: 255, set: (p, v) => ipv4(p, 'ip.ttl') ?? (p.pkt.ttl = v, null) },
  'ip.tos': { kind: 'int', max: 255, set: (p, v) => ipv4(p, 'ip.tos') ?? (p.pkt.nwTos = v, null) },
  'ip.dscp': { kind: 'int', max: 63, set: (p, v) => ipv4(p, 'ip.dscp') ?? (p.pkt.nwTos = (v as number) << 2, null) },
  'tcp.src': l4('tcp', 'tpSrc'),
  'tcp.dst': l4('tcp', 'tpDst'),
  'udp.src': l4('udp', 'tpSrc'),
  'udp.dst': l4('udp', 'tpDst'),
  'icmp4.type': { kind: 'int', max: 255, set: (p, v) => setProto(p, 1, 'icmp4.type') ?? ipv4(p, 'icmp4') ?? (p.pkt.icmpType = v, null) },
  'icmp4.code': { kind: 'int', max: 255, set: (p, v) => setProto(p, 1, 'icmp4.code') ?? ipv4(p, 'icmp4') ?? (p.pkt.icmpCode = v, null) },
  'arp.op': arpField('op', 'int', 2),
  'arp.spa': arpField('spa', 'ip'),
  'arp.tpa': arpField('tpa', 'ip'),
  'arp.sha': arpField('sha', 'mac'),
  'arp.tha': arpField('tha', 'mac'),
};

const WORDS: Record<string, (p: Building) => string | null> = {
  tcp: (p) => setProto(p, 6, 'tcp') ?? ipv4(p, 'tcp'),
  udp: (p) => setProto(p, 17, 'udp') ?? ipv4(p, 'udp'),
  icmp: (p) => setProto(p, 1, 'icmp') ?? ipv4(p, 'icmp'),
  icmp4: (p) => setProto(p, 1, 'icmp4') ?? ipv4(p, 'icmp4'),
  ip4: (p) => ipv4(p, 'ip4'),
  ip: (p) => ipv4(p, 'ip'),
  arp: (p) => { if (p.ip !== null) return `arp contradicts ${p.ip}`; p.arp ??= {}; return null; },
};

interface Token { text: string; col: number; quoted: boolean }

/** Splits on whitespace, `==` and `&&`; a double-quoted string is one token. */
function tokenize(expr: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === ' ' || c === '\t' || c === '\n') { i++; continue; }
    const col = i + 1;
    if (c === '"') {
      const end = expr.indexOf('"', i + 1);
      if (end < 0) return `--flow: unterminated string at column ${col}`;
      out.push({ text: expr.slice(i + 1, end), col, quoted: true });
      i = end + 1;
      continue;
    }
    const two = expr.slice(i, i + 2);
    if (two === '==' || two === '&&') { out.push({ text: two, col, quoted: false }); i += 2; continue; }
    let j = i;
    while (j < expr.length && !/[\s"]/.test(expr[j]!) && expr.slice(j, j + 2) !== '==' && expr.slice(j, j + 2) !== '&&') j++;
    out.push({ text: expr.slice(i, j), col, quoted: false });
    i = j;
  }
  return out;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IP_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function value(f: Field, name: string, t: Token): string | number | { error: string } {
  const bad = (what: string) => ({ error: `--flow: ${name} needs ${what}, not ${JSON.stringify(t.text)} (column ${t.col})` });
  switch (f.kind) {
    case 'string': return t.text === '' ? bad('a port id or name') : t.text;
    case 'mac': return MAC_RE.test(t.text) ? t.text.toLowerCase() : bad('a MAC address like 02:00:00:00:00:01');
    case 'ip': return IP_RE.test(t.text) ? t.text : bad('an IPv4 address like 10.0.0.1');
    case 'int': {
      const n = /^0x[0-9a-f]+$/i.test(t.text) ? parseInt(t.text, 16) : /^\d+$/.test(t.text) ? Number(t.text) : NaN;
      return Number.isInteger(n) && n >= 0 && n <= f.max! ? n : bad(`an integer from 0 to ${f.max}`);
    }
  }
}

export function parseFlow(expr: string): FlowResult {
  const tokens = tokenize(expr);
  if (typeof tokens === 'string') return { ok: false, message: tokens };
  const b: Building = { pkt: {}, arp: null, proto: null, ip: null };
  const seen = new Map<string, number>();
  let i = 0;
  if (tokens.length === 0) return { ok: false, message: '--flow: empty expression (e.g. inport == "web1" && ip4.dst == 10.0.2.12 && tcp.dst == 5432)' };
  for (;;) {
    const t = tokens[i];
    if (t === undefined) return { ok: false, message: '--flow: expected a term after "&&" at the end' };
    if (t.text === '&&' || t.text === '==') return { ok: false, message: `--flow: unexpected "${t.text}" at column ${t.col}` };
    const word = WORDS[t.text];
    const field = FIELDS[t.text];
    if (!t.quoted && word !== undefined && tokens[i + 1]?.text !== '==') {
      const e = word(b);
      if (e !== null) return { ok: false, message: `--flow: ${e} (column ${t.col})` };
      i++;
    } else if (!t.quoted && field !== undefined) {
      const op = tokens[i + 1];
      if (op?.text !== '==') return { ok: false, message: `--flow: expected "==" after ${t.text} at column ${op?.col ?? expr.length + 1}` };
      const v = tokens[i + 2];
      if (v === undefined || v.text === '&&') return { ok: false, message: `--flow: ${t.text} == needs a value (column ${op.col})` };
      const earlier = seen.get(t.text);
      if (earlier !== undefined) return { ok: false, message: `--flow: ${t.text} is given twice (columns ${earlier} and ${t.col})` };
      seen.set(t.text, t.col);
      const val = value(field, t.text, v);
      if (typeof val === 'object') return { ok: false, message: val.error };
      const e = field.set(b, val);
      if (e !== null) return { ok: false, message: `--flow: ${e} (column ${t.col})` };
      i += 3;
    } else {
      return { ok: false, message: `--flow: unknown field ${JSON.stringify(t.text)} at column ${t.col} (known: ${[...Object.keys(FIELDS), ...Object.keys(WORDS)].join(', ')})` };
    }
    const next = tokens[i];
    if (next === undefined) break;
    if (next.text !== '&&') return { ok: false, message: `--flow: expected "&&" before ${JSON.stringify(next.text)} at column ${next.col}` };
    i++;
  }
  if (b.inPort === undefined) return { ok: false, message: '--flow: inport == "PORT" is required (the port the packet enters by)' };
  const pkt: Record<string, unknown> = { ...b.pkt };
  if (b.arp !== null) pkt.arp = { op: 1, ...b.arp };
  if (b.proto !== null) pkt.nwProto = b.proto.value;
  return { ok: true, inPort: b.inPort, packet: pkt as PacketJson };
}

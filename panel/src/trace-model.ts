// Turns a trace's flat step list into what people read: hops (one per device visited, chain and rule
// steps kept with the device that ran them), the steps that decided something, and what was lost.
// Pure functions: the browser renders them, the tests check them without a browser. Steps are told
// apart by their kind (details.kind), never by which keys their details happen to have.
import type { DetailsOf, MatchSummary, StepJson, StepKind, Trace } from './types.js';

export type HopType = 'port' | 'bridge' | 'router' | 'chain' | 'rule';

export interface Endpoint { nwSrc?: string; nwDst?: string; tpSrc?: number; tpDst?: number }

export type Highlight =
  | { kind: 'rule'; step: number; name: string; action: string; deciding: boolean; text: string }
  | { kind: 'nat'; step: number; name: string; before: Endpoint; after: Endpoint }
  | { kind: 'route'; step: number; text: string }
  | { kind: 'drop'; step: number; reason: string; text: string };

export interface Hop {
  /** Stable within one trace: used as the timeline anchor the diagram links to. */
  anchor: string;
  deviceType: HopType;
  deviceId: string;
  deviceName: string;
  /** An interior port that only passed the packet to its peer: drawn on the arrow, not as a box. */
  link: boolean;
  steps: StepJson[];
  highlights: Highlight[];
}

export interface TraceModel {
  hops: Hop[];
  /** The last step's sentence: how the simulation ended. */
  outcome: string;
  /** Step numbers between 1 and numSteps that the trace does not hold. */
  missing: number[];
}

const DEVICES = new Set(['port', 'bridge', 'router']);
/** Rule actions that end a chain's evaluation for the packet. */
const DECIDING = new Set(['accept', 'drop', 'reject']);

function endpoint(v: unknown): Endpoint {
  if (v === null || typeof v !== 'object') return {};
  const o = v as Record<string, unknown>;
  const e: Endpoint = {};
  if (typeof o.nwSrc === 'string') e.nwSrc = o.nwSrc;
  if (typeof o.nwDst === 'string') e.nwDst = o.nwDst;
  if (typeof o.tpSrc === 'number') e.tpSrc = o.tpSrc;
  if (typeof o.tpDst === 'number') e.tpDst = o.tpDst;
  return e;
}

/** The step's kind (details.kind, SPEC §5); `legacy` for a step that carries none. */
export function kindOf(s: StepJson): StepKind {
  const k = s.details?.kind;
  return typeof k === 'string' ? k : 'legacy';
}

/** What in this step deserves to stand out, if anything: decided by the step's kind. */
export function highlightOf(s: StepJson): Highlight | null {
  const d = s.details;
  const name = s.deviceName || s.deviceId;
  switch (kindOf(s)) {
    case 'nat_applied': {
      const n = d as DetailsOf<'nat_applied'>;
      return { kind: 'nat', step: s.step, name, before: endpoint(n.before), after: endpoint(n.after) };
    }
    case 'rule_matched': {
      const r = d as DetailsOf<'rule_matched'>;
      const action = String(r.action ?? '');
      // A top-level `return` accepts; a nested one only goes back to the jumping chain.
      const deciding = DECIDING.has(action) || (action === 'return' && r.note === 'accept');
      return { kind: 'rule', step: s.step, name, action, deciding, text: s.message };
    }
    case 'route_chosen':
      return { kind: 'route', step: s.step, text: s.message.replace(/^route chosen:\s*/, '') };
    case 'dropped':
    case 'rejected':
      return { kind: 'drop', step: s.step, reason: String((d as DetailsOf<'dropped'>).reason ?? ''), text: s.message };
    default:
      return null;
  }
}

/** A port hop that only passed the packet between an interior pair: it entered from the peer, or left to it. */
function isLinkOnly(h: Hop): boolean {
  if (h.deviceType !== 'port' || h.highlights.length > 0) return false;
  return h.steps.every((s) => {
    const k = kindOf(s);
    return k === 'to_peer' || (k === 'port_received' && (s.details as DetailsOf<'port_received'>).exterior === false);
  });
}

export function traceModel(t: Pick<Trace, 'steps' | 'numSteps'>): TraceModel {
  const hops: Hop[] = [];
  let cur: Hop | null = null;
  for (const s of t.steps) {
    // Chains and rules run inside the device that owns them, so they join its hop.
    const startsHop = cur === null || (DEVICES.has(s.deviceType) && s.deviceId !== cur.deviceId);
    if (startsHop) {
      cur = { anchor: `hop-${hops.length + 1}`, deviceType: s.deviceType, deviceId: s.deviceId, deviceName: s.deviceName, link: false, steps: [], highlights: [] };
      hops.push(cur);
    }
    cur!.steps.push(s);
    const h = highlightOf(s);
    if (h !== null) cur!.highlights.push(h);
  }
  for (const h of hops) h.link = isLinkOnly(h);
  const have = new Set(t.steps.map((s) => s.step));
  const missing: number[] = [];
  for (let i = 1; i <= t.numSteps; i++) if (!have.has(i)) missing.push(i);
  const last = t.steps[t.steps.length - 1];
  return { hops, outcome: last?.message ?? 'no steps were recorded', missing };
}

/** Every rule that decided the packet's fate, in order. */
export function decidingRules(m: TraceModel): Extract<Highlight, { kind: 'rule' }>[] {
  const out: Extract<Highlight, { kind: 'rule' }>[] = [];
  for (const h of m.hops) for (const x of h.highlights) if (x.kind === 'rule' && x.deciding) out.push(x);
  return out;
}

const PROTOS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };
const ETHER: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q' };

export const protoName = (n: number | undefined): string => (n === undefined ? '' : PROTOS[n] ?? String(n));
export const etherName = (n: number | undefined): string => (n === undefined ? '?' : ETHER[n] ?? `0x${n.toString(16).padStart(4, '0')}`);

/** One line a person can scan: `tcp 10.0.1.10:40000 → 10.0.2.10:80`, or the MACs for non-IP frames. */
export function matchLine(m: MatchSummary): string {
  if (m.nwSrc === undefined && m.nwDst === undefined) return `${etherName(m.etherType)} ${m.ethSrc ?? '?'} → ${m.ethDst ?? '?'}`;
  const port = (p: number | undefined) => (p === undefined || m.nwProto === 1 ? '' : `:${p}`);
  const proto = protoName(m.nwProto);
  return `${proto ? proto + ' ' : ''}${m.nwSrc ?? '?'}${port(m.tpSrc)} → ${m.nwDst ?? '?'}${port(m.tpDst)}`;
}

export function endpointText(e: Endpoint): string {
  const a = (ip: string | undefined, p: number | undefined) => `${ip ?? '?'}${p === undefined ? '' : `:${p}`}`;
  return `${a(e.nwSrc, e.tpSrc)} → ${a(e.nwDst, e.tpDst)}`;
}

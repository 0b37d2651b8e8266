// GET /traces/diff (SPEC §6): two traces aligned device by device, and where and why they part. A
// trace is a sequence of hops (consecutive steps at one device); hops are aligned by device with a
// longest common subsequence, so a detour in one trace (a flood branch, an extra router) does not
// misalign the rest. Two aligned hops differ when a step that decides something differs: the rule
// that decided, the route, the NAT binding, whether the destination MAC was known, the disposition.
import type { StepJson, Trace, TraceSummary } from './trace.js';
import { traceHops, type Hop } from './trace-hops.js';

export interface DiffRow {
  deviceId: string;
  deviceType: StepJson['deviceType'];
  deviceName: string;
  /** Step numbers of this hop in each trace; null when the trace did not visit the device here. */
  a: number[] | null;
  b: number[] | null;
  same: boolean;
}

export interface Divergence {
  /** The first differing step of each trace (null: the trace has no such hop). */
  stepA: number | null;
  stepB: number | null;
  deviceId: string;
  why: string;
}

export interface TraceDiff {
  a: TraceSummary;
  b: TraceSummary;
  firstDivergence: Divergence | null;
  steps: DiffRow[];
}

/** What a step decided, in words; null for steps that only observe (receptions, learning). */
function decision(s: StepJson): string | null {
  const d = s.details as Record<string, unknown> & { kind: string };
  switch (d.kind) {
    // Rule steps are named `chain[position]`, chain steps by the chain's name: ids only when unnamed.
    case 'rule_matched': return `rule ${s.deviceName !== '' ? s.deviceName : `${String(d.position)} of chain ${String(d.chainId)}`} (${String(d.type)}) matched: ${String(d.action)}`;
    case 'chain_default': return `no rule of chain ${s.deviceName !== '' ? s.deviceName : String(d.chainId)} decided: ${String(d.action)}`;
    case 'route_chosen': return `route ${String(d.routeId ?? 'implicit')} to ${String(d.dst)} via ${String(d.nextHopPort ?? '-')} gateway ${String(d.nextHopGateway ?? '-')}`;
    case 'nat_applied': {
      const a = d.after as { nwSrc: string; nwDst: string; tpSrc: number; tpDst: number };
      return `${String(d.type)} binding ${a.nwSrc}:${a.tpSrc} → ${a.nwDst}:${a.tpDst}`;
    }
    case 'mac_known': return `destination MAC learned on port ${String(d.portId)}`;
    case 'flooded': return `flooded (${String(d.reason)})`;
    case 'forwarded': return `forwarded to port ${String(d.portId)}`;
    case 'to_peer': return `to peer port ${String(d.peerId)}`;
    case 'emitted': return 'emitted';
    case 'consumed': return `consumed (${String(d.reason)})`;
    case 'dropped': return `dropped (${String(d.reason)})`;
    case 'rejected': return `rejected (${String(d.reason)})`;
    case 'arp_held': return `held for ARP of ${String(d.nextHop)}`;
    case 'icmp_sent': return `ICMP ${String(d.icmpType)}/${String(d.icmpCode)} sent`;
    case 'ttl_decremented': return null;
    default: return null;
  }
}

/** Why two decisions differ, in the words an operator would use. */
function why(a: StepJson | undefined, b: StepJson | undefined, hop: string): string {
  const ka = a?.details.kind;
  const kb = b?.details.kind;
  const da = a !== undefined ? decision(a) : null;
  const db = b !== undefined ? decision(b) : null;
  const both = `A: ${da ?? 'nothing'}; B: ${db ?? 'nothing'}`;
  if ((ka === 'mac_known' && kb === 'flooded') || (ka === 'flooded' && kb === 'mac_known')) {
    return `a MAC not yet learned at ${hop} in ${ka === 'flooded' ? 'A' : 'B'}: ${both}`;
  }
  if (ka === 'rule_matched' || kb === 'rule_matched' || ka === 'chain_default' || kb === 'chain_default') return `another rule decided at ${hop}: ${both}`;
  if (ka === 'route_chosen' || kb === 'route_chosen') return `another route at ${hop}: ${both}`;
  if (ka === 'nat_applied' || kb === 'nat_applied') return `another NAT binding at ${hop}: ${both}`;
  return `another outcome at ${hop}: ${both}`;
}

/** Longest common subsequence of the two hop lists by device: index pairs in order. */
function align(a: readonly Hop[], b: readonly Hop[]): [number, number][] {
  const n = a.length;
  const m = b.length;
  const len: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i]![j] = a[i]!.deviceId === b[j]!.deviceId ? len[i + 1]![j + 1]! + 1 : Math.max(len[i + 1]![j]!, len[i]![j + 1]!);
    }
  }
  const pairs: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i]!.deviceId === b[j]!.deviceId) { pairs.push([i, j]); i++; j++; } else if (len[i + 1]![j]! >= len[i]![j + 1]!) i++; else j++;
  }
  return pairs;
}

const summary = (t: Trace): TraceSummary => {
  const { steps: _steps, ...s } = t;
  return s;
};
const nums = (h: Hop): number[] => h.steps.map((s) => s.step);
const hopName = (h: Hop): string => `${h.deviceType} ${h.deviceName !== '' ? h.deviceName : h.deviceId}`;

export function diffTraces(a: Trace, b: Trace): TraceDiff {
  const ha = traceHops(a.steps);
  const hb = traceHops(b.steps);
  const rows: DiffRow[] = [];
  let first: Divergence | null = null;
  const only = (h: Hop, side: 'a' | 'b'): void => {
    rows.push({ deviceId: h.deviceId, deviceType: h.deviceType, deviceName: h.deviceName, a: side === 'a' ? nums(h) : null, b: side === 'b' ? nums(h) : null, same: false });
    first ??= {
      stepA: side === 'a' ? h.steps[0]!.step : null, stepB: side === 'b' ? h.steps[0]!.step : null, deviceId: h.deviceId,
      why: `only ${side.toUpperCase()} went through ${hopName(h)}`,
    };
  };
  let i = 0;
  let j = 0;
  for (const [pi, pj] of [...align(ha, hb), [ha.length, hb.length] as [number, number]]) {
    for (; i < pi; i++) only(ha[i]!, 'a');
    for (; j < pj; j++) only(hb[j]!, 'b');
    if (pi === ha.length && pj === hb.length) break;
    const x = ha[pi]!;
    const y = hb[pj]!;
    const da = x.steps.filter((s) => decision(s) !== null);
    const db = y.steps.filter((s) => decision(s) !== null);
    let k = 0;
    while (k < da.length && k < db.length && decision(da[k]!) === decision(db[k]!)) k++;
    const same = k === da.length && k === db.length;
    rows.push({ deviceId: x.deviceId, deviceType: x.deviceType, deviceName: x.deviceName, a: nums(x), b: nums(y), same });
    if (!same && first === null) {
      first = { stepA: da[k]?.step ?? null, stepB: db[k]?.step ?? null, deviceId: x.deviceId, why: why(da[k], db[k], hopName(x)) };
    }
    i = pi + 1;
    j = pj + 1;
  }
  if (first === null && a.result !== b.result) {
    first = { stepA: a.steps.at(-1)?.step ?? null, stepB: b.steps.at(-1)?.step ?? null, deviceId: a.steps.at(-1)?.deviceId ?? '', why: `results differ: A ${a.result}, B ${b.result}` };
  }
  return { a: summary(a), b: summary(b), firstDivergence: first, steps: rows };
}

// A stored step as SPEC §5 STEP JSON: the one conversion every reader uses (SQLite, Cassandra, and
// `simulate` straight from the engine). Steps stored before details had a `kind` still read: their
// kind is told from the fields and sentence the engine wrote then.
import type { Stage, StepDeviceType, StepDetails, StepKind, TraceStep } from './step.js';
import type { StepJson } from './trace.js';

/** A step as a store holds it; `details` is whatever was stored (new form with `kind`, or old form). */
export type StoredStep = Omit<TraceStep, 'step' | 'details'> & { details: unknown };

/** Step number `n` (1-based) of a trace recorded on `hostId`. */
export function toStepJson(n: number, hostId: string, s: StoredStep): StepJson {
  return {
    step: n,
    timestamp: new Date(s.timestampMs).toISOString(),
    hostId,
    stage: s.stage,
    deviceType: s.deviceType,
    deviceId: s.deviceId,
    deviceName: s.deviceName,
    message: s.message,
    details: readDetails(s.details, s.stage, s.deviceType, s.message),
  };
}

/** Stored details with their kind: as stored when they have one, else with the kind told from the old form. */
export function readDetails(raw: unknown, stage: Stage, deviceType: StepDeviceType, message: string): StepDetails {
  const d = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw as Record<string, unknown> : {};
  if (typeof d.kind === 'string') return d as StepDetails;
  return { kind: legacyKind(d, stage, deviceType, message), ...d } as StepDetails;
}

/** The kind of a step written before kinds existed (the engine's fields and sentences of that time). */
function legacyKind(d: Record<string, unknown>, stage: Stage, type: StepDeviceType, message: string): StepKind {
  const has = (k: string): boolean => k in d;
  if (stage === 'reception') {
    if (type === 'bridge') return 'bridge_received';
    if (type === 'router') return 'router_received';
    if (type === 'port') return has('generated') ? 'generated_sent' : has('exterior') ? 'port_received' : 'frame_received';
    return 'legacy';
  }
  if (stage === 'processing') {
    switch (type) {
      case 'chain': return has('rules') ? 'chain_evaluated' : has('action') ? 'chain_default' : 'legacy';
      case 'rule': return has('before') && has('after') ? 'nat_applied' : has('ruleId') ? 'rule_matched' : 'legacy';
      case 'bridge':
        if (has('full')) return 'mac_learned';
        if (message.startsWith('pushed VLAN')) return 'vlan_pushed';
        if (message.startsWith('popped')) return 'vlan_popped';
        if (message.startsWith('ARP request')) return 'arp_redirected';
        if (message.startsWith('destination')) return 'mac_known';
        return 'legacy';
      case 'router':
        if (has('routeId')) return 'route_chosen';
        if (has('suppressed')) return 'icmp_suppressed';
        if (has('icmpType')) return 'icmp_sent';
        if (message.startsWith('TTL decremented')) return 'ttl_decremented';
        if (message.startsWith('popped')) return 'vlan_popped';
        if (has('ip') && has('mac')) return 'arp_learned';
        return 'legacy';
      default: return 'legacy';
    }
  }
  if (has('held')) return 'arp_held';
  if (has('peerId')) return 'to_peer';
  if (has('interfaceName')) return 'emitted';
  if (message.startsWith('flooded')) return 'flooded';
  if (message.startsWith('consumed')) return 'consumed';
  if (message.startsWith('forwarded')) return 'forwarded';
  if (d.reason === 'chain_reject' || d.reason === 'reject_route' || message.startsWith('rejected')) return 'rejected';
  if (typeof d.reason === 'string') return 'dropped';
  return 'legacy';
}

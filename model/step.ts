// Trace steps (SPEC §5 STEP): the closed list of step kinds, the details each kind carries, and one
// constructor per kind, which also writes the step's sentence. The engine calls the constructors only
// under `if (ctx.traced)`, so an untraced packet builds no step and no text. STEP_KINDS is the one
// table: the details types below are derived from it, and the OpenAPI document lists it.
import type { Reason } from './result.js';

export type Stage = 'reception' | 'processing' | 'disposition';
export type StepDeviceType = 'port' | 'bridge' | 'router' | 'chain' | 'rule';

/** How a details field is typed: `?` marks an optional field. */
export type FieldSpec = 'string' | 'number' | 'boolean' | 'reason' | 'string?' | 'number?' | 'string|null' | 'endpoint';

interface KindSpec {
  /** The stage every step of this kind has; null for `legacy`, which keeps whatever was stored. */
  readonly stage: Stage | null;
  /** One line for the OpenAPI document. */
  readonly about: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

export const STEP_KINDS = {
  port_received: { stage: 'reception', about: 'a port received the packet, from outside the network or from its peer', fields: { exterior: 'boolean' } },
  frame_received: { stage: 'reception', about: 'an exterior port received a frame that does not parse (a dropped step follows)', fields: {} },
  generated_sent: { stage: 'reception', about: 'a packet the network generated (ARP answer, echo reply, ICMP error, ARP request) starts from the port it leaves by', fields: { generated: 'boolean' } },
  bridge_received: { stage: 'reception', about: 'a bridge received the packet', fields: { inPortId: 'string', ethSrc: 'string', ethDst: 'string', vlan: 'number' } },
  router_received: { stage: 'reception', about: 'a router received the packet', fields: { inPortId: 'string', nwSrc: 'string', nwDst: 'string', ttl: 'number' } },
  vlan_pushed: { stage: 'processing', about: 'a bridge tagged a frame that came in through a VLAN interior port', fields: { vlan: 'number' } },
  vlan_popped: { stage: 'processing', about: 'a bridge untagged a frame towards its VLAN interior port (portId), or a router popped a priority tag', fields: { vlan: 'number', portId: 'string?' } },
  mac_learned: { stage: 'processing', about: 'MAC learning: the source MAC learned, refreshed or moved (previousPortId), or not learned because the table is full', fields: { mac: 'string', portId: 'string', vlan: 'number', previousPortId: 'string|null', full: 'boolean' } },
  mac_known: { stage: 'processing', about: 'the destination MAC is learned on a port of the bridge', fields: { portId: 'string' } },
  arp_redirected: { stage: 'processing', about: 'an ARP request for a linked router port\'s address goes to that port only', fields: { portId: 'string' } },
  arp_gratuitous: { stage: 'processing', about: 'a gratuitous ARP (sender address = target address) announces its sender: it is not answered from the ARP table, it floods (Midolman)', fields: { ip: 'string', gratuitous: 'boolean' } },
  echo_reply_routed: { stage: 'processing', about: 'a router\'s echo reply is routed like any packet the router originates: the port it leaves by and its next hop', fields: { from: 'string', to: 'string', portId: 'string', nextHop: 'string' } },
  echo_reply_suppressed: { stage: 'processing', about: 'a router sent no echo reply (no route back, next hop MAC unknown, or its post-routing filter dropped it)', fields: { why: 'string', suppressed: 'boolean' } },
  arp_learned: { stage: 'processing', about: 'a router\'s ARP cache learned an address from an ARP request or reply', fields: { ip: 'string', mac: 'string' } },
  route_chosen: { stage: 'processing', about: 'the route a router chose (longest prefix, source prefix, weight, ECMP); routeId is null for a port\'s implicit route', fields: { routeId: 'string|null', type: 'string', dst: 'string', src: 'string', weight: 'number', nextHopPort: 'string|null', nextHopGateway: 'string|null' } },
  ttl_decremented: { stage: 'processing', about: 'a router decremented the TTL', fields: { ttl: 'number' } },
  icmp_sent: { stage: 'processing', about: 'a router sent an ICMP error back to the sender', fields: { icmpType: 'number', icmpCode: 'number', from: 'string', to: 'string', portId: 'string' } },
  icmp_suppressed: { stage: 'processing', about: 'an ICMP error was due but RFC 1812 forbids sending it about this packet', fields: { icmpType: 'number', icmpCode: 'number', suppressed: 'boolean' } },
  chain_evaluated: { stage: 'processing', about: 'a chain started evaluating the packet, as a device\'s filter or through a jump', fields: { chainId: 'string', deviceId: 'string', rules: 'number' } },
  chain_default: { stage: 'processing', about: 'no rule of a top-level chain decided: the chain accepts', fields: { chainId: 'string', action: 'string' } },
  rule_matched: { stage: 'processing', about: 'a rule matched the packet; action is what it did (accept, drop, reject, return, jump)', fields: { ruleId: 'string', chainId: 'string', position: 'number', type: 'string', action: 'string', condition: 'string', note: 'string?' } },
  nat_applied: { stage: 'processing', about: 'a NAT rule rewrote the packet: addresses and ports before and after', fields: { ruleId: 'string', chainId: 'string', position: 'number', type: 'string', action: 'string', binding: 'string', before: 'endpoint', after: 'endpoint', icmpError: 'string?' } },
  forwarded: { stage: 'disposition', about: 'a device forwarded the packet to one of its ports (routers: with the next hop and the rewritten MACs)', fields: { portId: 'string', nextHop: 'string?', ethSrc: 'string?', ethDst: 'string?' } },
  to_peer: { stage: 'disposition', about: 'an interior port handed the packet to its peer port', fields: { peerId: 'string' } },
  flooded: { stage: 'disposition', about: 'a bridge flooded the packet to its other ports (reason: broadcast, multicast or unknown destination)', fields: { reason: 'string' } },
  tunnel_received: { stage: 'reception', about: 'the host the egress port is bound on received the packet through the tunnel from the ingress host (SPEC §10); hostId says which host recorded it', fields: { fromHostId: 'string', tunnelKey: 'number' } },
  emitted: { stage: 'disposition', about: 'the packet left the virtual network through an exterior port', fields: { hostId: 'string|null', interfaceName: 'string|null', generated: 'boolean' } },
  consumed: { stage: 'disposition', about: 'the network answered or absorbed the packet (ARP, echo request)', fields: { reason: 'reason', ip: 'string?', mac: 'string?' } },
  dropped: { stage: 'disposition', about: 'the packet was dropped, with the reason code of the result', fields: { reason: 'reason', limit: 'number?', nextHop: 'string?', error: 'string?' } },
  arp_held: { stage: 'disposition', about: 'the live datapath holds the packet until its next hop answers the ARP request sent; it is simulated again then (result shortDrop meanwhile)', fields: { reason: 'reason', nextHop: 'string', held: 'boolean' } },
  rejected: { stage: 'disposition', about: 'a filter or a reject route refused the packet (routers send ICMP 3/13 first: see icmp_sent)', fields: { reason: 'reason' } },
  legacy: { stage: null, about: 'a step stored before steps had kinds, whose kind could not be told; its details are as stored', fields: {} },
} as const satisfies Record<string, KindSpec>;

export type StepKind = keyof typeof STEP_KINDS;
export const STEP_KIND_NAMES = Object.keys(STEP_KINDS) as StepKind[];

/** Addresses and ports of a packet, before or after NAT. */
export interface Endpoint { nwSrc: string; nwDst: string; tpSrc: number; tpDst: number }


type FieldType<S> =
  S extends 'string' | 'string?' ? string
    : S extends 'number' | 'number?' ? number
      : S extends 'boolean' ? boolean
        : S extends 'reason' ? Reason
          : S extends 'string|null' ? string | null
            : S extends 'endpoint' ? Endpoint : never;
type FieldsOf<K extends StepKind> = (typeof STEP_KINDS)[K]['fields'];
type Flat<T> = { [P in keyof T]: T[P] };

/** The details of a step of kind K: `kind` plus the fields STEP_KINDS lists for it. */
export type DetailsOf<K extends StepKind> = K extends 'legacy'
  ? { kind: 'legacy'; [field: string]: unknown }
  : Flat<{ kind: K }
    & { -readonly [F in keyof FieldsOf<K> as FieldsOf<K>[F] extends `${string}?` ? never : F]: FieldType<FieldsOf<K>[F]> }
    & { -readonly [F in keyof FieldsOf<K> as FieldsOf<K>[F] extends `${string}?` ? F : never]?: FieldType<FieldsOf<K>[F]> }>;

/** A step's details: a union over kinds, told apart by `kind`. */
export type StepDetails = { [K in StepKind]: DetailsOf<K> }[StepKind];

export interface TraceStep {
  step: number;
  /** Milliseconds since the epoch; rendered as ISO-8601 at the edges. */
  timestampMs: number;
  stage: Stage;
  deviceType: StepDeviceType;
  deviceId: string;
  deviceName: string;
  message: string;
  details: StepDetails;
}

/** Each kind's fields as compared by sameConstructedDetails: names, and which hold an Endpoint. */
const COMPARED = new Map<string, { readonly names: readonly string[]; readonly endpoint: readonly boolean[] }>(
  STEP_KIND_NAMES.filter((k) => k !== 'legacy').map((k) => {
    const fields = Object.entries(STEP_KINDS[k].fields) as [string, FieldSpec][];
    return [k, { names: fields.map(([f]) => f), endpoint: fields.map(([, spec]) => spec === 'endpoint') }];
  }));

/**
 * Whether two details made by the Step constructors below are the same: same kind, same value in
 * each field STEP_KINDS declares for it (an absent optional field equals only an absent one). The
 * constructors put no other key in details (their callers pass object literals, which TypeScript
 * checks against the declared fields), so this is exact for them at a fraction of a generic deep
 * comparison's cost. A legacy or unknown kind is never vouched for: false.
 */
export function sameConstructedDetails(a: StepDetails, b: StepDetails): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind) return false;
  const c = COMPARED.get(a.kind);
  if (c === undefined) return false;
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  for (let i = 0; i < c.names.length; i++) {
    const f = c.names[i]!;
    const u = x[f];
    const v = y[f];
    if (u === v) continue;
    if (!c.endpoint[i] || !sameEndpoint(u as Endpoint | undefined, v as Endpoint | undefined)) return false;
  }
  return true;
}

function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a !== undefined && b !== undefined && a !== null && b !== null &&
    a.nwSrc === b.nwSrc && a.nwDst === b.nwDst && a.tpSrc === b.tpSrc && a.tpDst === b.tpDst;
}

/** What a step is about: a port, bridge, router, chain or rule, by id and name. */
export interface StepSite { readonly id: string; readonly name: string }

/** How a device is named in step text: its name, or its id when it has none (the step carries the id anyway). */
export function label(s: StepSite): string {
  return s.name !== '' ? s.name : s.id;
}

/** `step` and `timestampMs` are filled by whoever records the step (PacketContext.step). */
function make(type: StepDeviceType, at: StepSite, message: string, details: Exclude<StepDetails, { kind: 'legacy' }>): TraceStep {
  return {
    step: 0, timestampMs: 0, stage: STEP_KINDS[details.kind].stage, deviceType: type, deviceId: at.id,
    deviceName: at.name, message, details,
  };
}

function endpointText(ip: string, port: number): string { return `${ip}:${port}`; }

/** One constructor per kind. Arguments after the details are labels used only in the sentence. */
export const Step = {
  portReceived(port: StepSite, exterior: boolean): TraceStep {
    return make('port', port, `port ${label(port)} received the packet` + (exterior ? ' from outside' : ' from its peer'),
      { kind: 'port_received', exterior });
  },
  frameReceived(port: StepSite): TraceStep {
    return make('port', port, `port ${label(port)} received a frame`, { kind: 'frame_received' });
  },
  generatedSent(port: StepSite): TraceStep {
    return make('port', port, `generated packet leaves through port ${label(port)}`, { kind: 'generated_sent', generated: true });
  },
  bridgeReceived(br: StepSite, d: Omit<DetailsOf<'bridge_received'>, 'kind'>): TraceStep {
    return make('bridge', br, `bridge ${label(br)} received the packet`, { kind: 'bridge_received', ...d });
  },
  routerReceived(rt: StepSite, d: Omit<DetailsOf<'router_received'>, 'kind'>, inPort: StepSite): TraceStep {
    return make('router', rt, `router ${label(rt)} received the packet on port ${label(inPort)}`, { kind: 'router_received', ...d });
  },
  vlanPushed(br: StepSite, vlan: number): TraceStep {
    return make('bridge', br, `pushed VLAN ${vlan} (VLAN interior port)`, { kind: 'vlan_pushed', vlan });
  },
  /** `portId`: the bridge's VLAN interior port the frame goes to; absent for a router's priority tag. */
  vlanPopped(type: 'bridge' | 'router', dev: StepSite, vlan: number, portId?: string): TraceStep {
    return portId === undefined
      ? make(type, dev, 'popped priority tag (VLAN 0)', { kind: 'vlan_popped', vlan })
      : make(type, dev, `popped VLAN ${vlan} towards its VLAN interior port`, { kind: 'vlan_popped', vlan, portId });
  },
  macLearned(br: StepSite, d: Omit<DetailsOf<'mac_learned'>, 'kind'>, port: StepSite): TraceStep {
    const message = d.full ? `MAC table full: ${d.mac} not learned`
      : d.previousPortId === null ? `learned ${d.mac} on port ${label(port)}`
        : d.previousPortId !== d.portId ? `MAC ${d.mac} moved from port ${d.previousPortId} to port ${label(port)}`
          : `refreshed ${d.mac} on port ${label(port)}`;
    return make('bridge', br, message, { kind: 'mac_learned', ...d });
  },
  macKnown(br: StepSite, mac: string, port: StepSite): TraceStep {
    return make('bridge', br, `destination ${mac} learned on port ${label(port)}`, { kind: 'mac_known', portId: port.id });
  },
  arpRedirected(br: StepSite, ip: string, port: StepSite): TraceStep {
    return make('bridge', br, `ARP request for router port address ${ip}: sent to that port`, { kind: 'arp_redirected', portId: port.id });
  },
  arpGratuitous(br: StepSite, ip: string): TraceStep {
    return make('bridge', br, `gratuitous ARP from ${ip}: not answered from the ARP table`, { kind: 'arp_gratuitous', ip, gratuitous: true });
  },
  echoReplyRouted(rt: StepSite, from: string, to: string, port: StepSite, nextHop: string): TraceStep {
    return make('router', rt, `echo reply from ${from} to ${to} routed out of port ${port.name || port.id}, next hop ${nextHop}`,
      { kind: 'echo_reply_routed', from, to, portId: port.id, nextHop });
  },
  echoReplySuppressed(rt: StepSite, why: string): TraceStep {
    return make('router', rt, `no echo reply sent: ${why}`, { kind: 'echo_reply_suppressed', why, suppressed: true });
  },
  arpLearned(rt: StepSite, ip: string, mac: string): TraceStep {
    return make('router', rt, `ARP cache: ${ip} is at ${mac}`, { kind: 'arp_learned', ip, mac });
  },
  /** `via`: the next-hop port of a normal route. */
  routeChosen(rt: StepSite, d: Omit<DetailsOf<'route_chosen'>, 'kind'>, via: StepSite | null): TraceStep {
    const to = via !== null ? ` via port ${label(via)}` + (d.nextHopGateway !== null ? ` gateway ${d.nextHopGateway}` : '') : ` (${d.type})`;
    const from = d.src.endsWith('/0') ? '' : ` from ${d.src}`;
    return make('router', rt, `route chosen: ${d.dst}${from}${to}`, { kind: 'route_chosen', ...d });
  },
  ttlDecremented(rt: StepSite, ttl: number): TraceStep {
    return make('router', rt, `TTL decremented to ${ttl}`, { kind: 'ttl_decremented', ttl });
  },
  icmpSent(rt: StepSite, d: Omit<DetailsOf<'icmp_sent'>, 'kind'>): TraceStep {
    return make('router', rt, `sent ICMP ${d.icmpType}/${d.icmpCode} from ${d.from} to ${d.to}`, { kind: 'icmp_sent', ...d });
  },
  icmpSuppressed(rt: StepSite, icmpType: number, icmpCode: number): TraceStep {
    return make('router', rt, `no ICMP ${icmpType}/${icmpCode} sent: RFC 1812 forbids an error about this packet`,
      { kind: 'icmp_suppressed', icmpType, icmpCode, suppressed: true });
  },
  /** `where`: whose filter the chain is, or which chain jumped to it. */
  chainEvaluated(chain: StepSite, deviceId: string, rules: number, where: string): TraceStep {
    return make('chain', chain, `chain ${label(chain)} evaluated (${where})`, { kind: 'chain_evaluated', chainId: chain.id, deviceId, rules });
  },
  chainDefault(chain: StepSite): TraceStep {
    return make('chain', chain, `no rule of chain ${label(chain)} decided: accept`, { kind: 'chain_default', chainId: chain.id, action: 'accept' });
  },
  /** `rule.name` is the rule's label in its chain (`chain[position]`). */
  ruleMatched(rule: StepSite, d: Omit<DetailsOf<'rule_matched'>, 'kind' | 'ruleId'>, chain: StepSite): TraceStep {
    const note = d.note !== undefined && d.note !== '' ? ` (${d.note})` : '';
    const details: DetailsOf<'rule_matched'> = { kind: 'rule_matched', ruleId: rule.id, chainId: d.chainId, position: d.position, type: d.type, action: d.action, condition: d.condition };
    if (note !== '') details.note = d.note!;
    return make('rule', rule, `rule ${d.position} (${d.type}) of chain ${label(chain)} matched: ${d.action}${note}`, details);
  },
  natApplied(rule: StepSite, d: Omit<DetailsOf<'nat_applied'>, 'kind' | 'ruleId'>): TraceStep {
    const b = d.before;
    const a = d.after;
    return make('rule', rule,
      `rule ${d.position} (${d.type}, ${d.binding}) rewrote ${endpointText(b.nwSrc, b.tpSrc)} → ${endpointText(b.nwDst, b.tpDst)} into `
        + `${endpointText(a.nwSrc, a.tpSrc)} → ${endpointText(a.nwDst, a.tpDst)}`
        + (d.icmpError === 'quoted' ? ' (an ICMP error: the datagram it quotes too)'
          : d.icmpError === 'flow' ? ' (an ICMP error, bound to its flow by the datagram it quotes)' : '')
        + `, then ${d.action}`,
      { kind: 'nat_applied', ruleId: rule.id, ...d });
  },
  /** `hop`: a router's next hop, with the MACs it rewrote. */
  forwarded(type: 'bridge' | 'router', dev: StepSite, port: StepSite,
            hop?: { nextHop: string; ethSrc: string; ethDst: string }): TraceStep {
    return hop === undefined
      ? make(type, dev, `forwarded to port ${label(port)}`, { kind: 'forwarded', portId: port.id })
      : make(type, dev, `forwarded to port ${label(port)}, next hop ${hop.nextHop} at ${hop.ethDst}`,
        { kind: 'forwarded', portId: port.id, ...hop });
  },
  toPeer(port: StepSite, peer: StepSite): TraceStep {
    return make('port', port, `forwarded to peer port ${label(peer)}`, { kind: 'to_peer', peerId: peer.id });
  },
  /** `why`: broadcast, multicast or unknown destination. */
  flooded(br: StepSite, why: string, ports: number): TraceStep {
    return make('bridge', br, `flooded (${why}) to ${ports} port(s)`, { kind: 'flooded', reason: why });
  },
  tunnelReceived(port: StepSite, fromHostId: string, tunnelKey: number): TraceStep {
    return make('port', port, `port ${label(port)} received the packet through the tunnel from host ${fromHostId}`,
      { kind: 'tunnel_received', fromHostId, tunnelKey });
  },
  emitted(port: StepSite, hostId: string | null, interfaceName: string | null, generated: boolean): TraceStep {
    return make('port', port, `emitted from exterior port ${label(port)}` + (generated ? ' (generated by the network)' : ''),
      { kind: 'emitted', hostId, interfaceName, generated });
  },
  /** `what`: what the network answered or absorbed. */
  consumed(type: StepDeviceType, dev: StepSite, d: Omit<DetailsOf<'consumed'>, 'kind'>, what: string): TraceStep {
    return make(type, dev, `consumed: ${what}`, { kind: 'consumed', ...d });
  },
  /**
   * `why` either names what dropped the packet ("by the port's inbound filter": "dropped by ...") or
   * says why ("TTL 1 expired": "dropped: TTL 1 expired").
   */
  dropped(type: StepDeviceType, dev: StepSite, d: Omit<DetailsOf<'dropped'>, 'kind'>, why: string): TraceStep {
    return make(type, dev, why.startsWith('by ') ? `dropped ${why}` : `dropped: ${why}`, { kind: 'dropped', ...d });
  },
  arpHeld(rt: StepSite, nextHop: string): TraceStep {
    return make('router', rt, `held: no MAC known for next hop ${nextHop} (ARP request sent; the packet is simulated again when it is answered)`,
      { kind: 'arp_held', reason: 'arp_unresolved', nextHop, held: true });
  },
  /** `by`: the filter or route that refused the packet. */
  rejected(type: StepDeviceType, dev: StepSite, reason: Reason, by: string): TraceStep {
    return make(type, dev, `rejected by ${by}`, { kind: 'rejected', reason });
  },
} as const;

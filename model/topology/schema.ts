// zod schemas for the SPEC §2 topology document. They check shape and formats only; references between
// objects and per-type requirements are checked in load.ts, where the whole document is in view.
// Defaults (adminStateUp true, weight 100, ...) are applied by compile.ts, not here, so a validated
// document round-trips to ZooKeeper exactly as the operator wrote it.
import { z } from 'zod';
import type { ConditionJson, TopologyDoc } from './doc.js';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const MAC_MASK_RE = /^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$/;

export const uuid = (): z.ZodString => z.string().regex(UUID_RE, 'must be a UUID like 3f2a9c1e-0b6d-4e8a-9f1c-2d7e5a4b8c90');
export const ipv4 = (): z.ZodString => z.string().regex(IPV4_RE, 'must be a dotted-quad IPv4 address like 10.0.0.1');
export const mac = (): z.ZodString => z.string().regex(MAC_RE, 'must be a MAC address like aa:bb:cc:dd:ee:ff');
const macMask = (): z.ZodString => z.string().regex(MAC_MASK_RE, 'must be a MAC mask like ffff.ffff.0000');

function intIn(min: number, max: number): z.ZodInt {
  const range = `must be an integer from ${min} to ${max}`;
  return z.int(range).min(min, range).max(max, range);
}
const prefixLen = (): z.ZodInt => intIn(0, 32);
const port = (): z.ZodInt => intIn(0, 65535);

export const PortRangeSchema = z.strictObject({
  start: port().describe('first value, inclusive'),
  end: port().describe('last value, inclusive'),
}).refine((r) => r.start <= r.end, { message: 'start must not exceed end', path: ['end'] })
  .describe('inclusive range of L4 ports, or ICMP type / code');

/** SPEC §2 CONDITION as a zod shape: trace-condition schemas spread it into their own object. */
export const conditionShape = {
  condInvert: z.boolean().optional().describe('negate the whole condition'),
  matchForwardFlow: z.boolean().optional().describe('match the forward packet of a connection'),
  matchReturnFlow: z.boolean().optional().describe('match the return packet of a tracked connection'),
  inPorts: z.array(uuid()).optional().describe('ingress port of the current device is one of these'),
  invInPorts: z.boolean().optional().describe('invert inPorts'),
  outPorts: z.array(uuid()).optional().describe('egress port of the current device is one of these'),
  invOutPorts: z.boolean().optional().describe('invert outPorts'),
  portGroup: uuid().optional().describe('the exterior ingress port is in this port group'),
  invPortGroup: z.boolean().optional().describe('invert portGroup'),
  inPortGroup: uuid().optional().describe("the current device's ingress port is in this port group"),
  invInPortGroup: z.boolean().optional().describe('invert inPortGroup'),
  outPortGroup: uuid().optional().describe("the current device's egress port is in this port group"),
  invOutPortGroup: z.boolean().optional().describe('invert outPortGroup'),
  ipAddrGroupSrc: uuid().optional().describe('IP source is in this address group'),
  invIpAddrGroupSrc: z.boolean().optional().describe('invert ipAddrGroupSrc'),
  ipAddrGroupDst: uuid().optional().describe('IP destination is in this address group'),
  invIpAddrGroupDst: z.boolean().optional().describe('invert ipAddrGroupDst'),
  dlType: intIn(0, 65535).optional().describe('ethertype, e.g. 2048 for IPv4, 2054 for ARP'),
  invDlType: z.boolean().optional().describe('invert dlType'),
  dlSrc: mac().optional().describe('Ethernet source MAC'),
  dlSrcMask: macMask().optional().describe('mask applied to dlSrc, like ffff.ffff.0000'),
  invDlSrc: z.boolean().optional().describe('invert dlSrc'),
  dlDst: mac().optional().describe('Ethernet destination MAC'),
  dlDstMask: macMask().optional().describe('mask applied to dlDst, like ffff.ffff.0000'),
  invDlDst: z.boolean().optional().describe('invert dlDst'),
  nwTos: intIn(0, 255).optional().describe('IP TOS byte'),
  invNwTos: z.boolean().optional().describe('invert nwTos'),
  nwProto: intIn(0, 255).optional().describe('IP protocol number (6 tcp, 17 udp, 1 icmp)'),
  invNwProto: z.boolean().optional().describe('invert nwProto'),
  nwSrcAddress: ipv4().optional().describe('IPv4 source prefix address'),
  nwSrcLength: prefixLen().optional().describe('IPv4 source prefix length (0..32)'),
  invNwSrc: z.boolean().optional().describe('invert the source prefix'),
  nwDstAddress: ipv4().optional().describe('IPv4 destination prefix address'),
  nwDstLength: prefixLen().optional().describe('IPv4 destination prefix length (0..32)'),
  invNwDst: z.boolean().optional().describe('invert the destination prefix'),
  tpSrc: PortRangeSchema.optional().describe('L4 source port range; ICMP type for ICMP'),
  invTpSrc: z.boolean().optional().describe('invert tpSrc'),
  tpDst: PortRangeSchema.optional().describe('L4 destination port range; ICMP code for ICMP'),
  invTpDst: z.boolean().optional().describe('invert tpDst'),
  fragmentPolicy: z.enum(['any', 'header', 'nonheader', 'unfragmented']).optional()
    .describe('which fragments match; default header when tpSrc/tpDst are set, else any'),
  vlan: intIn(0, 4095).optional().describe('outer VLAN id equals'),
  noVlan: z.boolean().optional().describe('the frame has no VLAN tag'),
  traversedDevice: uuid().optional().describe('the packet already went through this bridge, router or port'),
  invTraversedDevice: z.boolean().optional().describe('invert traversedDevice'),
  matchNwDstRewritten: z.boolean().optional().describe('a DNAT rule already rewrote the destination'),
};

export const ConditionSchema = z.strictObject(conditionShape).describe('SPEC §2 CONDITION');

const ArpEntrySchema = z.strictObject({
  ip: ipv4().describe('IPv4 address'),
  mac: mac().describe('MAC address the address resolves to'),
});

const deviceShape = {
  id: uuid().describe('device UUID'),
  name: z.string().optional().describe('display name'),
  adminStateUp: z.boolean().optional().describe('false drops every packet entering the device (default true)'),
  inboundFilterId: uuid().optional().describe('chain applied to packets entering the device'),
  outboundFilterId: uuid().optional().describe('chain applied to packets leaving the device'),
  arpTable: z.array(ArpEntrySchema).optional().describe('seeded ARP entries'),
};

export const BridgeSchema = z.strictObject(deviceShape).describe('a virtual L2 switch');
export const RouterSchema = z.strictObject(deviceShape).describe('a virtual IPv4 router');

export const PortSchema = z.strictObject({
  id: uuid().describe('port UUID'),
  name: z.string().optional().describe('display name'),
  deviceId: uuid().describe('bridge or router this port belongs to'),
  adminStateUp: z.boolean().optional().describe('false drops packets through this port (default true)'),
  peerId: uuid().optional().describe('peer port for an interior port; the peer must link back'),
  hostId: uuid().optional().describe('host the exterior port is bound on'),
  interfaceName: z.string().optional().describe('host interface the exterior port is bound to'),
  vlanId: intIn(0, 4095).optional().describe('bridge ports only: VLAN carried by this interior port'),
  inboundFilterId: uuid().optional().describe('chain applied to packets entering through this port'),
  outboundFilterId: uuid().optional().describe('chain applied to packets leaving through this port'),
  portAddress: ipv4().optional().describe('router ports only: the port IPv4 address'),
  networkAddress: ipv4().optional().describe('router ports only: the attached network address'),
  networkLength: prefixLen().optional().describe('router ports only: the attached network prefix length'),
  portMac: mac().optional().describe('router ports only: the port MAC address'),
}).describe('a bridge or router port');

export const RouteSchema = z.strictObject({
  id: uuid().describe('route UUID'),
  routerId: uuid().describe('router that owns the route'),
  type: z.enum(['normal', 'blackhole', 'reject']).optional().describe('normal forwards; blackhole drops; reject answers ICMP (default normal)'),
  dstNetworkAddr: ipv4().describe('destination prefix address'),
  dstNetworkLength: prefixLen().describe('destination prefix length (0..32)'),
  srcNetworkAddr: ipv4().optional().describe('source prefix address (default 0.0.0.0)'),
  srcNetworkLength: prefixLen().optional().describe('source prefix length (default 0)'),
  nextHopPort: uuid().optional().describe('normal routes: router port the packet leaves through'),
  nextHopGateway: ipv4().optional().describe('next-hop router address; absent or 0.0.0.0 when the destination is on-link'),
  weight: intIn(0, 0x7fffffff).optional().describe('lower wins among equal prefixes; equal weights share traffic (default 100)'),
}).describe('a static route');

export const NatTargetSchema = z.strictObject({
  addressFrom: ipv4().describe('first address of the NAT pool'),
  addressTo: ipv4().describe('last address of the NAT pool'),
  portFrom: port().optional().describe('first L4 port of the pool'),
  portTo: port().optional().describe('last L4 port of the pool'),
}).describe('a NAT address / port pool');

export const RuleSchema = z.strictObject({
  ...conditionShape,
  id: uuid().describe('rule UUID'),
  type: z.enum(['accept', 'drop', 'reject', 'continue', 'return', 'jump', 'dnat', 'snat', 'rev_dnat', 'rev_snat'])
    .describe('action when the condition matches'),
  jumpChainId: uuid().optional().describe('jump rules: chain to jump to'),
  natTargets: z.array(NatTargetSchema).optional().describe('dnat/snat rules: translation targets'),
  flowAction: z.enum(['accept', 'continue', 'return']).optional().describe('NAT rules: what to do after translating (default accept)'),
}).describe('a chain rule: a CONDITION plus an action');

export const ChainSchema = z.strictObject({
  id: uuid().describe('chain UUID'),
  name: z.string().optional().describe('display name'),
  rules: z.array(RuleSchema).optional().describe('rules, evaluated in order'),
}).describe('an ordered rule chain');

export const PortGroupSchema = z.strictObject({
  id: uuid().describe('port group UUID'),
  name: z.string().optional().describe('display name'),
  portIds: z.array(uuid()).optional().describe('member ports'),
}).describe('a named set of ports');

export const IpAddrGroupSchema = z.strictObject({
  id: uuid().describe('IP address group UUID'),
  name: z.string().optional().describe('display name'),
  addresses: z.array(ipv4()).optional().describe('member IPv4 addresses'),
}).describe('a named set of IPv4 addresses');

export const TunnelZoneSchema = z.strictObject({
  id: uuid().describe('tunnel zone UUID'),
  name: z.string().optional().describe('display name'),
  type: z.literal('vxlan').describe('encapsulation: VXLAN (RFC 7348) over UDP'),
  hosts: z.array(z.strictObject({
    hostId: uuid().describe('the host (its daemon\'s host id)'),
    ipAddress: ipv4().describe('the host\'s underlay address, where its tunnel port listens'),
  })).optional().describe('member hosts and their underlay addresses'),
}).describe('hosts that reach each other\'s bound ports through tunnels');

export const TopologyDocSchema = z.strictObject({
  bridges: z.array(BridgeSchema).optional().describe('virtual bridges'),
  routers: z.array(RouterSchema).optional().describe('virtual routers'),
  ports: z.array(PortSchema).optional().describe('bridge and router ports'),
  routes: z.array(RouteSchema).optional().describe('static routes'),
  chains: z.array(ChainSchema).optional().describe('rule chains'),
  portGroups: z.array(PortGroupSchema).optional().describe('port groups'),
  ipAddrGroups: z.array(IpAddrGroupSchema).optional().describe('IP address groups'),
  tunnelZones: z.array(TunnelZoneSchema).optional().describe('tunnel zones: each host\'s underlay address'),
}).describe('SPEC §2 topology document');

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compile-time proof that the schemas produce exactly doc.ts's types (fails typecheck otherwise). */
export const schemaMatchesDoc: [Same<z.output<typeof TopologyDocSchema>, TopologyDoc>, Same<z.output<typeof ConditionSchema>, ConditionJson>] = [true, true];

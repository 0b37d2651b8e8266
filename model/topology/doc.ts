// The topology document and CONDITION as JSON (SPEC §2), after validation. The zod schemas in
// schema.ts produce exactly these types; everything downstream reads these, never raw JSON.

export interface PortRange { start: number; end: number }

/** SPEC §2 CONDITION: shared by chain rules and trace conditions. Every field optional. */
export interface ConditionJson {
  condInvert?: boolean;
  matchForwardFlow?: boolean;
  matchReturnFlow?: boolean;
  inPorts?: string[]; invInPorts?: boolean;
  outPorts?: string[]; invOutPorts?: boolean;
  portGroup?: string; invPortGroup?: boolean;
  inPortGroup?: string; invInPortGroup?: boolean;
  outPortGroup?: string; invOutPortGroup?: boolean;
  ipAddrGroupSrc?: string; invIpAddrGroupSrc?: boolean;
  ipAddrGroupDst?: string; invIpAddrGroupDst?: boolean;
  dlType?: number; invDlType?: boolean;
  dlSrc?: string; dlSrcMask?: string; invDlSrc?: boolean;
  dlDst?: string; dlDstMask?: string; invDlDst?: boolean;
  nwTos?: number; invNwTos?: boolean;
  nwProto?: number; invNwProto?: boolean;
  nwSrcAddress?: string; nwSrcLength?: number; invNwSrc?: boolean;
  nwDstAddress?: string; nwDstLength?: number; invNwDst?: boolean;
  tpSrc?: PortRange; invTpSrc?: boolean;
  tpDst?: PortRange; invTpDst?: boolean;
  fragmentPolicy?: 'any' | 'header' | 'nonheader' | 'unfragmented';
  vlan?: number;
  noVlan?: boolean;
  traversedDevice?: string; invTraversedDevice?: boolean;
  matchNwDstRewritten?: boolean;
}

export interface ArpEntryJson { ip: string; mac: string }

export interface BridgeJson {
  id: string; name?: string; adminStateUp?: boolean;
  inboundFilterId?: string; outboundFilterId?: string;
  arpTable?: ArpEntryJson[];
}

export type RouterJson = BridgeJson;

export interface PortJson {
  id: string; name?: string; deviceId: string; adminStateUp?: boolean;
  peerId?: string; hostId?: string; interfaceName?: string; vlanId?: number;
  inboundFilterId?: string; outboundFilterId?: string;
  portAddress?: string; networkAddress?: string; networkLength?: number; portMac?: string;
}

export interface RouteJson {
  id: string; routerId: string; type?: 'normal' | 'blackhole' | 'reject';
  dstNetworkAddr: string; dstNetworkLength: number;
  srcNetworkAddr?: string; srcNetworkLength?: number;
  nextHopPort?: string; nextHopGateway?: string; weight?: number;
}

export interface NatTargetJson { addressFrom: string; addressTo: string; portFrom?: number; portTo?: number }

export type RuleTypeName = 'accept' | 'drop' | 'reject' | 'continue' | 'return' | 'jump'
  | 'dnat' | 'snat' | 'rev_dnat' | 'rev_snat';

export interface RuleJson extends ConditionJson {
  id: string;
  type: RuleTypeName;
  jumpChainId?: string;
  natTargets?: NatTargetJson[];
  flowAction?: 'accept' | 'continue' | 'return';
}

export interface ChainJson { id: string; name?: string; rules?: RuleJson[] }
export interface PortGroupJson { id: string; name?: string; portIds?: string[] }
export interface IpAddrGroupJson { id: string; name?: string; addresses?: string[] }

/** A host's underlay address in a tunnel zone (SPEC §10). */
export interface TunnelZoneHostJson { hostId: string; ipAddress: string }
export interface TunnelZoneJson { id: string; name?: string; type: 'vxlan'; hosts?: TunnelZoneHostJson[] }

export interface TopologyDoc {
  bridges?: BridgeJson[];
  routers?: RouterJson[];
  ports?: PortJson[];
  routes?: RouteJson[];
  chains?: ChainJson[];
  portGroups?: PortGroupJson[];
  ipAddrGroups?: IpAddrGroupJson[];
  tunnelZones?: TunnelZoneJson[];
}

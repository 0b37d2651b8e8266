import type { PacketJson } from './packet.js';

// A simulation ends in exactly one of these (SPEC §4), plus a stable reason code for the drops.

export const enum ResultCode { Forward = 0, Drop = 1, ShortDrop = 2, ErrorDrop = 3, Consumed = 4 }

export const RESULT_NAMES = ['forward', 'drop', 'shortDrop', 'errorDrop', 'consumed'] as const;
export type ResultName = (typeof RESULT_NAMES)[number];

/**
 * Why a packet did not get out (or why it was consumed). Stable strings: they appear in trace
 * details and in API results, and scripts match on them.
 */
export type Reason =
  | 'none'
  | 'malformed_frame'
  | 'unknown_port'
  | 'port_admin_down'
  | 'bridge_admin_down'
  | 'router_admin_down'
  | 'chain_drop'
  | 'chain_reject'
  | 'multicast_src_mac'
  | 'no_exterior_port'
  | 'same_port'
  | 'vlan_not_found'
  | 'router_vlan_tagged'
  | 'router_unsupported_ethertype'
  | 'router_not_for_me'
  | 'router_l2_broadcast'
  | 'no_route'
  | 'blackhole_route'
  | 'reject_route'
  | 'ttl_expired'
  | 'arp_unresolved'
  | 'arp_consumed'
  | 'icmp_echo_reply'
  | 'local_delivery'
  | 'fragment_dropped'
  | 'device_budget_exceeded'
  | 'state_table_full'
  | 'nat_exhausted'
  | 'peer_port_down';

/** SPEC §4 SIMULATION RESULT as JSON. */
export interface EmittedJson {
  portId: string;
  generated: boolean;
  packet: PacketJson;
  frame: string;
}

export interface SimulationResultJson {
  result: ResultName;
  /** Stable reason code for drops (and `consumed`); 'none' for a forward. An addition to SPEC §4. */
  reason: Reason;
  emitted: EmittedJson[];
  devicesTraversed: number;
  traceIds: string[];
  /** Present for malformed frames: the parser's code and sentence. */
  error?: { code: string; message: string };
}

// SPEC §3 packets as JSON: the shape users write and results show. Validation lives in the engine
// (engine/packet-json.ts); this is only the contract.

export type NwProtoName = 'tcp' | 'udp' | 'icmp';
export type FragmentName = 'none' | 'first' | 'later';

export interface ArpJson {
  op?: number | 'request' | 'reply';
  sha?: string; spa?: string; tha?: string; tpa?: string;
}

/** SPEC §3 packet fields. Input accepts every variant below; packetToJson writes numbers. */
export interface PacketJson {
  ethSrc?: string; ethDst?: string; vlan?: number | number[]; etherType?: number;
  arp?: ArpJson;
  nwSrc?: string; nwDst?: string; nwProto?: number | NwProtoName; nwTos?: number; ttl?: number;
  fragment?: FragmentName;
  tpSrc?: number; tpDst?: number; icmpType?: number; icmpCode?: number; icmpId?: number;
  payloadLength?: number;
}

/**
 * The JSON path of a bad field of a SPEC §3 input, as the API and the CLI both word it: input `at`
 * (`[3]` in an array, '' alone) and the path under it (`packet.nwSrc`, '' for the input itself).
 */
export function inputPath(at: string, path: string): string {
  if (at === '') return path === '' ? '(input)' : path;
  return path === '' ? at : `${at}.${path}`;
}

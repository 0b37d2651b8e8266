// Frames for the reference topology's benchmark flows, built once through the same JSON path users use.
import { Packet } from '../engine/packet.js';
import { packetFromJson } from '../engine/packet-json.js';
import { buildFrameBytes } from '../engine/wire/build.js';
import { REF } from './reference-topology.js';

export interface Flow { name: string; inPort: string; frame: Uint8Array; warmup?: { inPort: string; frame: Uint8Array }[] }

export function frameOf(json: Record<string, unknown>): Uint8Array {
  const p = new Packet();
  const r = packetFromJson(json, p);
  if (!r.ok) throw new Error(`${r.path}: ${r.message}`);
  return buildFrameBytes(p);
}

const tcp = (ethSrc: string, ethDst: string, nwSrc: string, nwDst: string): Uint8Array =>
  frameOf({ ethSrc, ethDst, nwSrc, nwDst, nwProto: 'tcp', tpSrc: REF.flowSrcPort, tpDst: REF.flowDstPort, payloadLength: 10 });

/** vm1 → vm2 on bridge A, destination already learned (vm2 spoke first). */
export function bridgedFlow(): Flow {
  return {
    name: 'bridged', inPort: REF.vm1Port, frame: tcp(REF.vm1Mac, REF.vm2Mac, REF.vm1Ip, REF.vm2Ip),
    warmup: [{ inPort: REF.vm2Port, frame: tcp(REF.vm2Mac, REF.vm1Mac, REF.vm2Ip, REF.vm1Ip) }],
  };
}

/** vm1 → a MAC bridge A never learned: flooded to every other port of the bridge (router port included). */
export function floodedFlow(): Flow {
  return { name: 'flooded', inPort: REF.vm1Port, frame: tcp(REF.vm1Mac, '02:00:00:99:99:99', REF.vm1Ip, REF.vm2Ip) };
}

/** vm2 → the internet: bridge A, tenant router, provider router (10,000 routes), uplink. */
export function routedFlow(): Flow {
  return { name: 'routed', inPort: REF.vm2Port, frame: tcp(REF.vm2Mac, REF.gatewayAMac, REF.vm2Ip, REF.internetIp) };
}

/** vm1 (floating IP) → the internet: as routed, plus static SNAT on the tenant router. */
export function natFlow(): Flow {
  return { name: 'nat', inPort: REF.vm1Port, frame: tcp(REF.vm1Mac, REF.gatewayAMac, REF.vm1Ip, REF.internetIp) };
}

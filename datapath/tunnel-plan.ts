// Where frames for ports on other hosts go (SPEC §10), computed once per topology: this host's
// underlay address, each exterior port's tunnel key (the VXLAN VNI), and for each port bound on
// another host the peer's address. Every host computes the same keys from the same document.
import { fnv1a } from '../model/hash.js';
import type { TopologyDoc } from '../model/topology/doc.js';

/** Midolman's TunnelKeys.TraceBit (0x8 << 20): the top bit of the 24-bit VNI marks a traced packet. */
export const TRACE_BIT = 0x800000;
/**
 * Set when the frame is a segmentation-offload super-frame (a 64 KB TCP send from a VM): its GSO type
 * and segment size follow the frame (3 bytes), so the egress host's kernel segments it for the VM.
 */
export const GSO_BIT = 0x400000;
const KEY_MASK = 0x3fffff;

export interface TunnelPeer { hostId: string; ipAddress: string }

export interface TunnelPlan {
  /** This host, as the trace context it sends names it. */
  hostId: string;
  /** This host's underlay address (its entry in a tunnel zone), or null when it is in none. */
  self: string | null;
  keyOf: ReadonlyMap<string, number>;
  portOfKey: ReadonlyMap<number, string>;
  /** Ports bound on another host that shares a tunnel zone with this one: where their frames go. */
  remote: ReadonlyMap<string, TunnelPeer>;
  /** Peers by underlay address, to name the sender of what arrives. */
  peerAt: ReadonlyMap<string, TunnelPeer>;
  /** Ports bound on another host with no zone in common: their frames cannot leave (counted drops). */
  unreachable: ReadonlySet<string>;
}


export function tunnelPlan(doc: TopologyDoc, hostId: string): TunnelPlan {
  const me = hostId.toLowerCase();
  const keyOf = new Map<string, number>();
  const portOfKey = new Map<number, string>();
  // Sorted, so a collision is settled the same way on every host. Ids as the document spells them:
  // they are what the simulation reports for each frame.
  const exterior = (doc.ports ?? []).filter((p) => p.peerId === undefined).map((p) => p.id).sort();
  for (const id of exterior) {
    let k = fnv1a(id) & KEY_MASK;
    while (k === 0 || portOfKey.has(k)) k = (k + 1) & KEY_MASK;
    keyOf.set(id, k);
    portOfKey.set(k, id);
  }
  let self: string | null = null;
  const peerOf = new Map<string, TunnelPeer>();
  for (const z of doc.tunnelZones ?? []) {
    const hosts = z.hosts ?? [];
    const mine = hosts.find((h) => h.hostId.toLowerCase() === me);
    if (mine === undefined) continue;
    self ??= mine.ipAddress;
    for (const h of hosts) {
      const id = h.hostId.toLowerCase();
      if (id !== me && !peerOf.has(id)) peerOf.set(id, { hostId: id, ipAddress: h.ipAddress });
    }
  }
  const remote = new Map<string, TunnelPeer>();
  const unreachable = new Set<string>();
  for (const p of doc.ports ?? []) {
    if (p.peerId !== undefined || p.hostId === undefined || p.hostId.toLowerCase() === me || !p.interfaceName) continue;
    const peer = peerOf.get(p.hostId.toLowerCase());
    if (peer !== undefined) remote.set(p.id, peer); else unreachable.add(p.id);
  }
  return { hostId: me, self, keyOf, portOfKey, remote, peerAt: new Map([...peerOf.values()].map((p) => [p.ipAddress, p])), unreachable };
}

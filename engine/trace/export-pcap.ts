// A trace as a capture (GET /traces/{id}/export?format=pcap): the packet as received, then each
// version of it the steps show, rewritten (VLAN pushed or popped, NAT, a router's MACs and TTL) or
// emitted, and the packets the network generated (ARP and echo replies, ICMP errors), in step order.
//
// A trace stores the packet's header fields, not its bytes, so the frames are rebuilt from them:
// headers as recorded, checksums computed, no payload, TCP flags SYN and IPv4 identification 0
// (SPEC §3 has no fields for them). Each record's timestamp is its step's, with the step number
// added as microseconds so that a capture tool keeps the order of steps of one millisecond.
import { parseIp, parseMac } from '../../model/addr.js';
import type { MatchSummary, StepJson, Trace } from '../../model/trace.js';
import { ETH_ARP, ETH_IPV4, ETH_VLAN, Packet, PROTO_TCP } from '../packet.js';
import { DEFAULT_TTL } from '../packet-json.js';
import { buildFrameBytes } from '../wire/build.js';
import { fillArpReply, fillEchoReply, fillIcmpError } from '../wire/icmp-error.js';
import { writePcap, type PcapRecord } from '../wire/pcap.js';
import { TCP_SYN } from '../wire/tcp.js';

function ip(text: string | undefined): number {
  const v = text === undefined ? -1 : parseIp(text);
  return v < 0 ? 0 : v;
}

function mac(text: string | undefined): number {
  const v = text === undefined ? -1 : parseMac(text);
  return v < 0 ? 0 : v;
}

/** The packet of a trace's `match`; false when the match holds too little to make a frame. */
function fromMatch(m: MatchSummary, ttl: number, pkt: Packet): boolean {
  pkt.reset();
  if (m.ethSrc === undefined || m.ethDst === undefined) return false;
  pkt.ethSrc = mac(m.ethSrc);
  pkt.ethDst = mac(m.ethDst);
  pkt.etherType = m.etherType ?? 0;
  if (m.vlan !== undefined && m.vlan >= 0) pkt.pushVlan(m.vlan, ETH_VLAN);
  if (pkt.etherType === ETH_IPV4) {
    pkt.nwSrc = ip(m.nwSrc);
    pkt.nwDst = ip(m.nwDst);
    pkt.nwProto = m.nwProto ?? 0;
    pkt.ttl = ttl;
    pkt.tpSrc = m.tpSrc ?? 0;
    pkt.tpDst = m.tpDst ?? 0;
    if (pkt.nwProto === PROTO_TCP) { pkt.tcpFlags = TCP_SYN; pkt.tcpWindow = 65535; }
  } else if (pkt.etherType === ETH_ARP) {
    pkt.arpOp = m.nwProto ?? 1;
    pkt.arpSha = pkt.ethSrc;
    pkt.arpSpa = ip(m.nwSrc);
    pkt.arpTpa = ip(m.nwDst);
  }
  return true;
}

/** The TTL the packet arrived with: what the first router saw, else the JSON default. */
function arrivalTtl(steps: readonly StepJson[]): number {
  for (const s of steps) {
    if (s.details.kind === 'router_received') return s.details.ttl;
    if (s.details.kind === 'ttl_decremented') return s.details.ttl + 1;
  }
  return DEFAULT_TTL;
}

/** The records of a trace's capture, in step order. */
export function tracePcapRecords(trace: Trace): PcapRecord[] {
  const records: PcapRecord[] = [];
  let cur = new Packet();
  let spare = new Packet();
  const startMs = trace.steps.length > 0 ? Date.parse(trace.steps[0]!.timestamp) : Date.parse(trace.startedAt);
  if (!fromMatch(trace.match, arrivalTtl(trace.steps), cur)) return records;
  const add = (tsMs: number, step: number): void => {
    records.push({ data: buildFrameBytes(cur), tsMs: Number.isFinite(tsMs) ? tsMs : 0, usec: Math.min(step, 999) });
  };
  /** The generated packet becomes the one later steps are about. */
  const generated = (): void => { const t = cur; cur = spare; spare = t; };
  add(startMs, 0);
  for (const s of trace.steps) {
    const d = s.details;
    const ts = Date.parse(s.timestamp);
    switch (d.kind) {
      // Receptions say what the device saw: they put a flood's later branches back on their own packet.
      case 'bridge_received':
        cur.ethSrc = mac(d.ethSrc); cur.ethDst = mac(d.ethDst);
        while (cur.vlanCount > 0) cur.popVlan();
        if (d.vlan >= 0) cur.pushVlan(d.vlan, ETH_VLAN);
        break;
      case 'router_received':
        if (cur.etherType === ETH_IPV4) { cur.nwSrc = ip(d.nwSrc); cur.nwDst = ip(d.nwDst); cur.ttl = d.ttl; }
        break;
      case 'vlan_pushed': cur.pushVlan(d.vlan, ETH_VLAN); add(ts, s.step); break;
      case 'vlan_popped': cur.popVlan(); add(ts, s.step); break;
      case 'ttl_decremented': cur.ttl = d.ttl; break;
      case 'nat_applied':
        if (d.icmpError === undefined && cur.etherType === ETH_IPV4) {
          cur.nwSrc = ip(d.after.nwSrc); cur.nwDst = ip(d.after.nwDst); cur.tpSrc = d.after.tpSrc; cur.tpDst = d.after.tpDst;
          add(ts, s.step);
        }
        break;
      case 'forwarded':
        if (d.ethSrc !== undefined && d.ethDst !== undefined) { cur.ethSrc = mac(d.ethSrc); cur.ethDst = mac(d.ethDst); add(ts, s.step); }
        break;
      case 'icmp_sent':
        if (cur.etherType === ETH_IPV4) {
          fillIcmpError(cur, d.icmpType, d.icmpCode, ip(d.from), spare);
          spare.ethSrc = cur.ethDst; spare.ethDst = cur.ethSrc;
          generated(); add(ts, s.step);
        }
        break;
      case 'echo_reply_routed':
        if (cur.etherType === ETH_IPV4) { fillEchoReply(cur, spare); generated(); add(ts, s.step); }
        break;
      case 'consumed':
        if (cur.etherType === ETH_ARP && d.mac !== undefined) { fillArpReply(cur, mac(d.mac), spare); generated(); add(ts, s.step); }
        break;
      case 'emitted': add(ts, s.step); break;
      default: break;
    }
  }
  return records;
}

export function tracePcap(trace: Trace): Uint8Array {
  return writePcap(tracePcapRecords(trace));
}

// Human-readable rendering of results and traces for the terminal.
import type { SimulationResultJson } from '../engine/simulator.js';
import type { Trace, TraceSummary } from '../model/trace.js';
import type { PacketJson } from '../engine/packet-json.js';

export function describePacket(p: PacketJson): string {
  const parts: string[] = [];
  const q = p as Record<string, unknown>;
  if (q.ethSrc !== undefined) parts.push(`${q.ethSrc} > ${q.ethDst}`);
  if (q.vlan !== undefined) parts.push(`vlan ${q.vlan}`);
  if (q.arp !== undefined) {
    const a = q.arp as Record<string, unknown>;
    parts.push(`ARP ${a.op === 1 ? 'request' : a.op === 2 ? 'reply' : `op ${a.op}`} who-has ${a.tpa} tell ${a.spa}${a.op === 2 ? ` is-at ${a.sha}` : ''}`);
  } else if (q.nwSrc !== undefined) {
    const proto = q.nwProto === 6 ? 'tcp' : q.nwProto === 17 ? 'udp' : q.nwProto === 1 ? 'icmp' : `proto ${q.nwProto}`;
    const ports = q.nwProto === 1
      ? ` type ${q.icmpType ?? q.tpSrc} code ${q.icmpCode ?? q.tpDst}`
      : q.tpSrc !== undefined ? ` ${q.tpSrc} > ${q.tpDst}` : '';
    parts.push(`${q.nwSrc} > ${q.nwDst} ${proto}${ports} ttl ${q.ttl}`);
  } else if (q.etherType !== undefined) {
    parts.push(`ethertype 0x${Number(q.etherType).toString(16).padStart(4, '0')}`);
  }
  return parts.join(', ');
}

export function formatResult(r: SimulationResultJson, portName: (id: string) => string = (id) => id): string {
  const lines = [`result: ${r.result}${r.reason !== 'none' ? ` (${r.reason})` : ''}, devices traversed: ${r.devicesTraversed}`];
  if (r.error) lines.push(`error: ${r.error.code}: ${r.error.message}`);
  for (const e of r.emitted) {
    lines.push(`  ${e.generated ? 'generated' : 'emitted  '} on ${portName(e.portId)}: ${describePacket(e.packet)}`);
  }
  if (r.traceIds.length > 0) lines.push(`trace: ${r.traceIds.join(', ')}`);
  return lines.join('\n');
}

export function formatTraceHeader(t: TraceSummary): string {
  return [
    `trace ${t.id}`,
    `  host ${t.hostId}  started ${t.startedAt}  ingress ${t.ingressPortId}`,
    `  result ${t.result}, ${t.numSteps} steps${t.complete ? '' : ' (INCOMPLETE: some steps were lost)'}`,
    t.conditionIds.length > 0 ? `  conditions ${t.conditionIds.join(', ')}` : '  forced (no condition)',
  ].join('\n');
}

/** Steps as a timeline: number, stage, device, sentence; processing lines indented under their device. */
export function formatTrace(t: Trace): string {
  const lines = [formatTraceHeader(t)];
  const width = String(t.numSteps).length;
  let lastDevice = '';
  let host = t.hostId;
  for (const s of t.steps) {
    // A packet that crossed a tunnel: the steps of the next host follow under its name.
    if (s.hostId !== host) { host = s.hostId; lastDevice = ''; lines.push(`  -- on host ${host} --`); }
    const device = `${s.deviceType} ${s.deviceName || s.deviceId.slice(0, 8)}`;
    const head = device === lastDevice ? ' '.repeat(28) : device.padEnd(28).slice(0, 28);
    lastDevice = device;
    lines.push(`  ${String(s.step).padStart(width)}  ${head}  ${s.stage.padEnd(11)}  ${s.message}`);
  }
  return lines.join('\n');
}

// Synthetic fully traced records for the sink benchmarks: the step mix of a routed, filtered packet
// (what the engine records for one), so every sink is measured on the same work.
import type { Stage, StepDeviceType, TraceStep } from '../model/step.js';
import { createTraceIdGenerator } from '../engine/trace/trace-id.js';
import type { TraceRecord, TraceSink } from '../model/stores.js';

export const STEPS_PER_TRACE = 20;

const HOST = '6a1b2c3d-0000-4000-8000-00000000000a';
const COND = 'c0000000-0000-4000-8000-000000000001';

/** The step mix of a routed, filtered packet: what the engine records for one. */
const SHAPE: readonly [Stage, StepDeviceType, string, (i: number) => Record<string, unknown>][] = [
  ['reception', 'port', 'Received on port', (i) => ({ vlan: null, frameLength: 74 + (i & 31) })],
  ['processing', 'chain', 'Port inbound chain accepted', () => ({ chain: 'in-filter', verdict: 'accept' })],
  ['reception', 'bridge', 'Bridge received the packet', () => ({})],
  ['processing', 'chain', 'Bridge inbound chain: rule 3 matched, accept', () => ({ ruleIndex: 3, action: 'accept' })],
  ['processing', 'rule', 'Rule matched tcp dst 80', () => ({ nwProto: 6, tpDst: 80 })],
  ['processing', 'bridge', 'Learned MAC 02:00:00:00:00:01 on port', (i) => ({ mac: '02:00:00:00:00:01', port: i & 7 })],
  ['processing', 'bridge', 'Destination MAC is the router port', () => ({ mac: '02:00:00:00:ff:01' })],
  ['processing', 'chain', 'Bridge outbound chain accepted', () => ({ verdict: 'accept' })],
  ['disposition', 'bridge', 'Forwarded to port', () => ({ action: 'forward' })],
  ['reception', 'port', 'Entered router port', () => ({})],
  ['reception', 'router', 'Router received the packet', () => ({ ttl: 64 })],
  ['processing', 'chain', 'Router inbound chain: DNAT 203.0.113.10:80 -> 10.0.1.10:8080', () => ({ before: '203.0.113.10:80', after: '10.0.1.10:8080' })],
  ['processing', 'rule', 'Rule dnat matched', () => ({ ruleIndex: 1, flowAction: 'accept' })],
  ['processing', 'router', 'Route 10.0.1.0/24 via port chosen', () => ({ dst: '10.0.1.0/24', weight: 100 })],
  ['processing', 'router', 'TTL 64 -> 63', () => ({ ttl: 63 })],
  ['processing', 'router', 'ARP resolved 10.0.1.10 to 02:00:00:00:01:10', () => ({ ip: '10.0.1.10', mac: '02:00:00:00:01:10' })],
  ['processing', 'chain', 'Router outbound chain accepted', () => ({ verdict: 'accept' })],
  ['disposition', 'router', 'Forwarded out of port', () => ({ action: 'forward' })],
  ['reception', 'port', 'Reached exterior port', () => ({})],
  ['disposition', 'port', 'Emitted on exterior port', (i) => ({ frameLength: 74 + (i & 31) })],
];

function deviceId(i: number): string { return `de000000-0000-4000-8000-${String(i).padStart(12, '0')}`; }

export function makeRecords(n: number, t0: number): TraceRecord[] {
  const nextId = createTraceIdGenerator();
  const recs: TraceRecord[] = [];
  for (let r = 0; r < n; r++) {
    const startedAtMs = t0 + r;
    const steps: TraceStep[] = [];
    for (let s = 0; s < STEPS_PER_TRACE; s++) {
      const [stage, deviceType, message, details] = SHAPE[s % SHAPE.length]!;
      steps.push({
        step: s + 1, timestampMs: startedAtMs, stage, deviceType,
        deviceId: deviceId(s), deviceName: `${deviceType}-${s}`, message, details: details(r),
      });
    }
    recs.push({
      id: nextId(startedAtMs), hostId: HOST, conditionIds: r % 4 === 0 ? [COND] : [], startedAtMs,
      ingressPortId: deviceId(0), result: 'forward', steps,
      match: {
        ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:ff:01', etherType: 0x0800,
        nwSrc: `10.0.${(r >> 8) & 255}.${r & 255}`, nwDst: '203.0.113.10', nwProto: 6, tpSrc: 1024 + (r & 0x7fff), tpDst: 80,
      },
    });
  }
  return recs;
}

/** Records handed to a sink per event-loop turn: a few hundred, as a busy daemon hands them over. */
const TRACES_PER_TURN = 250;

/**
 * Writes `recs` to `sink` fire-and-forget, yielding to the event loop every TRACES_PER_TURN
 * records, then flushes. Returns the seconds it all took.
 */
export async function writeAllTimed(sink: TraceSink, recs: readonly TraceRecord[]): Promise<number> {
  const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const start = process.hrtime.bigint();
  for (let i = 0; i < recs.length; i++) {
    sink.write(recs[i]!);
    if ((i + 1) % TRACES_PER_TURN === 0) await yieldTurn();
  }
  await sink.flush();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

// Synthetic fully traced records for the sink benchmarks: the step mix of a routed, filtered packet
// (what the engine records for one, through the same constructors), so every sink is measured on the same work.
import { Step, type StepSite, type TraceStep } from '../model/step.js';
import { createTraceIdGenerator } from '../engine/trace/trace-id.js';
import type { TraceRecord, TraceSink } from '../model/stores.js';

export const STEPS_PER_TRACE = 20;

const HOST = '6a1b2c3d-0000-4000-8000-00000000000a';
const COND = 'c0000000-0000-4000-8000-000000000001';

function deviceId(i: number): string { return `de000000-0000-4000-8000-${String(i).padStart(12, '0')}`; }

const site = (s: number, name: string): StepSite => ({ id: deviceId(s), name: `${name}-${s}` });
const rule = (s: number): StepSite => ({ id: deviceId(s), name: `chain-${s}[3]` });
const NAT = { chainId: deviceId(11), position: 1, type: 'dnat', action: 'accept', binding: 'static' };
const ROUTE = { routeId: deviceId(13), type: 'normal', dst: '10.0.1.0/24', src: '0.0.0.0/0', weight: 100, nextHopPort: deviceId(19), nextHopGateway: null };

/** The step mix of a routed, filtered packet, built by the engine's own constructors. */
const SHAPE: readonly ((s: number, i: number) => TraceStep)[] = [
  (s) => Step.portReceived(site(s, 'port'), true),
  (s) => Step.chainEvaluated(site(s, 'chain'), deviceId(0), 20, 'inbound filter of port port-0'),
  (s) => Step.bridgeReceived(site(s, 'bridge'), { inPortId: deviceId(0), ethSrc: '02:00:00:00:00:01', ethDst: '02:00:00:00:ff:01', vlan: -1 }),
  (s) => Step.chainEvaluated(site(s, 'chain'), deviceId(2), 20, 'inbound filter of bridge bridge-2'),
  (s) => Step.ruleMatched(rule(s), { chainId: deviceId(3), position: 3, type: 'accept', action: 'accept', condition: 'nwProto=6 tpDst=80' }, site(3, 'chain')),
  (s, i) => Step.macLearned(site(s, 'bridge'), { mac: '02:00:00:00:00:01', portId: deviceId(i & 7), vlan: -1, previousPortId: null, full: false }, site(i & 7, 'port')),
  (s) => Step.macKnown(site(s, 'bridge'), '02:00:00:00:ff:01', site(8, 'port')),
  (s) => Step.chainDefault(site(s, 'chain')),
  (s) => Step.forwarded('bridge', site(s, 'bridge'), site(9, 'port')),
  (s) => Step.portReceived(site(s, 'port'), false),
  (s) => Step.routerReceived(site(s, 'router'), { inPortId: deviceId(9), nwSrc: '10.0.2.10', nwDst: '203.0.113.10', ttl: 64 }, site(9, 'port')),
  (s) => Step.chainEvaluated(site(s, 'chain'), deviceId(10), 4, 'inbound filter of router router-10'),
  (s) => Step.natApplied(rule(s), { ...NAT, before: { nwSrc: '10.0.2.10', nwDst: '203.0.113.10', tpSrc: 40000, tpDst: 80 }, after: { nwSrc: '10.0.2.10', nwDst: '10.0.1.10', tpSrc: 40000, tpDst: 8080 } }),
  (s) => Step.routeChosen(site(s, 'router'), ROUTE, site(19, 'port')),
  (s) => Step.ttlDecremented(site(s, 'router'), 63),
  (s) => Step.arpLearned(site(s, 'router'), '10.0.1.10', '02:00:00:00:01:10'),
  (s) => Step.chainDefault(site(s, 'chain')),
  (s) => Step.forwarded('router', site(s, 'router'), site(19, 'port'), { nextHop: '10.0.1.10', ethSrc: '02:00:00:00:ff:02', ethDst: '02:00:00:00:01:10' }),
  (s) => Step.portReceived(site(s, 'port'), false),
  (s) => Step.emitted(site(s, 'port'), HOST, 'eth0', false),
];

export function makeRecords(n: number, t0: number): TraceRecord[] {
  const nextId = createTraceIdGenerator();
  const recs: TraceRecord[] = [];
  for (let r = 0; r < n; r++) {
    const startedAtMs = t0 + r;
    const steps: TraceStep[] = [];
    for (let s = 0; s < STEPS_PER_TRACE; s++) {
      const step = SHAPE[s % SHAPE.length]!(s, r);
      step.step = s + 1;
      step.timestampMs = startedAtMs;
      steps.push(step);
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

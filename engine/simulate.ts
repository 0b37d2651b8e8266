// The one entry point of the simulation: the packet in ctx.pkt enters exterior port `ingressPort`.
// The API, the worker pool, `midotrace simulate` and the benchmarks all come through here.
import { TRACE_REQUIRED, type PacketContext } from './context.js';
import { ResultCode } from '../model/result.js';
import { BUDGET_EXCEEDED, finish } from './devices/disposition.js';
import { portEgress, portIngress } from './devices/port.js';
import { flowHash } from './rules/flow-hash.js';
import { isForwardFlow } from './rules/conntrack.js';
import { Layers } from './wire/parse.js';

/** Generated packets may generate more (an ARP request answered...); this bounds the chain. */
const MAX_GENERATED = 32;

/**
 * Simulates ctx.pkt entering `ingressPort`. Call ctx.begin(now) and fill ctx.pkt first. Returns the
 * result; ctx holds emitted packets, devicesTraversed and, when traced, the steps.
 */
export function simulate(ctx: PacketContext, ingressPort: number): ResultCode {
  ctx.origPkt.copyFrom(ctx.pkt);
  ctx.origLayers = Layers.All;
  ctx.ingressPort = ingressPort;
  ctx.flowHash = flowHash(ctx.pkt);
  const port = ctx.topo.ports[ingressPort];
  if (port === undefined || !port.exterior) {
    finish(ctx, ResultCode.ErrorDrop, 'unknown_port');
    return ctx.result;
  }
  const m = ctx.matcher;
  if (ctx.tracksFlows || (m !== null && m.tracksFlows)) isForwardFlow(ctx);
  if (m !== null && ctx.ingressScreen !== 0) {
    ctx.inPort = ingressPort; // inPorts conditions test the ingress port
    if (m.matchAtIngress(ctx)) ctx.traced = true;
  }
  try {
    guarded(ctx, ingressPort);
  } catch (e) {
    if (e !== TRACE_REQUIRED) throw e;
    // A device-scoped condition matched part-way: start over, traced, so the trace shows the whole path.
    ctx.rewind();
    ctx.traced = true;
    guarded(ctx, ingressPort);
  }
  return ctx.result;
}

function guarded(ctx: PacketContext, ingressPort: number): void {
  try {
    run(ctx, ingressPort);
  } catch (e) {
    if (e !== BUDGET_EXCEEDED) throw e;
    ctx.emitCount = 0;
    ctx.genCount = 0;
    ctx.generating = false;
    ctx.resultSet = false;
    finish(ctx, ResultCode.ErrorDrop, 'device_budget_exceeded');
  }
}

function run(ctx: PacketContext, ingressPort: number): void {
  portIngress(ctx, ingressPort);
  if (ctx.genCount === 0) return;
  const traversed = ctx.devicesTraversed;
  ctx.generating = true;
  for (let i = 0; i < ctx.genCount && i < MAX_GENERATED; i++) {
    const port = ctx.genPorts[i]!;
    ctx.pkt.copyFrom(ctx.genPkts[i]!);
    ctx.inPort = -1;
    ctx.devicesTraversed = 0;
    if (ctx.traced) {
      const p = ctx.topo.ports[port]!;
      ctx.step('reception', 'port', p.id, p.name, `generated packet leaves through port ${p.name || p.id}`, { generated: true });
    }
    portEgress(ctx, port);
  }
  ctx.generating = false;
  ctx.devicesTraversed = traversed;
}

// The one entry point of the simulation: the packet in ctx.pkt enters exterior port `ingressPort`.
// The API, the worker pool, `midotrace simulate` and the benchmarks all come through here.
//
// Devices never call each other: each returns the packet's next hop (devices/hop.ts) and dispatch()
// below, one loop, hands it to the next port or device, counts the device budget and runs pending
// flood branches from ctx.forks, as Midolman's Simulator dispatches the actions its devices return.
import { MAX_DEVICES_TRAVERSED, type PacketContext } from './context.js';
import { ResultCode } from '../model/result.js';
import { Step } from '../model/step.js';
import { bridgeDevice, DeviceKind, routerDevice } from './topology/compiled.js';
import { budgetExceeded, enterScoped, finish } from './devices/disposition.js';
import { egressHop, Hop, HOP_KIND_MASK, HOP_SHIFT, ingressHop } from './devices/hop.js';
import { portEgress, portIngress } from './devices/port.js';
import { bridgeProcess, floodBranch } from './devices/bridge.js';
import { routerProcess } from './devices/router.js';
import { flowHash } from './rules/flow-hash.js';
import { isForwardFlow } from './rules/conntrack.js';
import { Layers } from './wire/parse.js';

/** Generated packets may generate more (an ARP request answered...); this bounds the chain. */
const MAX_GENERATED = 32;

/** How dispatch() ended. */
const enum Run { Done = 0, Restart = 1, BudgetExceeded = 2 }

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
  if (run(ctx, ingressPort) === Run.Restart) {
    // A device-scoped condition matched part-way: start over, traced, so the trace shows the whole path.
    // Traced, no condition asks again, so this second run ends.
    ctx.rewind();
    ctx.traced = true;
    run(ctx, ingressPort);
  }
  return ctx.result;
}

/** The packet from its ingress port, then the packets the network generated on the way. */
function run(ctx: PacketContext, ingressPort: number): Run {
  const r = dispatch(ctx, ingressHop(ingressPort));
  if (r !== Run.Done || ctx.genCount === 0) return r;
  const traversed = ctx.devicesTraversed;
  ctx.generating = true;
  for (let i = 0; i < ctx.genCount && i < MAX_GENERATED; i++) {
    const port = ctx.genPorts[i]!;
    ctx.pkt.copyFrom(ctx.genPkts[i]!);
    ctx.inPort = -1;
    ctx.devicesTraversed = 0;
    if (ctx.traced) ctx.step(Step.generatedSent(ctx.topo.ports[port]!));
    const g = dispatch(ctx, egressHop(port));
    if (g !== Run.Done) return g;
  }
  ctx.generating = false;
  ctx.devicesTraversed = traversed;
  return Run.Done;
}

/** Runs hops from `hop` until this packet and every flood branch it forked are done. */
function dispatch(ctx: PacketContext, hop: number): Run {
  const topo = ctx.topo;
  for (;;) {
    const arg = hop >>> HOP_SHIFT;
    switch (hop & HOP_KIND_MASK) {
      case Hop.Ingress:
        hop = portIngress(ctx, arg);
        break;
      case Hop.Enter: {
        const port = topo.ports[arg]!;
        if (++ctx.devicesTraversed > MAX_DEVICES_TRAVERSED) {
          budgetExceeded(ctx, arg);
          return Run.BudgetExceeded;
        }
        if (port.deviceKind === DeviceKind.Bridge) {
          if (enterScoped(ctx, bridgeDevice(topo, port.deviceIdx))) return Run.Restart;
          hop = bridgeProcess(ctx, port.deviceIdx, arg);
        } else {
          if (enterScoped(ctx, routerDevice(topo, port.deviceIdx))) return Run.Restart;
          hop = routerProcess(ctx, port.deviceIdx, arg);
        }
        break;
      }
      case Hop.Egress:
        hop = portEgress(ctx, arg);
        break;
      case Hop.FloodBranch:
        hop = floodBranch(ctx, arg);
        break;
      case Hop.Restart:
        return Run.Restart;
      default: { // Hop.Done
        const forks = ctx.forks;
        if (forks.empty) return Run.Done;
        hop = forks.pop(ctx.pkt);
        ctx.inPort = forks.inPort;
      }
    }
  }
}

// How branches of one simulation combine into one result, and the bookkeeping every device does on
// entry (traversed marks, device-scoped trace conditions, the traversal budget's result).
import { MAX_DEVICES_TRAVERSED, type PacketContext } from '../context.js';
import { ResultCode, type Reason } from '../../model/result.js';
import { DeviceKind } from '../topology/compiled.js';
import { Hop } from './hop.js';
import { Step } from '../../model/step.js';

/**
 * A flood forks the simulation; the merged result is the best branch: any emitted packet makes it
 * `forward`, then `consumed`, then the worst error. Ranks index ResultCode.
 */
const RANK = new Int8Array([
  /* Forward */ 4, /* Drop */ 0, /* ShortDrop */ 1, /* ErrorDrop */ 2, /* Consumed */ 3,
]);

/** Records how this branch ended and returns Hop.Done, so a device writes `return finish(...)`. */
export function finish(ctx: PacketContext, code: ResultCode, reason: Reason): Hop.Done {
  // Generated packets (answers, ICMP errors) never change the fate of the packet that caused them.
  if (ctx.generating) return Hop.Done;
  if (ctx.resultSet && RANK[code]! <= RANK[ctx.result]!) return Hop.Done;
  ctx.result = code;
  ctx.reason = reason;
  ctx.resultSet = true;
  return Hop.Done;
}

/**
 * The simulation tried to enter a device (through port `p`) past MAX_DEVICES_TRAVERSED: a loop in
 * the topology. The whole simulation becomes an errorDrop, as in Midolman, whatever other branches
 * of a flood did: what they emitted or generated is discarded.
 */
export function budgetExceeded(ctx: PacketContext, p: number): void {
  if (ctx.traced) {
    const t = ctx.topo;
    const port = t.ports[p]!;
    const dev = port.deviceKind === DeviceKind.Bridge ? t.bridges[port.deviceIdx]! : t.routers[port.deviceIdx]!;
    ctx.step(Step.dropped(port.deviceKind === DeviceKind.Bridge ? 'bridge' : 'router', dev,
      { reason: 'device_budget_exceeded', limit: MAX_DEVICES_TRAVERSED },
      `more than ${MAX_DEVICES_TRAVERSED} devices traversed (loop guard)`));
  }
  ctx.forks.clear();
  ctx.emitCount = 0;
  ctx.genCount = 0;
  ctx.generating = false;
  ctx.resultSet = false;
  finish(ctx, ResultCode.ErrorDrop, 'device_budget_exceeded');
}

/**
 * Marks global device `device` traversed and tests the device-scoped trace conditions there. True
 * when one matched an untraced packet: the caller returns Hop.Restart, so the simulation runs again
 * traced from the ingress port (Midolman's TraceRequiredException, without the throw).
 */
export function enterScoped(ctx: PacketContext, device: number): boolean {
  ctx.markTraversed(device);
  const m = ctx.matcher;
  // A traced packet still asks, so every matching condition's id lands on the one trace.
  return m !== null && m.scopedAt(device) && m.matchAtDevice(ctx, device) && !ctx.traced;
}

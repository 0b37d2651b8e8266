// How branches of one simulation combine into one result, and the bookkeeping every device does on
// entry (traversal budget, traversed marks, device-scoped trace conditions).
import { MAX_DEVICES_TRAVERSED, TRACE_REQUIRED, type PacketContext } from '../context.js';
import { ResultCode, type Reason } from '../../model/result.js';

/**
 * A flood forks the simulation; the merged result is the best branch: any emitted packet makes it
 * `forward`, then `consumed`, then the worst error. Ranks index ResultCode.
 */
const RANK = new Int8Array([
  /* Forward */ 4, /* Drop */ 0, /* ShortDrop */ 1, /* ErrorDrop */ 2, /* Consumed */ 3,
]);

export function finish(ctx: PacketContext, code: ResultCode, reason: Reason): void {
  // Generated packets (answers, ICMP errors) never change the fate of the packet that caused them.
  if (ctx.generating) return;
  if (ctx.resultSet && RANK[code]! <= RANK[ctx.result]!) return;
  ctx.result = code;
  ctx.reason = reason;
  ctx.resultSet = true;
}

/**
 * Thrown (one shared instance) when the simulation enters more than MAX_DEVICES_TRAVERSED devices: a
 * loop in the topology. The whole simulation becomes an errorDrop, as in Midolman, whatever other
 * branches of a flood did.
 */
export const BUDGET_EXCEEDED: { readonly budgetExceeded: true } = Object.freeze({ budgetExceeded: true });

/**
 * Called as a bridge or router receives the packet. Throws BUDGET_EXCEEDED when the traversal budget
 * is spent. Throws TRACE_REQUIRED when a device-scoped trace
 * condition matches an untraced packet, so the simulation restarts traced from the ingress port.
 */
export function enterDevice(ctx: PacketContext, device: number, type: 'bridge' | 'router',
                            id: string, name: string): void {
  if (++ctx.devicesTraversed > MAX_DEVICES_TRAVERSED) {
    if (ctx.traced) {
      ctx.step('disposition', type, id, name,
        `dropped: more than ${MAX_DEVICES_TRAVERSED} devices traversed (loop guard)`,
        { reason: 'device_budget_exceeded', limit: MAX_DEVICES_TRAVERSED });
    }
    throw BUDGET_EXCEEDED;
  }
  ctx.markTraversed(device);
  checkScoped(ctx, device);
}

export function checkScoped(ctx: PacketContext, device: number): void {
  const m = ctx.matcher;
  // A traced packet still asks, so every matching condition's id lands on the one trace.
  if (m !== null && m.scopedAt(device) && m.matchAtDevice(ctx, device) && !ctx.traced) {
    throw TRACE_REQUIRED;
  }
}

/** How a device is named in step text: its name, or its id when it has none (the step carries the id anyway). */
export function label(name: string, id: string): string {
  return name !== '' ? name : id;
}

// Ports: where packets enter a device and leave it. An exterior port is an edge of the virtual
// network; an interior port hands the packet to its peer. Port filters run here, device filters in
// the device. Both directions return the next hop (hop.ts) to the dispatch loop.
import type { PacketContext } from '../context.js';
import { ResultCode } from '../../model/result.js';
import { portDevice, type CPort } from '../topology/compiled.js';
import { Step, type TraceStep } from '../../model/step.js';
import { ChainAction, chainVerdict, runChain } from '../rules/chain.js';
import { commitConntrack } from '../rules/conntrack.js';
import { finish, enterScoped } from './disposition.js';
import { enterHop, Hop, ingressHop } from './hop.js';

// Steps traced packets take often, recorded for rendering later (PacketContext.later).
const portReceived = (port: CPort): TraceStep => Step.portReceived(port, port.exterior);
const emitted = (port: CPort, _b: null, _c: null, generated: number): TraceStep =>
  Step.emitted(port, port.hostId, port.interfaceName, generated !== 0);
const toPeer = (port: CPort, peer: CPort): TraceStep => Step.toPeer(port, peer);

/** The packet arrives at port `p` (from the outside, or from p's peer); next it enters p's device. */
export function portIngress(ctx: PacketContext, p: number): number {
  const port = ctx.topo.ports[p]!;
  if (ctx.traced) ctx.later(portReceived, port, null, null, 0, 0, 0);
  if (enterScoped(ctx, portDevice(ctx.topo, p))) return Hop.Restart;
  if (!port.adminUp) {
    if (ctx.traced) ctx.step(Step.dropped('port', port, { reason: 'port_admin_down' }, 'port is administratively down'));
    return finish(ctx, ResultCode.Drop, 'port_admin_down');
  }
  ctx.inPort = p;
  ctx.outPort = -1;
  if (port.inChain >= 0) {
    const action = runChain(ctx, port.inChain, port.id, port.name);
    if (action !== ChainAction.Accept) return dropByChain(ctx, port, action, 'inbound');
  }
  return enterHop(p);
}

/** The device sends the packet out of port `p`: outbound filter, then out of the network or to the peer. */
export function portEgress(ctx: PacketContext, p: number): number {
  const port = ctx.topo.ports[p]!;
  ctx.outPort = p;
  if (!port.adminUp) {
    if (ctx.traced) ctx.step(Step.dropped('port', port, { reason: 'port_admin_down' }, 'egress port is administratively down'));
    return finish(ctx, ResultCode.Drop, 'port_admin_down');
  }
  if (port.outChain >= 0) {
    const action = runChain(ctx, port.outChain, port.id, port.name);
    if (action !== ChainAction.Accept) return dropByChain(ctx, port, action, 'outbound');
  }
  if (port.exterior) {
    if (ctx.forwardFlow === 1 && !ctx.generating) commitConntrack(ctx, p);
    ctx.emit(p, ctx.pkt);
    if (ctx.traced) ctx.later(emitted, port, null, null, ctx.generating ? 1 : 0, 0, 0);
    return finish(ctx, ResultCode.Forward, 'none'); // ignored for a generated packet
  }
  if (ctx.traced) ctx.later(toPeer, port, ctx.topo.ports[port.peer]!, null, 0, 0, 0);
  return ingressHop(port.peer);
}

function dropByChain(ctx: PacketContext, port: CPort, action: ChainAction, dir: string): Hop.Done {
  const rejected = action === ChainAction.Reject;
  // chain_drop, or why a NAT rule could not apply (nat_exhausted, state_table_full).
  const reason = rejected ? 'chain_reject' : chainVerdict.reason;
  if (ctx.traced) {
    ctx.step(rejected ? Step.rejected('port', port, reason, `the port's ${dir} filter`)
      : Step.dropped('port', port, { reason }, `by the port's ${dir} filter`));
  }
  return finish(ctx, ResultCode.Drop, reason);
}

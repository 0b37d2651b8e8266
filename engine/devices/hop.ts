// Where the packet goes next, as devices return it to the dispatch loop in simulate.ts (MidoNet's
// SimDevice results: ToPortAction, ForkAction, a finished simulation). One small integer, the port
// index shifted left over the kind, so a hop costs no object and a device never calls another device.

export const enum Hop {
  /** This branch is over; its result was recorded through finish(). Pending flood branches run next. */
  Done = 0,
  /** A device-scoped trace condition matched an untraced packet: start again, traced, from the ingress port. */
  Restart = 1,
  /** The packet arrives at port `arg` (from outside or from its peer). */
  Ingress = 2,
  /** The packet enters the device that owns port `arg`, through that port (counted against the budget). */
  Enter = 3,
  /** The device sends the packet out of its port `arg` (port filter, then out of the network or to the peer). */
  Egress = 4,
  /** One branch of a bridge flood towards port `arg` (the bridge's outbound filter, then egress). */
  FloodBranch = 5,
}

export const HOP_KIND_MASK = 7;
export const HOP_SHIFT = 3;

export function ingressHop(port: number): number { return (port << HOP_SHIFT) | Hop.Ingress; }
export function enterHop(port: number): number { return (port << HOP_SHIFT) | Hop.Enter; }
export function egressHop(port: number): number { return (port << HOP_SHIFT) | Hop.Egress; }
export function floodBranchHop(port: number): number { return (port << HOP_SHIFT) | Hop.FloodBranch; }

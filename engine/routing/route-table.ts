// Contract for a router's forwarding table. Implementations live beside this file (lpm.ts).
import type { CRoute } from '../topology/compiled.js';

export interface RouteTable {
  /** Number of routes (explicit and implicit) in the table. */
  readonly size: number;
  /**
   * MidoNet's route choice: among routes whose dst prefix contains `dst` and whose src prefix contains
   * `src`, take the longest dst prefix; among those the lowest weight; among equal weights (ECMP) pick
   * one by `flowHash` so a flow always takes the same path. Returns the route's index into
   * CompiledTopology.routes, or -1 when nothing matches. Never allocates.
   */
  lookup(dst: number, src: number, flowHash: number): number;
}

export type RouteTableFactory = (routes: readonly CRoute[]) => RouteTable;

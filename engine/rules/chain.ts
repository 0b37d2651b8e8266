// Chain evaluation (MidoNet's Chain.scala): rules in order; accept / drop / reject decide; continue goes
// on; return leaves the current chain (back after the jump that entered it, or accept at top level);
// jump evaluates the target and, when it returns or falls off its end, continues after the jump;
// falling off the top-level chain accepts. NAT rules rewrite then act per their flowAction.
//
// Jumps use an explicit stack and a visited mark per chain (both preallocated module scratch, one per
// worker thread) instead of recursion. As in Midolman's Chain.jump, a jump to a chain already visited
// in this evaluation is skipped (the trace says so) and evaluation goes on with the next rule: that is
// how a jump loop ends, and a chain jumped to twice runs once.
import { ipToString } from '../../model/addr.js';
import type { PacketContext } from '../context.js';
import { Step, type TraceStep } from '../../model/step.js';
import type { Reason } from '../../model/result.js';
import { type CChain, type CRule, type CompiledTopology, FlowAction, RuleType } from '../topology/compiled.js';
import { describeCondition, matchCondition } from './condition.js';
import { portOwnerDevice } from './conntrack.js';
import { applyNat, natInfo, NatOutcome } from './nat.js';
import { isNatIcmpError } from './nat-icmp.js';

export const enum ChainAction { Accept = 0, Drop = 1, Reject = 2 }

/** How the last runChain() call ended, beyond its ChainAction. Overwritten by every call. */
export interface ChainVerdict {
  /** topo.rules index of the rule that decided; -1 when no rule did (no chain, or fell off the end). */
  ruleIdx: number;
  /** 'none' on accept; 'chain_drop', 'chain_reject', 'nat_exhausted' or 'state_table_full' otherwise. */
  reason: Reason;
  /** Some jump was skipped because its target chain had already been visited (a loop, or a repeat). */
  jumpLoop: boolean;
}

export const chainVerdict: ChainVerdict = { ruleIdx: -1, reason: 'none', jumpLoop: false };

export const RULE_TYPE_NAMES = ['accept', 'drop', 'reject', 'continue', 'return', 'jump',
  'dnat', 'snat', 'rev_dnat', 'rev_snat'] as const;
const ACTION_NAMES = ['accept', 'drop', 'reject'] as const;

let visited = new Uint8Array(16);
let visitedList = new Int32Array(16);
let stackChain = new Int32Array(17);
let stackPos = new Int32Array(17);

/**
 * NAT zone: the global device number of the bridge or router processing the packet, found through the
 * port it entered that device by (ctx.inPort; ctx.outPort for a generated packet, which has none).
 * Chains of a device and of its ports therefore share a zone, as Midolman keys NAT on the current
 * device, so a DNAT in a router port's inbound filter is reversed by rev_dnat in the router's chain.
 */
export function natZone(ctx: PacketContext): number {
  return portOwnerDevice(ctx.topo, ctx.inPort >= 0 ? ctx.inPort : ctx.outPort);
}

/**
 * Evaluate chain `chainIdx` (-1: no chain, accept) as a filter of device `deviceId` / `deviceName`
 * (bridge, router or port; used only in trace text). The deciding rule and the drop reason are left
 * in chainVerdict.
 */
export function runChain(ctx: PacketContext, chainIdx: number, deviceId: string, deviceName: string): ChainAction {
  const v = chainVerdict;
  v.ruleIdx = -1;
  v.reason = 'none';
  v.jumpLoop = false;
  if (chainIdx < 0) return ChainAction.Accept;
  const topo = ctx.topo;
  const chains = topo.chains;
  if (visited.length < chains.length) {
    visited = new Uint8Array(chains.length);
    visitedList = new Int32Array(chains.length);
    stackChain = new Int32Array(chains.length + 1);
    stackPos = new Int32Array(chains.length + 1);
  }
  const zone = natZone(ctx);
  let depth = 0;
  let cur = chainIdx;
  let pos = 0;
  let action = ChainAction.Accept;
  stackChain[0] = cur;
  visited[cur] = 1;
  visitedList[0] = cur;
  let nVisited = 1;
  if (ctx.traced) traceEnter(ctx, chains[cur]!, deviceId, deviceName, -1);

  run: for (;;) {
    const rules = chains[cur]!.rules;
    while (pos < rules.length) {
      const r = rules[pos++]!;
      if (!matchCondition(r.cond, ctx)) continue;
      const type = r.type;
      if (type <= RuleType.Reject) {
        action = type === RuleType.Accept ? ChainAction.Accept
          : type === RuleType.Drop ? ChainAction.Drop : ChainAction.Reject;
        v.ruleIdx = r.idx;
        v.reason = type === RuleType.Accept ? 'none' : type === RuleType.Drop ? 'chain_drop' : 'chain_reject';
        if (ctx.traced) traceRule(ctx, r, ACTION_NAMES[action]!, '');
        break run;
      }
      if (type === RuleType.Continue) continue;
      if (type === RuleType.Return) {
        if (ctx.traced) traceRule(ctx, r, 'return', depth === 0 ? 'accept' : 'back to the jumping chain');
        if (depth === 0) { v.ruleIdx = r.idx; break run; }
        break;
      }
      if (type === RuleType.Jump) {
        const target = r.jumpChain;
        if (target < 0 || target >= chains.length) continue;
        if (visited[target] === 1) {
          v.jumpLoop = true;
          if (ctx.traced) traceRule(ctx, r, 'skip', `chain ${chains[target]!.name || chains[target]!.id} was already evaluated for this packet; going on with the next rule`);
          continue;
        }
        if (ctx.traced) traceRule(ctx, r, 'jump', `to chain ${chains[target]!.name || chains[target]!.id}`);
        stackPos[depth] = pos;
        depth++;
        stackChain[depth] = target;
        visited[target] = 1;
        visitedList[nVisited++] = target;
        if (ctx.traced) traceEnter(ctx, chains[target]!, deviceId, deviceName, cur);
        cur = target;
        pos = 0;
        continue run;
      }
      // dnat, snat, rev_dnat, rev_snat. A router's ICMP errors quote the packet as it arrived there.
      if (!ctx.preRoutingTaken) { ctx.preRouting.copyFrom(ctx.pkt); ctx.preRoutingTaken = true; }
      const p = ctx.pkt;
      const bSrc = p.nwSrc, bDst = p.nwDst, bTpSrc = p.tpSrc, bTpDst = p.tpDst;
      const res = applyNat(ctx, r, zone);
      if (res === NatOutcome.NotApplied) continue;
      if (res !== NatOutcome.Applied) {
        action = ChainAction.Drop;
        v.ruleIdx = r.idx;
        v.reason = res === NatOutcome.Exhausted ? 'nat_exhausted' : 'state_table_full';
        if (ctx.traced) traceRule(ctx, r, 'drop', v.reason);
        break run;
      }
      if (ctx.traced) traceNat(ctx, r, bSrc, bDst, bTpSrc, bTpDst);
      const fa = r.flowAction;
      if (fa === FlowAction.Continue) continue;
      if (fa === FlowAction.Accept) { v.ruleIdx = r.idx; action = ChainAction.Accept; break run; }
      if (depth === 0) { v.ruleIdx = r.idx; break run; } // Return at top level accepts
      break;
    }
    // Return, or fell off the end: leave this chain.
    if (depth === 0) {
      if (v.ruleIdx < 0 && ctx.traced) traceFellOff(ctx, chains[cur]!);
      break;
    }
    depth--;
    cur = stackChain[depth]!;
    pos = stackPos[depth]!;
  }
  for (let i = 0; i < nVisited; i++) visited[visitedList[i]!] = 0;
  return action;
}

// ---- Trace text: only reached under `if (ctx.traced)`. ----

function chainLabel(c: CChain): string { return c.name || c.id; }

function ownerText(t: CompiledTopology, id: string, name: string, chainIdx: number): string {
  const b = t.bridgeIndex.get(id);
  const r = b === undefined ? t.routerIndex.get(id) : undefined;
  const p = b === undefined && r === undefined ? t.portIndex.get(id) : undefined;
  const dev = b !== undefined ? t.bridges[b] : r !== undefined ? t.routers[r] : p !== undefined ? t.ports[p] : undefined;
  const kind = b !== undefined ? 'bridge' : r !== undefined ? 'router' : p !== undefined ? 'port' : 'device';
  const dir = dev === undefined ? '' : dev.inChain === chainIdx ? 'inbound ' : dev.outChain === chainIdx ? 'outbound ' : '';
  return `${dir}filter of ${kind} ${name || id}`;
}

// Recorded for rendering later (PacketContext.later): every traced packet through a filter takes these.
const chainEvaluated = (chain: CChain, t: CompiledTopology, deviceId: string, from: number, _y: number, _z: number, deviceName: string): TraceStep =>
  Step.chainEvaluated(chain, deviceId, chain.rules.length,
    from < 0 ? ownerText(t, deviceId, deviceName, chain.idx) : `jump from chain ${chainLabel(t.chains[from]!)}`);
const ruleMatched = (r: CRule, chain: CChain, action: string, _x: number, _y: number, _z: number, note: string): TraceStep =>
  Step.ruleMatched({ id: r.id, name: ruleName(chain, r) }, {
    chainId: chain.id, position: r.position + 1, type: RULE_TYPE_NAMES[r.type]!, action,
    condition: describeCondition(r.cond), note,
  }, chain);

function traceEnter(ctx: PacketContext, chain: CChain, deviceId: string, deviceName: string, from: number): void {
  ctx.later(chainEvaluated, chain, ctx.topo, deviceId, from, 0, 0, deviceName);
}

function traceFellOff(ctx: PacketContext, chain: CChain): void {
  ctx.step(Step.chainDefault(chain));
}

/** A rule's label in step text: its chain's, and its position there (`chain[position]`). */
function ruleName(chain: CChain, r: CRule): string {
  return `${chainLabel(chain)}[${r.position + 1}]`;
}

function traceRule(ctx: PacketContext, r: CRule, action: string, note: string): void {
  ctx.later(ruleMatched, r, ctx.topo.chains[r.chainIdx]!, action, 0, 0, 0, note);
}

function traceNat(ctx: PacketContext, r: CRule, src: number, dst: number, sport: number, dport: number): void {
  const p = ctx.pkt;
  const binding = r.type >= RuleType.RevDnat ? 'reverse binding' : natInfo.isStatic ? 'static'
    : natInfo.created ? 'new binding' : 'existing binding';
  const icmpError = isNatIcmpError(p);
  ctx.step(Step.natApplied({ id: r.id, name: ruleName(ctx.topo.chains[r.chainIdx]!, r) }, {
    chainId: ctx.topo.chains[r.chainIdx]!.id, position: r.position + 1, type: RULE_TYPE_NAMES[r.type]!,
    action: ['accept', 'continue', 'return'][r.flowAction]!, binding,
    before: { nwSrc: ipToString(src >>> 0), nwDst: ipToString(dst >>> 0), tpSrc: sport, tpDst: dport },
    after: { nwSrc: ipToString(p.nwSrc >>> 0), nwDst: ipToString(p.nwDst >>> 0), tpSrc: p.tpSrc, tpDst: p.tpDst },
    ...(icmpError ? { icmpError: natInfo.isStatic ? 'quoted' : 'flow' } : {}),
  }));
}

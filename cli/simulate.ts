// `midotrace simulate`: offline, like ovn-trace. Loads a topology file and runs packets through the
// same Simulator the daemon's workers use, carrying state from one packet to the next.
import { readFileSync } from 'node:fs';
import { compileTopology } from '../engine/topology/compile.js';
import { createStateTables } from '../engine/state/tables.js';
import { Simulator, type SimulationResultJson } from '../engine/simulator.js';
import { portIndexOfTopology, readInput, type PortIndex } from '../engine/input.js';
import { inputPath } from '../model/packet.js';
import { buildTrace } from '../engine/trace/record.js';
import type { Trace } from '../model/trace.js';
import type { CompiledTopology } from '../engine/topology/compiled.js';
import { newTraceId } from '../engine/trace/trace-id.js';
import { formatResult, formatTrace } from './format.js';
import { UserError } from './exit.js';
import { resolveLabel } from './labels.js';
import { traceHops } from '../model/trace-hops.js';
import { bufferText, cacheKey, readCached, writeCached } from './topology-cache.js';

export type SimulateLevel = 'minimal' | 'summary' | 'detailed';

export interface SimulateOptions {
  topology: string;
  inPort?: string;
  /** ovn-trace's microflow expression (model/flow-expr.ts), instead of --in-port and --packet. */
  flow?: string;
  /** Output as ovn-trace's --minimal / --summary / --detailed; unset: the result, and the trace with --trace. */
  level?: SimulateLevel;
  packet?: string;
  frame?: string;
  packets?: string;
  trace?: boolean;
  json?: boolean;
}

export type SimulateOutput = SimulationResultJson & { trace?: Trace };


/** A run looks up a router a few times at most: tables are built only if it looks up more (route-scan.ts). */
const ONE_SHOT = { routeTables: 'lazy' } as const;

/**
 * Loads and compiles a topology file, or throws a UserError listing every problem with its path.
 * The validator (and with it zod) is loaded only for a file it has not validated as it is now
 * (topology-cache.ts).
 */
export async function loadTopologyOrThrow(path: string): Promise<CompiledTopology> {
  // The key is taken before the file is read: a write while it is read makes the next run miss.
  const key = cacheKey(path);
  const cached = key === null ? null : readCached(key);
  if (cached !== null) return compileTopology(cached, ONE_SHOT);
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) { throw new UserError(`invalid topology ${path}:\n  : cannot read ${path}: ${(e as Error).message}`); }
  const { loadTopology } = await import('../model/topology/load.js');
  let json: unknown;
  try { json = JSON.parse(bufferText(bytes)); } catch (e) {
    throw new UserError(`invalid topology ${path}:\n  : ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const loaded = loadTopology(json);
  if (!loaded.ok) {
    const lines = loaded.errors.slice(0, 20).map((e) => `  ${e.path}: ${e.message}`);
    if (loaded.errors.length > 20) lines.push(`  ... and ${loaded.errors.length - 20} more`);
    throw new UserError(`invalid topology ${path}:\n${lines.join('\n')}`);
  }
  if (key !== null) writeCached(key, loaded.doc);
  return compileTopology(loaded.doc, ONE_SHOT);
}

/**
 * One offline simulation session: inputs run in order on one Simulator, so MAC learning, conntrack
 * and NAT carry over from one packet (and one run() call) to the next. Inputs go through the engine's
 * one input validator (engine/input.ts), as the daemon's do, and enter the engine as frames.
 */
export class SimulationSession {
  private readonly sim: Simulator;
  private readonly ports: PortIndex;

  constructor(topo: CompiledTopology, trace: boolean) {
    this.sim = new Simulator(topo, createStateTables({ shared: false, macCapacity: 4096, arpCapacity: 1024, conntrackCapacity: 16384, natCapacity: 16384 }), 'offline');
    this.sim.ctx.forceTrace = trace;
    this.ports = portIndexOfTopology(topo);
  }

  /**
   * Validates every input (all or nothing, as POST /simulations does), then simulates them in order.
   * `many`: the inputs are a JSON array, and errors name their index (`[3].packet.nwSrc`).
   */
  run(inputs: readonly unknown[], many = true): SimulateOutput[] {
    const valid = inputs.map((input, i) => {
      const r = readInput(input, this.ports);
      if (!r.ok) throw new UserError(`${inputPath(many ? `[${i}]` : '', r.path)}: ${r.message}`);
      return r;
    });
    return valid.map((v) => this.one(v.port.idx, v.frame));
  }

  private one(port: number, frame: Uint8Array): SimulateOutput {
    const { sim } = this;
    const started = Date.now();
    sim.runFrame(port, frame, 0, frame.length, started);
    const traced = sim.ctx.traced;
    const id = traced ? newTraceId(started) : '';
    const result: SimulateOutput = sim.resultJson(traced ? [id] : []);
    if (traced) result.trace = buildTrace(sim.ctx, id, started);
    return result;
  }
}

export async function runSimulate(o: SimulateOptions, print: (s: string) => void): Promise<void> {
  const topo = await loadTopologyOrThrow(o.topology);
  let inputs: unknown[];
  let many = false;
  if (o.packets !== undefined) {
    if (o.inPort !== undefined || o.packet !== undefined || o.frame !== undefined) throw new UserError('--packets cannot be combined with --in-port, --packet or --frame');
    let json: unknown;
    try { json = JSON.parse(readFileSync(o.packets, 'utf8')); } catch (e) { throw new UserError(`--packets ${o.packets}: ${(e as Error).message}`); }
    if (!Array.isArray(json)) throw new UserError(`--packets ${o.packets}: must hold a JSON array of packets`);
    inputs = json;
    many = true;
  } else if (o.flow !== undefined) {
    if (o.inPort !== undefined || o.packet !== undefined || o.frame !== undefined) throw new UserError('--flow cannot be combined with --in-port, --packet or --frame');
    const { parseFlow } = await import('../model/flow-expr.js');
    const f = parseFlow(o.flow);
    if (!f.ok) throw new UserError(f.message);
    inputs = [{ inPort: portLabel(topo, f.inPort, 'inport'), packet: f.packet }];
  } else {
    if (o.inPort === undefined) throw new UserError('--in-port is required (or --flow EXPR, or --packets FILE)');
    if ((o.packet === undefined) === (o.frame === undefined)) throw new UserError('give exactly one of --packet JSON or --frame HEX');
    let packet: unknown;
    if (o.packet !== undefined) {
      try { packet = JSON.parse(o.packet); } catch (e) { throw new UserError(`--packet: not JSON: ${(e as Error).message}`); }
    }
    inputs = [{ inPort: portLabel(topo, o.inPort, '--in-port'), packet, frame: o.frame }];
  }
  if (many) {
    // Each packet's inPort may name its port too.
    inputs = inputs.map((x, i) => {
      const v = x as { inPort?: unknown } | null;
      return v !== null && typeof v === 'object' && typeof v.inPort === 'string' ? { ...v, inPort: portLabel(topo, v.inPort, `--packets ${o.packets}: [${i}].inPort`) } : x;
    });
  }
  let results: SimulateOutput[];
  try {
    results = new SimulationSession(topo, o.trace === true || (o.level !== undefined && o.level !== 'minimal')).run(inputs, many);
  } catch (e) {
    // Name the file whose packet is refused; a single --packet's path needs no such prefix.
    if (e instanceof UserError && many) throw new UserError(`--packets ${o.packets}: ${e.message}`);
    throw e;
  }
  const portName = (id: string): string => {
    const i = topo.portIndex.get(id);
    const name = i === undefined ? '' : topo.ports[i]!.name;
    return name !== '' ? `${name} (${id})` : id;
  };
  if (o.json) {
    print(JSON.stringify(many ? results : results[0], null, 2));
    return;
  }
  const shortName = (id: string): string => {
    const i = topo.portIndex.get(id);
    return (i === undefined ? '' : topo.ports[i]!.name) || id;
  };
  results.forEach((r, i) => {
    if (many) print(`packet ${i + 1}:`);
    if (o.level === 'minimal') { print(minimalLine(r, shortName)); return; }
    if (o.level === 'summary') { print(summaryLine(r, shortName)); return; }
    print(formatResult(r, portName));
    if (r.trace) print(formatTrace(r.trace));
  });
}

/**
 * A port given as an id or by name (SPEC §7: "wherever a port id is asked for, the port's name works
 * too"): the id, or a UserError naming the candidates.
 */
function portLabel(topo: CompiledTopology, label: string, what: string): string {
  if (topo.portIndex.has(label) || topo.portIndex.has(label.toLowerCase())) return label;
  const r = resolveLabel(label, topo.ports, (p) => p.id, (p) => p.name || undefined, (p) => (p.name ? `${p.id} (${p.name})` : p.id), 'port');
  if (!r.ok) throw new UserError(`${what}: ${r.message}`);
  return r.item.id;
}

/** ovn-trace --minimal: what became of the packet, in one line. */
export function minimalLine(r: SimulationResultJson, name: (id: string) => string): string {
  const out = r.emitted.map((e) => `${name(e.portId)}${e.generated ? ' (generated)' : ''}`);
  const why = r.reason !== 'none' ? ` (${r.reason})` : '';
  return `${r.result}${why}${out.length > 0 ? ` → ${out.join(', ')}` : ''}`;
}

/** ovn-trace --summary: the devices in order, each with what decided there, then the result. */
export function summaryLine(r: SimulateOutput, name: (id: string) => string): string {
  const hops = traceHops(r.trace?.steps ?? []);
  const parts = hops.map((h) => {
    const what: string[] = [];
    for (const s of h.steps) {
      const d = s.details;
      if (d.kind === 'rule_matched') what.push(`${s.deviceName || 'rule'}: ${d.action}`);
      else if (d.kind === 'chain_default') what.push(`${s.deviceName || 'chain'}: default ${d.action}`);
      else if (d.kind === 'route_chosen') what.push(`route ${d.dst}`);
      else if (d.kind === 'nat_applied') what.push(`${d.type} ${d.after.nwSrc}:${d.after.tpSrc} → ${d.after.nwDst}:${d.after.tpDst}`);
      else if (d.kind === 'flooded') what.push('flood');
      else if (d.kind === 'dropped' || d.kind === 'rejected') what.push(`${d.kind} ${d.reason}`);
      else if (d.kind === 'consumed') what.push(`consumed ${d.reason}`);
    }
    return `${h.deviceType} ${h.deviceName || h.deviceId}${what.length > 0 ? ` [${what.join('; ')}]` : ''}`;
  });
  return `${parts.join(' → ')}: ${minimalLine(r, name)}`;
}

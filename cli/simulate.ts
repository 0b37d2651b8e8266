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
import { cacheKey, readCached, writeCached } from './topology-cache.js';

export interface SimulateOptions {
  topology: string;
  inPort?: string;
  packet?: string;
  frame?: string;
  packets?: string;
  trace?: boolean;
  json?: boolean;
}

export type SimulateOutput = SimulationResultJson & { trace?: Trace };

/**
 * Loads and compiles a topology file, or throws a UserError listing every problem with its path.
 * The validator (and with it zod) is loaded only for a file it has not validated as it is now
 * (topology-cache.ts).
 */
export async function loadTopologyOrThrow(path: string): Promise<CompiledTopology> {
  // The key is taken before the file is read: a write while it is read makes the next run miss.
  const key = cacheKey(path);
  const cached = key === null ? null : readCached(key);
  if (cached !== null) return compileTopology(cached);
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) { throw new UserError(`invalid topology ${path}:\n  : cannot read ${path}: ${(e as Error).message}`); }
  const { loadTopology } = await import('../model/topology/load.js');
  let json: unknown;
  try { json = JSON.parse(bytes.toString('utf8')); } catch (e) {
    throw new UserError(`invalid topology ${path}:\n  : ${path} is not valid JSON: ${(e as Error).message}`);
  }
  const loaded = loadTopology(json);
  if (!loaded.ok) {
    const lines = loaded.errors.slice(0, 20).map((e) => `  ${e.path}: ${e.message}`);
    if (loaded.errors.length > 20) lines.push(`  ... and ${loaded.errors.length - 20} more`);
    throw new UserError(`invalid topology ${path}:\n${lines.join('\n')}`);
  }
  if (key !== null) writeCached(key, loaded.doc);
  return compileTopology(loaded.doc);
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
  } else {
    if (o.inPort === undefined) throw new UserError('--in-port is required (or --packets FILE)');
    if ((o.packet === undefined) === (o.frame === undefined)) throw new UserError('give exactly one of --packet JSON or --frame HEX');
    let packet: unknown;
    if (o.packet !== undefined) {
      try { packet = JSON.parse(o.packet); } catch (e) { throw new UserError(`--packet: not JSON: ${(e as Error).message}`); }
    }
    inputs = [{ inPort: o.inPort, packet, frame: o.frame }];
  }
  let results: SimulateOutput[];
  try {
    results = new SimulationSession(topo, o.trace === true).run(inputs, many);
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
  results.forEach((r, i) => {
    if (many) print(`packet ${i + 1}:`);
    print(formatResult(r, portName));
    if (r.trace) print(formatTrace(r.trace));
  });
}

// `midotrace simulate`: offline, like ovn-trace. Loads a topology file and runs packets through the
// same Simulator the daemon's workers use, carrying state from one packet to the next.
import { readFileSync } from 'node:fs';
import { compileTopology } from '../engine/topology/compile.js';
import { createStateTables } from '../engine/state/tables.js';
import { Simulator, type SimulationResultJson } from '../engine/simulator.js';
import { hexToBytes, packetFromJson } from '../engine/packet-json.js';
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

export interface SimulateInput { inPort?: unknown; packet?: unknown; frame?: unknown }

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
 * and NAT carry over from one packet (and one run() call) to the next.
 */
export class SimulationSession {
  private readonly sim: Simulator;

  constructor(private readonly topo: CompiledTopology, trace: boolean) {
    this.sim = new Simulator(topo, createStateTables({ shared: false, macCapacity: 4096, arpCapacity: 1024, conntrackCapacity: 16384, natCapacity: 16384 }), 'offline');
    this.sim.ctx.forceTrace = trace;
  }

  run(inputs: SimulateInput[], where = 'packets'): SimulateOutput[] {
    return inputs.map((input, i) => this.one(input, inputs.length === 1 && where === '' ? '' : `${where}[${i}].`));
  }

  private one(input: SimulateInput, at: string): SimulateOutput {
    const { topo, sim } = this;
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new UserError(`${at.slice(0, -1) || 'packet'}: must be an object`);
    const extra = Object.keys(input).filter((k) => k !== 'inPort' && k !== 'packet' && k !== 'frame');
    if (extra.length > 0) throw new UserError(`${at}${extra[0]}: unknown field`);
    if (typeof input.inPort !== 'string') throw new UserError(`${at}inPort: required, the UUID of an exterior port`);
    const port = topo.portIndex.get(input.inPort);
    if (port === undefined) throw new UserError(`${at}inPort: no port ${input.inPort} in the topology`);
    if (!topo.ports[port]!.exterior) throw new UserError(`${at}inPort: port ${input.inPort} is interior; packets enter at exterior ports`);
    if ((input.frame === undefined) === (input.packet === undefined)) throw new UserError(`${at}packet: give exactly one of "packet" or "frame"`);
    const started = Date.now();
    if (input.frame !== undefined) {
      const bytes = typeof input.frame === 'string' ? hexToBytes(input.frame) : null;
      if (bytes === null) throw new UserError(`${at}frame: must be a string of hex digits with an even length`);
      sim.runFrame(port, bytes, 0, bytes.length, started);
    } else {
      sim.ctx.begin(started);
      const parsed = packetFromJson(input.packet, sim.ctx.pkt);
      if (!parsed.ok) throw new UserError(`${at}${parsed.path}: ${parsed.message}`);
      sim.runPacket(port);
    }
    const traced = sim.ctx.traced;
    const id = traced ? newTraceId(started) : '';
    const result: SimulateOutput = sim.resultJson(traced ? [id] : []);
    if (traced) result.trace = buildTrace(sim.ctx, id, started);
    return result;
  }
}

export async function runSimulate(o: SimulateOptions, print: (s: string) => void): Promise<void> {
  const topo = await loadTopologyOrThrow(o.topology);
  let inputs: SimulateInput[];
  let many = false;
  if (o.packets !== undefined) {
    if (o.inPort !== undefined || o.packet !== undefined || o.frame !== undefined) throw new UserError('--packets cannot be combined with --in-port, --packet or --frame');
    let json: unknown;
    try { json = JSON.parse(readFileSync(o.packets, 'utf8')); } catch (e) { throw new UserError(`--packets ${o.packets}: ${(e as Error).message}`); }
    if (!Array.isArray(json)) throw new UserError(`--packets ${o.packets}: must hold a JSON array of packets`);
    inputs = json as SimulateInput[];
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
  const results = new SimulationSession(topo, o.trace === true).run(inputs, many ? 'packets' : '');
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

// The one way into the engine for SPEC §3 inputs. `midotrace simulate` and the daemon's
// POST /simulations both turn `{ inPort, packet | frame }` into an ingress port and an Ethernet frame
// here, so both accept the same inputs, refuse the same ones in the same words, and simulate frames
// only: packet JSON is built into a frame, and whatever bytes a valid-hex `frame` holds are left for
// parseFrame to judge (a runt is an `errorDrop` with its reason, never a refusal; SPEC §6).
import type { TopologyDoc } from '../model/topology/doc.js';
import { Packet } from './packet.js';
import { frameFromHex, packetFromJson } from './packet-json.js';
import { buildFrameBytes } from './wire/build.js';
import type { CompiledTopology } from './topology/compiled.js';

/** What validating an input needs to know of a port (a CPort is one). */
export interface PortEntry {
  /** Its index in CompiledTopology.ports (the document's order). */
  readonly idx: number;
  readonly id: string;
  readonly name: string;
  readonly exterior: boolean;
}

/** Ports by id. */
export type PortIndex = ReadonlyMap<string, PortEntry>;

/**
 * The port index of a validated document without compiling it: the daemon's main thread only looks
 * ports up (its workers simulate). Indexes follow the document's order, as compileTopology's do.
 */
export function portIndexOf(doc: TopologyDoc): PortIndex {
  const m = new Map<string, PortEntry>();
  (doc.ports ?? []).forEach((p, idx) => m.set(p.id, Object.freeze({ idx, id: p.id, name: p.name ?? '', exterior: p.peerId === undefined })));
  return m;
}

/** The port index of a topology already compiled (the offline CLI compiles anyway). */
export function portIndexOfTopology(topo: CompiledTopology): PortIndex {
  return new Map(topo.ports.map((p) => [p.id, p]));
}

export type InputError = {
  ok: false;
  code: 'invalid_packet' | 'unknown_port';
  /** The bad field under the input (`inPort`, `packet.nwSrc`), '' for the input itself. */
  path: string;
  message: string;
};

export type InputResult = { ok: true; port: PortEntry; frame: Uint8Array } | InputError;

const INPUT_KEYS = new Set(['inPort', 'packet', 'frame']);
const scratch = new Packet();

function refuse(code: InputError['code'], path: string, message: string): InputError {
  return { ok: false, code, path, message };
}

/**
 * Validates one SPEC §3 input against the ports: an exterior port and a frame, or the first problem
 * found. Allocates the frame of packet JSON (an edge of the system, not the hot path).
 */
export function readInput(input: unknown, ports: PortIndex): InputResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return refuse('invalid_packet', '', 'must be an object with inPort and packet or frame');
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!INPUT_KEYS.has(k)) return refuse('invalid_packet', k, 'unknown field');
  if (typeof o.inPort !== 'string') return refuse('invalid_packet', 'inPort', 'required: the UUID of an exterior port');
  const port = ports.get(o.inPort) ?? ports.get(o.inPort.toLowerCase());
  if (port === undefined) return refuse('unknown_port', 'inPort', `no port ${o.inPort} in the topology`);
  if (!port.exterior) return refuse('unknown_port', 'inPort', `port ${o.inPort} is interior; packets enter at exterior ports`);
  if ((o.packet === undefined) === (o.frame === undefined)) return refuse('invalid_packet', 'packet', 'give exactly one of "packet" or "frame"');
  if (o.frame !== undefined) {
    const f = frameFromHex(o.frame);
    return f.ok ? { ok: true, port, frame: f.bytes } : refuse('invalid_packet', f.path, f.message);
  }
  const r = packetFromJson(o.packet, scratch);
  if (!r.ok) return refuse('invalid_packet', r.path, r.message);
  return { ok: true, port, frame: buildFrameBytes(scratch) };
}

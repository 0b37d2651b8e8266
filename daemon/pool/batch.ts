// Turns API packet inputs (SPEC §3) into worker batches: each becomes an Ethernet frame in one
// buffer, so workers see only frames. Validation happens here, in the main thread, with paths.
import { Packet } from '../../engine/packet.js';
import { frameFromHex, packetFromJson } from '../../engine/packet-json.js';
import { buildFrame, frameLength } from '../../engine/wire/build.js';
import type { CompiledTopology } from '../../engine/topology/compiled.js';
import type { BatchTask } from './protocol.js';

export type EncodeResult =
  | { ok: true; tasks: Omit<BatchTask, 'forceTrace' | 'detail' | 'nowMs'>[] }
  | { ok: false; code: 'invalid_packet' | 'unknown_port'; path: string; message: string };

const scratch = new Packet();

/**
 * Validates inputs and packs them into batches of at most `batchSize` frames. `prefix` is put before
 * paths (`[3].` for arrays, '' for a single object).
 */
export function encodeInputs(inputs: readonly unknown[], topo: CompiledTopology, batchSize: number, single: boolean): EncodeResult {
  const frames: Uint8Array[] = [];
  const ports: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const at = single ? '' : `[${i}].`;
    const input = inputs[i];
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      return { ok: false, code: 'invalid_packet', path: single ? '(body)' : `[${i}]`, message: 'must be an object with inPort and packet or frame' };
    }
    const o = input as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'inPort' && k !== 'packet' && k !== 'frame') return { ok: false, code: 'invalid_packet', path: `${at}${k}`, message: 'unknown field' };
    }
    if (typeof o.inPort !== 'string') return { ok: false, code: 'invalid_packet', path: `${at}inPort`, message: 'required: the UUID of an exterior port' };
    const port = topo.portIndex.get(o.inPort);
    if (port === undefined) return { ok: false, code: 'unknown_port', path: `${at}inPort`, message: `no port ${o.inPort} in the topology` };
    if (!topo.ports[port]!.exterior) return { ok: false, code: 'unknown_port', path: `${at}inPort`, message: `port ${o.inPort} is interior; packets enter at exterior ports` };
    if ((o.packet === undefined) === (o.frame === undefined)) {
      return { ok: false, code: 'invalid_packet', path: `${at}packet`, message: 'give exactly one of "packet" or "frame"' };
    }
    if (o.frame !== undefined) {
      const f = frameFromHex(o.frame);
      if (!f.ok) return { ok: false, code: 'invalid_packet', path: `${at}frame`, message: f.message };
      frames.push(f.bytes);
    } else {
      scratch.reset();
      const r = packetFromJson(o.packet, scratch);
      if (!r.ok) return { ok: false, code: 'invalid_packet', path: `${at}${r.path}`, message: r.message };
      const bytes = new Uint8Array(frameLength(scratch));
      buildFrame(scratch, bytes, 0);
      frames.push(bytes);
    }
    ports.push(o.inPort);
  }
  const tasks: Omit<BatchTask, 'forceTrace' | 'detail' | 'nowMs'>[] = [];
  for (let start = 0; start < frames.length; start += batchSize) {
    const end = Math.min(frames.length, start + batchSize);
    tasks.push(packFrames(frames, start, end, ports.slice(start, end)));
  }
  return { ok: true, tasks };
}

/** Packs frames[start..end) into one transferable buffer with offsets. */
export function packFrames(frames: readonly Uint8Array[], start: number, end: number, ports: string[] | string): Omit<BatchTask, 'forceTrace' | 'detail' | 'nowMs'> {
  let total = 0;
  for (let i = start; i < end; i++) total += frames[i]!.length;
  const data = new Uint8Array(total);
  const offsets = new Int32Array(end - start + 1);
  let off = 0;
  for (let i = start; i < end; i++) {
    offsets[i - start] = off;
    data.set(frames[i]!, off);
    off += frames[i]!.length;
  }
  offsets[end - start] = off;
  return { data, offsets, ports };
}

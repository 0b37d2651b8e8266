// Turns API packet inputs (SPEC §3) into worker batches: each becomes an Ethernet frame in one
// buffer, so workers see only frames. Inputs are validated here, in the main thread, by the engine's
// one input validator (engine/input.ts), the one `midotrace simulate` uses.
import { readInput, type InputError, type PortIndex } from '../../engine/input.js';
import type { BatchTask } from './protocol.js';

export type EncodeResult =
  | { ok: true; tasks: Omit<BatchTask, 'forceTrace' | 'detail' | 'nowMs'>[] }
  /** The first bad input, `index` into the inputs, `path` under it. */
  | (InputError & { index: number });

/** Validates every input (all or nothing), then packs them into batches of at most `batchSize` frames. */
export function encodeInputs(inputs: readonly unknown[], ports: PortIndex, batchSize: number): EncodeResult {
  const frames: Uint8Array[] = [];
  const ids: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const r = readInput(inputs[i], ports);
    if (!r.ok) return { ...r, index: i };
    frames.push(r.frame);
    // Workers resolve the id against the topology they run, which may be newer than this index.
    ids.push(r.port.id);
  }
  const tasks: Omit<BatchTask, 'forceTrace' | 'detail' | 'nowMs'>[] = [];
  for (let start = 0; start < frames.length; start += batchSize) {
    const end = Math.min(frames.length, start + batchSize);
    tasks.push(packFrames(frames, start, end, ids.slice(start, end)));
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

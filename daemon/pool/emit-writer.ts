// Builds a batch's emitted packets as frames for the live datapath, back to back in one buffer that
// grows and is reused across batches; only the finished batch is copied out (once per batch).
import type { PacketContext } from '../../engine/context.js';
import { buildFrame, frameLength } from '../../engine/wire/build.js';
import type { EmittedFrames } from './protocol.js';

export class EmitWriter {
  private data = new Uint8Array(256 * 1024);
  private offsets = new Int32Array(513);
  private port = new Uint16Array(512);
  private src = new Int32Array(512);
  private generated = new Uint8Array(512);
  private portIds: string[] = [];
  private readonly portSlot = new Map<string, number>();
  private count = 0;
  private used = 0;

  begin(): void {
    this.count = 0;
    this.used = 0;
    this.portIds = [];
    this.portSlot.clear();
  }

  /** Appends what the context's last simulation emitted, on behalf of batch frame `srcIndex`. */
  add(ctx: PacketContext, srcIndex: number): void {
    for (let e = 0; e < ctx.emitCount; e++) {
      const pkt = ctx.emitPkts[e]!;
      const len = frameLength(pkt);
      this.reserve(len);
      const n = this.count;
      const id = ctx.topo.ports[ctx.emitPorts[e]!]!.id;
      let slot = this.portSlot.get(id);
      if (slot === undefined) { slot = this.portIds.length; this.portIds.push(id); this.portSlot.set(id, slot); }
      this.offsets[n] = this.used;
      buildFrame(pkt, this.data, this.used);
      this.used += len;
      this.port[n] = slot;
      this.src[n] = srcIndex;
      this.generated[n] = ctx.emitGenerated[e]!;
      this.count = n + 1;
    }
  }

  private reserve(len: number): void {
    if (this.used + len > this.data.length) {
      const grown = new Uint8Array(Math.max(this.data.length * 2, this.used + len));
      grown.set(this.data.subarray(0, this.used));
      this.data = grown;
    }
    if (this.count + 1 >= this.offsets.length) {
      const cap = this.offsets.length * 2;
      const o = new Int32Array(cap); o.set(this.offsets); this.offsets = o;
      const p = new Uint16Array(cap); p.set(this.port); this.port = p;
      const s = new Int32Array(cap); s.set(this.src); this.src = s;
      const g = new Uint8Array(cap); g.set(this.generated); this.generated = g;
    }
  }

  /** The batch's frames: copies, or with `inPlace` views valid until the next begin(). */
  finish(inPlace = false): EmittedFrames {
    const n = this.count;
    this.offsets[n] = this.used;
    if (inPlace) {
      return {
        count: n, data: this.data.subarray(0, this.used), offsets: this.offsets.subarray(0, n + 1), port: this.port.subarray(0, n),
        portIds: this.portIds, src: this.src.subarray(0, n), generated: this.generated.subarray(0, n),
      };
    }
    return {
      count: n,
      data: this.data.slice(0, this.used),
      offsets: this.offsets.slice(0, n + 1),
      port: this.port.slice(0, n),
      portIds: this.portIds,
      src: this.src.slice(0, n),
      generated: this.generated.slice(0, n),
    };
  }
}

// Pending branches of a fork (a bridge flood), as MidoNet's Simulator flattens a ForkAction onto a
// stack (flattenContinue) instead of recursing. A device that forks saves the packet once with
// fork(), pushes one hop per branch, and returns Hop.Done; the dispatch loop then pops the branches
// one by one, each starting from the packet as it was saved. Floods inside a branch push above the
// remaining branches, so packets are saved and given back strictly last-in first-out, and every array
// here only grows (to the deepest flood seen), never per packet.
import { Packet } from './packet.js';

export class ForkStack {
  private hops = new Int32Array(32);
  /** Index into `saved` of the packet each pending branch starts from. */
  private snap = new Int32Array(32);
  /** 1 on the branch pushed first after fork(): it runs last, so popping it frees its saved packet. */
  private lastOfFork = new Uint8Array(32);
  private depth = 0;

  private readonly saved: Packet[] = [];
  private savedInPort = new Int32Array(8);
  private savedCount = 0;
  /** No branch pushed yet since the last fork(). */
  private fresh = false;

  /** Set by pop(): the port through which the branch's device received the packet. */
  inPort = -1;

  get empty(): boolean { return this.depth === 0; }

  /** Save `pkt` (and the port the device received it by) for the branches about to be pushed. */
  fork(pkt: Packet, inPort: number): void {
    const n = this.savedCount;
    if (n === this.saved.length) this.saved.push(new Packet());
    if (n === this.savedInPort.length) this.savedInPort = grow(this.savedInPort);
    this.saved[n]!.copyFrom(pkt);
    this.savedInPort[n] = inPort;
    this.savedCount = n + 1;
    this.fresh = true;
  }

  /** Queue a branch of the last fork(). Push in reverse order: the last pushed runs first. */
  push(hop: number): void {
    const d = this.depth;
    if (d === this.hops.length) {
      this.hops = grow(this.hops);
      this.snap = grow(this.snap);
      const last = new Uint8Array(d * 2); last.set(this.lastOfFork); this.lastOfFork = last;
    }
    this.hops[d] = hop;
    this.snap[d] = this.savedCount - 1;
    this.lastOfFork[d] = this.fresh ? 1 : 0;
    this.fresh = false;
    this.depth = d + 1;
  }

  /** Forget a fork() that got no branch. */
  abandon(): void {
    if (this.fresh) { this.savedCount--; this.fresh = false; }
  }

  /**
   * The next pending branch's hop. Restores the packet it starts from into `pkt`, and the port its
   * device received that packet by into `inPort`.
   */
  pop(pkt: Packet): number {
    const d = --this.depth;
    const s = this.snap[d]!;
    pkt.copyFrom(this.saved[s]!);
    this.inPort = this.savedInPort[s]!;
    if (this.lastOfFork[d] === 1) this.savedCount--;
    return this.hops[d]!;
  }

  clear(): void {
    this.depth = 0;
    this.savedCount = 0;
    this.fresh = false;
  }
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

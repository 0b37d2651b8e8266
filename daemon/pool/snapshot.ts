// A versioned byte snapshot in a SharedArrayBuffer: one writer (the daemon's main thread) publishes,
// every worker reads before each batch. Two halves are written alternately and a header points at the
// live one, so a reader never sees a half-written version: it reads the sequence number, copies the
// live half, and retries if the sequence moved meanwhile (a seqlock). No message per change.
// Each half carries its own version number: the live pointer moves before the sequence does, so a
// reader between the two copies the new half, and must label it with that half's version.

const HDR_WORDS = 6; // [seq, liveHalf, len0, len1, version0, version1]
const SEQ = 0;
const LIVE = 1;
const LEN = 2;
const VER = 4;

export interface SnapshotDescriptor {
  readonly buffer: SharedArrayBuffer;
  readonly halfBytes: number;
}

export class SharedSnapshot {
  private readonly hdr: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly halfBytes: number;
  private readonly decoder = new TextDecoder();
  private readonly encoder = new TextEncoder();

  static create(halfBytes: number): SharedSnapshot {
    if (!Number.isInteger(halfBytes) || halfBytes <= 0) throw new RangeError('halfBytes must be a positive integer');
    return new SharedSnapshot({ buffer: new SharedArrayBuffer(HDR_WORDS * 4 + 2 * halfBytes), halfBytes });
  }

  constructor(d: SnapshotDescriptor) {
    this.halfBytes = d.halfBytes;
    this.hdr = new Int32Array(d.buffer, 0, HDR_WORDS);
    this.bytes = new Uint8Array(d.buffer, HDR_WORDS * 4, 2 * d.halfBytes);
  }

  descriptor(): SnapshotDescriptor {
    return { buffer: this.hdr.buffer as SharedArrayBuffer, halfBytes: this.halfBytes };
  }

  /** The published version number; 0 before anything was published. Cheap: one atomic load. */
  version(): number { return Atomics.load(this.hdr, SEQ); }

  /**
   * Publishes `text` (UTF-8) as the next version. Single writer only. Returns false, publishing
   * nothing, when it does not fit in half the buffer.
   */
  publish(text: string): boolean {
    const half = 1 - Atomics.load(this.hdr, LIVE);
    const target = this.bytes.subarray(half * this.halfBytes, (half + 1) * this.halfBytes);
    const { read, written } = this.encoder.encodeInto(text, target);
    if (read !== text.length) return false;
    const version = Atomics.load(this.hdr, SEQ) + 1;
    Atomics.store(this.hdr, LEN + half, written);
    Atomics.store(this.hdr, VER + half, version);
    // The half about to go live is complete before readers can be pointed at it.
    Atomics.store(this.hdr, LIVE, half);
    Atomics.store(this.hdr, SEQ, version);
    return true;
  }

  /** Reads the live version: `{ version, text }`. Retries while the writer moves underneath. */
  read(): { version: number; text: string } {
    for (;;) {
      const seq = Atomics.load(this.hdr, SEQ);
      const half = Atomics.load(this.hdr, LIVE);
      const len = Atomics.load(this.hdr, LEN + half);
      const version = Atomics.load(this.hdr, VER + half);
      // Copy out before decoding: TextDecoder refuses views on a SharedArrayBuffer.
      const copy = this.bytes.slice(half * this.halfBytes, half * this.halfBytes + len);
      // Any publish meanwhile may have been the second one, rewriting this half: read again.
      if (Atomics.load(this.hdr, SEQ) === seq) return { version, text: this.decoder.decode(copy) };
    }
  }
}

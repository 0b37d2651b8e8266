// The datapath benchmarks' traffic generator: run inside the sender's namespace, it writes one frame
// over and over on an interface with batched sendmmsg (64 per call) for a number of seconds. With a
// rate, frames go out in 1 ms slices and the generator sleeps between them (so it leaves the CPU to
// the daemon on a small machine); without one (0), as fast as the kernel takes them.
// Usage: node datapath-gen.js IFNAME FRAME_HEX SECONDS [PPS]; prints the frames sent and the milliseconds spent.
import { PacketSocket, TxRing, VNET_HDR_LEN } from '../datapath/packet-socket.js';

const [ifname, hex, secs, ppsArg] = process.argv.slice(2);
const frame = Buffer.from(hex!, 'hex');
const pps = Number(ppsArg ?? 0);
const r = PacketSocket.open(ifname!);
if (!r.ok) { process.stderr.write(`${r.message}\n`); process.exit(1); }
const tx = new TxRing();
tx.reset();
while (tx.fits(frame.length)) {
  const at = tx.reserve(frame.length);
  tx.data.bytes.fill(0, at, at + VNET_HDR_LEN);
  tx.data.bytes.set(frame, at + VNET_HDR_LEN);
}
const full = tx.count;
const nap = new Int32Array(new SharedArrayBuffer(4));
const t0 = performance.now();
const end = t0 + Number(secs) * 1000;
let sent = 0;
/** Frames due so far (rate mode); the schedule does not slip when the kernel refuses some. */
let offered = 0;
for (;;) {
  const now = performance.now();
  if (now >= end) break;
  if (pps > 0) {
    // Frames due by now (at most one second's worth behind), sent in ring-sized batches.
    const target = Math.floor((now - t0) * pps / 1000);
    let left = target - offered;
    if (left <= 0) { Atomics.wait(nap, 0, 0, 0.5); continue; }
    while (left > 0) {
      tx.count = Math.min(full, left);
      const want = tx.count;
      const n = r.socket.send(tx, () => { /* a full queue: the frame is simply not sent */ });
      sent += n;
      offered += want;
      left -= want;
    }
  } else {
    tx.count = full;
    sent += r.socket.send(tx, () => { /* a full queue: the frame is simply not sent */ });
  }
}
// What went out, and for how long: the sending window, without this process's start-up.
process.stdout.write(`${sent} ${performance.now() - t0}\n`);

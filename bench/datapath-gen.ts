// The datapath benchmarks' traffic generator: run inside the sender's namespace, it writes one frame
// over and over on an interface with batched sendmmsg (64 per call) for a number of seconds, as fast
// as the kernel takes them. Usage: node datapath-gen.js IFNAME FRAME_HEX SECONDS
import { PacketSocket, TxRing, VNET_HDR_LEN } from '../datapath/packet-socket.js';

const [ifname, hex, secs] = process.argv.slice(2);
const frame = Buffer.from(hex!, 'hex');
const r = PacketSocket.open(ifname!);
if (!r.ok) { process.stderr.write(`${r.message}\n`); process.exit(1); }
const tx = new TxRing();
const fill = (): void => {
  tx.reset();
  while (tx.fits(frame.length)) {
    const at = tx.reserve(frame.length);
    tx.data.bytes.fill(0, at, at + VNET_HDR_LEN);
    tx.data.bytes.set(frame, at + VNET_HDR_LEN);
  }
};
fill();
const count = tx.count;
const until = Date.now() + Number(secs) * 1000;
let sent = 0;
while (Date.now() < until) {
  for (let i = 0; i < 64; i++) {
    sent += r.socket.send(tx, () => { /* a full queue: the frame is simply not sent */ });
    tx.count = count; // send() leaves the ring as filled; resend the same batch
  }
}
process.stdout.write(`${sent}\n`);

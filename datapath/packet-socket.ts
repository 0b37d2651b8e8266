// One AF_PACKET socket bound to one Linux interface, with PACKET_VNET_HDR: every frame read or written
// carries a 10-byte virtio_net_hdr first, so the kernel finishes checksums and segments 64 KB GSO
// frames for us (without it, veth's unfinished TCP checksums make TCP hang). Frames move in batches:
// recvmmsg and sendmmsg over fixed native buffers, so the hot loop allocates nothing.
import {
  AF_PACKET, EAGAIN, EINTR, ETH_P_ALL_BE, IOVEC_SIZE, MMSGHDR_SIZE, MMSG_LEN, MSGHDR_IOV, MSGHDR_IOVLEN,
  MSG_DONTWAIT, NativeBuffer, PACKET_ADD_MEMBERSHIP, PACKET_IGNORE_OUTGOING, PACKET_MR_PROMISC,
  PACKET_MREQ_SIZE, PACKET_STATISTICS, PACKET_VNET_HDR, SOCKADDR_LL_SIZE, SOCK_CLOEXEC, SOCK_NONBLOCK,
  SOCK_RAW, SOL_PACKET, SOL_SOCKET, SO_RCVBUF, SO_SNDBUF, libc,
} from './libc.js';

export const VNET_HDR_LEN = 10;
/** A frame plus its virtio_net_hdr: the largest GSO frame veth hands over is 64 KB. */
export const RX_SLOT = 65_552;
export const BATCH = 64;
const TX_BYTES = 2 * 1024 * 1024;

export type OpenResult = { ok: true; socket: PacketSocket } | { ok: false; errno: number; message: string };

/** Receive ring shared by every socket of a thread: a batch is copied out before the next recv. */
export class RxRing {
  readonly data: NativeBuffer;
  readonly hdrs: NativeBuffer;
  readonly iovs: NativeBuffer;

  constructor(readonly slots = BATCH) {
    this.data = new NativeBuffer(slots * RX_SLOT);
    this.hdrs = new NativeBuffer(slots * MMSGHDR_SIZE);
    this.iovs = new NativeBuffer(slots * IOVEC_SIZE);
    for (let i = 0; i < slots; i++) {
      this.iovs.view.setBigUint64(i * IOVEC_SIZE, this.data.address + BigInt(i * RX_SLOT), true);
      this.iovs.view.setBigUint64(i * IOVEC_SIZE + 8, BigInt(RX_SLOT), true);
      this.hdrs.view.setBigUint64(i * MMSGHDR_SIZE + MSGHDR_IOV, this.iovs.address + BigInt(i * IOVEC_SIZE), true);
      this.hdrs.view.setBigUint64(i * MMSGHDR_SIZE + MSGHDR_IOVLEN, 1n, true);
    }
  }

  /** Offset in `data.bytes` of slot i (its vnet header; the frame follows). */
  slotOffset(i: number): number { return i * RX_SLOT; }
  /** Bytes received in slot i, vnet header included. */
  length(i: number): number { return this.hdrs.view.getUint32(i * MMSGHDR_SIZE + MMSG_LEN, true); }
}

/** Transmit staging: frames (with their vnet header) back to back, one iovec each. */
export class TxRing {
  readonly data = new NativeBuffer(TX_BYTES);
  readonly hdrs = new NativeBuffer(BATCH * MMSGHDR_SIZE);
  readonly iovs = new NativeBuffer(BATCH * IOVEC_SIZE);
  count = 0;
  used = 0;
  /** Frame length (vnet header excluded) per slot, for counting what a failed send lost. */
  private readonly lens = new Int32Array(BATCH);

  constructor() {
    for (let i = 0; i < BATCH; i++) {
      this.hdrs.view.setBigUint64(i * MMSGHDR_SIZE + MSGHDR_IOV, this.iovs.address + BigInt(i * IOVEC_SIZE), true);
      this.hdrs.view.setBigUint64(i * MMSGHDR_SIZE + MSGHDR_IOVLEN, 1n, true);
    }
  }

  /** Room for a frame of `len` bytes (vnet header added)? */
  fits(len: number): boolean { return this.count < BATCH && this.used + VNET_HDR_LEN + len <= TX_BYTES; }

  /** The data buffer's address as two 32-bit halves: BigInt arithmetic per frame would allocate. */
  private readonly addrLo = Number(this.data.address & 0xffffffffn);
  private readonly addrHi = Number(this.data.address >> 32n);

  /** Reserves a slot; returns the offset in data.bytes where the vnet header goes (the frame follows). */
  reserve(len: number): number {
    const off = this.used;
    const i = this.count++;
    const v = this.iovs.view;
    const lo = this.addrLo + off;
    const carry = lo >= 0x100000000 ? 1 : 0;
    v.setUint32(i * IOVEC_SIZE, lo - carry * 0x100000000, true);
    v.setUint32(i * IOVEC_SIZE + 4, this.addrHi + carry, true);
    v.setUint32(i * IOVEC_SIZE + 8, VNET_HDR_LEN + len, true);
    v.setUint32(i * IOVEC_SIZE + 12, 0, true);
    this.used = off + VNET_HDR_LEN + len;
    this.lens[i] = len;
    return off;
  }

  length(i: number): number { return this.lens[i]!; }

  reset(): void { this.count = 0; this.used = 0; }
}

export class PacketSocket {
  private closed = false;

  private constructor(readonly fd: number, readonly ifindex: number, readonly interfaceName: string) {}

  static open(interfaceName: string): OpenResult {
    const c = libc();
    const ifindex = c.if_nametoindex(interfaceName);
    if (ifindex === 0) return { ok: false, errno: c.errno(), message: `no interface ${interfaceName}` };
    const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, ETH_P_ALL_BE);
    if (fd < 0) { const e = c.errno(); return { ok: false, errno: e, message: `socket(AF_PACKET): ${c.strerror(e)}` }; }
    const fail = (what: string): OpenResult => { const e = c.errno(); c.close(fd); return { ok: false, errno: e, message: `${what} on ${interfaceName}: ${c.strerror(e)}` }; };
    const one = new Uint8Array(new Int32Array([1]).buffer);
    // The vnet header must be asked for before bind, while the socket has no ring or traffic yet.
    if (c.setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, one, 4) !== 0) return fail('PACKET_VNET_HDR');
    // Our own transmissions would otherwise come back as receptions and loop through the simulation.
    if (c.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one, 4) !== 0) return fail('PACKET_IGNORE_OUTGOING');
    const buf = new Uint8Array(new Int32Array([4 * 1024 * 1024]).buffer);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, buf, 4); // capped at rmem_max; best effort
    c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, buf, 4);
    const sll = new Uint8Array(SOCKADDR_LL_SIZE);
    const dv = new DataView(sll.buffer);
    dv.setUint16(0, AF_PACKET, true);
    dv.setUint16(2, ETH_P_ALL_BE, true);
    dv.setInt32(4, ifindex, true);
    if (c.bind(fd, sll, SOCKADDR_LL_SIZE) !== 0) return fail('bind');
    // A bound port sees every frame on its wire, as an OVS datapath port does (veth would deliver
    // them anyway; a real NIC filters by MAC unless promiscuous).
    const mreq = new Uint8Array(PACKET_MREQ_SIZE);
    const mv = new DataView(mreq.buffer);
    mv.setInt32(0, ifindex, true);
    mv.setUint16(4, PACKET_MR_PROMISC, true);
    if (c.setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq, PACKET_MREQ_SIZE) !== 0) return fail('PACKET_ADD_MEMBERSHIP');
    return { ok: true, socket: new PacketSocket(fd, ifindex, interfaceName) };
  }

  /** Reads up to ring.slots frames; returns how many (0 when none are waiting), or -errno. */
  recv(ring: RxRing): number {
    if (this.closed) return 0;
    const c = libc();
    const n = c.recvmmsg(this.fd, ring.hdrs.ptr, ring.slots, MSG_DONTWAIT, null);
    if (n >= 0) return n;
    const e = c.errno();
    return e === EAGAIN || e === EINTR ? 0 : -e;
  }

  /**
   * Sends what `tx` holds; returns frames the kernel took. A frame it refuses (EMSGSIZE, ENOBUFS, a
   * downed link) is skipped and counted by the caller as a drop: the rest still go.
   */
  send(tx: TxRing, onError: (errno: number, index: number) => void): number {
    if (this.closed || tx.count === 0) return 0;
    const c = libc();
    let sent = 0;
    let from = 0;
    while (from < tx.count) {
      const ptr = from === 0 ? tx.hdrs.ptr : tx.hdrs.bytes.subarray(from * MMSGHDR_SIZE);
      const n = c.sendmmsg(this.fd, ptr, tx.count - from, MSG_DONTWAIT);
      if (n > 0) { sent += n; from += n; continue; }
      // The first message of what is left failed: count it and go on with the next.
      onError(n < 0 ? c.errno() : EAGAIN, from);
      from++;
    }
    return sent;
  }

  /** Kernel drops on this socket since the last call (its receive queue overflowed). */
  kernelDrops(): number {
    const c = libc();
    const st = new Uint8Array(8);
    const len = new Uint32Array([8]);
    if (c.getsockopt(this.fd, SOL_PACKET, PACKET_STATISTICS, st, len) !== 0) return 0;
    return new DataView(st.buffer).getUint32(4, true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc().close(this.fd);
  }
}

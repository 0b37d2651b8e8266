// The few libc calls the datapath makes, through koffi (a prebuilt FFI: no compiler, no download).
// Struct layouts are written by hand into byte buffers; they hold for LP64 Linux on x86_64 and
// aarch64 only, so any other architecture is refused up front with a message rather than corrupting
// memory later.
import { arch, platform } from 'node:process';
import koffi from 'koffi';

export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
/** htons(ETH_P_ALL): every protocol. */
export const ETH_P_ALL_BE = 0x0300;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SOL_PACKET = 263;
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_MR_PROMISC = 1;
export const PACKET_STATISTICS = 6;
export const PACKET_VNET_HDR = 15;
export const PACKET_IGNORE_OUTGOING = 23;
export const MSG_DONTWAIT = 0x40;
export const EAGAIN = 11;
export const EINTR = 4;
export const ENOBUFS = 105;
export const EPERM = 1;
export const EACCES = 13;
export const ENXIO = 6;
export const ENODEV = 19;
export const ENETDOWN = 100;

/** struct iovec { void *base; size_t len; } */
export const IOVEC_SIZE = 16;
/** struct mmsghdr { struct msghdr (56 bytes); unsigned int msg_len; } padded to 64. */
export const MMSGHDR_SIZE = 64;
export const MSGHDR_IOV = 16;
export const MSGHDR_IOVLEN = 24;
export const MMSG_LEN = 56;
/** struct sockaddr_ll: family, protocol, ifindex, hatype, pkttype, halen, addr[8]. */
export const SOCKADDR_LL_SIZE = 20;
/** struct packet_mreq: ifindex, type, alen, address[8]. */
export const PACKET_MREQ_SIZE = 16;

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, len: Uint32Array): number;
  recvmmsg(fd: number, msgs: unknown, vlen: number, flags: number, timeout: null): number;
  sendmmsg(fd: number, msgs: unknown, vlen: number, flags: number): number;
  close(fd: number): number;
  if_nametoindex(name: string): number;
  errno(): number;
  strerror(errno: number): string;
}

let lib: Libc | null = null;

/** Why the datapath cannot run here at all (wrong architecture or OS), or null. */
export function unsupportedPlatform(): string | null {
  if (platform !== 'linux') return `the live datapath needs Linux (AF_PACKET); this is ${platform}`;
  if (arch !== 'x64' && arch !== 'arm64') {
    return `the live datapath's struct layouts (msghdr, mmsghdr, sockaddr_ll) are checked for x86_64 and aarch64 only; this is ${arch}`;
  }
  return null;
}

/** Binds libc once per thread. Throws with a message on an unsupported platform. */
export function libc(): Libc {
  if (lib !== null) return lib;
  const why = unsupportedPlatform();
  if (why !== null) throw new Error(why);
  const c = koffi.load('libc.so.6');
  const strerror = c.func('const char *strerror(int)') as (e: number) => string;
  lib = {
    socket: c.func('int socket(int, int, int)') as Libc['socket'],
    bind: c.func('int bind(int, void *, uint32_t)') as Libc['bind'],
    setsockopt: c.func('int setsockopt(int, int, int, void *, uint32_t)') as Libc['setsockopt'],
    getsockopt: c.func('int getsockopt(int, int, int, void *, void *)') as Libc['getsockopt'],
    recvmmsg: c.func('int recvmmsg(int, void *, unsigned int, int, void *)') as Libc['recvmmsg'],
    sendmmsg: c.func('int sendmmsg(int, void *, unsigned int, int)') as Libc['sendmmsg'],
    close: c.func('int close(int)') as Libc['close'],
    if_nametoindex: c.func('unsigned int if_nametoindex(const char *)') as Libc['if_nametoindex'],
    errno: () => koffi.errno(),
    strerror: (e) => strerror(e),
  };
  return lib;
}

/**
 * Native memory that never moves and is never collected while this object lives: the pointers inside
 * a msghdr must point at memory the JS heap cannot reclaim (STACK.md: a Buffer referenced only from a
 * native pointer can be collected). `bytes` views it from JS; `address` is its numeric address.
 */
export class NativeBuffer {
  readonly ptr: unknown;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly address: bigint;

  constructor(readonly size: number) {
    this.ptr = koffi.alloc('uint8_t', size);
    const ab = koffi.view(this.ptr, size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.address = koffi.address(this.ptr);
  }

  free(): void { koffi.free(this.ptr); }
}

/** Puts a non-blocking fd on this thread's event loop. */
export function pollReadable(fd: number, cb: () => void): { close(): void } {
  // koffi 3.3 hands the callback a status number, not the typed events object: any call means "look".
  const h = koffi.node.poll(fd, { readable: true }, () => cb());
  return { close: () => h.close() };
}

// Packets waiting for a next hop's MAC (Midolman's WaitingRoom for a NotYetException on ARP): held
// per next hop, bounded, simulated again when an ARP reply may have taught the router the MAC, and
// given up (then answered ICMP host unreachable by the simulation) when the ARP times out.

export interface HeldPacket {
  portId: string;
  frame: Uint8Array;
  gsoType: number;
  gsoSize: number;
  /** When the packet was first held (a re-held packet keeps it, so the timeout is from the first try). */
  since: number;
}

interface Queue { nextHop: number; packets: HeldPacket[]; lastTry: number }

export class ArpHold {
  private readonly queues = new Map<string, Queue>();
  private held = 0;

  constructor(readonly perNextHop: number, readonly retryMs: number, readonly timeoutMs: number) {}

  get size(): number { return this.held; }

  /** Holds a packet for router `routerId`'s next hop; false when that next hop's queue is full. */
  add(routerId: string, nextHop: number, p: HeldPacket, now: number): boolean {
    const key = `${routerId}/${nextHop}`;
    let q = this.queues.get(key);
    if (q === undefined) { q = { nextHop, packets: [], lastTry: now }; this.queues.set(key, q); }
    if (q.packets.length >= this.perNextHop) return false;
    q.packets.push(p);
    this.held++;
    return true;
  }

  /**
   * The packets waiting for `ip`: an ARP frame from it went through the simulation, which may have
   * taught a router its MAC, so they are simulated again (and held again if not).
   */
  takeFor(ip: number): HeldPacket[] | null {
    let out: HeldPacket[] | null = null;
    for (const [key, q] of this.queues) {
      if (q.nextHop !== ip) continue;
      out ??= [];
      for (const p of q.packets) out.push(p);
      this.held -= q.packets.length;
      this.queues.delete(key);
    }
    return out;
  }

  /** Everything held (shutdown). */
  clear(): void { this.queues.clear(); this.held = 0; }

  /**
   * Due work at `now`: packets past the timeout (to be simulated without holding, which answers
   * 3/1), and per next hop whose retry interval passed, its first packet (simulating it again sends
   * the router's ARP request again).
   */
  tick(now: number): { expired: HeldPacket[]; retry: HeldPacket[] } {
    const expired: HeldPacket[] = [];
    const retry: HeldPacket[] = [];
    for (const [key, q] of this.queues) {
      const keep: HeldPacket[] = [];
      for (const p of q.packets) (now - p.since >= this.timeoutMs ? expired : keep).push(p);
      if (keep.length > 0 && now - q.lastTry >= this.retryMs) {
        retry.push(keep.shift()!);
        q.lastTry = now;
      }
      this.held -= q.packets.length - keep.length;
      if (keep.length === 0) this.queues.delete(key);
      else q.packets = keep;
    }
    return { expired, retry };
  }
}

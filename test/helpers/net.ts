// A small builder so a scenario reads like the network it describes: names in, SPEC §2 document out.
// Ids are derived from names, so a test can refer to `n.id('vm1')` without bookkeeping.
import { createHash } from 'node:crypto';
import type { ChainJson, PortJson, RouteJson, RuleJson, TopologyDoc } from '../../model/topology/doc.js';

export function uuidFor(name: string): string {
  const h = createHash('sha1').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class Net {
  readonly doc: Required<Omit<TopologyDoc, 'tunnelZones'>> & Pick<TopologyDoc, 'tunnelZones'> = { bridges: [], routers: [], ports: [], routes: [], chains: [], portGroups: [], ipAddrGroups: [] };

  id(name: string): string { return uuidFor(name); }

  bridge(name: string, extra: Record<string, unknown> = {}): this {
    this.doc.bridges.push({ id: this.id(name), name, ...extra });
    return this;
  }

  router(name: string, extra: Record<string, unknown> = {}): this {
    this.doc.routers.push({ id: this.id(name), name, ...extra });
    return this;
  }

  /** An exterior (or, with peer set later, interior) port on a bridge. */
  port(device: string, name: string, extra: Partial<PortJson> = {}): this {
    this.doc.ports.push({ id: this.id(name), name, deviceId: this.id(device), ...extra });
    return this;
  }

  /** A router port `addr/len` with MAC `mac`; exterior unless linked. */
  routerPort(router: string, name: string, cidr: string, mac: string, extra: Partial<PortJson> = {}): this {
    const [addr, len] = cidr.split('/') as [string, string];
    const l = Number(len);
    const net = networkOf(addr, l);
    this.doc.ports.push({
      id: this.id(name), name, deviceId: this.id(router),
      portAddress: addr, networkAddress: net, networkLength: l, portMac: mac, ...extra,
    });
    return this;
  }

  link(a: string, b: string): this {
    const pa = this.findPort(a);
    const pb = this.findPort(b);
    pa.peerId = pb.id;
    pb.peerId = pa.id;
    return this;
  }

  /** Router `router` gets port `<router>-<bridge>` at cidr, linked to a new port on `bridge`. */
  attach(router: string, bridge: string, cidr: string, mac: string): this {
    const rp = `${router}-${bridge}`;
    const bp = `${bridge}-${router}`;
    this.routerPort(router, rp, cidr, mac).port(bridge, bp).link(rp, bp);
    return this;
  }

  route(router: string, dst: string, r: Partial<RouteJson> & { via?: string } = {}): this {
    const [addr, len] = dst.split('/') as [string, string];
    const { via, ...rest } = r;
    this.doc.routes.push({
      id: this.id(`route:${router}:${dst}:${this.doc.routes.length}`), routerId: this.id(router),
      dstNetworkAddr: addr, dstNetworkLength: Number(len),
      ...(via !== undefined ? { nextHopPort: this.id(via) } : {}), ...rest,
    });
    return this;
  }

  chain(name: string, rules: (Omit<RuleJson, 'id'> & { id?: string })[]): this {
    const chain: ChainJson = {
      id: this.id(name), name,
      rules: rules.map((r, i) => ({ ...r, id: r.id ?? this.id(`${name}#${i}`) }) as RuleJson),
    };
    this.doc.chains.push(chain);
    return this;
  }

  portGroup(name: string, ports: string[]): this {
    this.doc.portGroups.push({ id: this.id(name), name, portIds: ports.map((p) => this.id(p)) });
    return this;
  }

  set(kind: 'bridges' | 'routers' | 'ports', name: string, fields: Record<string, unknown>): this {
    const list = this.doc[kind] as { id: string }[];
    const o = list.find((x) => x.id === this.id(name));
    if (!o) throw new Error(`no ${kind} named ${name}`);
    Object.assign(o, fields);
    return this;
  }

  private findPort(name: string): PortJson {
    const p = this.doc.ports.find((x) => x.id === this.id(name));
    if (!p) throw new Error(`no port named ${name}`);
    return p;
  }
}

function networkOf(addr: string, len: number): string {
  const n = addr.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (n & mask) >>> 0;
  return [net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255].join('.');
}

/** SPEC §3 packet JSON builders. */
export const pk = {
  udp(ethSrc: string, ethDst: string, nwSrc: string, nwDst: string, extra: Record<string, unknown> = {}) {
    return { ethSrc, ethDst, nwSrc, nwDst, nwProto: 'udp', tpSrc: 40000, tpDst: 53, ...extra };
  },
  tcp(ethSrc: string, ethDst: string, nwSrc: string, nwDst: string, extra: Record<string, unknown> = {}) {
    return { ethSrc, ethDst, nwSrc, nwDst, nwProto: 'tcp', tpSrc: 40000, tpDst: 80, ...extra };
  },
  ping(ethSrc: string, ethDst: string, nwSrc: string, nwDst: string, extra: Record<string, unknown> = {}) {
    return { ethSrc, ethDst, nwSrc, nwDst, nwProto: 'icmp', icmpType: 8, icmpCode: 0, icmpId: 7, ...extra };
  },
  arpRequest(sha: string, spa: string, tpa: string, extra: Record<string, unknown> = {}) {
    return { ethSrc: sha, ethDst: 'ff:ff:ff:ff:ff:ff', arp: { op: 1, sha, spa, tha: '00:00:00:00:00:00', tpa }, ...extra };
  },
};

/**
 * Hex of an Ethernet frame holding ICMP error type/code from nwSrc to nwDst that quotes the IPv4
 * header and first 8 payload bytes of `aboutFrame` (hex of an untagged frame, e.g. an emitted one), as
 * a host on the far side would send it. SPEC §3 packet JSON has no field for the quoted datagram.
 */
export function icmpErrorFrame(ethSrc: string, ethDst: string, nwSrc: string, nwDst: string, type: number, code: number, aboutFrame: string): string {
  const about = Buffer.from(aboutFrame, 'hex');
  const ihl = (about[14]! & 0x0f) * 4;
  const quoted = about.subarray(14, 14 + ihl + 8);
  const icmp = Buffer.concat([Buffer.from([type, code, 0, 0, 0, 0, 0, 0]), quoted]);
  icmp.writeUInt16BE(inetChecksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45; ip.writeUInt16BE(20 + icmp.length, 2); ip[8] = 64; ip[9] = 1;
  Buffer.from(nwSrc.split('.').map(Number)).copy(ip, 12);
  Buffer.from(nwDst.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  const mac = (m: string): Buffer => Buffer.from(m.replace(/:/g, ''), 'hex');
  return Buffer.concat([mac(ethDst), mac(ethSrc), Buffer.from([0x08, 0x00]), ip, icmp]).toString('hex');
}

/** The datagram an ICMP error frame (hex, untagged) quotes: its addresses and first two L4 words. */
export function quotedOf(frame: string): { nwSrc: string; nwDst: string; nwProto: number; tpSrc: number; tpDst: number } {
  const b = Buffer.from(frame, 'hex');
  const q = 14 + (b[14]! & 0x0f) * 4 + 8;
  const ihl = (b[q]! & 0x0f) * 4;
  const ip = (o: number): string => [...b.subarray(o, o + 4)].join('.');
  return { nwSrc: ip(q + 12), nwDst: ip(q + 16), nwProto: b[q + 9]!, tpSrc: b.readUInt16BE(q + ihl), tpDst: b.readUInt16BE(q + ihl + 2) };
}

function inetChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

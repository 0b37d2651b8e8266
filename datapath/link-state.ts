// Where a bound interface stands, read from sysfs (cheap enough to poll every half second for a
// handful of ports, and it needs no netlink socket): missing, down (administratively or no carrier),
// or up. The ifindex tells a re-created interface from the one a socket was bound to.
import { readFileSync } from 'node:fs';
import type { PortState } from './types.js';

export interface LinkInfo { state: PortState; ifindex: number }

export function linkInfo(name: string): LinkInfo {
  // A name with a slash or dots could walk out of /sys/class/net; such an interface cannot exist.
  if (name === '' || name.includes('/') || name === '.' || name === '..') return { state: 'missing', ifindex: 0 };
  let ifindex: number;
  let oper: string;
  let flags: number;
  try {
    ifindex = Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'));
    oper = readFileSync(`/sys/class/net/${name}/operstate`, 'utf8').trim();
    flags = Number(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'));
  } catch {
    return { state: 'missing', ifindex: 0 };
  }
  // IFF_UP, and a carrier: "unknown" is what taps and some drivers report while working.
  const up = (flags & 1) !== 0 && (oper === 'up' || oper === 'unknown');
  return { state: up ? 'up' : 'down', ifindex };
}

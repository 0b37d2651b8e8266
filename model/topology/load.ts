// Validates a topology document: first its shape (schema.ts), then what only the whole document can
// tell — unique ids, references that resolve to the right kind of object, peers that link back,
// per-type requirements and address sanity. Every error names the JSON path of the offending field.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { inPrefix, ipToString, isMulticastMac, parseIp, parseMac, prefixMask } from '../addr.js';
import type { ConditionJson, TopologyDoc } from './doc.js';
import { TopologyDocSchema } from './schema.js';

export interface TopologyError { path: string; message: string }
export type LoadResult = { ok: true; doc: TopologyDoc } | { ok: false; errors: TopologyError[] };

/** `['ports', 3, 'peerId']` → `ports[3].peerId`; the document root is the empty string. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) {
    if (typeof k === 'number') s += `[${k}]`;
    else s += s === '' ? String(k) : `.${String(k)}`;
  }
  return s;
}

/** One line per error, `path: message` (or just the message at the root). */
export function formatErrors(errors: readonly TopologyError[]): string {
  return errors.map((e) => (e.path === '' ? e.message : `${e.path}: ${e.message}`)).join('\n');
}

export function zodErrors(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): TopologyError[] {
  const out: TopologyError[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...path, key]), message: `unknown field "${key}"` });
    } else {
      out.push({ path: formatPath(path), message: issue.message });
    }
  }
  return out;
}

export function loadTopology(json: unknown): LoadResult {
  const parsed = TopologyDocSchema.safeParse(json);
  if (!parsed.success) return { ok: false, errors: zodErrors(parsed.error.issues) };
  const errors = checkDocument(parsed.data);
  return errors.length === 0 ? { ok: true, doc: parsed.data } : { ok: false, errors };
}

/** Reads and validates a topology file. Synchronous: it runs once at startup or on import. */
export function readTopologyFile(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `cannot read ${path}: ${(e as Error).message}` }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `${path} is not valid JSON: ${(e as Error).message}` }] };
  }
  return loadTopology(json);
}

export type IdKind = 'bridge' | 'router' | 'port' | 'route' | 'chain' | 'rule' | 'portGroup' | 'ipAddrGroup' | 'tunnelZone';
type Kind = IdKind;
type ErrFn = (path: string, message: string) => void;
type RefFn = (path: string, id: string | undefined, want: readonly Kind[], what: string) => boolean;

/** A reference checker: reports when `id` is not one of `want` and returns whether it resolved. */
function refChecker(kindOf: (id: string) => Kind | undefined, err: ErrFn): RefFn {
  return (path, id, want, what) => {
    if (id === undefined) return false;
    const k = kindOf(id);
    if (k === undefined) { err(path, `${what} ${id} does not exist`); return false; }
    if (!want.includes(k)) { err(path, `${id} is a ${k}, not a ${what}`); return false; }
    return true;
  };
}

const NAT_TYPES = new Set(['dnat', 'snat', 'rev_dnat', 'rev_snat']);

/** Semantic checks on a document whose shape is already valid. */
export function checkDocument(doc: TopologyDoc): TopologyError[] {
  const errors: TopologyError[] = [];
  const err: ErrFn = (path, message) => { errors.push({ path, message }); };
  const kinds = new Map<string, { kind: Kind; path: string }>();
  const declare = (id: string, kind: Kind, path: string): void => {
    const seen = kinds.get(id);
    if (seen) err(`${path}.id`, `duplicate id ${id} (already used by ${seen.path})`);
    else kinds.set(id, { kind, path });
  };
  (doc.bridges ?? []).forEach((b, i) => declare(b.id, 'bridge', `bridges[${i}]`));
  (doc.routers ?? []).forEach((r, i) => declare(r.id, 'router', `routers[${i}]`));
  (doc.ports ?? []).forEach((p, i) => declare(p.id, 'port', `ports[${i}]`));
  (doc.routes ?? []).forEach((r, i) => declare(r.id, 'route', `routes[${i}]`));
  (doc.chains ?? []).forEach((c, i) => declare(c.id, 'chain', `chains[${i}]`));
  (doc.chains ?? []).forEach((c, i) => (c.rules ?? []).forEach((r, j) => declare(r.id, 'rule', `chains[${i}].rules[${j}]`)));
  (doc.portGroups ?? []).forEach((g, i) => declare(g.id, 'portGroup', `portGroups[${i}]`));
  (doc.ipAddrGroups ?? []).forEach((g, i) => declare(g.id, 'ipAddrGroup', `ipAddrGroups[${i}]`));
  (doc.tunnelZones ?? []).forEach((z, i) => {
    declare(z.id, 'tunnelZone', `tunnelZones[${i}]`);
    // One address per host and one host per address: a frame for a host must have one place to go.
    const hosts = new Map<string, number>();
    const addrs = new Map<string, number>();
    (z.hosts ?? []).forEach((h, j) => {
      const hostId = h.hostId.toLowerCase();
      if (hosts.has(hostId)) err(`tunnelZones[${i}].hosts[${j}].hostId`, `host ${h.hostId} is already in this zone (hosts[${hosts.get(hostId)}])`);
      else hosts.set(hostId, j);
      if (addrs.has(h.ipAddress)) err(`tunnelZones[${i}].hosts[${j}].ipAddress`, `${h.ipAddress} is already the address of hosts[${addrs.get(h.ipAddress)}]`);
      else addrs.set(h.ipAddress, j);
    });
  });

  const kindOf = (id: string): Kind | undefined => kinds.get(id)?.kind;
  const ref = refChecker(kindOf, err);
  const ports = new Map((doc.ports ?? []).map((p) => [p.id, p]));

  const checkDevice = (d: { inboundFilterId?: string; outboundFilterId?: string; arpTable?: { mac: string }[] }, path: string): void => {
    ref(`${path}.inboundFilterId`, d.inboundFilterId, ['chain'], 'chain');
    ref(`${path}.outboundFilterId`, d.outboundFilterId, ['chain'], 'chain');
    (d.arpTable ?? []).forEach((e, i) => {
      if (isMulticastMac(parseMac(e.mac))) err(`${path}.arpTable[${i}].mac`, `${e.mac} is a multicast MAC`);
    });
  };
  (doc.bridges ?? []).forEach((b, i) => checkDevice(b, `bridges[${i}]`));
  (doc.routers ?? []).forEach((r, i) => checkDevice(r, `routers[${i}]`));

  (doc.ports ?? []).forEach((p, i) => {
    const path = `ports[${i}]`;
    ref(`${path}.inboundFilterId`, p.inboundFilterId, ['chain'], 'chain');
    ref(`${path}.outboundFilterId`, p.outboundFilterId, ['chain'], 'chain');
    if (ref(`${path}.peerId`, p.peerId, ['port'], 'port')) {
      const peer = ports.get(p.peerId!)!;
      if (p.peerId === p.id) err(`${path}.peerId`, 'a port cannot be its own peer');
      else if (peer.peerId !== p.id) err(`${path}.peerId`, `peer port ${p.peerId} does not link back (its peerId is ${peer.peerId ?? 'unset'})`);
    }
    if (!ref(`${path}.deviceId`, p.deviceId, ['bridge', 'router'], 'bridge or router')) return;
    if (kindOf(p.deviceId) === 'router') {
      for (const f of ['portAddress', 'networkAddress', 'networkLength', 'portMac'] as const) {
        if (p[f] === undefined) err(`${path}.${f}`, `router port needs ${f}`);
      }
      if (p.vlanId !== undefined) err(`${path}.vlanId`, 'only bridge ports carry a vlanId');
      if (p.portMac !== undefined && isMulticastMac(parseMac(p.portMac))) err(`${path}.portMac`, `${p.portMac} is a multicast MAC`);
      if (p.networkAddress !== undefined && p.networkLength !== undefined) {
        checkNetwork(err, `${path}.networkAddress`, p.networkAddress, p.networkLength);
        if (p.portAddress !== undefined && !inPrefix(parseIp(p.portAddress), parseIp(p.networkAddress), p.networkLength)) {
          err(`${path}.portAddress`, `${p.portAddress} is outside the port network ${p.networkAddress}/${p.networkLength}`);
        }
      }
    } else {
      for (const f of ['portAddress', 'networkAddress', 'networkLength', 'portMac'] as const) {
        if (p[f] !== undefined) err(`${path}.${f}`, `${f} applies to router ports only`);
      }
      if (p.vlanId !== undefined && p.peerId === undefined) err(`${path}.vlanId`, 'vlanId applies to interior (peered) bridge ports only');
    }
  });

  (doc.routes ?? []).forEach((r, i) => {
    const path = `routes[${i}]`;
    ref(`${path}.routerId`, r.routerId, ['router'], 'router');
    checkNetwork(err, `${path}.dstNetworkAddr`, r.dstNetworkAddr, r.dstNetworkLength);
    if (r.srcNetworkAddr !== undefined) checkNetwork(err, `${path}.srcNetworkAddr`, r.srcNetworkAddr, r.srcNetworkLength ?? 0);
    if ((r.type ?? 'normal') === 'normal') {
      if (r.nextHopPort === undefined) err(`${path}.nextHopPort`, 'a normal route needs nextHopPort');
    } else if (r.nextHopPort !== undefined) {
      err(`${path}.nextHopPort`, `a ${r.type} route has no next hop port`);
    }
    if (ref(`${path}.nextHopPort`, r.nextHopPort, ['port'], 'port')) {
      const port = ports.get(r.nextHopPort!)!;
      if (port.deviceId !== r.routerId) err(`${path}.nextHopPort`, `port ${r.nextHopPort} does not belong to router ${r.routerId}`);
    }
  });

  (doc.chains ?? []).forEach((c, i) => (c.rules ?? []).forEach((r, j) => {
    const path = `chains[${i}].rules[${j}]`;
    conditionChecks(r, path, ref, err);
    if (r.type === 'jump') {
      if (r.jumpChainId === undefined) err(`${path}.jumpChainId`, 'a jump rule needs jumpChainId');
      else if (ref(`${path}.jumpChainId`, r.jumpChainId, ['chain'], 'chain') && r.jumpChainId === c.id) {
        err(`${path}.jumpChainId`, 'a chain cannot jump to itself');
      }
    } else if (r.jumpChainId !== undefined) err(`${path}.jumpChainId`, `jumpChainId applies to jump rules only, not ${r.type}`);
    if (r.type === 'dnat' || r.type === 'snat') {
      if (r.natTargets === undefined || r.natTargets.length === 0) err(`${path}.natTargets`, `a ${r.type} rule needs at least one natTargets entry`);
    } else if (r.natTargets !== undefined) err(`${path}.natTargets`, `natTargets applies to dnat and snat rules only, not ${r.type}`);
    if (r.flowAction !== undefined && !NAT_TYPES.has(r.type)) err(`${path}.flowAction`, `flowAction applies to NAT rules only, not ${r.type}`);
    (r.natTargets ?? []).forEach((t, k) => {
      const tp = `${path}.natTargets[${k}]`;
      if (parseIp(t.addressFrom) > parseIp(t.addressTo)) err(`${tp}.addressTo`, `addressTo ${t.addressTo} is below addressFrom ${t.addressFrom}`);
      if (t.portTo !== undefined && t.portFrom === undefined) err(`${tp}.portFrom`, 'portTo needs portFrom');
      if (t.portFrom !== undefined && t.portTo !== undefined && t.portFrom > t.portTo) err(`${tp}.portTo`, `portTo ${t.portTo} is below portFrom ${t.portFrom}`);
    });
  }));

  (doc.portGroups ?? []).forEach((g, i) => (g.portIds ?? []).forEach((id, j) => {
    ref(`portGroups[${i}].portIds[${j}]`, id, ['port'], 'port');
  }));
  return errors;
}

/**
 * References and field pairing of a CONDITION, for trace conditions checked against a loaded topology
 * (`kindOf` says what an id names, undefined when nothing). `path` prefixes every error path.
 */
export function checkCondition(c: ConditionJson, path: string, kindOf: (id: string) => IdKind | undefined): TopologyError[] {
  const errors: TopologyError[] = [];
  const err: ErrFn = (p, message) => { errors.push({ path: p, message }); };
  conditionChecks(c, path, refChecker(kindOf, err), err);
  return errors;
}

function conditionChecks(c: ConditionJson, path: string, ref: RefFn, err: ErrFn): void {
  (c.inPorts ?? []).forEach((id, k) => ref(`${path}.inPorts[${k}]`, id, ['port'], 'port'));
  (c.outPorts ?? []).forEach((id, k) => ref(`${path}.outPorts[${k}]`, id, ['port'], 'port'));
  ref(`${path}.portGroup`, c.portGroup, ['portGroup'], 'port group');
  ref(`${path}.inPortGroup`, c.inPortGroup, ['portGroup'], 'port group');
  ref(`${path}.outPortGroup`, c.outPortGroup, ['portGroup'], 'port group');
  ref(`${path}.ipAddrGroupSrc`, c.ipAddrGroupSrc, ['ipAddrGroup'], 'IP address group');
  ref(`${path}.ipAddrGroupDst`, c.ipAddrGroupDst, ['ipAddrGroup'], 'IP address group');
  ref(`${path}.traversedDevice`, c.traversedDevice, ['bridge', 'router', 'port'], 'bridge, router or port');
  if (c.nwSrcLength !== undefined && c.nwSrcAddress === undefined) err(`${path}.nwSrcLength`, 'nwSrcLength needs nwSrcAddress');
  if (c.nwDstLength !== undefined && c.nwDstAddress === undefined) err(`${path}.nwDstLength`, 'nwDstLength needs nwDstAddress');
  if (c.dlSrcMask !== undefined && c.dlSrc === undefined) err(`${path}.dlSrcMask`, 'dlSrcMask needs dlSrc');
  if (c.dlDstMask !== undefined && c.dlDst === undefined) err(`${path}.dlDstMask`, 'dlDstMask needs dlDst');
}

/** A network address must have no bits set past its prefix length (10.0.0.0/24, not 10.0.0.5/24). */
function checkNetwork(err: ErrFn, path: string, addr: string, len: number): void {
  const ip = parseIp(addr);
  if (((ip & ~prefixMask(len)) >>> 0) !== 0) {
    err(path, `${addr}/${len} has host bits set (the network is ${ipToString((ip & prefixMask(len)) >>> 0)}/${len})`);
  }
}


// What the API makes of a trace condition a client sent, after the schema accepted its shape: one
// spelling per value (UUIDs and MACs lower-case, names trimmed), the server's own creation time, the
// `enabled` default written out, and the checks a shape cannot express (a prefix length needs its
// address, a prefix has no host bits, a scope names something that exists). Stored conditions are
// compared and matched as strings, so `AA:BB:...` and `aa:bb:...` must not both reach a store.
import { ipToString, parseIp } from './addr.js';
import type { TraceConditionInput } from './condition-schema.js';
import type { TopologyDoc } from './topology/doc.js';
import type { TraceConditionJson, TraceDeviceType } from './trace.js';

/** Fields that hold one UUID, and those that hold a list of them. */
const UUID_FIELDS = ['id', 'deviceId', 'portGroup', 'inPortGroup', 'outPortGroup', 'ipAddrGroupSrc', 'ipAddrGroupDst', 'traversedDevice'] as const;
const UUID_LIST_FIELDS = ['inPorts', 'outPorts'] as const;
const MAC_FIELDS = ['dlSrc', 'dlDst', 'dlSrcMask', 'dlDstMask'] as const;

/** The kind of the device or port with this id in the running topology, or null when there is none. */
export type DeviceLookup = (id: string) => TraceDeviceType | null;

export type NormalizedCondition =
  | { ok: true; condition: Omit<TraceConditionJson, 'id'> & { id?: string } }
  | { ok: false; path: string; message: string };

/**
 * Normalises `c`. `lookup` is null when no topology is loaded yet (ZooKeeper not answering at
 * start): scopes are then taken as given, since refusing every condition would be worse.
 */
export function normalizeTraceCondition(input: TraceConditionInput, lookup: DeviceLookup | null): NormalizedCondition {
  // The creation time is the server's: a client's would let it reorder the list or fake an age.
  const { creationTimestampMs: _ignored, ...c } = input;
  const out: Record<string, unknown> = { ...c };
  for (const f of UUID_FIELDS) if (typeof c[f] === 'string') out[f] = c[f].toLowerCase();
  for (const f of UUID_LIST_FIELDS) if (c[f] !== undefined) out[f] = c[f].map((s) => s.toLowerCase());
  for (const f of MAC_FIELDS) if (typeof c[f] === 'string') out[f] = c[f].toLowerCase();
  if (c.name !== undefined) {
    const name = c.name.trim();
    if (name === '') return { ok: false, path: 'name', message: 'must not be empty or only spaces' };
    out.name = name;
  }
  out.enabled = c.enabled ?? true;

  for (const side of ['Src', 'Dst'] as const) {
    const address = c[`nw${side}Address`];
    const length = c[`nw${side}Length`];
    if (length !== undefined && address === undefined) {
      return { ok: false, path: `nw${side}Length`, message: `needs nw${side}Address: a prefix length alone matches nothing in particular` };
    }
    if (address !== undefined && length !== undefined && length < 32) {
      const ip = parseIp(address);
      const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
      const network = (ip & mask) >>> 0;
      if (network !== ip) {
        return { ok: false, path: `nw${side}Address`, message: `${address} has host bits set for /${length}; did you mean ${ipToString(network)}/${length}?` };
      }
    }
  }

  if (lookup !== null) {
    const deviceId = out.deviceId as string | undefined;
    if (c.deviceType !== undefined && deviceId !== undefined) {
      const kind = lookup(deviceId);
      if (kind === null) return { ok: false, path: 'deviceId', message: `no ${c.deviceType} ${deviceId} in the running topology` };
      if (kind !== c.deviceType) return { ok: false, path: 'deviceId', message: `${deviceId} is a ${kind}, not a ${c.deviceType}` };
    }
    for (const f of UUID_LIST_FIELDS) {
      const ids = out[f] as string[] | undefined;
      const i = ids?.findIndex((id) => lookup(id) !== 'port') ?? -1;
      if (i >= 0) return { ok: false, path: `${f}[${i}]`, message: `no port ${ids![i]} in the running topology` };
    }
  }
  return { ok: true, condition: out as Omit<TraceConditionJson, 'id'> & { id?: string } };
}

const lookups = new WeakMap<TopologyDoc, DeviceLookup>();

/** The DeviceLookup of a topology document, built once per document. */
export function deviceLookupOf(doc: TopologyDoc): DeviceLookup {
  let lookup = lookups.get(doc);
  if (lookup === undefined) {
    const kinds = new Map<string, TraceDeviceType>();
    for (const p of doc.ports ?? []) kinds.set(p.id.toLowerCase(), 'port');
    for (const b of doc.bridges ?? []) kinds.set(b.id.toLowerCase(), 'bridge');
    for (const r of doc.routers ?? []) kinds.set(r.id.toLowerCase(), 'router');
    lookup = (id) => kinds.get(id) ?? null;
    lookups.set(doc, lookup);
  }
  return lookup;
}

// Names where the condition form asks for ids (SPEC §7/P12: names are accepted wherever an id goes):
// before a condition is sent, a port, device or port-group field holding a name that exactly one
// object of the topology has becomes that object's id. Anything else is sent as typed, and the API's
// 400 names the field.
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The fields that hold ids of ports, devices or port groups. */
const ID_FIELDS = ['deviceId', 'portGroup', 'inPortGroup', 'outPortGroup', 'traversedDevice'] as const;
const ID_LIST_FIELDS = ['inPorts', 'outPorts'] as const;

/** name → ids, from id → name. */
export function byName(names: ReadonlyMap<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [id, name] of names) {
    const ids = out.get(name);
    if (ids === undefined) out.set(name, [id]); else ids.push(id);
  }
  return out;
}

function one(v: unknown, lookup: ReadonlyMap<string, string[]>): unknown {
  if (typeof v !== 'string' || UUID_RE.test(v)) return v;
  const ids = lookup.get(v);
  return ids !== undefined && ids.length === 1 ? ids[0] : v;
}

export function resolveNames<T extends Record<string, unknown>>(body: T, lookup: ReadonlyMap<string, string[]>): T {
  const out: Record<string, unknown> = { ...body };
  for (const k of ID_FIELDS) if (out[k] !== undefined) out[k] = one(out[k], lookup);
  for (const k of ID_LIST_FIELDS) if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map((v) => one(v, lookup));
  return out as T;
}

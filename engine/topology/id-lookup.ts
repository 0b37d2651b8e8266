// Ids are UUIDs, which are case-insensitive (RFC 4122): a condition stored lower-case (the API
// normalises them) must find a device a topology spells in upper case, and the other way round.
// Exact first, so the usual all-lower-case topology pays one Map lookup; the folded index is built
// once per map, on the first miss. Compile time only: nothing here runs per packet.

const folded = new WeakMap<ReadonlyMap<string, number>, Map<string, number>>();

export function lookupId(index: ReadonlyMap<string, number>, id: string): number | undefined {
  const exact = index.get(id);
  if (exact !== undefined) return exact;
  let f = folded.get(index);
  if (f === undefined) {
    f = new Map();
    for (const [k, v] of index) f.set(k.toLowerCase(), v);
    folded.set(index, f);
  }
  return f.get(id.toLowerCase());
}

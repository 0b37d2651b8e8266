// What a trace id says by itself: ids are UUIDv7, made when the trace starts, so their first 48 bits
// are a time. Readers use it to find a trace by an id prefix, and the event stream to resume after
// a Last-Event-ID, without a lookup.

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The creation time inside a version-7 id, or null for anything else. */
export function traceIdTimeMs(id: string): number | null {
  if (!UUID_V7.test(id)) return null;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

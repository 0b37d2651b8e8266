// The one string hash we place data with. Its values are persisted (ZooKeeper bucket names, Cassandra
// shards and segment slots, tunnel keys every host derives alike), so it must never change.

/** 32-bit FNV-1a over UTF-16 code units: stable across releases, fast, spreads sequential ids as well as UUIDs. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

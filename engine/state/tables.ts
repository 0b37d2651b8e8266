// The four simulation state tables, created together and passed to workers as one descriptor.
//
// Default capacities (bytes = slots × 4 × (2 + key + value words), slots = next power of two ≥ capacity/0.75):
//   MAC        65,536 entries → 131,072 slots × 28 B ≈  3.5 MiB  (64 Ki hosts across all bridges)
//   ARP        16,384 entries →  32,768 slots × 24 B ≈  0.8 MiB  (router neighbours; entries live an hour)
//   conntrack 1,048,576 entries → 2,097,152 slots × 32 B = 64 MiB  (the 1 M-connection bench, ~67 B/entry)
//   NAT        262,144 entries →   524,288 slots × 40 B = 20 MiB  (2 rows per binding plus a reservation)
// ≈ 88 MiB in all. Zero-filled buffers are mapped lazily by the OS, so untouched slots cost no RSS; tests
// that build many engines should still pass small capacities.

import { FlowTable, type FlowTableDescriptor } from './flow-table.js';
import {
  ARP_KEY_WORDS, ARP_VAL_WORDS, CT_KEY_WORDS, CT_VAL_WORDS, MAC_KEY_WORDS, MAC_VAL_WORDS, NAT_KEY_WORDS, NAT_VAL_WORDS,
  type SimStateTables,
} from './types.js';

export interface StateTablesOptions {
  readonly macCapacity?: number;
  readonly arpCapacity?: number;
  readonly conntrackCapacity?: number;
  readonly natCapacity?: number;
  /** SharedArrayBuffer-backed, for a worker pool. */
  readonly shared?: boolean;
}

export const DEFAULT_STATE_CAPACITIES = Object.freeze({
  macCapacity: 65_536,
  arpCapacity: 16_384,
  conntrackCapacity: 1_048_576,
  natCapacity: 262_144,
});

/** Structured-clonable; pass in workerData and open with attachStateTables(). */
export interface StateTablesDescriptor {
  readonly mac: FlowTableDescriptor;
  readonly arp: FlowTableDescriptor;
  readonly conntrack: FlowTableDescriptor;
  readonly nat: FlowTableDescriptor;
}

export function createStateTables(opts: StateTablesOptions = {}): SimStateTables {
  const shared = opts.shared === true;
  const d = DEFAULT_STATE_CAPACITIES;
  return {
    mac: new FlowTable({ keyWords: MAC_KEY_WORDS, valWords: MAC_VAL_WORDS, capacity: opts.macCapacity ?? d.macCapacity, shared }),
    arp: new FlowTable({ keyWords: ARP_KEY_WORDS, valWords: ARP_VAL_WORDS, capacity: opts.arpCapacity ?? d.arpCapacity, shared }),
    conntrack: new FlowTable({ keyWords: CT_KEY_WORDS, valWords: CT_VAL_WORDS, capacity: opts.conntrackCapacity ?? d.conntrackCapacity, shared }),
    nat: new FlowTable({ keyWords: NAT_KEY_WORDS, valWords: NAT_VAL_WORDS, capacity: opts.natCapacity ?? d.natCapacity, shared }),
  };
}

/** Throws when a table was not made by createStateTables (programmer error). */
export function stateTablesDescriptor(tables: SimStateTables): StateTablesDescriptor {
  return { mac: descriptorOf(tables.mac), arp: descriptorOf(tables.arp), conntrack: descriptorOf(tables.conntrack), nat: descriptorOf(tables.nat) };
}

export function attachStateTables(d: StateTablesDescriptor): SimStateTables {
  return { mac: FlowTable.attach(d.mac), arp: FlowTable.attach(d.arp), conntrack: FlowTable.attach(d.conntrack), nat: FlowTable.attach(d.nat) };
}

/** Total bytes of the four tables' buffers. */
export function stateTablesByteLength(tables: SimStateTables): number {
  let n = 0;
  for (const t of [tables.mac, tables.arp, tables.conntrack, tables.nat]) if (t instanceof FlowTable) n += t.byteLength;
  return n;
}

function descriptorOf(t: SimStateTables['mac']): FlowTableDescriptor {
  if (!(t instanceof FlowTable)) throw new TypeError('stateTablesDescriptor: tables must come from createStateTables()');
  return t.descriptor();
}

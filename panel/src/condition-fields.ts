// The trace-condition form as data: every CONDITION field of SPEC §2 plus the trace-condition extras
// of §5, how each is typed in, and how the form state maps to the API's JSON and back. The panel does
// no validation of its own: it sends what was typed and shows the API's answer next to the field.
import type { TraceConditionJson } from './types.js';

export type FieldKind = 'text' | 'int' | 'proto' | 'list' | 'range' | 'bool' | 'select';

export interface FieldSpec {
  key: string;
  label: string;
  kind: FieldKind;
  /** The `inv*` flag that negates this field, shown beside it. */
  inv?: string;
  options?: readonly string[];
  placeholder?: string;
  help?: string;
}

export interface FieldGroup { title: string; fields: readonly FieldSpec[] }

const UUID = 'UUID';
const UUID_OR_NAME = 'UUID or name';

export const FIELD_GROUPS: readonly FieldGroup[] = [
  {
    title: 'Trace condition',
    fields: [
      { key: 'name', label: 'Name', kind: 'text', placeholder: 'unique, optional' },
      { key: 'enabled', label: 'Enabled', kind: 'bool' },
      { key: 'limit', label: 'Limit', kind: 'int', placeholder: 'unlimited', help: 'most traces this condition may start' },
      { key: 'deviceType', label: 'Scope device type', kind: 'select', options: ['', 'port', 'bridge', 'router'], help: 'test the condition where the packet enters this device' },
      { key: 'deviceId', label: 'Scope device id', kind: 'text', placeholder: UUID_OR_NAME },
      { key: 'condInvert', label: 'Invert the whole condition', kind: 'bool' },
    ],
  },
  {
    title: 'Flow',
    fields: [
      { key: 'matchForwardFlow', label: 'Forward flow', kind: 'bool' },
      { key: 'matchReturnFlow', label: 'Return flow', kind: 'bool' },
      { key: 'matchNwDstRewritten', label: 'Destination rewritten by DNAT', kind: 'bool' },
    ],
  },
  {
    title: 'Ports and devices',
    fields: [
      { key: 'inPorts', label: 'In ports', kind: 'list', inv: 'invInPorts', placeholder: 'UUIDs or names, comma separated' },
      { key: 'outPorts', label: 'Out ports', kind: 'list', inv: 'invOutPorts', placeholder: 'UUIDs or names, comma separated' },
      { key: 'portGroup', label: 'Ingress port group', kind: 'text', inv: 'invPortGroup', placeholder: UUID_OR_NAME },
      { key: 'inPortGroup', label: 'In port group', kind: 'text', inv: 'invInPortGroup', placeholder: UUID_OR_NAME },
      { key: 'outPortGroup', label: 'Out port group', kind: 'text', inv: 'invOutPortGroup', placeholder: UUID_OR_NAME },
      { key: 'traversedDevice', label: 'Traversed device', kind: 'text', inv: 'invTraversedDevice', placeholder: UUID_OR_NAME },
    ],
  },
  {
    title: 'Ethernet',
    fields: [
      { key: 'dlType', label: 'Ethertype', kind: 'int', inv: 'invDlType', placeholder: '2048 or 0x0800' },
      { key: 'dlSrc', label: 'Source MAC', kind: 'text', inv: 'invDlSrc', placeholder: 'aa:bb:cc:dd:ee:ff' },
      { key: 'dlSrcMask', label: 'Source MAC mask', kind: 'text', placeholder: 'ffff.ffff.0000' },
      { key: 'dlDst', label: 'Destination MAC', kind: 'text', inv: 'invDlDst', placeholder: 'aa:bb:cc:dd:ee:ff' },
      { key: 'dlDstMask', label: 'Destination MAC mask', kind: 'text', placeholder: 'ffff.ffff.0000' },
      { key: 'vlan', label: 'VLAN', kind: 'int', placeholder: '0-4095' },
      { key: 'noVlan', label: 'No VLAN tag', kind: 'bool' },
    ],
  },
  {
    title: 'IPv4',
    fields: [
      { key: 'nwSrcAddress', label: 'Source address', kind: 'text', inv: 'invNwSrc', placeholder: '10.0.0.0' },
      { key: 'nwSrcLength', label: 'Source prefix length', kind: 'int', placeholder: '0-32' },
      { key: 'nwDstAddress', label: 'Destination address', kind: 'text', inv: 'invNwDst', placeholder: '10.0.0.0' },
      { key: 'nwDstLength', label: 'Destination prefix length', kind: 'int', placeholder: '0-32' },
      { key: 'nwProto', label: 'Protocol', kind: 'proto', inv: 'invNwProto', placeholder: 'tcp, udp, icmp or a number' },
      { key: 'nwTos', label: 'TOS', kind: 'int', inv: 'invNwTos', placeholder: '0-255' },
      { key: 'ipAddrGroupSrc', label: 'Source address group', kind: 'text', inv: 'invIpAddrGroupSrc', placeholder: UUID },
      { key: 'ipAddrGroupDst', label: 'Destination address group', kind: 'text', inv: 'invIpAddrGroupDst', placeholder: UUID },
    ],
  },
  {
    title: 'Transport',
    fields: [
      { key: 'tpSrc', label: 'Source ports', kind: 'range', inv: 'invTpSrc', placeholder: '80 or 1024-65535', help: 'ICMP: type' },
      { key: 'tpDst', label: 'Destination ports', kind: 'range', inv: 'invTpDst', placeholder: '80 or 1024-65535', help: 'ICMP: code' },
      { key: 'fragmentPolicy', label: 'Fragment policy', kind: 'select', options: ['', 'any', 'header', 'nonheader', 'unfragmented'] },
    ],
  },
];

export const ALL_FIELDS: readonly FieldSpec[] = FIELD_GROUPS.flatMap((g) => g.fields);

export type FormState = Record<string, string | boolean>;

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };

/** Integers become numbers; anything else goes to the API as typed, so its message names the field. */
function intOrRaw(s: string): number | string {
  const t = s.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t.slice(2), 16);
  return t;
}

function rangeOf(s: string): { start: number | string; end: number | string } {
  const m = /^\s*([^-:\s]+)\s*(?:[-:]\s*([^\s]+))?\s*$/.exec(s);
  const a = intOrRaw(m?.[1] ?? s);
  return { start: a, end: m?.[2] !== undefined ? intOrRaw(m[2]) : a };
}

export function emptyForm(): FormState {
  return { enabled: true };
}

/** The JSON body for POST or PUT. Empty inputs and unticked flags are left out. */
export function formToJson(f: FormState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of ALL_FIELDS) {
    const v = f[spec.key];
    if (spec.kind === 'bool') {
      if (spec.key === 'enabled') out.enabled = v !== false;
      else if (v === true) out[spec.key] = true;
    } else if (typeof v === 'string' && v.trim() !== '') {
      const t = v.trim();
      switch (spec.kind) {
        case 'int': out[spec.key] = intOrRaw(t); break;
        case 'proto': out[spec.key] = PROTO_NUMBERS[t.toLowerCase()] ?? intOrRaw(t); break;
        case 'list': out[spec.key] = t.split(/[\s,]+/).filter((x) => x !== ''); break;
        case 'range': out[spec.key] = rangeOf(t); break;
        default: out[spec.key] = t;
      }
    }
    if (spec.inv !== undefined && f[spec.inv] === true) out[spec.inv] = true;
  }
  return out;
}

/** The form as it should show an existing condition. */
export function jsonToForm(c: TraceConditionJson): FormState {
  const f = emptyForm();
  const rec = c as unknown as Record<string, unknown>;
  for (const spec of ALL_FIELDS) {
    const v = rec[spec.key];
    if (spec.inv !== undefined && rec[spec.inv] === true) f[spec.inv] = true;
    if (v === undefined || v === null) continue;
    if (spec.kind === 'bool') f[spec.key] = v === true;
    else if (spec.kind === 'list' && Array.isArray(v)) f[spec.key] = v.join(', ');
    else if (spec.kind === 'range' && typeof v === 'object') {
      const r = v as { start: number; end: number };
      f[spec.key] = r.start === r.end ? String(r.start) : `${r.start}-${r.end}`;
    } else f[spec.key] = String(v);
  }
  return f;
}

/**
 * Splits an API message like `limit: must be ...; tpDst.start: must be ...` into messages per form
 * field (the first segment of each JSON path). What names no field is kept under ''.
 */
export function fieldErrors(message: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const known = new Set(ALL_FIELDS.flatMap((s) => (s.inv !== undefined ? [s.key, s.inv] : [s.key])));
  for (const part of message.split(/;\s+/)) {
    const m = /^([A-Za-z_$][\w$]*)((?:\.[\w$]+|\[\d+\])*):\s*(.*)$/.exec(part);
    const field = m !== null && known.has(m[1]!) ? m[1]! : '';
    const text = m !== null && field !== '' ? `${m[1]}${m[2]}: ${m[3]}` : part;
    (out[field] ??= []).push(text);
  }
  return out;
}

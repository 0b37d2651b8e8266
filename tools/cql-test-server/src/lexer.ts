// CQL tokenizer. Unquoted identifiers and keywords are case-insensitive (kept lowercased); "quoted"
// identifiers keep their case, as in Cassandra.
import { syntaxError } from './protocol.js';

export type Token =
  | { readonly k: 'ident'; readonly v: string; readonly quoted: boolean; readonly pos: number }
  | { readonly k: 'string'; readonly v: string; readonly pos: number }
  | { readonly k: 'integer'; readonly v: string; readonly pos: number }
  | { readonly k: 'float'; readonly v: string; readonly pos: number }
  | { readonly k: 'uuid'; readonly v: string; readonly pos: number }
  | { readonly k: 'hex'; readonly v: string; readonly pos: number }
  | { readonly k: 'sym'; readonly v: string; readonly pos: number }
  | { readonly k: 'eof'; readonly v: ''; readonly pos: number };

const UUID_AT = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/y;
const HEX_AT = /0[xX][0-9a-fA-F]*/y;
const NUMBER_AT = /\d+(\.\d*)?([eE][+-]?\d+)?/y;
const IDENT_AT = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const TWO_CHAR = new Set(['<=', '>=', '!=']);
const ONE_CHAR = new Set(['(', ')', ',', ';', '.', '*', '=', '<', '>', '+', '-', '?', ':', '[', ']', '{', '}']);

function sticky(re: RegExp, src: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(src);
  return m === null ? null : m[0];
}

export function position(src: string, pos: number): string {
  const before = src.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - (before.lastIndexOf('\n') + 1);
  return `line ${line}:${col}`;
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if ((c === '-' && src[i + 1] === '-') || (c === '/' && src[i + 1] === '/')) {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw syntaxError(`${position(src, i)} unterminated comment`);
      i = end + 2;
      continue;
    }
    const start = i;
    if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= n) throw syntaxError(`${position(src, start)} unterminated string literal`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            v += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += src[i];
        i++;
      }
      out.push({ k: 'string', v, pos: start });
      continue;
    }
    if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= n) throw syntaxError(`${position(src, start)} unterminated quoted identifier`);
        if (src[i] === '"') {
          if (src[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += src[i];
        i++;
      }
      out.push({ k: 'ident', v, quoted: true, pos: start });
      continue;
    }
    const uuid = sticky(UUID_AT, src, i);
    if (uuid !== null) {
      out.push({ k: 'uuid', v: uuid.toLowerCase(), pos: start });
      i += uuid.length;
      continue;
    }
    if (c === '0' && (src[i + 1] === 'x' || src[i + 1] === 'X')) {
      const hex = sticky(HEX_AT, src, i)!;
      if ((hex.length - 2) % 2 !== 0) throw syntaxError(`${position(src, start)} odd number of hex digits`);
      out.push({ k: 'hex', v: hex.slice(2), pos: start });
      i += hex.length;
      continue;
    }
    if (c >= '0' && c <= '9') {
      const num = sticky(NUMBER_AT, src, i)!;
      const isFloat = num.includes('.') || /[eE]/.test(num);
      out.push({ k: isFloat ? 'float' : 'integer', v: num, pos: start });
      i += num.length;
      continue;
    }
    const ident = sticky(IDENT_AT, src, i);
    if (ident !== null) {
      out.push({ k: 'ident', v: ident.toLowerCase(), quoted: false, pos: start });
      i += ident.length;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR.has(two)) {
      out.push({ k: 'sym', v: two, pos: start });
      i += 2;
      continue;
    }
    if (ONE_CHAR.has(c)) {
      out.push({ k: 'sym', v: c, pos: start });
      i++;
      continue;
    }
    throw syntaxError(`${position(src, start)} token recognition error at: '${c}'`);
  }
  out.push({ k: 'eof', v: '', pos: n });
  return out;
}

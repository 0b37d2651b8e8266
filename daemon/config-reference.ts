// The README's configuration reference, generated from the one config schema so it cannot drift:
// `node dist/daemon/config-reference.js` prints it, and a test checks the README holds exactly this.
import { z } from 'zod';
import { ConfigSchema } from './config.js';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  anyOf?: JsonSchema[];
  format?: string;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'values'}`;
  if (s.type === 'object' && s.properties === undefined) return 'map';
  if (s.format === 'uuid') return 'UUID';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : s.type ?? 'any';
}

function rows(s: JsonSchema, prefix: string, out: string[]): void {
  for (const [key, p] of Object.entries(s.properties ?? {})) {
    const path = prefix + key;
    if (p.type === 'object' && p.properties !== undefined && p.default === undefined) {
      rows(p, `${path}.`, out);
      continue;
    }
    if (p.type === 'object' && p.properties !== undefined && typeof p.default === 'object' && !Array.isArray(p.default)) {
      rows(p, `${path}.`, out);
      continue;
    }
    const dflt = p.default === undefined ? '—' : `\`${JSON.stringify(p.default)}\``;
    out.push(`| \`${path}\` | ${typeOf(p)} | ${dflt} | ${p.description ?? ''} |`);
  }
}

export function configReference(): string {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = ['| key | type | default | meaning |', '|---|---|---|---|'];
  rows(schema, '', out);
  return out.join('\n');
}

const invoked = process.argv[1] ?? '';
if (invoked.endsWith('config-reference.js') || invoked.endsWith('config-reference.ts')) process.stdout.write(configReference() + '\n');

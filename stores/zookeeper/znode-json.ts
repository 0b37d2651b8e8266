// JSON in znode data. Anyone with ZooKeeper access can write there, so every reader parses without
// throwing and says what was wrong.

export type ParsedJson = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly message: string };

export function parseZnodeJson(data: Buffer): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(data.toString('utf8')) as unknown };
  } catch (e) {
    return { ok: false, message: `not valid JSON: ${(e as Error).message}` };
  }
}

/** The value when it is a JSON object (not an array), else undefined. */
export function jsonObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}

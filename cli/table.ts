// Aligned text tables for the terminal: a header row, then one row per item; columns are padded to
// their widest cell and separated by two spaces. The last column is not padded (no trailing blanks).

/** Display width of a string: code points, not UTF-16 units, so names like "café" align. */
function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]): string =>
    headers.map((_, i) => {
      const cell = cells[i] ?? '';
      return i === headers.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell));
    }).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

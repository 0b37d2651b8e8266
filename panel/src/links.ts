// Where the API is, seen from the panel, and how to follow its Link headers. Pure: tested in node.

/** The API lives at the daemon's root; the panel at `<root>/ui/`. Works behind a path prefix too. */
export function apiBase(pathname: string): string {
  const i = pathname.lastIndexOf('/ui/');
  if (i >= 0) return pathname.slice(0, i + 1);
  return pathname.endsWith('/ui') ? pathname.slice(0, -2) : '/';
}

/** The rel="next" target of a Link header as a path relative to the API base, or null. */
export function nextLink(header: string | null, base: string): string | null {
  if (header === null) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m === null) continue;
    // The server writes an absolute URL; keep its path and query so the page's own origin is used
    // (the Host the daemon saw may not be the one the browser reached, behind a proxy).
    const url = new URL(m[1]!, 'http://base.invalid');
    const path = url.pathname.startsWith(base) ? url.pathname.slice(base.length) : url.pathname.replace(/^\//, '');
    return path + url.search;
  }
  return null;
}

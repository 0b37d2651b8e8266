// Server-Sent Events, parsed by hand: the panel and `list trace --follow` read GET /traces/stream through fetch(), not
// EventSource, which cannot send the bearer token (and is not in Node). Pure: tested in node.

export interface SseEvent { event: string; data: string; id: string | null }

/**
 * Feeds text as it arrives and calls `emit` for each complete event (the HTML standard's rules:
 * `field: value` lines, a blank line dispatches, `:` starts a comment, data lines join with "\n").
 */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];
  private id: string | null = null;
  /** The last `id:` seen: what Last-Event-ID carries on a reconnect. */
  lastId: string | null = null;

  constructor(private readonly emit: (e: SseEvent) => void) {}

  push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (this.buf[nl] === '\r' && nl === this.buf.length - 1) break;
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.emit({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) { this.id = value; this.lastId = value; }
  }
}

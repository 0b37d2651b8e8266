// GET /traces/stream (SPEC §6): Server-Sent Events, one `trace` event per new trace. Every host
// sharing the trace store writes to it, so the stream follows the store, not this daemon's sink: one
// poller per API, however many clients listen, lists the newest traces while anyone listens and hands
// each trace it has not seen before to the clients whose filters it passes. A client that falls too
// far behind is dropped (it reconnects with Last-Event-ID) rather than buffered without bound.
import { PassThrough } from 'node:stream';
import type { TraceStore } from '../model/stores.js';
import type { TraceSummary } from '../model/trace.js';
import { traceIdTimeMs } from '../model/trace-id.js';
import type { ResultName } from '../model/result.js';

export interface StreamFilter {
  conditionId?: string;
  hostId?: string;
  result?: ResultName;
  since?: number;
  until?: number;
}

export interface TraceStreamOptions {
  pollMs?: number;
  keepAliveMs?: number;
  /** Bytes a client may have unread before it is dropped. */
  maxBufferBytes?: number;
}

/** How late a trace may reach the store after it started (batched, fire-and-forget sinks). */
const LOOKBACK_MS = 60_000;
/** Pages of 1,000 read per poll, and at most this many traces replayed after a Last-Event-ID. */
const MAX_PAGES = 5;
const MAX_REPLAY = 10_000;
/** How much earlier than its id's time a trace may have started (the CLI's prefix search allows as much). */
const START_SLACK_MS = 10 * 60_000;

function passes(f: StreamFilter, t: TraceSummary): boolean {
  if (f.hostId !== undefined && t.hostId !== f.hostId) return false;
  if (f.result !== undefined && t.result !== f.result) return false;
  if (f.conditionId !== undefined && !t.conditionIds.includes(f.conditionId)) return false;
  const at = Date.parse(t.startedAt);
  if (f.since !== undefined && at < f.since) return false;
  if (f.until !== undefined && at >= f.until) return false;
  return true;
}

const oldestFirst = (a: TraceSummary, b: TraceSummary): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function event(t: TraceSummary): string {
  return `id: ${t.id}\nevent: trace\ndata: ${JSON.stringify(t)}\n\n`;
}

class Subscriber {
  /** Ids already sent by the replay, which the poller may find again. */
  readonly replayed = new Set<string>();
  closed = false;
  constructor(readonly out: PassThrough, readonly filter: StreamFilter, private readonly maxBuffer: number, private readonly onClose: () => void) {}

  send(text: string): void {
    if (this.closed) return;
    this.out.write(text);
    if (this.out.writableLength + this.out.readableLength > this.maxBuffer) {
      this.out.end(': dropped: this client fell too far behind; reconnect with Last-Event-ID\n\n');
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

export class TraceStream {
  private readonly subs = new Set<Subscriber>();
  /** Traces seen in the lookback window: id → startedAt (ms). */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private keepAlive: NodeJS.Timeout | null = null;
  private primed: Promise<void> | null = null;
  /** Bumped when polling starts afresh, so that a poll still running from before stops its chain. */
  private generation = 0;
  private readonly pollMs: number;
  private readonly keepAliveMs: number;
  private readonly maxBuffer: number;

  constructor(private readonly traces: TraceStore, o: TraceStreamOptions = {}) {
    this.pollMs = o.pollMs ?? 500;
    this.keepAliveMs = o.keepAliveMs ?? 15_000;
    this.maxBuffer = o.maxBufferBytes ?? 1 << 20;
  }

  /** Clients listening now. */
  get size(): number { return this.subs.size; }

  /**
   * A new client's stream: after the traces newer than `lastEventId` (when it names a trace), every
   * new trace that passes `filter`. Resolves once the poller knows what exists, so that a trace the
   * client makes after seeing the response is new to it.
   */
  async open(filter: StreamFilter, lastEventId: string | undefined, onClose: () => void = () => {}): Promise<PassThrough> {
    const out = new PassThrough();
    const sub = new Subscriber(out, filter, this.maxBuffer, () => { this.drop(sub); onClose(); });
    out.on('close', () => sub.close());
    this.subs.add(sub);
    this.start();
    // A comment first: proxies and clients see the stream open at once.
    out.write(': midotrace trace stream\n\n');
    await this.primed;
    if (lastEventId !== undefined) await this.replay(sub, lastEventId);
    return out;
  }

  private drop(sub: Subscriber): void {
    this.subs.delete(sub);
    if (this.subs.size > 0) return;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.timer = null;
    this.keepAlive = null;
    this.primed = null;
    this.seen.clear();
  }

  private start(): void {
    if (this.primed !== null) return;
    // The first poll only learns what exists; later ones send what is new.
    const gen = ++this.generation;
    this.primed = this.poll(false).then(() => this.schedule(gen));
    this.keepAlive = setInterval(() => { for (const s of this.subs) s.send(': ping\n\n'); }, this.keepAliveMs);
    this.keepAlive.unref();
  }

  private schedule(gen: number): void {
    if (this.subs.size === 0 || gen !== this.generation) return;
    this.timer = setTimeout(() => { void this.poll(true).then(() => this.schedule(gen)); }, this.pollMs);
    this.timer.unref();
  }

  /** Lists the lookback window, newest first; returns the traces not seen before, oldest first. */
  private async poll(send: boolean): Promise<void> {
    const since = Date.now() - LOOKBACK_MS;
    const fresh: TraceSummary[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = await this.traces.list({ limit: 1000, since, ...(cursor !== undefined ? { cursor } : {}) });
        if (!r.ok) break;
        for (const t of r.items) {
          if (this.seen.has(t.id)) continue;
          this.seen.set(t.id, Date.parse(t.startedAt));
          fresh.push(t);
        }
        if (r.nextCursor === null) break;
        cursor = r.nextCursor;
      }
    } catch {
      // The store is unreachable: the clients stay connected and the next poll tries again.
      return;
    }
    for (const [id, at] of this.seen) if (at < since) this.seen.delete(id);
    if (!send || fresh.length === 0) return;
    fresh.sort(oldestFirst);
    for (const s of this.subs) {
      for (const t of fresh) {
        if (s.replayed.delete(t.id) || !passes(s.filter, t)) continue;
        s.send(event(t));
      }
    }
  }

  /** Sends the traces newer than `lastId` that pass the client's filter, oldest first. */
  private async replay(sub: Subscriber, lastEventId: string): Promise<void> {
    const lastId = lastEventId.toLowerCase();
    const at = traceIdTimeMs(lastId);
    if (at === null) return;
    // The client's filters are the store's query, starting no earlier than the last event's trace could have.
    const query = { ...sub.filter, limit: 1000, since: Math.max(sub.filter.since ?? 0, at - START_SLACK_MS) };
    const newer: TraceSummary[] = [];
    let cursor: string | undefined;
    try {
      while (newer.length < MAX_REPLAY) {
        const r = await this.traces.list(cursor !== undefined ? { ...query, cursor } : query);
        if (!r.ok) break;
        for (const t of r.items) if (t.id > lastId) newer.push(t);
        if (r.nextCursor === null) break;
        cursor = r.nextCursor;
      }
    } catch {
      return;
    }
    newer.sort(oldestFirst);
    for (const t of newer.slice(0, MAX_REPLAY)) {
      sub.replayed.add(t.id);
      sub.send(event(t));
    }
  }
}

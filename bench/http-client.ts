// The load generator's HTTP client: node:http on kept-alive connections, as load tools (autocannon,
// wrk) drive a server. fetch() spent ~10 µs of client CPU a packet on 256-packet requests (its
// WHATWG streams), on the same two cores the daemon under test has, so the client's own cost was
// a large part of what a bench measured.
import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply { status: number; body: Buffer }

/** POSTs `body` (JSON) to `url` and reads the whole answer. */
export function postJson(url: string, body: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

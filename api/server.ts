// Serves a Koa app on HOST:PORT with node:http. Port 0 picks a free port (tests); close() stops
// accepting, ends idle keep-alive connections and event streams (they never finish by themselves),
// and resolves once in-flight requests are answered.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type Koa from 'koa';
import { errorBody } from './errors.js';

export interface ApiServer {
  /** The port actually bound. */
  port: number;
  close(): Promise<void>;
}

/** `127.0.0.1:8181`, `[::1]:8181`, `0.0.0.0:0`. */
export function parseListen(listen: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(listen);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2]!, port };
}

export interface ServerOptions {
  /** Largest accepted request body: a request announcing more with `Expect: 100-continue` gets its 413 before sending it. */
  bodyLimitBytes?: number;
}

export function startApiServer(app: Koa, listen: string, opts: ServerOptions = {}): Promise<ApiServer> {
  const addr = parseListen(listen);
  if (addr === null) return Promise.reject(new Error(`listen address ${JSON.stringify(listen)} must be HOST:PORT`));
  const handler = app.callback();
  const server: Server = createServer(handler);
  const open = new Set<ServerResponse>();
  server.on('request', (_req, res: ServerResponse) => {
    open.add(res);
    res.once('close', () => open.delete(res));
  });
  // `Expect: 100-continue` (curl's default for large bodies): answer an announced oversized body
  // with its 413 at once instead of inviting the client to send megabytes it will have to throw away.
  server.on('checkContinue', (req, res) => {
    const limit = opts.bodyLimitBytes;
    const declared = Number(req.headers['content-length']);
    if (limit !== undefined && Number.isFinite(declared) && declared > limit) {
      const body = JSON.stringify(errorBody('body_too_large', `request body exceeds ${limit} bytes`));
      res.writeHead(413, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
      res.end(body);
      return;
    }
    res.writeContinue();
    void handler(req, res);
  });
  // Malformed HTTP never reaches Koa; answer it in the API's error format rather than plain text.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return; }
    const body = JSON.stringify(errorBody('invalid_body', `malformed HTTP request (${err.code ?? 'parse error'})`));
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : addr.port;
      resolve({
        port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
          for (const res of open) if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) res.destroy();
        }),
      });
    });
  });
}

// A live REST API over a real daemon (worker pool, SQLite sink and condition store in a temp dir)
// for API and CLI tests. The topology is a small network built with the Net builder:
//
//   vm1, vm2, vm3 ── bridge br (10.0.0.0/24) ── router r (10.0.0.1 | 10.0.1.1) ── bridge br2 ── vm4
import type Koa from 'koa';
import { createApp } from '../../api/app.js';
import type { ApiDeps } from '../../api/deps.js';
import { startApiServer, type ApiServer } from '../../api/server.js';
import type { ConfigInput } from '../../daemon/config.js';
import type { TopologyDoc } from '../../model/topology/doc.js';
import { Net } from './net.js';
import { startTestDaemon, type TestDaemon } from './daemon.js';

export const MAC = {
  vm1: '02:00:00:00:00:01', vm2: '02:00:00:00:00:02', vm3: '02:00:00:00:00:03', vm4: '02:00:00:00:00:04',
  r: '02:00:00:00:01:01', r2: '02:00:00:00:01:02',
};

export const IP = { vm1: '10.0.0.11', vm2: '10.0.0.12', vm3: '10.0.0.13', vm4: '10.0.1.14' };

export function testNet(): Net {
  return new Net()
    .bridge('br').port('br', 'vm1').port('br', 'vm2').port('br', 'vm3')
    .bridge('br2').port('br2', 'vm4')
    .router('r')
    .attach('r', 'br', '10.0.0.1/24', MAC.r)
    .attach('r', 'br2', '10.0.1.1/24', MAC.r2)
    .set('bridges', 'br', { arpTable: [] });
}

export interface TestApi {
  net: Net;
  /** http://127.0.0.1:PORT */
  url: string;
  deps: ApiDeps;
  app: Koa;
  td: TestDaemon;
  server: ApiServer;
  /** Stops the HTTP server, then the daemon; removes the temp dir. */
  close(): Promise<void>;
}

export interface TestApiOptions {
  doc?: TopologyDoc;
  config?: ConfigInput;
  /** Replace parts of the daemon's deps (e.g. an unhealthy health()). */
  override?: Partial<ApiDeps>;
}

export async function startTestApi(o: TestApiOptions = {}): Promise<TestApi> {
  const net = testNet();
  const td = await startTestDaemon(o.doc ?? net.doc, { config: { workers: { threads: 1, batchSize: 256 }, ...o.config } });
  const deps: ApiDeps = { ...td.daemon.apiDeps(), ...o.override };
  const app = createApp(deps);
  app.silent = true;
  const server = await startApiServer(app, '127.0.0.1:0', { bodyLimitBytes: deps.bodyLimitBytes });
  return {
    net, url: `http://127.0.0.1:${server.port}`, deps, app, td, server,
    close: async () => {
      await server.close();
      await td.close();
    },
  };
}

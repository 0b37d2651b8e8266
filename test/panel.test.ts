// The control panel (issue P6). First its pure parts (a trace's steps as hops and deciding rules, the
// condition form ⇄ JSON, Link headers); then the panel itself in Debian's chromium, driven by
// playwright-core against a real daemon: a condition made in the panel, a matching packet injected
// through the API, the trace appearing live, opened, its deciding rule found, deleted; API errors,
// conditions, filters and paging, the token prompt, incomplete traces, narrow screens.
// Without /usr/bin/chromium the browser tests are skipped locally and fail in CI (CI=true).
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrowserContext, Page } from 'playwright-core';
import { buildPanel } from '../panel/build.js';
import { fieldErrors, formToJson, jsonToForm } from '../panel/src/condition-fields.js';
import { apiBase, nextLink } from '../panel/src/links.js';
import { SseParser, type SseEvent } from '../model/sse.js';
import { decidingRules, matchLine, traceModel } from '../panel/src/trace-model.js';
import { isoToLocal, localToIso, tracesPath } from '../panel/src/trace-filters.js';
import type { StepJson, Trace, TraceConditionJson, TraceSummary } from '../model/trace.js';
import type { StepDetails } from '../model/step.js';
import { toStepJson } from '../model/step-json.js';
import { FaultySink } from '../stores/faulty.js';
import { launchChromium, type BrowserLaunch } from './helpers/browser.js';
import { startTestDaemon, type TestDaemon } from './helpers/daemon.js';
import { Net, pk } from './helpers/net.js';
import { waitUntil } from './helpers/wait.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

// ---------------------------------------------------------------- pure parts

const H = '11111111-1111-4111-8111-111111111111';
let stepNo = 0;
function step(stage: StepJson['stage'], deviceType: StepJson['deviceType'], deviceName: string, message: string, details: StepDetails): StepJson {
  stepNo++;
  return { step: stepNo, timestamp: new Date(1_700_000_000_000 + stepNo).toISOString(), hostId: H, stage, deviceType, deviceId: `id-${deviceName}`, deviceName, message, details };
}

const RULE = { ruleId: 'r', chainId: 'c', position: 1, condition: '' };
const EP = (nwDst: string, tpDst: number) => ({ nwSrc: '1.1.1.1', nwDst, tpSrc: 5, tpDst });

/** A step as stored before kinds existed: the same step, details without `kind`, read back through toStepJson. */
function oldForm(s: StepJson): StepJson {
  const { kind: _kind, ...rest } = s.details;
  return toStepJson(s.step, s.hostId, { ...s, timestampMs: Date.parse(s.timestamp), details: rest });
}

t.test('event stream parser: events split anywhere, CRLF, comments, multi-line data, the last id kept', async (t) => {
  const text = ': keep-alive\r\nevent: trace\r\nid: a1\r\ndata: {"id":"a1"}\r\n\r\n'
    + 'data: one\ndata: two\n\n' + 'event: trace\nid: b2\ndata:{"id":"b2"}\n\n' + 'id\n\n' + 'data: no end yet';
  const expected: SseEvent[] = [
    { event: 'trace', data: '{"id":"a1"}', id: 'a1' },
    { event: 'message', data: 'one\ntwo', id: 'a1' },
    { event: 'trace', data: '{"id":"b2"}', id: 'b2' },
  ];
  const parse = (chunks: string[]) => {
    const seen: SseEvent[] = [];
    const p = new SseParser((e) => seen.push(e));
    for (const c of chunks) p.push(c);
    return { seen, lastId: p.lastId };
  };
  t.same(parse([text]), { seen: expected, lastId: '' }, 'a bare id line resets the last id; an unfinished event waits');
  // Every way of cutting the text in two gives the same events.
  const badCuts = [];
  for (let cut = 0; cut <= text.length; cut++) {
    if (JSON.stringify(parse([text.slice(0, cut), text.slice(cut)]).seen) !== JSON.stringify(expected)) badCuts.push(cut);
  }
  t.same(badCuts, [], 'the same events wherever the text is cut');
});

t.test('trace model: hops per device, interior links on arrows, deciding rule, NAT, route, drop', async (t) => {
  stepNo = 0;
  const steps = [
    step('reception', 'port', 'vm1', 'port vm1 received the packet from outside', { kind: 'port_received', exterior: true }),
    step('reception', 'bridge', 'b1', 'bridge b1 received the packet', { kind: 'bridge_received', inPortId: 'id-vm1', ethSrc: 'a', ethDst: 'b', vlan: -1 }),
    step('disposition', 'bridge', 'b1', 'forwarded to port b1-r', { kind: 'forwarded', portId: 'id-b1-r' }),
    step('disposition', 'port', 'b1-r', 'forwarded to peer port r-b1', { kind: 'to_peer', peerId: 'id-r-b1' }),
    step('reception', 'port', 'r-b1', 'port r-b1 received the packet from its peer', { kind: 'port_received', exterior: false }),
    step('reception', 'router', 'r', 'router r received the packet', { kind: 'router_received', inPortId: 'id-r-b1', nwSrc: '1.1.1.1', nwDst: '2.2.2.2', ttl: 64 }),
    step('processing', 'chain', 'pre', 'chain pre evaluated (inbound filter of router r)', { kind: 'chain_evaluated', chainId: 'c', deviceId: 'id-r', rules: 3 }),
    step('processing', 'rule', 'pre[1]', 'rule 1 (jump) of chain pre matched: jump (to chain sub)', { kind: 'rule_matched', ...RULE, type: 'jump', action: 'jump', note: 'to chain sub' }),
    step('processing', 'rule', 'sub[1]', 'rule 1 (dnat, static) rewrote …', { kind: 'nat_applied', ...RULE, type: 'dnat', action: 'continue', binding: 'static', before: EP('2.2.2.2', 80), after: EP('10.0.0.5', 8080) }),
    step('processing', 'rule', 'sub[2]', 'rule 2 (return) of chain sub matched: return (back to the jumping chain)', { kind: 'rule_matched', ...RULE, type: 'return', action: 'return', note: 'back to the jumping chain' }),
    step('processing', 'rule', 'pre[3]', 'rule 3 (drop) of chain pre matched: drop', { kind: 'rule_matched', ...RULE, type: 'drop', action: 'drop' }),
    step('processing', 'router', 'r', 'route chosen: 10.0.0.0/24 via port r-b2', { kind: 'route_chosen', routeId: null, type: 'normal', dst: '10.0.0.0/24', src: '0.0.0.0/0', weight: 100, nextHopPort: 'id-r-b2', nextHopGateway: null }),
    step('disposition', 'router', 'r', 'dropped by the pre-routing filter', { kind: 'dropped', reason: 'chain_drop' }),
  ];
  const m = traceModel({ steps, numSteps: steps.length });
  t.same(m.hops.map((h) => [h.deviceType, h.deviceName, h.link]),
    [['port', 'vm1', false], ['bridge', 'b1', false], ['port', 'b1-r', true], ['port', 'r-b1', true], ['router', 'r', false]],
    'a hop per device; the interior pair is only a link');
  const router = m.hops[4]!;
  t.equal(router.steps.length, 8, 'chain and rule steps stay with the router that ran them');
  t.same(router.highlights.map((h) => h.kind), ['rule', 'nat', 'rule', 'rule', 'route', 'drop']);
  t.same(decidingRules(m).map((r) => [r.name, r.action]), [['pre[3]', 'drop']], 'jump, NAT-continue and nested return do not decide');
  const nat = router.highlights.find((h) => h.kind === 'nat');
  t.match(nat, { before: { nwDst: '2.2.2.2', tpDst: 80 }, after: { nwDst: '10.0.0.5', tpDst: 8080 } });
  t.match(router.highlights.find((h) => h.kind === 'route'), { text: '10.0.0.0/24 via port r-b2' });
  t.match(router.highlights.find((h) => h.kind === 'drop'), { reason: 'chain_drop' });
  t.equal(m.outcome, 'dropped by the pre-routing filter');
  t.same(m.missing, []);
  const old = steps.map(oldForm);
  t.same(old.map((s) => s.details.kind), steps.map((s) => s.details.kind), 'steps stored without a kind get theirs back when read');
  t.same(traceModel({ steps: old, numSteps: old.length }), m, 'and the panel draws them the same');

  const flood = traceModel({ steps: [step('disposition', 'bridge', 'b', 'flooded (unknown destination) to 2 port(s)', { kind: 'flooded', reason: 'unknown destination' })], numSteps: 1 });
  t.same(flood.hops[0]!.highlights, [], 'a flood carries a reason but is no drop');
  const gaps = traceModel({ steps: [steps[0]!, steps[2]!], numSteps: 4 });
  t.same(gaps.missing, [2, 4], 'step numbers the record lacks');
  t.same(traceModel({ steps: [], numSteps: 0 }).hops, []);
  const accepted = traceModel({ steps: [step('processing', 'rule', 'x[1]', 'rule 1 (return) matched: return (accept)', { kind: 'rule_matched', ...RULE, type: 'return', action: 'return', note: 'accept' })], numSteps: 1 });
  t.equal(decidingRules(accepted).length, 1, 'a top-level return accepts, so it decides');
});

t.test('match line', async (t) => {
  t.equal(matchLine({ ethSrc: 'a', ethDst: 'b', etherType: 2048, nwSrc: '10.0.0.1', nwDst: '10.0.0.2', nwProto: 6, tpSrc: 1000, tpDst: 80 }), 'tcp 10.0.0.1:1000 → 10.0.0.2:80');
  t.equal(matchLine({ ethSrc: 'a', ethDst: 'b', etherType: 2048, nwSrc: '10.0.0.1', nwDst: '10.0.0.2', nwProto: 1, tpSrc: 8, tpDst: 0 }), 'icmp 10.0.0.1 → 10.0.0.2');
  t.equal(matchLine({ ethSrc: '02:00:00:00:00:01', ethDst: 'ff:ff:ff:ff:ff:ff', etherType: 2054 }), 'ARP 02:00:00:00:00:01 → ff:ff:ff:ff:ff:ff');
});

t.test('condition form: typed values become the API JSON and come back unchanged', async (t) => {
  const json = formToJson({
    name: ' web ', enabled: false, limit: '5', nwProto: 'TCP', invNwProto: true, tpDst: '8080-8090', tpSrc: '53',
    inPorts: 'a, b  c', dlType: '0x0806', nwSrcAddress: '10.0.0.0', nwSrcLength: '8', deviceType: 'router', deviceId: 'r1',
    fragmentPolicy: '', noVlan: true, condInvert: false, vlan: '',
  });
  t.same(json, {
    name: 'web', enabled: false, limit: 5, deviceType: 'router', deviceId: 'r1', inPorts: ['a', 'b', 'c'], dlType: 2054,
    noVlan: true, nwSrcAddress: '10.0.0.0', nwSrcLength: 8, nwProto: 6, invNwProto: true,
    tpSrc: { start: 53, end: 53 }, tpDst: { start: 8080, end: 8090 },
  });
  t.same(formToJson(jsonToForm(json as unknown as TraceConditionJson)), json, 'form → JSON → form → JSON is stable');
  t.same(formToJson({ enabled: true, limit: '-1', nwTos: 'abc', tpDst: 'x-y' }),
    { enabled: true, limit: -1, nwTos: 'abc', tpDst: { start: 'x', end: 'y' } }, 'bad values go to the API as typed, for it to name');
});

t.test('the API message is split per form field', async (t) => {
  const e = fieldErrors('limit: must be an integer from 0 to 2147483647; nwSrcAddress: must be a dotted-quad IPv4 address like 10.0.0.1; tpDst.start: must be an integer from 0 to 65535; and 2 more');
  t.same(Object.keys(e).sort(), ['', 'limit', 'nwSrcAddress', 'tpDst']);
  t.same(e.tpDst, ['tpDst.start: must be an integer from 0 to 65535']);
  t.same(e[''], ['and 2 more'], 'what names no field is kept for the summary');
  t.same(fieldErrors('name: a trace condition named "x" already exists'), { name: ['name: a trace condition named "x" already exists'] });
  t.same(fieldErrors('body: expected object'), { '': ['body: expected object'] });
});

t.test('API base and Link headers', async (t) => {
  t.equal(apiBase('/ui/'), '/');
  t.equal(apiBase('/ui/index.html'), '/');
  t.equal(apiBase('/midotrace/ui/'), '/midotrace/');
  t.equal(nextLink('<http://127.0.0.1:8181/traces?limit=10&cursor=abc>; rel="next"', '/'), 'traces?limit=10&cursor=abc');
  t.equal(nextLink('<http://proxy/midotrace/traces?cursor=x>; rel="next"', '/midotrace/'), 'traces?cursor=x');
  t.equal(nextLink('<http://h/traces?cursor=p>; rel="prev", <http://h/traces?cursor=n>; rel="next"', '/'), 'traces?cursor=n');
  t.equal(nextLink(null, '/'), null);
  t.equal(tracesPath({ result: 'drop', hostId: 'h' }, 25), 'traces?result=drop&hostId=h&limit=25');
  const local = isoToLocal('2030-01-02T03:04:05.000Z');
  t.equal(localToIso(local), '2030-01-02T03:04:05.000Z', 'datetime-local round trip');
});

// ---------------------------------------------------------------- in the browser

const MAC = { vm1: '02:00:00:00:00:01', vm2: '02:00:00:00:00:02', vm3: '02:00:00:00:00:03', r1: '02:00:00:00:01:01', r2: '02:00:00:00:01:02' };
const n = new Net();
n.bridge('b1', { arpTable: [{ ip: '10.0.1.10', mac: MAC.vm1 }] })
  .bridge('b2', { arpTable: [{ ip: '10.0.2.10', mac: MAC.vm3 }] })
  .router('r')
  .port('b1', 'vm1').port('b1', 'vm2').port('b2', 'vm3')
  .attach('r', 'b1', '10.0.1.1/24', MAC.r1)
  .attach('r', 'b2', '10.0.2.1/24', MAC.r2)
  // Only web traffic gets through the router: rule 2 drops every other TCP packet.
  .chain('web-only', [{ type: 'accept', nwProto: 6, tpDst: { start: 80, end: 80 } }, { type: 'drop', nwProto: 6 }])
  .set('routers', 'r', { inboundFilterId: n.id('web-only') });
const vm1 = n.id('vm1');
const tcpTo = (port: number, src = 40000) => ({ inPort: vm1, packet: pk.tcp(MAC.vm1, MAC.r1, '10.0.1.10', '10.0.2.10', { tpSrc: src, tpDst: port }) });

const ADMIN_TOKEN = 'panel-test-admin-token-0123456789';
const inCI = process.env.CI === 'true';
const docsShots = process.env.UPDATE_SCREENSHOTS === '1';

const panelDir = mkdtempSync(join(tmpdir(), 'midotrace-panel-'));
t.teardown(() => rmSync(panelDir, { recursive: true, force: true }));

t.test('control panel in chromium', async (t) => {
  // Built from the sources under test, not whatever panel/dist holds.
  const built = await buildPanel(panelDir);
  t.comment(`panel bundle: ${built.files.map((f) => `${f.name} ${f.bytes} B`).join(', ')}`);
  const browser: BrowserLaunch = await launchChromium();
  if (!browser.ok) {
    if (inCI) t.fail(`the panel tests need Debian's chromium: ${browser.reason}`);
    else t.test('browser tests', { skip: `chromium unavailable: ${browser.reason}` }, () => {});
    return;
  }
  t.teardown(() => browser.close());
  browserTests(t, browser.context, built.files.find((f) => f.name === 'app.js')!.bytes);
});

async function daemonWith(t: Tap, o: Parameters<typeof startTestDaemon>[1] = {}): Promise<{ d: TestDaemon; base: string }> {
  const d = await startTestDaemon(n.doc, { server: true, panelDir, ...o });
  t.teardown(() => d.close());
  return { d, base: `http://127.0.0.1:${d.daemon.port}` };
}


async function apiJson<T>(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: (text === '' ? null : JSON.parse(text)) as T };
}

interface SimResult { result: string; traceIds: string[] }

/** Conditions reach the workers within a second: send the packet until one is traced. */
async function injectUntilTraced(base: string, packet: unknown): Promise<string> {
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const r = await apiJson<SimResult[]>(base, 'POST', '/simulations', [packet]);
    const id = r.body[0]?.traceIds[0];
    if (id !== undefined) return id;
    await sleep(100);
  }
  throw new Error('no trace was made within 5 s');
}

/** Waits until the trace list shows exactly `count` rows. */
async function rows(page: Page, count: number): Promise<void> {
  await page.waitForFunction(`document.querySelectorAll('table.traces tbody tr').length === ${count}`);
}

/** Clear, then wait until the form has caught up with the address (it resets after the hash change). */
async function clearFilters(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.waitForFunction(`location.hash === '#/traces'
    && [...document.querySelectorAll('form.filters input, form.filters select')].every((e) => e.value === '')`);
}

async function shot(t: Tap, page: Page, name: string, docs?: string): Promise<void> {
  const dir = t.testdirName;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  t.comment(`screenshot: ${file}`);
  if (docsShots && docs !== undefined) {
    mkdirSync('docs/screenshots', { recursive: true });
    copyFileSync(file, join('docs/screenshots', docs));
  }
}

function browserTests(t: Tap, context: BrowserContext, appBytes: number): void {
  interface Ctx { t: Tap; page: Page; base: string; d: TestDaemon }
  /** A test with its own daemon and page; script errors in the page fail it. */
  function browserTest(name: string, o: Parameters<typeof startTestDaemon>[1], body: (c: Ctx) => Promise<void>): void {
    t.test(name, async (t) => {
      const { d, base } = await daemonWith(t, o);
      const page = await context.newPage();
      t.teardown(() => page.close());
      page.setDefaultTimeout(10_000);
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(String(e)));
      await body({ t, page, base, d });
      t.same(problems, [], 'no script errors in the page');
    });
  }

  browserTest('the panel is served under /ui/ as a small offline bundle', {}, async ({ t, page, base }) => {
    t.ok(appBytes < 150 * 1024, `app.js is ${appBytes} bytes`);
    const external: string[] = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
    const res = await page.goto(`${base}/ui`);
    t.equal(res?.status(), 200);
    t.match(page.url(), `${base}/ui/`, '/ui redirects to /ui/');
    await page.getByRole('heading', { name: 'Traces' }).waitFor();
    t.same(external, [], 'nothing is fetched from anywhere but the daemon');
    await shot(t, page, 'empty-list');
  });

  browserTest('create a condition, see its trace arrive live, open it, find the deciding rule, delete it', {}, async ({ t, page, base }) => {
    await page.goto(`${base}/ui/`);
    await page.getByRole('link', { name: 'Trace conditions' }).click();
    await page.getByRole('link', { name: 'New condition' }).click();
    await page.fill('#f-name', 'ssh-to-vm3');
    await page.fill('#f-nwProto', 'tcp');
    await page.fill('#f-nwDstAddress', '10.0.2.10');
    await page.fill('#f-tpDst', '22');
    await page.fill('#f-inPorts', 'vm1'); // a port by name (P12: names wherever an id goes)
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('table.conditions tr', { hasText: 'ssh-to-vm3' }).waitFor();
    const conds = await apiJson<TraceConditionJson[]>(base, 'GET', '/trace_conditions');
    t.match(conds.body, [{ name: 'ssh-to-vm3', nwProto: 6, nwDstAddress: '10.0.2.10', tpDst: { start: 22, end: 22 }, inPorts: [vm1], enabled: true }], 'the API holds what the form said, the port name as its id');
    const condId = conds.body[0]!.id;

    const lists: string[] = [];
    const streams: string[] = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path === '/traces') lists.push(r.url());
      if (path === '/traces/stream') streams.push(r.url());
    });
    await page.getByRole('link', { name: 'Traces', exact: true }).click();
    await page.locator('.empty').waitFor();
    t.ok(await page.getByLabel('Live').isChecked(), 'live mode is on');
    await page.locator('.live', { hasText: 'following new traces' }).waitFor();
    await page.evaluate('window.marker = "same page"');

    const traceId = await injectUntilTraced(base, tcpTo(22));
    const row = page.locator(`tr[data-id="${traceId}"]`);
    await row.waitFor({ timeout: 10_000 });
    t.equal(await page.evaluate('window.marker'), 'same page', 'the trace appeared without a reload');
    t.equal(lists.length, 1, 'the list was loaded once: the new trace came by the stream, not by polling');
    t.equal(streams.length, 1, 'one stream');
    t.match(await row.textContent(), /drop.*tcp 10\.0\.1\.10:40000 → 10\.0\.2\.10:22.*ssh-to-vm3/);
    await shot(t, page, 'list-live');

    // Open it from the keyboard.
    await row.getByRole('link').focus();
    await page.keyboard.press('Enter');
    await page.locator('.path').waitFor();
    t.match(page.url(), `#/traces/${traceId}`);
    const nodes = await page.locator('.path > .node .node-name').allTextContents();
    t.same(nodes, ['vm1', 'b1', 'r', 'drop'], 'ingress port → bridge → router → disposition');
    t.match(await page.locator('.path .arrow .via').allTextContents(), ['via b1-r ⇄ r-b1'], 'the interior ports are on the arrow');
    const deciding = page.locator('.path .node-router .chip.rule.deciding');
    t.equal(await deciding.count(), 1, 'the router box carries the deciding rule');
    t.match(await deciding.textContent(), /deciding rule\s*web-only\[2\]: drop/);
    t.match(await page.locator('.path .node-router .chip.drop').textContent(), /chain_drop/, 'and the drop reason');
    const step = page.locator('.timeline .step.deciding');
    t.equal(await step.count(), 1, 'one deciding step in the timeline');
    t.match(await step.textContent(), /deciding rule.*rule 2 \(drop\) of chain web-only matched: drop/);
    t.equal(await step.evaluate((el) => el.closest('section')?.getAttribute('aria-label')), 'router r', 'grouped under the router');
    t.match(await page.locator('.kv').first().textContent(), /Deciding rule\s*web-only\[2\] \(drop\)/);
    t.match(await page.locator('table.match').textContent(), /tcp \(6\).*40000 → 22/);
    const groups = await page.locator('.timeline > section h3').allTextContents();
    t.equal(groups.length, 5, 'vm1, b1, b1-r, r-b1, r');

    // A diagram box leads to its steps.
    await page.locator('.path .node-router .node-box').focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction('document.activeElement?.getAttribute("aria-label") === "router r"');
    t.pass('Enter on the router box focuses its steps');

    // Export is the trace as the API serves it.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export JSON' }).click()]);
    t.equal(download.suggestedFilename(), `trace-${traceId}.json`);
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as Trace;
    const served = await apiJson<Trace>(base, 'GET', `/traces/${traceId}`);
    t.same(exported, served.body, 'exported JSON equals GET /traces/{id}');
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot(t, page, 'trace', 'trace.png');

    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.locator('dialog.confirm');
    t.match(await dialog.textContent(), /Delete this trace\?/);
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.locator('.notice', { hasText: `Deleted trace ${traceId}` }).waitFor();
    t.match(page.url(), /#\/traces$/);
    await page.locator('.empty').waitFor();
    t.equal(await page.locator(`tr[data-id="${traceId}"]`).count(), 0, 'gone from the list');
    t.equal((await apiJson(base, 'GET', `/traces/${traceId}`)).status, 404, 'and from the API');

    await page.getByRole('link', { name: 'Trace conditions' }).click();
    t.match(await page.locator(`tr[data-id="${condId}"] .hits`).textContent(), '1 / ∞', 'the condition made one trace, no limit');
  });

  browserTest('compare two traces: aligned by device, where and why they part; port names; pcap export', {}, async ({ t, page, base, d }) => {
    const sims = await apiJson<SimResult[]>(base, 'POST', '/simulations?trace=true', [tcpTo(80), tcpTo(22)]);
    const [web, ssh] = sims.body.map((r) => r.traceIds[0]!);
    t.same(sims.body.map((r) => r.result), ['forward', 'drop']);
    await d.daemon.backends.sink.flush();
    await page.goto(`${base}/ui/`);
    await rows(page, 2);
    t.same(await page.locator('table.traces tbody td .port-name').allTextContents(), ['vm1', 'vm1'], 'the ingress port by name');
    for (const id of [web!, ssh!]) await page.locator(`tr[data-id="${id}"] input[type=checkbox]`).check();
    await page.getByRole('button', { name: 'Compare selected' }).click();
    await page.locator('.divergence.parted').waitFor();
    t.match(page.url(), /#\/compare\//);
    t.match(await page.locator('.divergence').textContent(), /They part at step \d+ of A and step \d+ of B: another rule decided at router r: A: rule web-only\[1\] \(accept\) matched: accept; B: rule web-only\[2\] \(drop\) matched: drop$/);
    const diff = await apiJson<{ steps: { same: boolean }[] }>(base, 'GET', `/traces/diff?a=${decodeURIComponent(page.url().split('/').at(-2)!)}&b=${decodeURIComponent(page.url().split('/').at(-1)!)}`);
    t.equal(await page.locator('table.compare tbody tr').count(), diff.body.steps.length, 'one row per aligned device');
    t.equal(await page.locator('table.compare tbody tr.differs').count(), diff.body.steps.filter((r) => !r.same).length, 'rows that differ are marked');
    t.match(await page.locator('table.compare tr.first-divergence th').textContent(), /^router r/, 'the first divergence is the router');
    t.match(await page.locator('table.compare tr.first-divergence').textContent(), /rule 2 \(drop\) of chain web-only matched: drop/, 'with each side\'s steps');
    await shot(t, page, 'compare', 'compare.png');

    await page.locator('.compare-side a').first().click();
    await page.locator('.path').waitFor();
    t.match(await page.locator('.kv').first().textContent(), /Ingress port\s*vm1/);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export pcap' }).click()]);
    t.match(dl.suggestedFilename(), /^trace-[0-9a-f-]{36}\.pcap$/);
    const bytes = readFileSync((await dl.path())!);
    t.equal(bytes.readUInt32LE(0), 0xa1b2c3d4, 'a pcap file');
  });

  browserTest('API errors are shown as the API phrased them, next to the fields they name', {}, async ({ t, page, base }) => {
    await apiJson(base, 'POST', '/trace_conditions', { name: 'taken' });
    await page.goto(`${base}/ui/#/conditions/new`);
    await page.fill('#f-nwSrcAddress', 'not-an-ip');
    await page.fill('#f-limit', '-1');
    await page.getByRole('button', { name: 'Create' }).click();
    const box = page.locator('.error[role="alert"]');
    await box.waitFor();
    t.match(await box.textContent(), /not created.*400 invalid_field/);
    t.match(await page.locator('[data-field="nwSrcAddress"] .field-error').textContent(), /^nwSrcAddress: must be a dotted-quad IPv4 address/);
    t.match(await page.locator('[data-field="limit"] .field-error').textContent(), /^limit: must be an integer from 0/);
    t.equal(await page.getAttribute('#f-nwSrcAddress', 'aria-invalid'), 'true');
    t.equal(await page.getAttribute('#f-name', 'aria-invalid'), 'false');
    t.ok(['f-limit', 'f-nwSrcAddress'].includes(await page.evaluate<string>('document.activeElement?.id ?? ""')), 'focus moved to a field in error');
    t.equal((await apiJson<unknown[]>(base, 'GET', '/trace_conditions')).body.length, 1, 'nothing was created');
    await shot(t, page, 'field-errors');

    // Fixed values but a name in use: 409 lands on the name field.
    await page.fill('#f-nwSrcAddress', '10.0.0.0');
    await page.fill('#f-nwSrcLength', '8');
    await page.fill('#f-limit', '3');
    await page.fill('#f-name', 'taken');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.locator('[data-field="name"] .field-error').waitFor();
    t.match(await page.locator('[data-field="name"] .field-error').textContent(), 'name: a trace condition named "taken" already exists');
    t.equal(await page.locator('[data-field="limit"] .field-error').count(), 0, 'the old errors are gone');
    t.match(await box.textContent(), /409 duplicate_name/);

    await page.goto(`${base}/ui/#/traces/01a00000-0000-7000-8000-000000000000`);
    await page.locator('.error').waitFor();
    t.match(await page.locator('.error').textContent(), /Cannot show this trace.*404 not_found.*no trace 01a00000/);
    await shot(t, page, 'trace-not-found');
  });

  browserTest('conditions: hits against the limit, disable, edit, delete', {}, async ({ t, page, base }) => {
    const made = await apiJson<TraceConditionJson>(base, 'POST', '/trace_conditions', { name: 'web', nwProto: 6, tpDst: { start: 80, end: 80 }, limit: 5 });
    const id = made.body.id;
    await apiJson(base, 'POST', '/trace_conditions', { name: 'arp', dlType: 2054, invNwSrc: true, nwSrcAddress: '10.0.0.0', nwSrcLength: 8 });
    await injectUntilTraced(base, tcpTo(80, 41000));
    await page.goto(`${base}/ui/#/conditions`);
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    t.match(await row.locator('.hits').textContent(), '1 / 5', 'traces made against the limit');
    t.match(await row.locator('.words').textContent(), 'proto tcp dst-port 80', 'in the CLI\'s words');
    await shot(t, page, 'conditions', 'conditions.png');

    await row.getByRole('switch', { name: 'web enabled' }).click();
    await page.locator(`tr[data-id="${id}"] [role="switch"][aria-checked="false"]`).waitFor();
    t.match((await apiJson<TraceConditionJson>(base, 'GET', `/trace_conditions/${id}`)).body, { enabled: false, limit: 5, name: 'web' }, 'disabled, the rest kept');

    await row.getByRole('link', { name: 'Edit web' }).click();
    await page.locator('#f-tpDst').waitFor();
    t.equal(await page.inputValue('#f-tpDst'), '80', 'the form shows the stored values');
    t.equal(await page.inputValue('#f-limit'), '5');
    t.equal(await page.inputValue('#f-nwProto'), '6');
    t.notOk(await page.isChecked('#f-enabled'));
    await page.fill('#f-tpDst', '8080-8090');
    await page.check('[data-field="nwProto"] input[name="invNwProto"]');
    await page.check('#f-enabled');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('.notice', { hasText: 'Saved trace condition web' }).waitFor();
    const after = (await apiJson<TraceConditionJson>(base, 'GET', `/trace_conditions/${id}`)).body;
    t.match(after, { id, name: 'web', enabled: true, limit: 5, nwProto: 6, invNwProto: true, tpDst: { start: 8080, end: 8090 } }, 'PUT stored the edit');
    t.equal(after.creationTimestampMs, made.body.creationTimestampMs, 'created time kept');

    await page.locator(`tr[data-id="${id}"]`).getByRole('button', { name: 'Delete web' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
    await page.locator('.notice', { hasText: 'Deleted trace condition web' }).waitFor();
    // The notice may show before the list has been fetched again.
    await page.locator(`tr[data-id="${id}"]`).waitFor({ state: 'detached' });
    t.equal(await page.locator(`tr[data-id="${id}"]`).count(), 0, 'gone from the list');
    t.equal((await apiJson(base, 'GET', `/trace_conditions/${id}`)).status, 404, 'and from the API');
    await shot(t, page, 'condition-deleted');
  });

  browserTest('filters by result, condition, host and time; pages through the Link header', {}, async ({ t, page, base, d }) => {
    // 9 forwarded and 3 dropped forced traces, then one started by a condition.
    const packets = Array.from({ length: 12 }, (_, i) => tcpTo(i % 4 === 3 ? 22 : 80, 42000 + i));
    const sims = await apiJson<SimResult[]>(base, 'POST', '/simulations?trace=true', packets);
    t.same(sims.body.map((s) => s.result).filter((r) => r === 'drop').length, 3);
    const cond = (await apiJson<TraceConditionJson>(base, 'POST', '/trace_conditions', { name: 'ssh', nwProto: 6, tpDst: { start: 22, end: 22 } })).body;
    const condTrace = await injectUntilTraced(base, tcpTo(22, 43000));
    // The sink is fire-and-forget: a trace id is returned before its trace is stored.
    let all: TraceSummary[] = [];
    await waitUntil('13 traces stored', async () => (all = (await apiJson<TraceSummary[]>(base, 'GET', '/traces?limit=1000')).body).length >= 13);
    t.equal(all.length, 13);

    await page.goto(`${base}/ui/`);
    await rows(page, 13);
    await page.getByLabel('Per page').selectOption('10');
    await rows(page, 10);
    const page1 = await page.locator('table.traces tbody tr').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-id')));
    t.same(page1, all.slice(0, 10).map((x) => x.id), 'newest first, 10 per page');
    await shot(t, page, 'list', 'traces.png');
    await page.getByRole('button', { name: 'Older →' }).click();
    await page.locator('.pager', { hasText: 'page 2' }).waitFor();
    await rows(page, 3);
    const page2 = await page.locator('table.traces tbody tr').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-id')));
    t.same(page2, all.slice(10).map((x) => x.id), 'the next page is the rest');
    t.ok(await page.getByRole('button', { name: 'Older →' }).isDisabled(), 'no page after the last');
    await page.getByRole('button', { name: '← Newer' }).click();
    await page.locator('.pager', { hasText: 'page 1' }).waitFor();

    await page.getByLabel('Result').selectOption('drop');
    await page.getByRole('button', { name: 'Apply' }).click();
    await rows(page, 4);
    t.same(new Set(await page.locator('table.traces tbody .badge[class*="result-"]').allTextContents()), new Set(['drop']), 'only drops');
    t.match(page.url(), /result=drop/, 'filters are in the address, so they survive a reload and can be shared');

    await clearFilters(page);
    await page.getByLabel('Condition').selectOption({ label: 'ssh' });
    await page.getByRole('button', { name: 'Apply' }).click();
    await rows(page, 1);
    t.equal(await page.locator('table.traces tbody tr').getAttribute('data-id'), condTrace, 'the trace its condition started');
    t.match(page.url(), `conditionId=${cond.id}`);

    await clearFilters(page);
    await page.getByLabel('Host').fill('00000000-0000-4000-8000-000000000000');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('.empty', { hasText: 'match these filters' }).waitFor();
    await page.getByLabel('Per page').selectOption('25');
    await page.getByLabel('Host').fill(d.daemon.hostId);
    await page.getByRole('button', { name: 'Apply' }).click();
    await rows(page, 13);

    await clearFilters(page);
    await page.getByLabel('From').fill(isoToLocal(new Date(Date.now() + 3_600_000).toISOString()));
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('.empty', { hasText: 'match these filters' }).waitFor();
    t.match(page.url(), /since=/);
    const until = new Date(Date.parse(all[0]!.startedAt) + 1000).toISOString();
    await page.goto(`${base}/ui/#/traces?until=${encodeURIComponent(until)}&since=${encodeURIComponent(all[12]!.startedAt)}`);
    await rows(page, 13);
    t.equal(await page.getByLabel('Until').inputValue(), isoToLocal(until), 'the form shows the time range it applies');

    // Select two, delete them after confirming.
    await page.goto(`${base}/ui/#/traces?result=forward`);
    await rows(page, 9);
    const victims = all.filter((x) => x.result === 'forward').slice(0, 2).map((x) => x.id);
    for (const v of victims) await page.getByLabel(`Select trace ${v}`).check();
    await page.getByRole('button', { name: 'Delete selected (2)' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Cancel' }).click();
    t.equal((await apiJson<unknown[]>(base, 'GET', '/traces?result=forward')).body.length, 9, 'cancel deletes nothing');
    await page.getByRole('button', { name: 'Delete selected (2)' }).click();
    await page.locator('dialog.confirm').getByRole('button', { name: 'Delete' }).click();
    await page.locator('.notice', { hasText: 'Deleted 2 traces' }).waitFor();
    await rows(page, 7);
    for (const v of victims) t.equal((await apiJson(base, 'GET', `/traces/${v}`)).status, 404);
  });

  browserTest('a daemon with tokens: the panel asks for one and keeps it for the session only', { config: { api: { tokens: [{ token: ADMIN_TOKEN, role: 'admin' }] } } }, async ({ t, page, base }) => {
    await page.goto(`${base}/ui/`);
    await page.getByRole('heading', { name: 'This daemon needs an API token' }).waitFor();
    t.match(await page.locator('.token-prompt').textContent(), /401 unauthorized.*Authorization: Bearer/);
    await page.getByLabel('Token', { exact: true }).fill('wrong-token-wrong-token');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('.token-prompt .reason', { hasText: 'unknown token' }).waitFor();
    await shot(t, page, 'token-prompt');
    await page.getByLabel('Token', { exact: true }).fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('.empty').waitFor();
    await injectWithToken(base);
    await page.locator('table.traces tbody tr').first().waitFor();
    const stored = await page.evaluate('({ session: sessionStorage.getItem("midotrace.token"), local: localStorage.length, cookies: document.cookie })');
    t.same(stored, { session: ADMIN_TOKEN, local: 0, cookies: '' }, 'sessionStorage only');
    await page.getByRole('button', { name: 'Forget token' }).click();
    await page.getByRole('heading', { name: 'This daemon needs an API token' }).waitFor();
    t.equal(await page.evaluate('sessionStorage.getItem("midotrace.token")'), null);
  });

  async function injectWithToken(base: string): Promise<void> {
    const r = await apiJson<SimResult[]>(base, 'POST', '/simulations?trace=true', [tcpTo(80)], ADMIN_TOKEN);
    if (r.status !== 200) throw new Error(`simulation failed: ${r.status}`);
  }

  browserTest('an incomplete trace says so plainly', { wrapSink: (s) => new FaultySink(s, { kind: 'fail' }) }, async ({ t, page, base }) => {
    const sim = await apiJson<SimResult[]>(base, 'POST', '/simulations?trace=true', [tcpTo(80)]);
    const id = sim.body[0]!.traceIds[0]!;
    await page.goto(`${base}/ui/`);
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    t.match(await row.locator('.badge.incomplete').textContent(), 'incomplete');
    await row.getByRole('link').click();
    const banner = page.locator('.incomplete-banner');
    await banner.waitFor();
    t.match(await banner.textContent(), /complete: false.*No step was stored.*forward/);
    t.match(await page.locator('.path .node-disposition').textContent(), /forward/, 'the result is still shown');
    t.same(await page.locator('.path .node-type').allTextContents(), ['ingress port', 'not recorded', 'disposition'], 'and the gap in the path');
    t.match(await page.locator('.empty').textContent(), 'No step of this trace was stored');
    await shot(t, page, 'incomplete');
  });

  browserTest('readable at 1280×800 and on a narrow screen', {}, async ({ t, page, base }) => {
    const id = (await apiJson<SimResult[]>(base, 'POST', '/simulations?trace=true', [tcpTo(22)])).body[0]!.traceIds[0]!;
    const noSideScroll = () => page.evaluate<boolean>('document.documentElement.scrollWidth <= document.documentElement.clientWidth');
    const boxes = () => page.locator('.path > .node').evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return { x: Math.round(r.x), y: Math.round(r.y) }; }));

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${base}/ui/#/traces/${id}`);
    await page.locator('.path').waitFor();
    t.ok(await noSideScroll(), 'no sideways scrolling at 1280×800');
    const wide = await boxes();
    t.equal(new Set(wide.map((b) => b.y)).size, 1, 'the path reads left to right on a wide screen');

    await page.setViewportSize({ width: 390, height: 844 });
    t.ok(await noSideScroll(), 'no sideways scrolling at 390 px');
    const narrow = await boxes();
    t.equal(new Set(narrow.map((b) => b.x)).size, 1, 'and top to bottom on a narrow one');
    t.ok(narrow.every((b, i) => i === 0 || b.y > narrow[i - 1]!.y));
    await shot(t, page, 'trace-narrow');
    await page.goto(`${base}/ui/`);
    await page.locator('table.traces').waitFor();
    t.ok(await noSideScroll(), 'the list fits too (wide columns hidden)');
    await shot(t, page, 'list-narrow');
    await page.goto(`${base}/ui/#/conditions/new`);
    await page.locator('#f-name').waitFor();
    t.ok(await noSideScroll(), 'and the condition form');

    // Keyboard: the first Tab reaches the skip link, which leads into the page.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${base}/ui/`);
    await page.locator('table.traces').waitFor();
    await page.keyboard.press('Tab');
    t.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
  });
}

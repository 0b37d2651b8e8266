// `simulate --flow EXPR` (P12 item 7): ovn-trace's microflow syntax for SPEC §3's fields, errors that
// name the bad token and its column, and the --minimal / --summary / --detailed output levels of a
// real offline `midotrace simulate` on the example topology, ports given by name.
import t from 'tap';
import { parseFlow } from '../model/flow-expr.js';
import { cli, userError } from './helpers/cli-run.js';

t.test('microflows become SPEC §3 packets', async (t) => {
  t.same(parseFlow('inport == "web1" && ip4.dst == 10.0.2.12 && tcp.dst == 5432'),
    { ok: true, inPort: 'web1', packet: { nwDst: '10.0.2.12', tpDst: 5432, nwProto: 6 } });
  t.same(parseFlow('inport=="p" && udp && udp.src==53 && ip.ttl == 1 && eth.src == 02:00:00:00:00:0A && vlan.vid == 7'),
    { ok: true, inPort: 'p', packet: { tpSrc: 53, ttl: 1, ethSrc: '02:00:00:00:00:0a', vlan: 7, nwProto: 17 } });
  t.same(parseFlow('inport == "p" && icmp4.type == 8 && ip.dscp == 46'), { ok: true, inPort: 'p', packet: { icmpType: 8, nwTos: 184, nwProto: 1 } });
  t.same(parseFlow('inport == "p" && arp && arp.tpa == 10.0.0.1 && arp.op == 1'), { ok: true, inPort: 'p', packet: { arp: { op: 1, tpa: '10.0.0.1' } } });
  t.same(parseFlow('inport == "p" && eth.type == 0x88cc'), { ok: true, inPort: 'p', packet: { etherType: 0x88cc } });
});

t.test('errors name the token and its column', async (t) => {
  const cases: [string, RegExp][] = [
    ['inport == "web1" && ip6.dst == ::1', /^--flow: unknown field "ip6\.dst" at column 21 \(known: inport, eth\.src/],
    ['inport == "web1" && ip4.dst 10.0.0.1', /^--flow: expected "==" after ip4\.dst at column 29$/],
    ['inport == "web1" && tcp.dst == 1 && udp.src == 2', /^--flow: udp\.src contradicts tcp\.dst \(column 37\)$/],
    ['inport == "web1" && tcp.dst == 70000', /^--flow: tcp\.dst needs an integer from 0 to 65535, not "70000" \(column 32\)$/],
    ['inport == "web1" && ip4.src == 10.0.0', /^--flow: ip4\.src needs an IPv4 address like 10\.0\.0\.1, not "10\.0\.0" \(column 32\)$/],
    ['inport == "web1" && eth.dst == nope', /^--flow: eth\.dst needs a MAC address/],
    ['ip4.dst == 10.0.0.1', /^--flow: inport == "PORT" is required/],
    ['inport == "web1" ip4.dst == 10.0.0.1', /^--flow: expected "&&" before "ip4\.dst" at column 18$/],
    ['inport == "web1 && tcp', /^--flow: unterminated string at column 11$/],
    ['inport == "a" && arp && tcp', /^--flow: tcp contradicts arp/],
    ['inport == "a" && tcp.dst == 1 && tcp.dst == 2', /^--flow: tcp\.dst is given twice \(columns 18 and 34\)$/],
    ['inport == "a" &&', /^--flow: expected a term after "&&" at the end$/],
    ['', /^--flow: empty expression/],
  ];
  for (const [expr, re] of cases) {
    const r = parseFlow(expr);
    t.match(r.ok ? '' : r.message, re, expr);
  }
});

const TOPO = 'examples/topology.json';
const FLOW = 'inport == "web1" && eth.src == fa:16:3e:00:01:11 && eth.dst == 02:00:00:00:01:01 && ip4.src == 10.0.1.11 && ip4.dst == 10.0.2.12 && tcp.dst == 5432';

t.test('simulate --flow with each output level', async (t) => {
  const [minimal, summary, detailed, plain, json, named] = await Promise.all([
    cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--minimal']),
    cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--summary']),
    cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--detailed']),
    cli(['simulate', '--topology', TOPO, '--flow', FLOW]),
    cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--json']),
    cli(['simulate', '--topology', TOPO, '--in-port', 'web1', '--packet', '{"ethSrc":"fa:16:3e:00:01:11","ethDst":"02:00:00:00:01:01","nwSrc":"10.0.1.11","nwDst":"10.0.2.12","nwProto":"tcp","tpDst":5432}', '--json']),
  ]);
  for (const r of [minimal, summary, detailed, plain, json, named]) t.equal(r.code, 0, r.stderr);
  const result = JSON.parse(json.stdout) as { result: string; emitted: { portId: string }[] };
  t.same(JSON.parse(named.stdout), result, '--in-port by name is the same packet as --flow');
  t.equal(result.result, 'forward');
  t.equal(minimal.stdout.trim().split('\n').length, 1, '--minimal: one line');
  t.match(minimal.stdout.trim(), /^forward → db\d(, db\d)*$/);
  t.equal(summary.stdout.trim().split('\n').length, 1, '--summary: one line');
  t.match(summary.stdout, /^port web1 → bridge web → .*router edge \[edge-in\[4\]: accept; route 10\.0\.2\.0\/24.*\] → .*bridge db .*: forward → db/);
  t.match(detailed.stdout, /^result: forward/);
  t.match(detailed.stdout, /^\s+1\s+port web1\s+reception/m, '--detailed prints the trace');
  t.notMatch(plain.stdout, /reception/, 'without a level or --trace, the result only');
  userError(t, await cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--minimal', '--summary']), /give one of --minimal, --summary, --detailed \(not --minimal and --summary\)/, 'two levels');
  userError(t, await cli(['simulate', '--topology', TOPO, '--flow', FLOW, '--in-port', 'web1']), /--flow cannot be combined with --in-port/, '--flow and --in-port');
  userError(t, await cli(['simulate', '--topology', TOPO, '--flow', 'inport == "nope" && udp']), /^midotrace: inport: no port has the id, id prefix or suffix, or name nope$/, 'unknown inport');
  userError(t, await cli(['simulate', '--topology', TOPO, '--flow', 'inport == "web1" && ip6.dst == ::1']), /^midotrace: --flow: unknown field "ip6\.dst" at column 21/, 'bad token');
});

// A Simulator owns one PacketContext and turns SPEC §3 inputs into SPEC §4 results. Hot callers
// (the worker pool, benchmarks) use runFrame() and read ctx; JSON is built only by resultJson().
import { PacketContext, type TraceMatcher } from './context.js';
import { ResultCode, RESULT_NAMES } from '../model/result.js';
import { Step } from '../model/step.js';
import { simulate } from './simulate.js';
import type { CompiledTopology } from './topology/compiled.js';
import type { SimStateTables } from './state/types.js';
import { parseFrame, type ParseError } from './wire/parse.js';
import { PARSE_ERROR_MESSAGES, parsedLayers } from './wire/parse.js';
import { buildFrameBytes } from './wire/build.js';
import { bytesToHex, packetToJson } from './packet-json.js';
import { finish } from './devices/disposition.js';
import { F } from './rules/condition.js';

/** Whether any rule matches on forward/return flow (then flows are tracked for every packet). */
export function topologyTracksFlows(topo: CompiledTopology): boolean {
  return topo.rules.some((r) => (r.cond.set & (F.FwdFlow | F.RetFlow)) !== 0);
}

export type { EmittedJson, SimulationResultJson } from '../model/result.js';
import type { EmittedJson, SimulationResultJson } from '../model/result.js';

export class Simulator {
  readonly ctx: PacketContext;
  parseError: ParseError = 'ok';

  constructor(topo: CompiledTopology, state: SimStateTables, hostId = '', matcher: TraceMatcher | null = null) {
    this.ctx = new PacketContext(topo, state);
    this.ctx.hostId = hostId;
    this.ctx.matcher = matcher;
    this.ctx.tracksFlows = topologyTracksFlows(topo);
  }

  setTopology(topo: CompiledTopology): void {
    this.ctx.setTopology(topo);
    this.ctx.tracksFlows = topologyTracksFlows(topo);
  }

  /**
   * Parses `len` bytes at `off` as an Ethernet frame and simulates it entering `inPort`. `screen` is
   * ConditionMatcher.screenBatch()'s verdict on the frame when the caller has one (0: no condition can
   * match at ingress).
   */
  runFrame(inPort: number, buf: Uint8Array, off: number, len: number, nowMs: number, screen = 1): ResultCode {
    const ctx = this.ctx;
    ctx.begin(nowMs);
    ctx.ingressScreen = screen;
    const err = parseFrame(buf, off, len, ctx.pkt);
    this.parseError = err;
    if (err !== 'ok') return this.malformed(inPort, err);
    return simulate(ctx, inPort);
  }

  private malformed(inPort: number, err: ParseError): ResultCode {
    const ctx = this.ctx;
    ctx.ingressPort = inPort;
    // The trace's match is this frame's, as far as it parsed: never the previous packet's fields.
    ctx.origPkt.copyFrom(ctx.pkt);
    ctx.origLayers = parsedLayers(err);
    const port = ctx.topo.ports[inPort];
    if (ctx.traced && port !== undefined) {
      ctx.step(Step.frameReceived(port));
      ctx.step(Step.dropped('port', port, { reason: 'malformed_frame', error: err }, `malformed frame (${PARSE_ERROR_MESSAGES[err]})`));
    }
    finish(ctx, ResultCode.ErrorDrop, 'malformed_frame');
    return ctx.result;
  }

  /** The last simulation as SPEC §4 JSON (allocates; not for the hot path). */
  resultJson(traceIds: string[] = []): SimulationResultJson {
    const ctx = this.ctx;
    const emitted: EmittedJson[] = [];
    for (let i = 0; i < ctx.emitCount; i++) {
      const pkt = ctx.emitPkts[i]!;
      emitted.push({
        portId: ctx.topo.ports[ctx.emitPorts[i]!]!.id,
        generated: ctx.emitGenerated[i] === 1,
        packet: packetToJson(pkt),
        frame: bytesToHex(buildFrameBytes(pkt)),
      });
    }
    const out: SimulationResultJson = {
      result: RESULT_NAMES[ctx.result],
      reason: ctx.reason,
      emitted,
      devicesTraversed: ctx.devicesTraversed,
      traceIds,
    };
    if (this.parseError !== 'ok') out.error = { code: this.parseError, message: PARSE_ERROR_MESSAGES[this.parseError] };
    return out;
  }
}

// SPEC §4 result JSON written straight to bytes, for the API's hot path. POST /simulations answers
// ~900 bytes a packet; built as objects and strings, JSON.stringify'd, cloned to the daemon thread,
// measured by Buffer.byteLength and UTF-8 encoded again by the socket write, those bytes cost the
// daemon's main thread about 2 ms a 256-packet request. Here a worker writes them once, into one
// reused buffer, with no object or string per packet. The output is byte for byte
// JSON.stringify(Simulator.resultJson(traceIds)), which stays the reference (tested against it).
import { RESULT_NAMES } from '../model/result.js';
import { macHi, macLo } from '../model/addr.js';
import type { Simulator } from './simulator.js';
import { ETH_ARP, ETH_IPV4, Frag, PROTO_ICMP, PROTO_TCP, PROTO_UDP, type Packet } from './packet.js';
import { PARSE_ERROR_MESSAGES } from './wire/parse.js';
import { buildFrame, frameLength } from './wire/build.js';
import { isEchoType } from './wire/icmp.js';
import { FRAGMENT_NAMES } from './packet-json.js';
import type { CompiledTopology } from './topology/compiled.js';

const encoder = new TextEncoder();
const HEX = encoder.encode('0123456789abcdef');

export class ResultJsonWriter {
  private buf = new Uint8Array(64 * 1024);
  private len = 0;
  private frame = new Uint8Array(2048);
  /** Port ids as JSON string bytes (quotes included), per compiled topology. */
  private portIdsOf: CompiledTopology | null = null;
  private portIds: (Uint8Array | undefined)[] = [];
  /** Constant pieces (result names, reasons, error messages) as JSON bytes. */
  private readonly pieces = new Map<string, Uint8Array>();

  /** Starts a new output (the previous bytes are overwritten). */
  reset(): void { this.len = 0; }

  /** A copy of what was written since reset(). */
  bytes(): Uint8Array { return this.buf.slice(0, this.len); }

  /** Appends text that is already JSON (ASCII only). */
  raw(text: string): void {
    this.reserve(text.length);
    const b = this.buf;
    let n = this.len;
    for (let i = 0; i < text.length; i++) b[n++] = text.charCodeAt(i);
    this.len = n;
  }

  /** Appends JSON.stringify(sim.resultJson(traceIds)) for the simulator's last packet. */
  result(sim: Simulator, traceIds: readonly string[]): void {
    const ctx = sim.ctx;
    this.raw('{"result":');
    this.piece(RESULT_NAMES[ctx.result]!);
    this.raw(',"reason":');
    this.piece(ctx.reason);
    this.raw(',"emitted":[');
    for (let i = 0; i < ctx.emitCount; i++) {
      if (i > 0) this.byte(44);
      this.raw('{"portId":');
      this.portId(ctx.topo, ctx.emitPorts[i]!);
      this.raw(ctx.emitGenerated[i] === 1 ? ',"generated":true,"packet":' : ',"generated":false,"packet":');
      const pkt = ctx.emitPkts[i]!;
      this.packet(pkt);
      this.raw(',"frame":"');
      this.frameHex(pkt);
      this.raw('"}');
    }
    this.raw('],"devicesTraversed":');
    this.int(ctx.devicesTraversed);
    this.raw(',"traceIds":[');
    for (let i = 0; i < traceIds.length; i++) {
      if (i > 0) this.byte(44);
      this.string(traceIds[i]!);
    }
    this.byte(93);
    if (sim.parseError !== 'ok') {
      this.raw(',"error":{"code":');
      this.piece(sim.parseError);
      this.raw(',"message":');
      this.piece(PARSE_ERROR_MESSAGES[sim.parseError]);
      this.byte(125);
    }
    this.byte(125);
  }

  /** packetToJson(pkt), in its key order. */
  private packet(pkt: Packet): void {
    this.raw('{"ethSrc":');
    this.mac(pkt.ethSrc);
    this.raw(',"ethDst":');
    this.mac(pkt.ethDst);
    if (pkt.vlanCount === 1) {
      this.raw(',"vlan":');
      this.int(pkt.vlanIds[0]!);
    } else if (pkt.vlanCount >= 2) {
      this.raw(',"vlan":[');
      this.int(pkt.vlanIds[0]!);
      this.byte(44);
      this.int(pkt.vlanIds[1]!);
      this.byte(93);
    }
    this.raw(',"etherType":');
    this.int(pkt.etherType);
    if (pkt.etherType === ETH_ARP) {
      this.raw(',"arp":{"op":');
      this.int(pkt.arpOp);
      this.raw(',"sha":');
      this.mac(pkt.arpSha);
      this.raw(',"spa":');
      this.ip(pkt.arpSpa);
      this.raw(',"tha":');
      this.mac(pkt.arpTha);
      this.raw(',"tpa":');
      this.ip(pkt.arpTpa);
      this.raw('}}');
      return;
    }
    if (pkt.etherType === ETH_IPV4) {
      this.raw(',"nwSrc":');
      this.ip(pkt.nwSrc);
      this.raw(',"nwDst":');
      this.ip(pkt.nwDst);
      this.raw(',"nwProto":');
      this.int(pkt.nwProto);
      this.raw(',"nwTos":');
      this.int(pkt.nwTos);
      this.raw(',"ttl":');
      this.int(pkt.ttl);
      if (pkt.fragment !== Frag.None) {
        this.raw(',"fragment":');
        this.piece(FRAGMENT_NAMES[pkt.fragment]!);
      }
      if (pkt.fragment !== Frag.Later) {
        if (pkt.nwProto === PROTO_TCP || pkt.nwProto === PROTO_UDP) {
          this.raw(',"tpSrc":');
          this.int(pkt.tpSrc);
          this.raw(',"tpDst":');
          this.int(pkt.tpDst);
        } else if (pkt.nwProto === PROTO_ICMP) {
          this.raw(',"icmpType":');
          this.int(pkt.tpSrc);
          this.raw(',"icmpCode":');
          this.int(pkt.tpDst);
          if (isEchoType(pkt.tpSrc)) {
            this.raw(',"icmpId":');
            this.int(pkt.icmpId);
          }
        }
      }
    }
    this.raw(',"payloadLength":');
    this.int(pkt.payLen);
    this.byte(125);
  }

  private frameHex(pkt: Packet): void {
    const n = frameLength(pkt);
    if (n > this.frame.length) this.frame = new Uint8Array(Math.max(n, this.frame.length * 2));
    const f = this.frame;
    buildFrame(pkt, f, 0);
    this.reserve(2 * n);
    const b = this.buf;
    let o = this.len;
    for (let i = 0; i < n; i++) {
      const v = f[i]!;
      b[o++] = HEX[v >> 4]!;
      b[o++] = HEX[v & 15]!;
    }
    this.len = o;
  }

  /** "aa:bb:cc:dd:ee:ff", quoted. */
  private mac(mac: number): void {
    this.reserve(19);
    const b = this.buf;
    let o = this.len;
    b[o++] = 34;
    const hi = macHi(mac);
    const lo = macLo(mac);
    for (let k = 0; k < 6; k++) {
      const v = k < 3 ? (hi >>> (16 - 8 * k)) & 255 : (lo >>> (16 - 8 * (k - 3))) & 255;
      if (k > 0) b[o++] = 58;
      b[o++] = HEX[v >> 4]!;
      b[o++] = HEX[v & 15]!;
    }
    b[o++] = 34;
    this.len = o;
  }

  /** Dotted quad, quoted. */
  private ip(ip: number): void {
    this.byte(34);
    this.int(ip >>> 24);
    this.byte(46);
    this.int((ip >>> 16) & 255);
    this.byte(46);
    this.int((ip >>> 8) & 255);
    this.byte(46);
    this.int(ip & 255);
    this.byte(34);
  }

  private int(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) { this.raw(JSON.stringify(v)); return; }
    this.reserve(16);
    const b = this.buf;
    if (v < 10) { b[this.len++] = 48 + v; return; }
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let o = this.len + digits;
    this.len = o;
    for (let x = v; digits > 0; digits--) {
      const q = Math.floor(x / 10);
      b[--o] = 48 + (x - q * 10);
      x = q;
    }
  }

  private portId(topo: CompiledTopology, idx: number): void {
    if (this.portIdsOf !== topo) { this.portIdsOf = topo; this.portIds = []; }
    let bytes = this.portIds[idx];
    if (bytes === undefined) this.portIds[idx] = bytes = encoder.encode(JSON.stringify(topo.ports[idx]!.id));
    this.append(bytes);
  }

  /** A string from a small fixed set (result names, reasons, parse error codes and sentences). */
  private piece(text: string): void {
    let bytes = this.pieces.get(text);
    if (bytes === undefined) this.pieces.set(text, bytes = encoder.encode(JSON.stringify(text)));
    this.append(bytes);
  }

  /** Any string, quoted and escaped as JSON.stringify does. */
  private string(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c === 34 || c === 92 || c > 0x7e) { this.append(encoder.encode(JSON.stringify(text))); return; }
    }
    this.byte(34);
    this.raw(text);
    this.byte(34);
  }

  private append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  private byte(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }
}

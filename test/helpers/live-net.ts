// Real network namespaces and veth pairs for live-datapath tests. Every name carries the `mtdp` prefix
// and a per-run suffix (the machine is shared); destroy() removes all of it, and deleting a namespace
// takes its veth end (hence the pair) with it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Guest { ns: string; rootIf: string; nsIf: string; ip: string; len: number; mac: string; gw?: string }

export class LiveNet {
  readonly suffix = randomBytes(2).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  static canRun(): string | null {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces, AF_PACKET)';
    try { execFileSync('ip', ['-V'], { stdio: 'ignore' }); } catch { return 'needs iproute2'; }
    return null;
  }

  /** A namespace `mtdp<suffix><tag>` with one veth: `<name>r` stays in the root namespace for the daemon. */
  guest(tag: string, cidr: string, gw?: string): Guest {
    const ns = `mtdp${this.suffix}${tag}`;
    const [ip, len] = cidr.split('/') as [string, string];
    // A fixed MAC per guest, so a re-created interface is the same VM coming back (neighbours stay valid).
    const mac = `02:6d:74:${this.suffix.slice(0, 2)}:${this.suffix.slice(2, 4)}:${(0x10 + this.namespaces.length).toString(16)}`;
    const g: Guest = { ns, rootIf: `mtdp${this.suffix}${tag}r`, nsIf: `mtdp${this.suffix}${tag}n`, ip, len: Number(len), mac, ...(gw !== undefined ? { gw } : {}) };
    ip_('netns', 'add', ns);
    this.namespaces.push(ns);
    this.plug(g);
    return g;
  }

  /** (Re)creates the guest's veth pair: the root end up without IPv6 (no host chatter on the wire). */
  plug(g: Guest): void {
    ip_('link', 'add', g.rootIf, 'type', 'veth', 'peer', 'name', g.nsIf, 'netns', g.ns);
    sh('sysctl', '-qw', `net.ipv6.conf.${g.rootIf}.disable_ipv6=1`);
    ip_('link', 'set', g.rootIf, 'up');
    this.exec(g, 'sysctl', '-qw', `net.ipv6.conf.${g.nsIf}.disable_ipv6=1`);
    this.exec(g, 'ip', 'link', 'set', 'lo', 'up');
    this.exec(g, 'ip', 'link', 'set', g.nsIf, 'address', g.mac);
    this.exec(g, 'ip', 'addr', 'add', `${g.ip}/${g.len}`, 'dev', g.nsIf);
    this.exec(g, 'ip', 'link', 'set', g.nsIf, 'up');
    if (g.gw !== undefined) this.exec(g, 'ip', 'route', 'add', 'default', 'via', g.gw);
  }

  unplug(g: Guest): void { ip_('link', 'del', g.rootIf); }

  exec(g: Guest, cmd: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', g.ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  }

  /** Runs cmd in the guest; resolves with exit code and output (never rejects). */
  run(g: Guest, cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; out: string }> {
    return new Promise((res) => {
      const c = spawn('ip', ['netns', 'exec', g.ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('close', (code) => { clearTimeout(timer); res({ code: code ?? -1, out }); });
    });
  }

  /** A long-running process in the guest, killed by destroy(). */
  background(g: Guest, cmd: string, args: string[], cwd?: string): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', g.ns, cmd, ...args], { stdio: 'ignore', ...(cwd !== undefined ? { cwd } : {}) });
    this.children.push(c);
    return c;
  }

  destroy(): void {
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of this.namespaces) {
      try { execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).forEach((p) => { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* no namespace */ }
      try { ip_('netns', 'del', ns); } catch { /* already gone */ }
    }
  }
}

function ip_(...args: string[]): void { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }); }
function sh(cmd: string, ...args: string[]): void { try { execFileSync(cmd, args, { stdio: 'ignore' }); } catch { /* best effort */ } }

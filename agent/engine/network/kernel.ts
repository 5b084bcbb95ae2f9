// The kernel's own tools, run the way Docker's libnetwork drives the same netlink and
// netfilter calls: iproute2's `ip` (in batches, so a container's wiring is one process per
// namespace), `iptables-restore`/`iptables-save` (whole chains at once, atomically per
// table), nsenter for the container's side. Nothing here decides anything: see firewall.ts
// and index.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { formatSubnet, isIpv4, parseIpv4, maskOf, type Subnet } from './ipv4';

export class KernelToolError extends Error {}

/** Runs `cmd args`, `input` on its stdin; resolves with stdout, rejects with stderr and what was asked. */
export function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.stdin.on('error', () => {
      // An early exit closes the pipe; its exit status and stderr say why.
    });
    p.once('error', (e) => reject(new KernelToolError(`${cmd}: ${e.message}`)));
    p.once('close', (code, sig) => {
      if (code === 0) return resolve(out);
      const what = input && cmd !== 'nsenter' ? `\n${input.trim().split('\n').slice(0, 12).join('\n')}` : '';
      reject(new KernelToolError(`${[cmd, ...args].join(' ')} failed (${code ?? sig}): ${err.trim() || out.trim()}${what}`));
    });
    p.stdin.end(input ?? '');
  });
}

/** Where a running process's network namespace can be opened. */
export const netnsOf = (pid: number) => `/proc/${pid}/ns/net`;

/** `ip -batch -` in the agent's namespace, or in `netns` (a path such as netnsOf(pid)). With
 *  `force`, a failing line does not stop the ones after it (the whole still rejects). */
export function ipBatch(lines: string[], netns?: string, opts: { force?: boolean } = {}): Promise<string> {
  const input = lines.join('\n') + '\n';
  const ip = ['ip', ...(opts.force ? ['-force'] : []), '-batch', '-'];
  return netns ? run('nsenter', [`--net=${netns}`, '--', ...ip], input) : run(ip[0], ip.slice(1), input);
}

/**
 * One `ip -force -batch -` kept running in the agent's namespace for the host side of the
 * wiring, so a container's start spawns one process (its own side) instead of two.
 * Requests go in order, each followed by a line that cannot succeed (no interface name is
 * that long): ip reports every failed line on stderr, in order, as its messages and then
 * "Command failed -:N", so the marker's report says the lines before it are done, and the
 * reports before it are theirs.
 */
class IpChannel {
  private p?: ChildProcess;
  private line = 0;
  private err = '';
  /** Messages since the last "Command failed": the next one's. */
  private said: string[] = [];
  private readonly pending: Array<{ first: number; marker: number; lines: string[]; errors: string[]; resolve: () => void; reject: (e: Error) => void }> = [];

  run(lines: string[]): Promise<void> {
    // A newline would shift the count, a trailing backslash joins the next line in ip's reader.
    const bad = lines.find((l) => l.includes('\n') || l.endsWith('\\'));
    if (bad !== undefined) return Promise.reject(new KernelToolError(`ip: cannot send ${JSON.stringify(bad)} in a batch`));
    const p = this.p ?? this.start();
    return new Promise((resolve, reject) => {
      const first = this.line + 1;
      this.line += lines.length + 1;
      this.pending.push({ first, marker: this.line, lines, errors: [], resolve, reject });
      this.hold(true);
      p.stdin!.write([...lines, `link show dev ${NO_SUCH_LINK}`].join('\n') + '\n');
    });
  }

  /** Referenced while a request waits (an agent still starting up has nothing else to keep it alive), not when idle. */
  private hold(on: boolean): void {
    const p = this.p;
    if (!p) return;
    for (const h of [p, p.stdin, p.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) (on ? h?.ref : h?.unref)?.call(h);
  }

  private start(): ChildProcess {
    const p = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.p = p;
    this.line = 0;
    this.err = '';
    this.said = [];
    p.stdin!.on('error', () => {
      // An exit closes the pipe; 'close' below fails what waits.
    });
    p.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
      let nl: number;
      while ((nl = this.err.indexOf('\n')) >= 0) {
        const l = this.err.slice(0, nl);
        this.err = this.err.slice(nl + 1);
        this.onLine(l);
      }
    });
    const gone = (why: string) => {
      if (this.p !== p) return;
      this.p = undefined;
      for (const r of this.pending.splice(0)) r.reject(new KernelToolError(`ip -batch: ${why} (${[...r.errors, ...r.lines].slice(0, 6).join('; ')})`));
    };
    p.once('error', (e) => gone(e.message));
    // 'close', not 'exit': the reports of the last lines may still be in the pipe at exit.
    p.once('close', (code, sig) => gone(`exited (${code ?? sig})`));
    return p;
  }

  private onLine(l: string): void {
    const m = /^Command failed -:(\d+)$/.exec(l);
    if (!m) {
      if (l.trim()) this.said.push(l.trim());
      return;
    }
    const said = this.said;
    this.said = [];
    const head = this.pending[0];
    if (!head) return;
    const n = Number(m[1]);
    if (n < head.marker) {
      head.errors.push(...said, `(${head.lines[n - head.first] ?? `line ${n}`})`);
      return;
    }
    this.pending.shift();
    if (!this.pending.length) this.hold(false);
    if (head.errors.length) head.reject(new KernelToolError(`ip -batch failed: ${head.errors.join(' ')}`));
    else head.resolve();
  }

  /** ip finishes what it was sent, then exits at the end of its input. */
  close(): void {
    this.p?.stdin?.end();
  }
}

/** Longer than an interface name can be (15 bytes), so `link show dev` of it always fails. */
const NO_SUCH_LINK = 'berth-no-such-link-0';

let hostChannel: IpChannel | undefined;

/** `ip` commands in the agent's namespace through the one long-running `ip -batch` (see IpChannel); every line runs, the whole rejects if one failed. */
export function hostIp(lines: string[]): Promise<void> {
  hostChannel ??= new IpChannel();
  return hostChannel.run(lines);
}

/** Ends the long-running `ip` (the agent stops). */
export function closeHostIp(): void {
  hostChannel?.close();
  hostChannel = undefined;
}

/** Runs a short shell script in `netns` (several tools, one nsenter). */
export function inNetns(netns: string, script: string): Promise<string> {
  return run('nsenter', [`--net=${netns}`, '--', 'sh', '-ec', script]);
}

export function iptablesRestore(rules: string, opts: { noflush: boolean }): Promise<string> {
  return run('iptables-restore', ['-w', ...(opts.noflush ? ['--noflush'] : [])], rules);
}

export function iptablesSave(): Promise<string> {
  return run('iptables-save', []);
}

/** The interfaces of the agent's network namespace (/proc/net/dev is the reader's namespace's; /sys may be another's). */
export function interfaces(): Set<string> {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  return new Set(
    text
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0].trim())
      .filter(Boolean),
  );
}

/** A per-interface or global IPv4 sysctl of the agent's namespace, e.g. ("ip_forward") or ("conf/br0/route_localnet"). */
export function readIpv4Sysctl(name: string): string {
  return readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim();
}
export function writeIpv4Sysctl(name: string, value: string): void {
  writeFileSync(`/proc/sys/net/ipv4/${name}`, value);
}

/** Every IPv4 subnet the agent's namespace routes or has an address in (with its interface), but the default route. */
export async function usedSubnets(): Promise<Array<{ subnet: Subnet; dev: string }>> {
  const [routes, addrs] = await Promise.all([run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']), run('ip', ['-j', '-4', 'addr', 'show'])]);
  const out: Array<{ subnet: Subnet; dev: string }> = [];
  const add = (cidr: string, dev: string) => {
    const [ip, p] = cidr.split('/');
    if (!isIpv4(ip)) return;
    const prefix = p === undefined ? 32 : Number(p);
    const subnet = { base: (parseIpv4(ip) & maskOf(prefix)) >>> 0, prefix };
    // Loopback's 127/8 is in every namespace and never in the pool.
    if (formatSubnet(subnet) !== '127.0.0.0/8' && prefix > 0) out.push({ subnet, dev });
  };
  for (const r of JSON.parse(routes || '[]') as Array<{ dst?: string; type?: string; dev?: string }>) {
    if (!r.dst || r.dst === 'default' || r.type === 'broadcast' || r.type === 'multicast') continue;
    add(r.dst, r.dev ?? '');
  }
  for (const l of JSON.parse(addrs || '[]') as Array<{ ifname?: string; addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }> }>) {
    for (const a of l.addr_info ?? []) if (a.family === 'inet' && a.local) add(`${a.local}/${a.prefixlen ?? 32}`, l.ifname ?? '');
  }
  return out;
}

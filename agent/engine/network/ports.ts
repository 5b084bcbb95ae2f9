// Host ports for published container ports. The agent holds every published port open
// (a listening TCP socket, a bound UDP one) while it runs, as dockerd's port allocator and
// proxy do, so a second publisher (another container, another agent, any process) gets
// Docker's error instead of silently losing its traffic to the DNAT rule. The sockets
// never see a packet: DNAT takes each connection before the socket lookup. When the agent
// is down the rules go on forwarding; a new agent takes the ports again as it loads.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { EngineError } from '../errors';

type Held = { kind: 'tcp'; s: net.Server } | { kind: 'udp'; s: dgram.Socket };

export const portKey = (protocol: string, hostIp: string, port: number) => `${protocol}/${hostIp}/${port}`;

/** The kernel's range for ephemeral ports, where -p CONTAINERPORT and -P pick theirs. */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // Docker's own defaults below.
  }
  return [49153, 65535];
}

export class PortHolder {
  private readonly held = new Map<string, Held>();

  has(protocol: 'tcp' | 'udp', hostIp: string, port: number): boolean {
    return this.held.has(portKey(protocol, hostIp, port));
  }

  /** Takes the port, or rejects with the kernel's code (EADDRINUSE, EADDRNOTAVAIL, EACCES). */
  async hold(protocol: 'tcp' | 'udp', hostIp: string, port: number): Promise<void> {
    const key = portKey(protocol, hostIp, port);
    if (this.held.has(key)) return;
    if (protocol === 'tcp') {
      const s = net.createServer((c) => c.destroy());
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ port, host: hostIp, backlog: 1, exclusive: true }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('error', () => {});
      this.held.set(key, { kind: 'tcp', s });
    } else {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ port, address: hostIp, exclusive: true }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('error', () => {});
      s.on('message', () => {});
      this.held.set(key, { kind: 'udp', s });
    }
  }

  release(protocol: 'tcp' | 'udp', hostIp: string, port: number): void {
    const key = portKey(protocol, hostIp, port);
    const h = this.held.get(key);
    if (!h) return;
    this.held.delete(key);
    h.s.close();
  }

  closeAll(): void {
    for (const h of this.held.values()) h.s.close();
    this.held.clear();
  }
}

/** Docker's words when a host port cannot be had. */
export function portError(endpoint: string, protocol: string, hostIp: string, port: number, e: unknown): EngineError {
  const code = (e as NodeJS.ErrnoException).code;
  const prefix = `driver failed programming external connectivity on endpoint ${endpoint}`;
  if (code === 'ALLOCATED') return new EngineError(500, `${prefix}: Bind for ${hostIp}:${port} failed: port is already allocated`);
  // Held by a process (or another agent): dockerd's words when its proxy cannot listen.
  if (code === 'EADDRINUSE') return new EngineError(500, `${prefix}: Error starting userland proxy: listen ${protocol}4 ${hostIp}:${port}: bind: address already in use`);
  if (code === 'EADDRNOTAVAIL') return new EngineError(500, `${prefix}: Error starting userland proxy: listen ${protocol}4 ${hostIp}:${port}: bind: cannot assign requested address`);
  return new EngineError(500, `${prefix}: ${protocol} ${hostIp}:${port}: ${(e as Error).message}`);
}

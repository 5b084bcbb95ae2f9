// Where a published port is reached from the browser. Pure, so it is unit-tested.
import type { PublishedPort } from '../../protocol/container';

const ANY = new Set(['', '0.0.0.0', '::']);

export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === '::1' || address === 'localhost';
}

/**
 * The host part of a published port's address: the address it is bound to when that is one
 * address; else the agent's address as the control plane saw its link; else, for an agent
 * on the control plane's own machine (its link came over loopback) or one not seen yet,
 * the name the browser reached the control plane by.
 */
export function portHost(p: Pick<PublishedPort, 'hostIp'>, agentAddress: string | null | undefined, pageHostname: string): string {
  if (!ANY.has(p.hostIp)) return p.hostIp;
  if (agentAddress && !isLoopback(agentAddress)) return agentAddress;
  return pageHostname;
}

/** "HOST:PORT" as shown, and for TCP the http:// link to it (UDP has no link a browser could open). */
export function publishedPortLink(p: PublishedPort, agentAddress: string | null | undefined, pageHostname: string): { text: string; href?: string } {
  const host = portHost(p, agentAddress, pageHostname);
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const text = `${hostPart}:${p.hostPort}`;
  return p.protocol === 'tcp' ? { text, href: `http://${text}/` } : { text };
}

// Who is on the other end of a request, for the sign-in back-off. The custom server
// (server/main.ts) works it out from the socket and passes it to route handlers in a
// header of its own, always overwriting whatever the client sent under that name.
import { isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

export const CLIENT_ADDRESS_HEADER = 'x-berth-client-address';

/**
 * BERTH_TRUST_PROXY: how many reverse proxies in front of this server append to
 * X-Forwarded-For. 0 (the default) trusts no header: anyone can write X-Forwarded-For.
 */
export function trustedProxyHops(): number {
  const raw = process.env.BERTH_TRUST_PROXY;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw)) throw new Error(`BERTH_TRUST_PROXY must be the number of proxies in front of Berth (0, 1, 2 …), not ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** IPv4-mapped IPv6 as plain IPv4, so one client has one name. */
function normalize(address: string): string {
  const a = address.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return mapped ? mapped[1] : a.toLowerCase();
}

export function clientAddress(req: Pick<IncomingMessage, 'headers' | 'socket'>, hops = trustedProxyHops()): string {
  const peer = normalize(req.socket.remoteAddress ?? 'unknown');
  if (hops === 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
  // Each trusted proxy appended the address it saw; counting back from our own peer,
  // the entry `hops` places before it is the first one no client could have written.
  const chain = [...forwarded, peer];
  return normalize(chain[Math.max(0, chain.length - 1 - hops)]);
}

/** The 64 bits that name a network: one IPv6 client usually has a whole /64 to pick from. */
function ipv6Prefix64(address: string): string {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}

/** The name a client address is counted under: itself for IPv4, its /64 for IPv6. */
export function addressKey(address: string): string {
  return isIPv6(address) ? ipv6Prefix64(address) : address;
}

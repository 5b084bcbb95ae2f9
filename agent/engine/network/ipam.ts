// Address management on one network: the gateway and the subnet's own addresses are never
// handed out; the next address goes after the last one handed out (wrapping), as Docker's
// allocator does, so an address just freed is not given to the next container at once.
import { EngineError } from '../errors';
import { contains, formatIpv4, hostRange, parseIpv4, parseSubnet } from './ipv4';
import type { NetworkRecord } from './state';

/** An address for a container on `net`, `used` being those taken; `asked` a fixed one (--ip). */
export function allocate(net: NetworkRecord, used: Set<string>, asked?: string): string {
  const subnet = parseSubnet(net.subnet);
  const range = net.ipRange ? parseSubnet(net.ipRange) : subnet;
  const { first, last } = hostRange(subnet);
  const gw = net.gateway;
  if (asked) {
    const ip = parseIpv4(asked);
    if (!contains(subnet, ip) || ip < first || ip > last) throw new EngineError(400, `no configured subnet or ip-range contain the IP address ${asked}`);
    if (asked === gw || used.has(asked)) throw new EngineError(409, `Address already in use`);
    return asked;
  }
  const lo = Math.max(first, range.base);
  const hi = Math.min(last, range.base + 2 ** (32 - range.prefix) - 1);
  const count = hi - lo + 1;
  const after = net.lastIp ? parseIpv4(net.lastIp) : lo - 1;
  for (let i = 1; i <= count; i++) {
    const ip = lo + ((((after - lo + i) % count) + count) % count);
    const s = formatIpv4(ip);
    if (s !== gw && !used.has(s)) return s;
  }
  throw new EngineError(500, `no available IPv4 addresses on this network's address pools: ${net.name} (${net.id})`);
}

// The network section of a container spec, checked and given its defaults (what needs no
// other state: whether the networks exist is the network manager's check, at create).
// Conflicts are refused with dockerd's words (runconfig/hostconfig_unix.go).
import { isIP } from 'node:net';
import type { ContainerSpec, ResolvedNetwork, ResolvedPortBinding } from '../../../protocol/container';
import { badRequest } from '../errors';
import { isIpv4, normalizeMac } from './ipv4';

/** The default bridge's name, as Docker's. */
export const DEFAULT_NETWORK = 'bridge';

/** "80", "80/tcp", "53/udp" (and ranges "8000-8010/tcp") → ["80/tcp", …]. */
export function parseExposed(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(spec.trim());
  if (!m) throw badRequest(`invalid exposed port ${JSON.stringify(spec)}: want PORT[/tcp|udp] or START-END[/tcp|udp]`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw badRequest(`Berth does not support ${proto} ports yet (only tcp and udp)`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) throw badRequest(`invalid exposed port ${JSON.stringify(spec)}: ports are 1 to 65535, a range goes up`);
  const out: string[] = [];
  for (let p = from; p <= to; p++) out.push(`${p}/${proto}`);
  return out;
}

/** "name:ip" (split at the first colon: the address may be IPv6); ip may be "host-gateway". */
export function parseExtraHost(s: string): [string, string] {
  const i = s.indexOf(':');
  const name = i < 0 ? '' : s.slice(0, i).trim();
  const ip = i < 0 ? '' : s.slice(i + 1).trim().replace(/^\[(.*)\]$/, '$1');
  if (!name || !ip || /\s/.test(name)) throw badRequest(`invalid --add-host ${JSON.stringify(s)}: want NAME:IP`);
  if (ip !== 'host-gateway' && !isIP(ip)) throw badRequest(`invalid IP address in add-host: ${JSON.stringify(ip)}`);
  return [name, ip];
}

function conflict(what: string, mode: string): never {
  throw badRequest(`conflicting options: ${what} and the ${mode}`);
}

export function resolveNetworkSpec(id: string, spec: ContainerSpec['network'], imageExposed: Record<string, object> | undefined, hostHostname: string): ResolvedNetwork {
  const n = spec ?? {};
  const mode = n.mode ?? 'default';
  if (n.container !== undefined && mode !== 'container') throw badRequest('network.container is for mode container (--network container:NAME) only');
  if (mode === 'container' && !n.container) throw badRequest('--network container:NAME needs the name or id of a container');
  if (n.networks !== undefined && mode !== 'default') throw badRequest(`container cannot be connected to networks in network mode ${mode}`);
  const ports = (n.ports ?? []).map(resolvePort);
  const dns = n.dns ?? [];
  for (const d of dns) if (!isIP(d)) throw badRequest(`invalid --dns ${JSON.stringify(d)}: want an IP address`);
  const extraHosts = n.extraHosts ?? [];
  for (const h of extraHosts) parseExtraHost(h);
  const own = (n.exposedPorts ?? []).flatMap(parseExposed);
  const exposedPorts = [...new Set([...Object.keys(imageExposed ?? {}).flatMap(parseExposed), ...own, ...ports.map((p) => `${p.containerPort}/${p.protocol}`)])];

  if (mode === 'container') {
    if (n.hostname) conflict('hostname', 'network mode');
    if (dns.length || n.dnsSearch?.length || n.dnsOptions?.length) conflict('dns', 'network mode');
    if (extraHosts.length) conflict('custom host-to-IP mapping', 'network mode');
    if (ports.length || n.publishAll) conflict('port publishing', 'container type network mode');
    if (own.length) conflict('port exposing', 'container type network mode');
  }
  if ((mode === 'host' || mode === 'none') && (ports.length || n.publishAll)) {
    throw badRequest(mode === 'host' ? 'published ports do not apply with the host\'s network (--network host): the container\'s ports are the host\'s' : 'published ports need a network: --network none has only loopback');
  }
  // None named: the default bridge, resolved at each start (so a later --bridge none or not counts).
  const networks = mode !== 'default' ? [] : (n.networks ?? []).map((e) => {
    if (e.ipv4Address && !isIpv4(e.ipv4Address)) throw badRequest(`invalid IPv4 address: ${e.ipv4Address}`);
    return {
      name: e.network,
      id: '',
      aliases: [...new Set(e.aliases ?? [])],
      ...(e.links?.length ? { links: normalizeLinks(e.links) } : {}),
      ipv4Address: e.ipv4Address ?? '',
      macAddress: e.macAddress ? normalizeMac(e.macAddress) : '',
    };
  });
  const names = networks.map((e) => e.name);
  if (new Set(names).size !== names.length) throw badRequest(`a container joins a network once: ${names.join(', ')}`);
  return {
    mode,
    // With the host's network a container takes the host's name, as in Docker; one that
    // shares another's namespace gets that one's name at create (the network manager's).
    hostname: n.hostname || (mode === 'host' ? hostHostname : id.slice(0, 12)),
    ...(mode === 'container' ? { container: n.container } : {}),
    networks,
    ports,
    publishAll: n.publishAll ?? false,
    exposedPorts,
    dns,
    dnsSearch: n.dnsSearch ?? [],
    dnsOptions: n.dnsOptions ?? [],
    extraHosts,
  };
}

/** Docker's ParseLink: "NAME[:ALIAS]" (a leading "/" on NAME dropped) → "NAME:ALIAS". */
export function normalizeLinks(links: string[]): string[] {
  return [
    ...new Set(
      links.map((l) => {
        const parts = l.split(':');
        if (parts.length > 2 || !parts[0] || parts[1] === '') throw badRequest(`invalid link ${JSON.stringify(l)}: bad format for links: ${l}`);
        const name = parts[0].replace(/^\//, '');
        return `${name}:${parts[1] ?? name}`;
      }),
    ),
  ];
}

function resolvePort(p: NonNullable<NonNullable<ContainerSpec['network']>['ports']>[number]): ResolvedPortBinding {
  const hostIp = p.hostIp ?? '';
  if (hostIp && !isIpv4(hostIp)) {
    if (isIP(hostIp) === 6) throw badRequest(`Berth does not support IPv6 host addresses in -p yet (${hostIp})`);
    throw badRequest(`invalid IP address in -p: ${JSON.stringify(hostIp)}`);
  }
  const hostPort = p.hostPort ?? 0;
  const hostPortEnd = p.hostPortEnd ?? 0;
  if (hostPortEnd && (!hostPort || hostPortEnd < hostPort)) throw badRequest(`invalid host port range ${hostPort}-${hostPortEnd}`);
  return { containerPort: p.containerPort, protocol: p.protocol ?? 'tcp', hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort, hostPortEnd: hostPortEnd === hostPort ? 0 : hostPortEnd };
}

/** Defaults for a record written before networks had more than a mode and a hostname. */
export function upgradeNetwork(old: Partial<ResolvedNetwork> & Pick<ResolvedNetwork, 'mode' | 'hostname'>): ResolvedNetwork {
  return {
    ...old,
    networks: old.networks ?? [],
    ports: old.ports ?? [],
    publishAll: old.publishAll ?? false,
    exposedPorts: old.exposedPorts ?? [],
    dns: old.dns ?? [],
    dnsSearch: old.dnsSearch ?? [],
    dnsOptions: old.dnsOptions ?? [],
    extraHosts: old.extraHosts ?? [],
  };
}


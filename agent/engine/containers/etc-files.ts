// The /etc files the runtime writes for a container: hostname, hosts, resolv.conf, the way
// Docker writes them (libnetwork's sandbox_dns_unix.go).

const LOCALHOST = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export interface HostsOptions {
  /** The container's addresses, one line each with its hostname; none: 127.0.1.1 names it. */
  ips?: string[];
  /** --add-host, as [name, ip] with host-gateway already replaced. */
  extraHosts?: Array<[string, string]>;
  /** With the host's network: the host's own /etc/hosts, which the container then sees. */
  hostFile?: string;
}

export function hostsFile(hostname: string, opts: HostsOptions = {}): string {
  const extra = (opts.extraHosts ?? []).map(([name, ip]) => `${ip}\t${name}`);
  if (opts.hostFile !== undefined) {
    const base = opts.hostFile.endsWith('\n') || !opts.hostFile ? opts.hostFile : opts.hostFile + '\n';
    return base + extra.map((l) => l + '\n').join('');
  }
  const own = opts.ips?.length ? opts.ips.map((ip) => `${ip}\t${hostname}`) : [`127.0.1.1\t${hostname}`];
  return [...LOCALHOST, ...extra, ...own, ''].join('\n');
}

export interface ResolvOptions {
  /** --dns, --dns-search, --dns-option: each replaces the host's when given. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** On user networks: the embedded resolver at 127.0.0.11 (which forwards to the upstreams). */
  embedded?: boolean;
}

/** Docker's fallback when the host names no resolver a container can reach. */
export const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

const isLoopback = (ip: string) => /^127\./.test(ip) || ip === '::1';

export interface ParsedResolv {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parseResolvConf(text: string): ParsedResolv {
  const out: ParsedResolv = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    // The last search (or domain) line counts, as for the C library.
    else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

/**
 * The container's resolv.conf. With its own network namespace the host's loopback
 * nameservers mean nothing, so they are dropped (and Docker's public fallback used when
 * none is left); on user networks the embedded resolver answers and forwards instead.
 * With the host's network the host's file, unless something was asked for.
 */
export function resolvConf(host: string, ownNetns: boolean, opts: ResolvOptions = {}): string {
  const asked = !!(opts.dns?.length || opts.dnsSearch?.length || opts.dnsOptions?.length);
  if (!ownNetns && !asked) return host;
  const h = parseResolvConf(host);
  const search = opts.dnsSearch?.length ? opts.dnsSearch : h.search;
  let options = opts.dnsOptions?.length ? opts.dnsOptions : h.options;
  let nameservers: string[];
  if (opts.embedded) {
    nameservers = ['127.0.0.11'];
    // Docker's: names without dots go to the resolver as they are (a container's name) before any search domain.
    if (!options.some((o) => o.startsWith('ndots:'))) options = [...options, 'ndots:0'];
  } else if (opts.dns?.length) nameservers = opts.dns;
  else {
    nameservers = ownNetns ? h.nameservers.filter((n) => !isLoopback(n)) : h.nameservers;
    if (ownNetns && !nameservers.length) nameservers = FALLBACK_NAMESERVERS;
  }
  const lines = nameservers.map((n) => `nameserver ${n}`);
  if (search.length) lines.push(`search ${search.join(' ')}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

// The /etc files the runtime writes for a container: hostname, hosts, resolv.conf.

export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
}

/** The host's resolver config minus loopback nameservers, which mean nothing in another netns. */
export function resolvConf(host: string, ownNetns: boolean): string {
  if (!ownNetns) return host;
  return host
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l))
    .join('\n');
}

// The agent's iptables rules as a function of its networks and published ports. Every
// change rewrites the agent's own chains whole in one iptables-restore --noflush (a chain
// declared there is flushed and refilled, atomically per table), so the kernel never holds
// half a change and nothing outside those chains is touched; the built-in chains only get
// one jump each into them, added once and removed when the agent tears its network down.
//
// Loopback publishing: ports are published by DNAT in the kernel, for traffic from other
// machines (PREROUTING) and from the host itself (OUTPUT), 127.0.0.1 included: the
// bridges carry route_localnet=1 so a DNATed packet from 127.0.0.1 may leave through
// them, and POSTROUTING masquerades host-sourced traffic to the bridge's address so the
// reply comes back. (Docker does the same with its userland proxy turned off.) A packet
// a container sends to 127.0.0.0/8 through its bridge, which route_localnet would
// otherwise let in, is dropped in INPUT. No process forwards anything, so published ports
// keep working while the agent is stopped, restarted or killed.
import { chains, type NetNames } from './names';

export interface FirewallNetwork {
  bridge: string;
  /** CIDR. */
  subnet: string;
  gateway: string;
  internal: boolean;
  /** The embedded resolver's ports on the gateway (user networks), where GATEWAY:53 is redirected. */
  dns?: { udp: number; tcp: number };
}

export interface FirewallPort {
  protocol: 'tcp' | 'udp';
  /** "" = every local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export interface FirewallModel {
  networks: FirewallNetwork[];
  ports: FirewallPort[];
}

/** The jumps from built-in chains into the agent's: [table, chain, rule as iptables-save prints it after "-A CHAIN "]. */
export function jumps(n: NetNames): Array<{ table: 'nat' | 'filter'; chain: string; rule: string; insert: boolean }> {
  const c = chains(n);
  return [
    { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
    { table: 'nat', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${c.dnat}`, insert: false },
    { table: 'nat', chain: 'POSTROUTING', rule: `-j ${c.post}`, insert: false },
    // First in FORWARD and INPUT: a host's own DROP rules further down must not stop the containers' traffic.
    { table: 'filter', chain: 'FORWARD', rule: `-j ${c.fwd}`, insert: true },
    { table: 'filter', chain: 'INPUT', rule: `-j ${c.input}`, insert: true },
  ];
}

/** Which of the jumps are in the kernel already, read from iptables-save's output. */
export function presentJumps(n: NetNames, saved: string): Set<string> {
  const have = new Set<string>();
  let table = '';
  const lines = new Set<string>();
  for (const l of saved.split('\n')) {
    if (l.startsWith('*')) table = l.slice(1).trim();
    else if (l.startsWith('-A ')) lines.add(`${table} ${l.trim()}`);
  }
  for (const j of jumps(n)) if (lines.has(`${j.table} -A ${j.chain} ${j.rule}`)) have.add(`${j.table} ${j.chain}`);
  return have;
}

/** Whether iptables-save's output holds any chain of this agent. */
export function hasOwnChains(n: NetNames, saved: string): boolean {
  const own = Object.values(chains(n));
  return saved.split('\n').some((l) => l.startsWith(':') && own.includes(l.slice(1).split(' ')[0]));
}

/** iptables-restore input that (re)writes every chain of the agent from `m`, adding the jumps not in `present`. */
export function render(n: NetNames, m: FirewallModel, present: Set<string>): string {
  const c = chains(n);
  const nat: string[] = [`:${c.dnat} - [0:0]`, `:${c.post} - [0:0]`];
  const filter: string[] = [`:${c.fwd} - [0:0]`, `:${c.iso1} - [0:0]`, `:${c.iso2} - [0:0]`, `:${c.input} - [0:0]`];
  for (const j of jumps(n)) {
    if (present.has(`${j.table} ${j.chain}`)) continue;
    (j.table === 'nat' ? nat : filter).push(j.insert ? `-I ${j.chain} 1 ${j.rule}` : `-A ${j.chain} ${j.rule}`);
  }

  for (const net of m.networks) {
    if (net.dns) {
      nat.push(`-A ${c.dnat} -i ${net.bridge} -d ${net.gateway}/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports ${net.dns.udp}`);
      nat.push(`-A ${c.dnat} -i ${net.bridge} -d ${net.gateway}/32 -p tcp -m tcp --dport 53 -j REDIRECT --to-ports ${net.dns.tcp}`);
    }
  }
  for (const p of m.ports) {
    const dst = p.hostIp && p.hostIp !== '0.0.0.0' ? `-d ${p.hostIp}/32 ` : '';
    nat.push(`-A ${c.dnat} ${dst}-p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${p.containerIp}:${p.containerPort}`);
  }
  for (const net of m.networks) {
    // The host's own connections to a published port (127.0.0.1 among them) leave with the bridge's address.
    nat.push(`-A ${c.post} -o ${net.bridge} -m addrtype --src-type LOCAL -j MASQUERADE`);
    // A container reaching a published port of its own network through the host: the reply must come back the same way.
    nat.push(`-A ${c.post} -s ${net.subnet} -o ${net.bridge} -m conntrack --ctstate DNAT -j MASQUERADE`);
    if (!net.internal) nat.push(`-A ${c.post} -s ${net.subnet} ! -o ${net.bridge} -j MASQUERADE`);
  }

  // Every packet of a connection passes here, so what was let in once goes first: only new
  // connections meet the isolation stages and the rest.
  for (const net of m.networks) {
    if (net.internal) continue;
    filter.push(`-A ${c.fwd} -o ${net.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-A ${c.fwd} -i ${net.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  }
  filter.push(`-A ${c.fwd} -j ${c.iso1}`);
  for (const net of m.networks) {
    const b = net.bridge;
    if (net.internal) {
      filter.push(`-A ${c.fwd} -i ${b} -o ${b} -j ACCEPT`, `-A ${c.fwd} -i ${b} -j DROP`, `-A ${c.fwd} -o ${b} -j DROP`);
      continue;
    }
    filter.push(
      // Published ports: whatever was DNATed to a container.
      `-A ${c.fwd} -o ${b} -m conntrack --ctstate DNAT -j ACCEPT`,
      `-A ${c.fwd} -i ${b} -j ACCEPT`,
    );
  }
  // Docker's isolation in two stages: leaving one bridge for another is dropped, published ports excepted.
  for (const net of m.networks) filter.push(`-A ${c.iso1} -i ${net.bridge} ! -o ${net.bridge} -m conntrack ! --ctstate DNAT -j ${c.iso2}`);
  for (const net of m.networks) filter.push(`-A ${c.iso2} -o ${net.bridge} -j DROP`);
  for (const net of m.networks) {
    // What route_localnet would let a container send to the host's loopback; replies to the host's own connections pass.
    filter.push(`-A ${c.input} -i ${net.bridge} -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP`);
    if (net.dns) {
      filter.push(`-A ${c.input} -i ${net.bridge} -d ${net.gateway}/32 -p udp -m udp --dport ${net.dns.udp} -j ACCEPT`);
      filter.push(`-A ${c.input} -i ${net.bridge} -d ${net.gateway}/32 -p tcp -m tcp --dport ${net.dns.tcp} -j ACCEPT`);
    }
  }
  return ['*nat', ...nat, 'COMMIT', '*filter', ...filter, 'COMMIT', ''].join('\n');
}

/** iptables-restore input that removes the jumps in `present` and every chain of the agent. */
export function renderTeardown(n: NetNames, present: Set<string>, saved: string): string {
  const c = chains(n);
  const exists = (name: string) => saved.split('\n').some((l) => l.startsWith(`:${name} `));
  const out: Record<'nat' | 'filter', string[]> = { nat: [], filter: [] };
  for (const j of jumps(n)) if (present.has(`${j.table} ${j.chain}`)) out[j.table].push(`-D ${j.chain} ${j.rule}`);
  const own = { nat: [c.dnat, c.post], filter: [c.fwd, c.iso1, c.iso2, c.input] } as const;
  for (const t of ['nat', 'filter'] as const) {
    const mine = own[t].filter(exists);
    // Flushed first: a chain still jumped to from another of ours cannot be deleted.
    for (const ch of mine) out[t].push(`-F ${ch}`);
    for (const ch of mine) out[t].push(`-X ${ch}`);
  }
  return ['*nat', ...out.nat, 'COMMIT', '*filter', ...out.filter, 'COMMIT', ''].join('\n');
}

/**
 * The rules a container on user networks gets in its own namespace (whole tables: nothing
 * else is in there): 127.0.0.11:53 goes to the embedded resolver on `gateway`, from the
 * container's address. That takes route_localnet in the container's namespace, so a packet
 * for 127.0.0.0/8 arriving from outside is dropped unless it answers the container's own.
 */
export function containerDnsRules(gateway: string): string {
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `-A OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${gateway}:53`,
    `-A OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination ${gateway}:53`,
    `-A POSTROUTING -s 127.0.0.0/8 -d ${gateway}/32 -j MASQUERADE`,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP',
    'COMMIT',
    '',
  ].join('\n');
}

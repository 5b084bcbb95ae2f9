// Container networks: a default bridge per agent, user-defined bridge networks, veth pairs,
// address management, published ports, /etc/hosts and /etc/resolv.conf, the embedded
// resolver, the firewall. The engine facade owns one NetworkManager and wires it into the
// container lifecycle through its hooks: `create` checks and completes the spec, `launch`
// (before the monitor runs) takes addresses and ports, `prestart` (the init exists, waiting)
// wires its namespace, `poststop` gives everything back.
//
// The kernel side is made lazily, the first time a container needs it (or a user network is
// created), so an agent whose containers never leave `--network none` changes nothing in the
// namespace it runs in; it is taken down again when the agent stops with nothing running.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AttachedNetwork, ContainerNetworkState, ContainerRecord, EndpointSpec, ResolvedEndpoint, ResolvedPortBinding } from '../../../protocol/container';
import type { NetworkContainer, NetworkCreate, NetworkInfo } from '../../../protocol/network';
import { EngineError, badRequest, conflict, notFound } from '../errors';
import { hostsFile, parseResolvConf, resolvConf } from '../containers/etc-files';
import { NetworkResolver, type NameSource } from './dns';
import { containerDnsRules, hasOwnChains, presentJumps, render, renderTeardown, type FirewallModel } from './firewall';
import { allocate } from './ipam';
import { contains, formatIpv4, formatSubnet, hostRange, isIpv4, macFor, overlaps, parseIpv4, parseSubnet, type Subnet } from './ipv4';
import { closeHostIp, hostIp, inNetns, interfaces, ipBatch, iptablesRestore, iptablesSave, netnsOf, readIpv4Sysctl, run, usedSubnets, writeIpv4Sysctl } from './kernel';
import { bridgeName, isOwnLink, netNamesFor, vethName, type NetNames } from './names';
import { ephemeralRange, PortHolder, portError } from './ports';
import { DEFAULT_NETWORK, normalizeLinks, parseExtraHost } from './spec';
import { NetworkState, type EndpointRecord, type NetworkRecord, type PortRecord } from './state';

export { hostNetworkGuard } from './guard';
export { netNamesFor } from './names';

/** What the manager needs of the container records. */
export interface ContainerView {
  get(id: string): ContainerRecord | undefined;
  all(): ContainerRecord[];
  /** 404 when unknown. */
  resolve(idOrName: string): ContainerRecord;
  dir(id: string): string;
}

export interface NetworkManagerOptions {
  root: string;
  /** The engine's default root (plain names for it). */
  defaultRoot: string;
  containers: ContainerView;
  /** dockerd's --bridge=none: no default bridge; containers on the default network get loopback only. */
  noDefaultBridge?: boolean;
  /** Set: this namespace's network setup must not be touched (guard.ts); the reason. */
  guard?: string;
  /** The host's resolver config; default /etc/resolv.conf. */
  resolvConfPath?: string;
}

/** Docker's local address pools: 172.17-31.0.0/16, then 192.168.0-240.0/20. */
const POOL: Subnet[] = [
  ...Array.from({ length: 15 }, (_, i) => ({ base: parseIpv4(`172.${17 + i}.0.0`), prefix: 16 })),
  ...Array.from({ length: 16 }, (_, i) => ({ base: parseIpv4(`192.168.${i * 16}.0`), prefix: 20 })),
];

const VALID_NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const STALE_VETH_CHECK_MS = 3000;

const nowRfc3339 = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

function prefixOf(net: NetworkRecord): number {
  return parseSubnet(net.subnet).prefix;
}

export class NetworkManager implements NameSource {
  readonly names: NetNames;
  private readonly state: NetworkState;
  private readonly containers: ContainerView;
  private readonly holder = new PortHolder();
  private readonly resolvers = new Map<string, { r: NetworkResolver; ports: { udp: number; tcp: number } }>();
  /** Networks whose bridge this agent has made sure of since it started. */
  private readonly realized = new Set<string>();
  private base?: Promise<void>;
  /** Jumps from built-in chains that are in the kernel. */
  private present = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly predefined: { host: string; none: string };
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: NetworkManagerOptions) {
    this.names = netNamesFor(opts.root, opts.defaultRoot);
    this.state = new NetworkState(opts.root);
    this.containers = opts.containers;
    const idFor = (what: string) => createHash('sha256').update(`${this.names.chain}/${what}`).digest('hex');
    this.predefined = { host: idFor('host'), none: idFor('none') };
  }

  /** Every mutation of the state and the kernel goes through here, one at a time. */
  private locked<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  private get defaultNet(): NetworkRecord | undefined {
    return this.state.networks.find((n) => n.isDefault);
  }

  /** Brings the state in line with the containers after a (re)start, and the kernel in line with the state. */
  async load(): Promise<void> {
    await this.locked(async () => {
      const wantDefault = !this.opts.guard && !this.opts.noDefaultBridge;
      if (wantDefault && !this.defaultNet) {
        const subnet = await this.freeSubnet(this.names.poolStart % 15);
        this.state.networks.push(this.newRecord({ name: DEFAULT_NETWORK, subnet, isDefault: true, userSubnet: false }));
      }
      // Endpoints of containers that are gone, or were not running when the last agent stopped.
      // A container whose monitor died meanwhile still says running: its poststop comes in reconcile.
      const live = (id: string) => this.containers.get(id)?.state.running === true;
      this.state.endpoints = this.state.endpoints.filter((e) => live(e.containerId));
      this.state.ports = this.state.ports.filter((p) => live(p.containerId));
      this.state.save();
      if (this.opts.guard) return;
      await this.removeStrayLinks();
      const needed = this.state.networks.filter((n) => !n.isDefault || this.state.endpointsOn(n.id).length);
      if (!needed.length) return;
      await this.realizeBase();
      for (const n of needed) await this.ensureBridge(n);
      await this.applyFirewall();
      for (const p of this.state.ports) {
        await this.holder.hold(p.protocol, p.hostIp, p.hostPort).catch((e) => console.error(`berth: cannot hold published port ${p.protocol} ${p.hostIp}:${p.hostPort} again: ${(e as Error).message}`));
      }
    });
  }

  // --- the kernel side

  /** Links named as this agent's that its state does not know (a state that was lost, a veth its namespace left behind). */
  private async removeStrayLinks(): Promise<void> {
    const known = new Set([...this.state.networks.map((n) => n.bridge), ...this.state.endpoints.map((e) => e.veth)]);
    const stray = [...interfaces()].filter((l) => isOwnLink(this.names, l) && !known.has(l));
    if (!stray.length) return;
    console.log(`berth: removing links of this agent that its state does not know: ${stray.join(', ')}`);
    await hostIp(stray.map((l) => `link del ${l}`)).catch((e) => console.error(`berth: ${(e as Error).message}`));
  }

  private realizeBase(): Promise<void> {
    if (this.opts.guard) return Promise.reject(new EngineError(500, `Berth makes no networks here: ${this.opts.guard}`));
    this.base ??= (async () => {
      if (readIpv4Sysctl('ip_forward') !== '1') {
        // As dockerd: forwarding on, and since nothing was forwarded before, nothing but what the agent accepts.
        writeIpv4Sysctl('ip_forward', '1');
        await run('iptables', ['-w', '-P', 'FORWARD', 'DROP']);
        console.log('berth: turned on IPv4 forwarding (net.ipv4.ip_forward=1) with the FORWARD policy DROP, as dockerd does');
      }
      this.present = presentJumps(this.names, await iptablesSave());
    })().catch((e) => {
      this.base = undefined;
      throw e;
    });
    return this.base;
  }

  /** The network's bridge exists with its address (made now if not), and its resolver answers. */
  private async ensureBridge(net: NetworkRecord): Promise<void> {
    if (this.realized.has(net.id)) return;
    const exists = interfaces().has(net.bridge);
    if (!exists && !net.userSubnet && !this.state.endpointsOn(net.id).length) {
      // Another agent (or anything else) may have taken the subnet since it was chosen.
      const mine = new Set(this.state.networks.map((n) => n.bridge));
      const used = (await usedSubnets()).filter((u) => !mine.has(u.dev));
      if (used.some((u) => overlaps(u.subnet, parseSubnet(net.subnet)))) {
        const old = net.subnet;
        const subnet = await this.freeSubnet(net.isDefault ? this.names.poolStart % 15 : 0, net.id);
        Object.assign(net, { subnet, gateway: formatIpv4(hostRange(parseSubnet(subnet)).first), lastIp: '' });
        this.state.save();
        console.log(`berth: network ${net.name}: ${old} is routed here now; moved to ${subnet}`);
      }
    }
    const cidr = `${net.gateway}/${prefixOf(net)}`;
    // A bridge's MAC of its own, as dockerd gives it: without one the kernel takes its lowest
    // port's, which changes when that container goes, and the others' cached gateway (their
    // resolver, their way out) points at a MAC nobody has until their neighbour entries expire.
    await hostIp(exists ? [`addr replace ${cidr} dev ${net.bridge}`, `link set ${net.bridge} up`] : [`link add ${net.bridge} address ${randomMac()} type bridge`, `addr add ${cidr} dev ${net.bridge}`, `link set ${net.bridge} up`]);
    // Published ports reached through 127.0.0.1 leave through the bridge with a loopback source (see firewall.ts).
    writeIpv4Sysctl(`conf/${net.bridge}/route_localnet`, '1');
    this.realized.add(net.id);
    if (!net.isDefault) await this.startResolver(net);
  }

  private async startResolver(net: NetworkRecord): Promise<void> {
    if (this.resolvers.has(net.id)) return;
    const r = new NetworkResolver(this, net.id, net.gateway);
    const ports = await r.listen();
    this.resolvers.set(net.id, { r, ports });
  }

  private model(): FirewallModel {
    const networks = this.state.networks
      .filter((n) => this.realized.has(n.id))
      .map((n) => ({ bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, internal: n.internal, dns: this.resolvers.get(n.id)?.ports }));
    return { networks, ports: this.state.ports.map((p) => ({ protocol: p.protocol, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: p.containerIp, containerPort: p.containerPort })) };
  }

  private async applyFirewall(): Promise<void> {
    if (!this.base) return;
    await this.base;
    await iptablesRestore(render(this.names, this.model(), this.present), { noflush: true });
    this.present = new Set(['nat PREROUTING', 'nat OUTPUT', 'nat POSTROUTING', 'filter FORWARD', 'filter INPUT']);
  }

  /** A subnet from the pool that nothing routes here and no network of this agent has. */
  private async freeSubnet(start: number, except?: string): Promise<string> {
    const mine = new Set(this.state.networks.map((n) => n.bridge));
    const used = [...(await usedSubnets()).filter((u) => !mine.has(u.dev)).map((u) => u.subnet), ...this.state.networks.filter((n) => n.id !== except).map((n) => parseSubnet(n.subnet))];
    for (let i = 0; i < POOL.length; i++) {
      const s = POOL[(start + i) % POOL.length];
      if (!used.some((u) => overlaps(u, s))) return formatSubnet(s);
    }
    throw new EngineError(500, 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  }

  private newRecord(o: { name: string; subnet: string; gateway?: string; ipRange?: string; isDefault: boolean; userSubnet: boolean; internal?: boolean; attachable?: boolean; labels?: Record<string, string> }): NetworkRecord {
    const id = randomBytes(32).toString('hex');
    return {
      id,
      name: o.name,
      created: nowRfc3339(),
      driver: 'bridge',
      subnet: o.subnet,
      gateway: o.gateway ?? formatIpv4(hostRange(parseSubnet(o.subnet)).first),
      ipRange: o.ipRange ?? '',
      internal: o.internal ?? false,
      ...(o.attachable ? { attachable: true } : {}),
      labels: o.labels ?? {},
      options: {},
      isDefault: o.isDefault,
      userSubnet: o.userSubnet,
      bridge: o.isDefault ? this.names.defaultBridge : bridgeName(this.names, id),
      lastIp: '',
    };
  }

  // --- lookups

  /** By id, name, or unique id prefix, as dockerd looks networks up; the predefined host and none too. */
  private find(idOrName: string): NetworkRecord | 'host' | 'none' | undefined {
    for (const k of ['host', 'none'] as const) if (idOrName === k || idOrName === this.predefined[k]) return k;
    const byId = this.state.networks.find((n) => n.id === idOrName);
    if (byId) return byId;
    const byName = this.state.networks.find((n) => n.name === idOrName);
    if (byName) return byName;
    if (/^[0-9a-f]+$/.test(idOrName)) {
      const hits = [...this.state.networks.filter((n) => n.id.startsWith(idOrName)), ...(['host', 'none'] as const).filter((k) => this.predefined[k].startsWith(idOrName))];
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw badRequest(`network ${idOrName} is ambiguous (${hits.length} matches found based on ID prefix)`);
    }
    return undefined;
  }

  private bridgeNet(idOrName: string): NetworkRecord {
    const n = this.find(idOrName);
    if (!n) throw notFound(`network ${idOrName} not found`);
    if (n === 'host' || n === 'none') throw new EngineError(403, `container cannot be disconnected from host network or connected to host network`);
    return n;
  }

  /** The endpoints a container in mode default joins: its networks, or the default bridge (when there is one). */
  private effective(rec: ContainerRecord): ResolvedEndpoint[] {
    if (rec.spec.network.mode !== 'default') return [];
    if (rec.spec.network.networks.length) return rec.spec.network.networks;
    const d = this.defaultNet;
    return d ? [{ name: d.name, id: d.id, aliases: [], ipv4Address: '', macAddress: '' }] : [];
  }

  private checkEndpoint(net: NetworkRecord, e: { aliases: string[]; ipv4Address: string; links?: string[] }): void {
    if (e.aliases.length && net.isDefault) throw badRequest('network-scoped alias is supported only for containers in user defined networks');
    // Legacy links (env variables and /etc/hosts entries on the default bridge) are another thing Berth does not do.
    if (e.links?.length && net.isDefault) throw badRequest('Berth does not support --link yet');
    if (e.ipv4Address) {
      if (net.isDefault) throw badRequest('user specified IP address is supported on user defined networks only');
      if (!net.userSubnet) throw badRequest('user specified IP address is supported only when connecting to networks with user configured subnets');
      if (!contains(parseSubnet(net.subnet), parseIpv4(e.ipv4Address))) throw badRequest(`no configured subnet or ip-range contain the IP address ${e.ipv4Address}`);
    }
  }

  // --- lifecycle hooks

  /**
   * create: what the networks named make of the options is checked, and their ids and a shared
   * namespace's hostname filled in where they exist now. One that does not is the start's 404,
   * as in dockerd (a 404 at create would have the docker CLI look for the image instead).
   */
  create(rec: ContainerRecord): void {
    const n = rec.spec.network;
    if (n.mode === 'container') {
      let target: ContainerRecord | undefined;
      try {
        target = this.containers.resolve(n.container!);
      } catch {
        return;
      }
      if (target.id === rec.id) throw badRequest('cannot join own network namespace');
      n.container = target.id;
      n.hostname = target.spec.network.hostname;
      return;
    }
    if (n.mode !== 'default') return;
    if (!n.networks.length && !this.defaultNet && (n.ports.length || n.publishAll)) {
      throw badRequest(`published ports need the default bridge, and ${this.opts.guard ? `this agent has none: ${this.opts.guard}` : 'this agent runs without one (--bridge none)'}`);
    }
    for (const e of n.networks) {
      if (e.ipv4Address && e.name === DEFAULT_NETWORK) throw badRequest('user specified IP address is supported on user defined networks only');
      const net = this.find(e.name);
      if (!net) continue;
      if (net === 'host' || net === 'none') throw badRequest(`container cannot be connected to network ${net} with other networks`);
      this.checkEndpoint(net, e);
      e.id = net.id;
      e.name = net.name;
    }
  }

  /** A container's network by the id it joined, else (never resolved yet) by its name. */
  private netOf(e: ResolvedEndpoint): NetworkRecord | undefined {
    if (e.id) return this.state.network(e.id);
    const n = this.find(e.name);
    return n === 'host' || n === 'none' ? undefined : n;
  }

  /** launch: addresses on each network and the published ports, taken before the container runs. */
  async launch(rec: ContainerRecord): Promise<{ joinNetns?: string }> {
    const n = rec.spec.network;
    if (n.mode === 'container') {
      let t: ContainerRecord | undefined;
      try {
        t = this.containers.resolve(n.container!);
      } catch {
        throw notFound(`No such container: ${n.container}`);
      }
      if (!t.state.running || t.state.status === 'restarting' || !t.state.pid) throw conflict(`cannot join network namespace of a non running container: ${t.id}`);
      return { joinNetns: netnsOf(t.state.pid) };
    }
    const eps = this.effective(rec);
    if (!eps.length) return {};
    return this.locked(async () => {
      this.dropContainer(rec.id);
      const nets = eps.map((e) => {
        const net = this.netOf(e);
        if (!net) throw notFound(`network ${e.name} not found`);
        // Checked at create only if the network was there then.
        if (!e.id) this.checkEndpoint(net, e);
        return net;
      });
      await this.realizeBase();
      let newBridge = false;
      for (const net of nets) {
        newBridge ||= !this.realized.has(net.id);
        await this.ensureBridge(net);
      }
      try {
        eps.forEach((e, i) => this.addEndpoint(rec, nets[i], e, `eth${i}`));
        await this.publish(rec);
      } catch (e) {
        this.dropContainer(rec.id);
        throw e;
      } finally {
        this.state.save();
      }
      if (newBridge || this.state.portsOf(rec.id).length) await this.applyFirewall();
      // The embedded resolver forwards to the host's resolvers as the host file names them now.
      if (this.dnsEndpoint(this.state.endpointsOf(rec.id))) await this.refreshNameservers();
      return {};
    });
  }

  private addEndpoint(rec: ContainerRecord, net: NetworkRecord, e: ResolvedEndpoint, ifname: string): EndpointRecord {
    const used = new Set(this.state.endpointsOn(net.id).map((x) => x.ip));
    const ip = allocate(net, used, e.ipv4Address || undefined);
    if (!e.ipv4Address) net.lastIp = ip;
    const ep: EndpointRecord = {
      containerId: rec.id,
      networkId: net.id,
      endpointId: randomBytes(32).toString('hex'),
      ip,
      mac: e.macAddress || macFor(parseIpv4(ip)),
      veth: vethName(this.names),
      ifname,
      aliases: e.aliases,
    };
    this.state.endpoints.push(ep);
    return ep;
  }

  /** The container's published ports, on the address of its first network with outside access. */
  private async publish(rec: ContainerRecord): Promise<void> {
    const n = rec.spec.network;
    const bindings: ResolvedPortBinding[] = [...n.ports];
    if (n.publishAll) {
      for (const x of n.exposedPorts) {
        const [p, proto] = x.split('/');
        if (!bindings.some((b) => b.containerPort === Number(p) && b.protocol === proto)) bindings.push({ containerPort: Number(p), protocol: proto as 'tcp' | 'udp', hostIp: '', hostPort: 0, hostPortEnd: 0 });
      }
    }
    if (!bindings.length) return;
    const primary = this.state.endpointsOf(rec.id).find((e) => !this.state.network(e.networkId)!.internal);
    if (!primary) throw badRequest('published ports need a network with outside access, and every network of this container is --internal');
    const endpoint = `${rec.name} (${primary.endpointId})`;
    const [lo, hi] = ephemeralRange();
    for (const b of bindings) {
      const hostIp = b.hostIp || '0.0.0.0';
      const taken = (port: number) =>
        this.state.ports.some((p) => p.protocol === b.protocol && p.hostPort === port && (p.hostIp === hostIp || p.hostIp === '0.0.0.0' || hostIp === '0.0.0.0'));
      const candidates = b.hostPort === 0 ? { from: lo, to: hi } : { from: b.hostPort, to: b.hostPortEnd || b.hostPort };
      const fixed = candidates.from === candidates.to;
      let got = 0;
      let lastErr: unknown;
      for (let port = candidates.from; port <= candidates.to && !got; port++) {
        if (taken(port)) {
          lastErr = Object.assign(new Error('allocated'), { code: 'ALLOCATED' });
          continue;
        }
        try {
          await this.holder.hold(b.protocol, hostIp, port);
          got = port;
        } catch (e) {
          lastErr = e;
          if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
        }
      }
      if (!got) {
        if (!fixed && (lastErr as NodeJS.ErrnoException | undefined)?.code !== 'EADDRNOTAVAIL') {
          throw new EngineError(500, `driver failed programming external connectivity on endpoint ${endpoint}: all ports are allocated (${candidates.from}-${candidates.to}/${b.protocol})`);
        }
        throw portError(endpoint, b.protocol, hostIp, candidates.from, lastErr);
      }
      this.state.ports.push({ containerId: rec.id, protocol: b.protocol, hostIp, hostPort: got, containerIp: primary.ip, containerPort: b.containerPort });
    }
  }

  /** Forgets the container's endpoints and ports (the kernel's side: veths go with its namespace, rules with applyFirewall). */
  private dropContainer(id: string): { veths: string[]; hadPorts: boolean } {
    const veths = this.state.endpointsOf(id).map((e) => e.veth);
    const ports = this.state.portsOf(id);
    for (const p of ports) this.holder.release(p.protocol, p.hostIp, p.hostPort);
    this.state.endpoints = this.state.endpoints.filter((e) => e.containerId !== id);
    this.state.ports = this.state.ports.filter((p) => p.containerId !== id);
    return { veths, hadPorts: ports.length > 0 };
  }

  /** prestart: the init exists and waits; its namespace gets its interfaces, routes and resolver rules, its dir the /etc files. */
  async prestart(rec: ContainerRecord, ctx: { pid: number; dir: string }): Promise<void> {
    const n = rec.spec.network;
    if (n.mode === 'container') {
      // Docker's containers sharing a namespace share its files too (as they were at this start).
      const from = this.containers.dir(n.container!);
      for (const f of ['hosts', 'resolv.conf']) await writeFile(join(ctx.dir, f), await readFile(join(from, f)));
      return;
    }
    const eps = this.state.endpointsOf(rec.id);
    if (eps.length) {
      const dns = this.dnsEndpoint(eps);
      await this.wire(ctx.pid, eps, { route: this.gatewayEndpoint(eps), dnsGateway: dns && this.state.network(dns.networkId)!.gateway });
    }
    await this.writeEtc(rec, ctx.dir);
  }

  /**
   * Host and container sides of `eps`: one `ip -batch` here, one nsenter there. `route`: the
   * endpoint the default route goes through, when it is among them; `dnsGateway`: where the
   * container's 127.0.0.11 is to go, when that is new.
   */
  private async wire(pid: number, eps: EndpointRecord[], opts: { route?: EndpointRecord; dnsGateway?: string }): Promise<void> {
    const host: string[] = [];
    const inside: string[] = [];
    for (const e of eps) {
      const net = this.state.network(e.networkId)!;
      host.push(
        `link add ${e.veth} type veth peer name ${e.ifname} address ${e.mac} netns ${pid}`,
        `link set ${e.veth} master ${net.bridge}`,
        // A container reaching its own published port through the host comes back in on the same port.
        `link set ${e.veth} type bridge_slave hairpin on`,
        `link set ${e.veth} up`,
      );
      inside.push(`addr add ${e.ip}/${prefixOf(net)} dev ${e.ifname}`, `link set ${e.ifname} up`);
    }
    if (opts.route) inside.push(`route replace default via ${this.state.network(opts.route.networkId)!.gateway} dev ${opts.route.ifname}`);
    await hostIp(host);
    if (opts.dnsGateway) await inNetns(netnsOf(pid), this.containerScript(inside, opts.dnsGateway));
    else await ipBatch(inside, netnsOf(pid));
  }

  private containerScript(ipLines: string[], dnsGateway: string): string {
    const here = (cmd: string, text: string) => `${cmd} <<'BERTH_EOF'\n${text.trimEnd()}\nBERTH_EOF\n`;
    return [
      ipLines.length ? here('ip -batch -', ipLines.join('\n')) : '',
      'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet\n',
      here('iptables-restore -w', containerDnsRules(dnsGateway)),
    ].join('');
  }

  /** The endpoint that carries the default route and the published ports: the first with outside access. */
  private gatewayEndpoint(eps: EndpointRecord[]): EndpointRecord | undefined {
    return eps.find((e) => !this.state.network(e.networkId)?.internal);
  }

  /** The endpoint whose gateway 127.0.0.11 goes to: the first on a user network (the default bridge has no resolver, as Docker's). */
  private dnsEndpoint(eps: EndpointRecord[]): EndpointRecord | undefined {
    return eps.find((e) => !this.state.network(e.networkId)?.isDefault);
  }

  private hostResolv(): Promise<string> {
    return readFile(this.opts.resolvConfPath ?? '/etc/resolv.conf', 'utf8').catch(() => '');
  }

  private hostResolvSync(): string {
    return readOr(this.opts.resolvConfPath ?? '/etc/resolv.conf', '');
  }

  /** hosts and resolv.conf in the container's dir (written in place: they are bound into a running container). */
  private async writeEtc(rec: ContainerRecord, dir: string): Promise<void> {
    const n = rec.spec.network;
    const eps = this.state.endpointsOf(rec.id);
    const gw = this.gatewayEndpoint(eps) ?? eps[0];
    const hostGateway = (gw && this.state.network(gw.networkId)?.gateway) || this.defaultNet?.gateway || '127.0.0.1';
    const extraHosts = n.extraHosts.map((h) => {
      const [name, ip] = parseExtraHost(h);
      return [name, ip === 'host-gateway' ? hostGateway : ip] as [string, string];
    });
    const hostFile = n.mode === 'host' ? readOr('/etc/hosts', undefined) : undefined;
    const hosts = hostsFile(n.hostname, { ips: eps.map((e) => e.ip), extraHosts, hostFile });
    const resolv = resolvConf(this.hostResolvSync(), n.mode !== 'host', { dns: n.dns, dnsSearch: n.dnsSearch, dnsOptions: n.dnsOptions, embedded: !!this.dnsEndpoint(eps) });
    // In line: two small files, where the thread pool's round trips cost a start more than the writes.
    writeFileSync(join(dir, 'hosts'), hosts);
    writeFileSync(join(dir, 'resolv.conf'), resolv);
  }

  /** poststop: the container's addresses and ports go back; a veth its namespace's end did not take along is removed. */
  async poststop(rec: ContainerRecord): Promise<void> {
    await this.locked(async () => {
      const { veths, hadPorts } = this.dropContainer(rec.id);
      if (!veths.length && !hadPorts) return;
      this.state.save();
      if (hadPorts) await this.applyFirewall();
      if (!veths.length) return;
      // The kernel removes a veth pair with the namespace of either end, a moment after its last process.
      const t = setTimeout(() => {
        this.timers.delete(t);
        const have = interfaces();
        const left = veths.filter((v) => have.has(v));
        // Gone meanwhile with its namespace is as good as removed.
        if (left.length) void hostIp(left.map((v) => `link del ${v}`)).catch(() => {});
      }, STALE_VETH_CHECK_MS);
      t.unref();
      this.timers.add(t);
    });
  }

  // --- what the engine shows

  stateOf(rec: ContainerRecord): ContainerNetworkState {
    const running = rec.state.running && rec.state.status !== 'restarting';
    const networks: Record<string, AttachedNetwork> = {};
    const m = rec.spec.network.mode;
    if (m === 'host' || m === 'none') networks[m] = { networkId: this.predefined[m], endpointId: '', ipAddress: '', prefixLen: 0, gateway: '', macAddress: '', aliases: [] };
    for (const e of this.effective(rec)) {
      const net = this.netOf(e);
      const ep = running && net ? this.state.endpointsOf(rec.id).find((x) => x.networkId === net.id) : undefined;
      networks[net?.name ?? e.name] = {
        networkId: net?.id ?? e.id,
        endpointId: ep?.endpointId ?? '',
        ipAddress: ep?.ip ?? '',
        prefixLen: ep && net ? prefixOf(net) : 0,
        gateway: ep && net ? net.gateway : '',
        macAddress: ep?.mac ?? '',
        aliases: net && !net.isDefault ? [...e.aliases, rec.id.slice(0, 12)] : [],
      };
    }
    const ports = running ? this.state.portsOf(rec.id).map((p) => ({ containerPort: p.containerPort, protocol: p.protocol, hostIp: p.hostIp, hostPort: p.hostPort })) : [];
    return { networks, ports };
  }

  private info(n: NetworkRecord | 'host' | 'none'): NetworkInfo {
    if (n === 'host' || n === 'none') {
      const containers: NetworkContainer[] = this.containers
        .all()
        .filter((c) => c.state.running && c.spec.network.mode === n)
        .map((c) => ({ id: c.id, name: c.name, endpointId: '', macAddress: '', ipv4Address: '' }));
      return { id: this.predefined[n], name: n, created: '0001-01-01T00:00:00Z', driver: n === 'host' ? 'host' : 'null', builtin: true, internal: false, attachable: false, labels: {}, options: {}, containers };
    }
    const containers = this.state.endpointsOn(n.id).flatMap((e) => {
      const c = this.containers.get(e.containerId);
      return c ? [{ id: c.id, name: c.name, endpointId: e.endpointId, macAddress: e.mac, ipv4Address: `${e.ip}/${prefixOf(n)}` }] : [];
    });
    const options = n.isDefault ? { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': n.bridge } : { ...n.options };
    return {
      id: n.id,
      name: n.name,
      created: n.created,
      driver: 'bridge',
      builtin: n.isDefault,
      internal: n.internal,
      attachable: n.attachable ?? false,
      subnet: n.subnet,
      gateway: n.gateway,
      ...(n.ipRange ? { ipRange: n.ipRange } : {}),
      labels: { ...n.labels },
      options,
      containers,
    };
  }

  list(): NetworkInfo[] {
    return [...this.state.networks.map((n) => this.info(n)), this.info('host'), this.info('none')];
  }

  inspect(idOrName: string): NetworkInfo {
    const n = this.find(idOrName);
    if (!n) throw notFound(`network ${idOrName} not found`);
    return this.info(n);
  }

  // --- user networks

  async createNetwork(o: NetworkCreate): Promise<NetworkInfo> {
    if (this.opts.guard) throw new EngineError(500, `Berth makes no networks here: ${this.opts.guard}`);
    const driver = o.driver || 'bridge';
    if (driver !== 'bridge') throw badRequest(`Berth does not support the network driver ${driver} yet (only bridge)`);
    if (!VALID_NETWORK_NAME.test(o.name)) throw badRequest(`invalid network name ${JSON.stringify(o.name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    return this.locked(async () => {
      if (o.name === 'host' || o.name === 'none' || this.state.networks.some((n) => n.name === o.name)) throw conflict(`network with name ${o.name} already exists`);
      let subnet: string;
      if (o.subnet) {
        subnet = formatSubnet(parseSubnet(o.subnet));
        const s = parseSubnet(subnet);
        if (s.prefix > 30) throw badRequest(`invalid subnet ${subnet}: too small for a gateway and a container`);
        if (this.state.networks.some((n) => overlaps(parseSubnet(n.subnet), s))) throw new EngineError(403, 'Pool overlaps with other one on this address space');
      } else {
        if (o.gateway || o.ipRange) throw badRequest('a gateway or an ip-range needs a subnet (--subnet)');
        subnet = await this.freeSubnet(0);
      }
      const s = parseSubnet(subnet);
      const { first, last } = hostRange(s);
      if (o.gateway && (!isIpv4(o.gateway) || !contains(s, parseIpv4(o.gateway)) || parseIpv4(o.gateway) < first || parseIpv4(o.gateway) > last)) {
        throw new EngineError(403, `no matching subnet for gateway ${o.gateway}`);
      }
      if (o.ipRange) {
        const r = parseSubnet(o.ipRange);
        if (!contains(s, r.base) || r.prefix < s.prefix) throw new EngineError(403, `no matching subnet for range ${o.ipRange}`);
      }
      const net = this.newRecord({ name: o.name, subnet, gateway: o.gateway, ipRange: o.ipRange ? formatSubnet(parseSubnet(o.ipRange)) : '', isDefault: false, userSubnet: !!o.subnet, internal: o.internal, attachable: o.attachable, labels: o.labels });
      this.state.networks.push(net);
      this.state.save();
      try {
        await this.realizeBase();
        await this.ensureBridge(net);
        await this.applyFirewall();
      } catch (e) {
        await this.unrealize(net).catch(() => {});
        this.state.networks = this.state.networks.filter((n) => n.id !== net.id);
        this.state.save();
        throw e;
      }
      return this.info(net);
    });
  }

  private async unrealize(net: NetworkRecord): Promise<void> {
    this.resolvers.get(net.id)?.r.close();
    this.resolvers.delete(net.id);
    this.realized.delete(net.id);
    if (interfaces().has(net.bridge)) await hostIp([`link del ${net.bridge}`]);
  }

  async removeNetwork(idOrName: string): Promise<void> {
    return this.locked(async () => {
      const n = this.find(idOrName);
      if (!n) throw notFound(`network ${idOrName} not found`);
      if (n === 'host' || n === 'none' || n.isDefault) throw new EngineError(403, `${n === 'host' || n === 'none' ? n : n.name} is a pre-defined network and cannot be removed`);
      if (this.state.endpointsOn(n.id).length) throw new EngineError(403, `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      await this.unrealize(n);
      this.state.networks = this.state.networks.filter((x) => x.id !== n.id);
      this.state.save();
      await this.applyFirewall();
    });
  }

  /** Removes the user networks no running container uses that `keep` does not keep; returns their names. */
  async prune(keep: (n: NetworkInfo) => boolean): Promise<string[]> {
    const gone: string[] = [];
    for (const n of this.state.networks.filter((x) => !x.isDefault)) {
      if (this.state.endpointsOn(n.id).length || keep(this.info(n))) continue;
      try {
        await this.removeNetwork(n.id);
        gone.push(n.name);
      } catch (e) {
        // Joined meanwhile: in use, not ours to prune (as Docker).
        if (!(e instanceof EngineError && (e.status === 403 || e.status === 404))) throw e;
      }
    }
    return gone;
  }

  /** `network connect`: the endpoint to add to the container's networks; a running container is wired at once. */
  async connect(rec: ContainerRecord, idOrName: string, spec: Omit<EndpointSpec, 'network'>): Promise<{ networks: ResolvedEndpoint[] }> {
    const n = rec.spec.network;
    const target = this.find(idOrName);
    if (!target) throw notFound(`network ${idOrName} not found`);
    if (target === 'host' || target === 'none' || n.mode === 'host') throw new EngineError(403, 'container cannot be disconnected from host network or connected to host network');
    if (n.mode === 'container') throw new EngineError(403, 'container sharing network namespace with another container or host cannot be connected to any other network');
    if (n.mode === 'none') throw new EngineError(403, 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
    const current = this.effective(rec);
    if (current.some((e) => this.netOf(e)?.id === target.id)) throw new EngineError(403, `endpoint with name ${rec.name} already exists in network ${target.name}`);
    const ep: ResolvedEndpoint = {
      name: target.name,
      id: target.id,
      aliases: [...new Set(spec.aliases ?? [])],
      ...(spec.links?.length ? { links: normalizeLinks(spec.links) } : {}),
      ipv4Address: spec.ipv4Address ?? '',
      macAddress: spec.macAddress ?? '',
    };
    if (ep.ipv4Address && !isIpv4(ep.ipv4Address)) throw badRequest(`invalid IPv4 address: ${ep.ipv4Address}`);
    this.checkEndpoint(target, ep);
    const networks = [...current, ep];
    const live = rec.state.running && rec.state.status !== 'restarting' && rec.state.pid > 0;
    if (!live) return { networks };
    await this.locked(async () => {
      await this.realizeBase();
      const fresh = !this.realized.has(target.id);
      await this.ensureBridge(target);
      const before = this.state.endpointsOf(rec.id);
      const taken = new Set(before.map((e) => e.ifname));
      let i = 0;
      while (taken.has(`eth${i}`)) i++;
      const added = this.addEndpoint(rec, target, ep, `eth${i}`);
      const after = [...before, added];
      const route = !this.gatewayEndpoint(before) && this.gatewayEndpoint(after) === added ? added : undefined;
      const dns = !this.dnsEndpoint(before) && this.dnsEndpoint(after) === added ? target.gateway : undefined;
      try {
        await this.wire(rec.state.pid, [added], { route, dnsGateway: dns });
      } catch (e) {
        this.state.endpoints = this.state.endpoints.filter((x) => x !== added);
        await hostIp([`link del ${added.veth}`]).catch(() => {});
        throw new EngineError(500, `connecting ${rec.name} to ${target.name}: ${(e as Error).message}`);
      } finally {
        this.state.save();
      }
      if (fresh) await this.applyFirewall();
      await this.writeEtc(rec, this.containers.dir(rec.id));
    });
    return { networks };
  }

  /** `network disconnect`: the container's networks without this one; a running container loses the interface at once. */
  async disconnect(rec: ContainerRecord, idOrName: string): Promise<{ networks: ResolvedEndpoint[] }> {
    const target = this.find(idOrName);
    if (!target) throw notFound(`network ${idOrName} not found`);
    if (target === 'host' || target === 'none' || rec.spec.network.mode !== 'default') throw new EngineError(403, 'container cannot be disconnected from host network or connected to host network');
    const current = this.effective(rec);
    if (!current.some((e) => this.netOf(e)?.id === target.id)) throw new EngineError(403, `container ${rec.id} is not connected to network ${target.name}`);
    const networks = current.filter((e) => this.netOf(e)?.id !== target.id);
    await this.locked(async () => {
      const ep = this.state.endpointsOf(rec.id).find((e) => e.networkId === target.id);
      if (!ep) return;
      const before = this.state.endpointsOf(rec.id);
      const hadGateway = this.gatewayEndpoint(before) === ep;
      const hadDns = this.dnsEndpoint(before) === ep;
      this.state.endpoints = this.state.endpoints.filter((e) => e !== ep);
      const after = this.state.endpointsOf(rec.id);
      // Published ports follow the default route to the next network with outside access, or go.
      const next = this.gatewayEndpoint(after);
      const ports = this.state.portsOf(rec.id);
      if (ports.some((p) => p.containerIp === ep.ip)) {
        if (next) for (const p of ports) p.containerIp = next.ip;
        else this.dropPorts(rec.id);
      }
      this.state.save();
      const pid = rec.state.pid;
      await hostIp([`link del ${ep.veth}`]).catch(() => {});
      if (pid > 0 && rec.state.running) {
        const nsLines = hadGateway && next ? [`route replace default via ${this.state.network(next.networkId)!.gateway} dev ${next.ifname}`] : [];
        const dns = this.dnsEndpoint(after);
        if (hadDns && dns) await inNetns(netnsOf(pid), this.containerScript(nsLines, this.state.network(dns.networkId)!.gateway));
        else if (nsLines.length) await ipBatch(nsLines, netnsOf(pid));
        await this.writeEtc(rec, this.containers.dir(rec.id));
      }
      if (ports.length) await this.applyFirewall();
    });
    return { networks };
  }

  private dropPorts(id: string): void {
    for (const p of this.state.portsOf(id)) this.holder.release(p.protocol, p.hostIp, p.hostPort);
    this.state.ports = this.state.ports.filter((p) => p.containerId !== id);
  }

  // --- the embedded resolver's questions (dns.ts)

  private clientOf(networkId: string, clientIp: string): EndpointRecord | undefined {
    return this.state.endpoints.find((e) => e.networkId === networkId && e.ip === clientIp);
  }

  /** The user networks the client is on, where names resolve (not the default bridge, as in Docker). */
  private sharedNets(client: EndpointRecord): Set<string> {
    return new Set(this.state.endpointsOf(client.containerId).filter((e) => !this.state.network(e.networkId)?.isDefault).map((e) => e.networkId));
  }

  lookup(networkId: string, clientIp: string, name: string): string[] | undefined {
    const client = this.clientOf(networkId, clientIp);
    if (!client) return undefined;
    // A link's alias is the client's own name for its target, on the link's network only (libnetwork's endpoint aliases).
    const own = this.containers.get(client.containerId);
    for (const ep of own ? this.effective(own) : []) {
      const link = (ep.links ?? []).find((l) => l.slice(l.indexOf(':') + 1).toLowerCase() === name);
      const net = link && this.netOf(ep);
      if (!link || !net) continue;
      const target = link.slice(0, link.indexOf(':')).toLowerCase();
      const ips = this.state.endpointsOn(net.id).flatMap((e) => {
        const c = this.containers.get(e.containerId);
        return c && [c.name, c.id.slice(0, 12), ...e.aliases].map((x) => x.toLowerCase()).includes(target) ? [e.ip] : [];
      });
      if (ips.length) return [...new Set(ips)];
    }
    const nets = this.sharedNets(client);
    const out: string[] = [];
    for (const e of this.state.endpoints) {
      if (!nets.has(e.networkId)) continue;
      const c = this.containers.get(e.containerId);
      if (!c) continue;
      const names = [c.name, c.id.slice(0, 12), ...e.aliases].map((x) => x.toLowerCase());
      if (names.includes(name)) out.push(e.ip);
    }
    return out.length ? [...new Set(out)] : undefined;
  }

  reverse(networkId: string, clientIp: string, ip: string): string | undefined {
    const client = this.clientOf(networkId, clientIp);
    if (!client) return undefined;
    const nets = this.sharedNets(client);
    const e = this.state.endpoints.find((x) => nets.has(x.networkId) && x.ip === ip);
    const c = e && this.containers.get(e.containerId);
    return c ? `${c.name}.${this.state.network(e.networkId)!.name}` : undefined;
  }

  upstreams(networkId: string, clientIp: string): string[] | undefined {
    const client = this.clientOf(networkId, clientIp);
    if (!client) return undefined;
    // Only names of its own networks for a container that has no way out.
    if (this.state.endpointsOf(client.containerId).every((e) => this.state.network(e.networkId)?.internal)) return [];
    const own = this.containers.get(client.containerId)?.spec.network.dns ?? [];
    return own.length ? own : this.hostNameservers;
  }

  private hostNameservers: string[] = [];
  /** Read at load and whenever a container starts on a user network, so a changed host file counts from then. */
  private async refreshNameservers(): Promise<void> {
    this.hostNameservers = parseResolvConf(await this.hostResolv()).nameservers;
  }

  /** Called by the engine after it loaded the records and before it serves anything. */
  async open(): Promise<void> {
    await this.refreshNameservers();
    await this.load();
  }

  /**
   * The agent stops. The resolver and the held ports go with it; with nothing running the
   * bridges and chains go too (a new agent makes them again as it needs them); with running
   * containers they stay, so their ports keep forwarding.
   */
  async close(): Promise<void> {
    await this.locked(async () => {
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      for (const { r } of this.resolvers.values()) r.close();
      this.resolvers.clear();
      this.holder.closeAll();
      try {
        if (this.opts.guard || this.state.endpoints.length) return;
        await this.teardown();
      } finally {
        closeHostIp();
      }
    });
  }

  /** Everything of this agent in the kernel: its bridges, its jumps and chains. */
  private async teardown(): Promise<void> {
    const have = interfaces();
    const bridges = [...have].filter((l) => isOwnLink(this.names, l));
    // A veth may go with its namespace meanwhile: what could not be removed is said, and the rest goes on.
    if (bridges.length) await hostIp(bridges.map((b) => `link del ${b}`)).catch((e) => console.error(`berth: ${(e as Error).message}`));
    this.realized.clear();
    const saved = await iptablesSave().catch(() => '');
    const present = presentJumps(this.names, saved);
    if (present.size || hasOwnChains(this.names, saved)) await iptablesRestore(renderTeardown(this.names, present, saved), { noflush: true });
    this.base = undefined;
  }
}

/** A random locally administered unicast MAC. */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** For tests and the README: the address pool networks are chosen from. */
export const ADDRESS_POOL = POOL.map(formatSubnet);
export type { NetworkRecord, PortRecord };

/** A file's text, or `fallback` when it cannot be read. */
function readOr<T extends string | undefined>(path: string, fallback: T): string | T {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

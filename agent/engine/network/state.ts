// What the agent knows of its networks, kept in ROOT/network/state.json (atomic writes) so
// that addresses, ports and networks survive agent restarts: the networks, the endpoints
// of running containers (address, MAC, veth) and their published ports.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write';

export interface NetworkRecord {
  id: string;
  name: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  driver: 'bridge';
  /** IPv4 CIDR. */
  subnet: string;
  gateway: string;
  /** A CIDR inside the subnet addresses are handed out from; "" = the whole subnet. */
  ipRange: string;
  internal: boolean;
  /** Absent in state files from before it was kept: false. */
  attachable?: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** The agent's default bridge, Docker's "bridge". */
  isDefault: boolean;
  /** The user chose the subnet: only then may a container ask for a fixed address (as in Docker). */
  userSubnet: boolean;
  /** The bridge interface. */
  bridge: string;
  /** The address handed out last: the next goes after it, so a freed one is not reused at once. */
  lastIp: string;
}

export interface EndpointRecord {
  containerId: string;
  networkId: string;
  endpointId: string;
  ip: string;
  mac: string;
  /** The host end of the veth pair. */
  veth: string;
  /** Its name inside the container: eth0, eth1 … */
  ifname: string;
  aliases: string[];
}

export interface PortRecord {
  containerId: string;
  protocol: 'tcp' | 'udp';
  /** "0.0.0.0" = every address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

interface StateFile {
  version: 1;
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
  ports: PortRecord[];
}

export class NetworkState {
  networks: NetworkRecord[] = [];
  endpoints: EndpointRecord[] = [];
  ports: PortRecord[] = [];
  private readonly file: string;

  constructor(root: string) {
    const dir = join(root, 'network');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
    if (!existsSync(this.file)) return;
    let s: StateFile;
    try {
      s = JSON.parse(readFileSync(this.file, 'utf8')) as StateFile;
    } catch (e) {
      // Refusing to start beats handing out addresses and ports that may be in use.
      throw new Error(`cannot read the network state ${this.file}: ${(e as Error).message}`, { cause: e });
    }
    if (s.version !== 1) throw new Error(`${this.file}: unknown version ${String(s.version)}`);
    this.networks = s.networks;
    this.endpoints = s.endpoints;
    this.ports = s.ports;
  }

  save(): void {
    const s: StateFile = { version: 1, networks: this.networks, endpoints: this.endpoints, ports: this.ports };
    writeFileAtomic(this.file, JSON.stringify(s, null, 1), { mode: 0o600 });
  }

  network(id: string): NetworkRecord | undefined {
    return this.networks.find((n) => n.id === id);
  }
  endpointsOf(containerId: string): EndpointRecord[] {
    return this.endpoints.filter((e) => e.containerId === containerId);
  }
  endpointsOn(networkId: string): EndpointRecord[] {
    return this.endpoints.filter((e) => e.networkId === networkId);
  }
  portsOf(containerId: string): PortRecord[] {
    return this.ports.filter((p) => p.containerId === containerId);
  }
}

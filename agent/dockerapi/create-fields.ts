import { apiAtLeast } from './api-version';
// Every field of Docker's container create body, and what Berth does with it: mapped into
// the engine's spec ('implemented'), meaningless on Linux and so without effect either way
// ('inert', with the reason), or refused when set ('refused', in the docker CLI's words).
// A field at its default value is never an error: the CLI sends them all. A field that is
// in none of these lists is refused too when set, so an API newer than this table cannot
// slip an option past it. As features land, their fields move from refused to implemented.
// The tables cover the create body up to API 1.50 (the agent's current version); a field a
// version added is noted with it.

export type FieldRule =
  | { kind: 'implemented' }
  | { kind: 'inert'; why: string }
  /** `flag`: what the user typed, as the CLI's help names it. `accepts`: values that mean the default. */
  | { kind: 'refused'; flag: string; accepts?: (v: unknown) => boolean };

const implemented: FieldRule = { kind: 'implemented' };
const refused = (flag: string, accepts?: (v: unknown) => boolean): FieldRule => ({ kind: 'refused', flag, accepts });
/** A map field (its keys are the data: {"/data": {}} asks for a volume): set as soon as it has a key. */
const refusedMap = (flag: string): FieldRule => refused(flag, (v) => v === null || v === undefined || (typeof v === 'object' && Object.keys(v as object).length === 0));

/** Top-level fields of the body (Docker's ContainerConfig). */
export const CONFIG_FIELDS: Record<string, FieldRule> = {
  Hostname: implemented,
  Domainname: refused('--domainname'),
  User: implemented,
  AttachStdin: implemented,
  AttachStdout: { kind: 'inert', why: 'which streams a client attaches to is chosen by its attach request' },
  AttachStderr: { kind: 'inert', why: 'which streams a client attaches to is chosen by its attach request' },
  ExposedPorts: implemented,
  Tty: implemented,
  OpenStdin: implemented,
  StdinOnce: implemented,
  Env: implemented,
  Cmd: implemented,
  Healthcheck: implemented,
  ArgsEscaped: { kind: 'inert', why: 'Windows only' },
  Image: implemented,
  Volumes: implemented,
  WorkingDir: implemented,
  Entrypoint: implemented,
  NetworkDisabled: refused('--network none (NetworkDisabled)'),
  // Deprecated in 1.44 for the endpoint's own MacAddress; still taken, as dockerd does (containers.ts).
  MacAddress: implemented,
  OnBuild: refused('ONBUILD'),
  Labels: implemented,
  StopSignal: implemented,
  StopTimeout: implemented,
  Shell: refused('SHELL'),
  HostConfig: implemented,
  NetworkingConfig: implemented,
};

/** An object whose keys are all unset, or hold one of the values listed for them. */
const onlyDefaults =
  (allowed: Record<string, unknown[]>) =>
  (v: unknown): boolean =>
    isUnset(v) || (typeof v === 'object' && Object.entries(v as object).every(([k, x]) => isUnset(x) || (allowed[k] ?? []).includes(x)));

const zeroOrMinusOne = (v: unknown) => v === -1 || v === 0 || v === null;

/** HostConfig, including the Resources it embeds. */
export const HOST_CONFIG_FIELDS: Record<string, FieldRule> = {
  CpuShares: implemented,
  Memory: implemented,
  CgroupParent: refused('--cgroup-parent'),
  BlkioWeight: refused('--blkio-weight'),
  BlkioWeightDevice: refused('--blkio-weight-device'),
  BlkioDeviceReadBps: refused('--device-read-bps'),
  BlkioDeviceWriteBps: refused('--device-write-bps'),
  BlkioDeviceReadIOps: refused('--device-read-iops'),
  BlkioDeviceWriteIOps: refused('--device-write-iops'),
  CpuPeriod: refused('--cpu-period'),
  CpuQuota: refused('--cpu-quota'),
  CpuRealtimePeriod: refused('--cpu-rt-period'),
  CpuRealtimeRuntime: refused('--cpu-rt-runtime'),
  CpusetCpus: refused('--cpuset-cpus'),
  CpusetMems: refused('--cpuset-mems'),
  Devices: implemented,
  DeviceCgroupRules: refused('--device-cgroup-rule'),
  DeviceRequests: refused('--gpus'),
  KernelMemory: refused('--kernel-memory'),
  KernelMemoryTCP: refused('--kernel-memory-tcp'),
  MemoryReservation: refused('--memory-reservation'),
  MemorySwap: implemented,
  // The CLI sends -1 for "not set".
  MemorySwappiness: refused('--memory-swappiness', zeroOrMinusOne),
  NanoCpus: implemented,
  OomKillDisable: refused('--oom-kill-disable'),
  Init: implemented,
  PidsLimit: implemented,
  Ulimits: implemented,
  CpuCount: { kind: 'inert', why: 'Windows only' },
  CpuPercent: { kind: 'inert', why: 'Windows only' },
  IOMaximumIOps: { kind: 'inert', why: 'Windows only' },
  IOMaximumBandwidth: { kind: 'inert', why: 'Windows only' },
  Binds: implemented,
  ContainerIDFile: { kind: 'inert', why: 'the CLI writes the id file itself; the daemon only stores the path' },
  LogConfig: implemented,
  NetworkMode: implemented,
  PortBindings: implemented,
  RestartPolicy: implemented,
  AutoRemove: implemented,
  // The local driver is the only one: naming it is asking for what every volume gets.
  VolumeDriver: refused('--volume-driver', (v) => v === '' || v === null || v === undefined || v === 'local'),
  VolumesFrom: implemented,
  // Each Mount's own fields have a table of their own (create-storage.ts).
  Mounts: implemented,
  CapAdd: implemented,
  CapDrop: implemented,
  // Every container gets a cgroup namespace of its own, which is what "private" asks for.
  CgroupnsMode: refused('--cgroupns', (v) => v === '' || v === 'private' || v === null),
  Dns: implemented,
  DnsOptions: implemented,
  DnsSearch: implemented,
  ExtraHosts: implemented,
  GroupAdd: implemented,
  IpcMode: implemented,
  Cgroup: refused('--cgroup'),
  // On a user network: links of the container's endpoint there (the create maps them); elsewhere refused.
  Links: implemented,
  OomScoreAdj: refused('--oom-score-adj'),
  PidMode: implemented,
  Privileged: implemented,
  PublishAllPorts: implemented,
  ReadonlyRootfs: implemented,
  SecurityOpt: implemented,
  StorageOpt: refusedMap('--storage-opt'),
  Tmpfs: implemented,
  UTSMode: implemented,
  UsernsMode: refused('--userns'),
  ShmSize: implemented,
  Sysctls: implemented,
  Runtime: refused('--runtime', (v) => v === '' || v === null || v === 'berth'),
  ConsoleSize: implemented,
  Isolation: refused('--isolation', (v) => v === '' || v === null || v === 'default'),
  MaskedPaths: implemented,
  ReadonlyPaths: implemented,
  // 1.43. Before it dockerd ignores the field, and so does Berth (containers.ts).
  Annotations: refusedMap('--annotation'),
};

/** Config.Healthcheck: all of Docker's HealthConfig (a newer field is refused by name when set). */
export const HEALTHCHECK_FIELDS: Record<string, FieldRule> = {
  Test: implemented,
  Interval: implemented,
  Timeout: implemented,
  StartPeriod: implemented,
  // 1.44; ignored from older clients, as dockerd does.
  StartInterval: implemented,
  Retries: implemented,
};

/** What `docker update` may change; the rest of its body (Docker's Resources) is refused by the
 *  create rule of the same field, or by its name when create takes it but update cannot. */
const UPDATABLE = new Set(['Memory', 'MemorySwap', 'NanoCpus', 'CpuShares', 'PidsLimit', 'RestartPolicy']);
export const UPDATE_FIELDS: Record<string, FieldRule> = Object.fromEntries(
  Object.entries(HOST_CONFIG_FIELDS).flatMap(([k, rule]): Array<[string, FieldRule]> => {
    if (UPDATABLE.has(k)) return [[k, implemented]];
    return rule.kind === 'implemented' ? [] : [[k, rule]];
  }),
);

/** Null, false, 0, "", [] and structs of nothing but those: what the CLI sends for "not given".
 *  (Map fields, whose keys are the data, are refusedMap's: there an empty value under a key counts.) */
export function isUnset(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v as object).every(isUnset);
  return false;
}

/** The first option of `body` (at `where`, "" or "HostConfig.") that Berth does not do, in the CLI's words. */
export function firstRefused(body: Record<string, unknown>, table: Record<string, FieldRule>, where: string): string | undefined {
  for (const [key, value] of Object.entries(body)) {
    const rule = table[key];
    if (!rule) {
      if (!isUnset(value)) return `${where}${key}`;
      continue;
    }
    if (rule.kind !== 'refused') continue;
    if (!(rule.accepts ?? isUnset)(value)) return rule.flag;
  }
  return undefined;
}

/** What Berth takes of Docker's EndpointSettings; the rest is what dockerd fills in (output only) or refused by its option. */
export interface EndpointSettings {
  aliases?: string[];
  links?: string[];
  ipv4Address?: string;
  macAddress?: string;
}

const ENDPOINT_REFUSED: Record<string, string> = {
  DriverOpts: '--driver-opt',
  // 1.48: which network gives the default route. Berth's is always the first network's.
  GwPriority: '--network gw-priority',
};
const IPAM_REFUSED: Record<string, string> = {
  IPv6Address: '--ip6',
  LinkLocalIPs: '--link-local-ip',
};

/** One network's EndpointSettings (create's NetworkingConfig, or connect's EndpointConfig) → Berth's, or the option it cannot do. */
export function endpointSettings(raw: unknown, where: string): { refused?: string; settings: EndpointSettings } {
  const settings: EndpointSettings = {};
  if (raw === null || raw === undefined) return { settings };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { refused: `${where} (not an object)`, settings };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (isUnset(v)) continue;
    if (k === 'Aliases' && Array.isArray(v) && v.every((a) => typeof a === 'string')) settings.aliases = v as string[];
    else if (k === 'Links' && Array.isArray(v) && v.every((a) => typeof a === 'string')) settings.links = v as string[];
    else if (k === 'MacAddress' && typeof v === 'string') settings.macAddress = v;
    // Output only (1.44): dockerd makes them from the name, aliases and hostname.
    else if (k === 'DNSNames') continue;
    else if (k === 'IPAMConfig' && typeof v === 'object' && !Array.isArray(v)) {
      for (const [ik, iv] of Object.entries(v as Record<string, unknown>)) {
        if (isUnset(iv)) continue;
        if (ik === 'IPv4Address' && typeof iv === 'string') settings.ipv4Address = iv;
        else return { refused: IPAM_REFUSED[ik] ?? `${where}.IPAMConfig.${ik}`, settings };
      }
    } else return { refused: ENDPOINT_REFUSED[k] ?? `${where}.${k}`, settings };
  }
  return { settings };
}

/** The network NetworkMode names for its endpoint: "bridge" for the default, as dockerd renames it. */
export const endpointName = (networkMode: string) => (networkMode === 'default' || networkMode === '' ? 'bridge' : networkMode);

/**
 * NetworkingConfig: the networks a container joins at create and what Berth takes of each, the
 * one NetworkMode names first. Before API 1.44 dockerd takes one network at create; from 1.44 any
 * number, of which NetworkMode's must be one (its settings are the container's main endpoint).
 */
export function createEndpoints(
  endpoints: Record<string, unknown> | null | undefined,
  networkMode: string,
  version: string,
): { refused?: string; error?: string; endpoints: Array<{ name: string; settings: EndpointSettings }> } {
  if (!endpoints) return { endpoints: [] };
  const names = Object.keys(endpoints);
  const several = names.length > 1;
  // dockerd's words (its create route) for more than one network from an older client.
  if (several && !apiAtLeast(version, '1.44')) return { error: `Container cannot be created with multiple network endpoints: ${names.join(', ')}`, endpoints: [] };
  const main = endpointName(networkMode);
  // A "default" key is the default network's, which dockerd renames with NetworkMode.
  const keyName = (k: string) => (k === 'default' && main === 'bridge' ? 'bridge' : k);
  if (names.length && !names.some((k) => keyName(k) === main)) return { refused: `--network ${names[0]} alongside --network ${networkMode}`, endpoints: [] };
  const out: Array<{ name: string; settings: EndpointSettings }> = [];
  for (const k of names) {
    let raw = endpoints[k];
    // Before 1.48 every endpoint had the same priority: dockerd drops the field from older clients.
    if (!apiAtLeast(version, '1.48') && raw && typeof raw === 'object') raw = { ...(raw as object), GwPriority: 0 };
    const r = endpointSettings(raw, `NetworkingConfig.EndpointsConfig.${k}`);
    if (r.refused) return { refused: r.refused, endpoints: [] };
    const e = { name: keyName(k), settings: r.settings };
    if (e.name === main) out.unshift(e);
    else out.push(e);
  }
  return { endpoints: out };
}

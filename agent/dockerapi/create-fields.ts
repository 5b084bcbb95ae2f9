// Every field of Docker's container create body, and what Berth does with it: mapped into
// the engine's spec ('implemented'), meaningless on Linux and so without effect either way
// ('inert', with the reason), or refused when set ('refused', in the docker CLI's words).
// A field at its default value is never an error: the CLI sends them all. A field that is
// in none of these lists is refused too when set, so an API newer than this table cannot
// slip an option past it. As features land, their fields move from refused to implemented.

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
  ExposedPorts: refusedMap('--expose'),
  Tty: implemented,
  OpenStdin: implemented,
  StdinOnce: implemented,
  Env: implemented,
  Cmd: implemented,
  Healthcheck: refused('--health-cmd'),
  ArgsEscaped: { kind: 'inert', why: 'Windows only' },
  Image: implemented,
  Volumes: refusedMap('-v/--volume'),
  WorkingDir: implemented,
  Entrypoint: implemented,
  NetworkDisabled: refused('--network none (NetworkDisabled)'),
  MacAddress: refused('--mac-address'),
  OnBuild: refused('ONBUILD'),
  Labels: implemented,
  StopSignal: refused('--stop-signal'),
  StopTimeout: refused('--stop-timeout'),
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
  Devices: refused('--device'),
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
  Init: refused('--init'),
  PidsLimit: implemented,
  Ulimits: refused('--ulimit'),
  CpuCount: { kind: 'inert', why: 'Windows only' },
  CpuPercent: { kind: 'inert', why: 'Windows only' },
  IOMaximumIOps: { kind: 'inert', why: 'Windows only' },
  IOMaximumBandwidth: { kind: 'inert', why: 'Windows only' },
  Binds: refused('-v/--volume'),
  ContainerIDFile: { kind: 'inert', why: 'the CLI writes the id file itself; the daemon only stores the path' },
  LogConfig: implemented,
  NetworkMode: implemented,
  PortBindings: refusedMap('-p/--publish'),
  RestartPolicy: refused('--restart', onlyDefaults({ Name: ['', 'no'] })),
  AutoRemove: implemented,
  VolumeDriver: refused('--volume-driver'),
  VolumesFrom: refused('--volumes-from'),
  Mounts: refused('--mount'),
  CapAdd: refused('--cap-add'),
  CapDrop: refused('--cap-drop'),
  // Every container gets a cgroup namespace of its own, which is what "private" asks for.
  CgroupnsMode: refused('--cgroupns', (v) => v === '' || v === 'private' || v === null),
  Dns: refused('--dns'),
  DnsOptions: refused('--dns-option'),
  DnsSearch: refused('--dns-search'),
  ExtraHosts: refused('--add-host'),
  GroupAdd: implemented,
  IpcMode: refused('--ipc', (v) => v === '' || v === 'private' || v === null),
  Cgroup: refused('--cgroup'),
  Links: refused('--link'),
  OomScoreAdj: refused('--oom-score-adj'),
  PidMode: refused('--pid'),
  Privileged: refused('--privileged'),
  PublishAllPorts: refused('-P/--publish-all'),
  ReadonlyRootfs: refused('--read-only'),
  SecurityOpt: refused('--security-opt'),
  StorageOpt: refusedMap('--storage-opt'),
  Tmpfs: refusedMap('--tmpfs'),
  UTSMode: refused('--uts'),
  UsernsMode: refused('--userns'),
  ShmSize: refused('--shm-size'),
  Sysctls: refusedMap('--sysctl'),
  Runtime: refused('--runtime', (v) => v === '' || v === null || v === 'berth'),
  ConsoleSize: implemented,
  Isolation: refused('--isolation', (v) => v === '' || v === null || v === 'default'),
  MaskedPaths: refused('MaskedPaths'),
  ReadonlyPaths: refused('ReadonlyPaths'),
};

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

/** Docker's EndpointSettings: nothing of it is implemented yet, so any value set names its option. */
const ENDPOINT_FLAGS: Record<string, string> = {
  IPAMConfig: '--ip/--ip6',
  Links: '--link',
  Aliases: '--network-alias',
  MacAddress: '--mac-address',
  DriverOpts: '--driver-opt',
};

/** NetworkingConfig: at most the one network named in NetworkMode, with nothing set in it. */
export function refusedEndpoint(endpoints: Record<string, unknown> | null | undefined, networkMode: string): string | undefined {
  if (!endpoints) return undefined;
  const names = Object.keys(endpoints);
  if (names.length > 1) return 'more than one --network';
  for (const name of names) {
    if (name !== networkMode && !(networkMode === 'default' && name === 'bridge')) return `--network ${name} alongside --network ${networkMode}`;
    const settings = (endpoints[name] ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(settings)) {
      if (isUnset(v)) continue;
      return ENDPOINT_FLAGS[k] ?? `NetworkingConfig.EndpointsConfig.${name}.${k}`;
    }
  }
  return undefined;
}

// What a container may do, decided by the engine: capabilities (Docker's default set,
// --cap-add/--cap-drop, --privileged), the seccomp filter (seccomp-profile.ts),
// no_new_privs, rlimits, namespaced sysctls, which namespaces are the host's, and what
// the mount plan and the devices cgroup get from all that. resolveIsolation() checks a
// spec at create, Docker's way; containerIsolation() turns a resolved spec into what the
// monitor and the cgroups are given at start (and `exec` reuses).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { ContainerSpec, ResolvedSpec } from '../../../protocol/container';
import type { DeviceAccess } from '../cgroups';
import { monitorBinary } from '../../native/binary';
import { badRequest, EngineError } from '../errors';
import { DeviceError, devicesFromPath, hostDevices, INIT_PATH, type PlanDevice, type PlanOptions } from './mount-plan';
import { DEFAULT_SECCOMP_PROFILE, parseSeccompProfile, resolveSeccomp, seccompEntries, SeccompProfileError, type ResolvedSeccomp } from './seccomp-profile';
import { parseSignal } from './signals';

/** Linux's capabilities, by number. */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** Docker's default set (moby's caps.DefaultCapabilities). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const capMask = (names: Iterable<string>): bigint => {
  let m = 0n;
  for (const n of names) m |= 1n << BigInt(CAPABILITIES.indexOf(n as (typeof CAPABILITIES)[number]));
  return m;
};
export const capNames = (mask: bigint): string[] => CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);

let agentCaps: bigint | undefined;
/** What this agent can hand out: its own effective set ("all capabilities" of --privileged, as in Docker). */
export function agentCapabilities(): bigint {
  if (agentCaps === undefined) {
    const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    agentCaps = BigInt('0x' + eff) & ((1n << BigInt(Math.min(last, CAPABILITIES.length - 1) + 1)) - 1n);
  }
  return agentCaps;
}

/** "net_admin", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "all" → "ALL"; unknown names are Docker's 400. */
export function normalizeCapabilities(list: string[]): string[] {
  return list.map((c) => {
    const up = c.toUpperCase();
    if (up === 'ALL') return up;
    const name = up.startsWith('CAP_') ? up : `CAP_${up}`;
    if (!(CAPABILITIES as readonly string[]).includes(name)) throw badRequest(`unknown capability: "${name}"`);
    return name;
  });
}

/** Docker's IPC sysctls (runc's validateSysctl): namespaced with the container's own IPC namespace. */
const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);
const ULIMITS = new Set(['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

type Isolation = Pick<ResolvedSpec, 'security' | 'filesystem' | 'namespaces' | 'kernel'>;

/** A record written before these sections existed runs as Docker's defaults, which it did. */
export function isolationDefaults(): Isolation {
  return {
    security: { privileged: false, capAdd: [], capDrop: [], noNewPrivileges: false, seccomp: 'default', maskedPaths: null, readonlyPaths: null, devices: [] },
    filesystem: { readonlyRootfs: false, tmpfs: {}, shmSize: 0 },
    namespaces: { pid: 'private', ipc: 'private', uts: 'private' },
    kernel: { sysctls: {}, ulimits: [] },
  };
}

/** A record's spec with what an older agent did not write filled in (Docker's defaults,
 *  which is what such a container ran with); the same object when nothing was missing. */
export function withIsolationDefaults(spec: ResolvedSpec): ResolvedSpec {
  const p = spec.process as Partial<ResolvedSpec['process']>;
  const missing = !spec.security || !spec.filesystem || !spec.namespaces || !spec.kernel || p.init === undefined || p.stopSignal === undefined || p.stopTimeout === undefined;
  if (!missing) return spec;
  return {
    ...isolationDefaults(),
    ...spec,
    process: { ...spec.process, init: p.init ?? false, stopSignal: p.stopSignal ?? '', stopTimeout: p.stopTimeout ?? null },
  };
}

/** Docker's rules for a sysctl (runc's validateSysctl): only what the container's own namespaces hold. */
function checkSysctl(key: string, ns: Isolation['namespaces'], hostNetwork: boolean): void {
  if (!/^[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)+$/.test(key)) throw badRequest(`invalid sysctl name "${key}"`);
  if (IPC_SYSCTLS.has(key) || key.startsWith('fs.mqueue.')) {
    if (ns.ipc === 'host') throw badRequest(`sysctl "${key}" is not allowed in the hosts ipc namespace`);
    return;
  }
  if (key.startsWith('net.')) {
    if (hostNetwork) throw badRequest(`sysctl "${key}" not allowed in host network namespace`);
    return;
  }
  if (ns.uts === 'private') {
    if (key === 'kernel.domainname') return;
    if (key === 'kernel.hostname') throw badRequest('sysctl "kernel.hostname" is not allowed; set the hostname with --hostname');
  }
  throw badRequest(`sysctl "${key}" is not in a separate kernel namespace`);
}

/** A spec's isolation sections checked and filled in, at create (Docker's errors, as 400s). */
export function resolveIsolation(spec: ContainerSpec, networkMode: string): Isolation {
  const d = isolationDefaults();
  const s = spec.security ?? {};
  let seccomp = s.seccomp ?? 'default';
  if (typeof seccomp === 'object') {
    try {
      parseSeccompProfile(seccomp.profile);
    } catch (e) {
      throw badRequest((e as Error).message);
    }
    seccomp = { profile: seccomp.profile };
  }
  const devices = (s.devices ?? []).map((dev) => {
    const containerPath = dev.containerPath || dev.hostPath;
    const permissions = dev.permissions ?? 'rwm';
    if (!dev.hostPath.startsWith('/')) throw badRequest(`${dev.hostPath} is not an absolute path`);
    if (!containerPath.startsWith('/')) throw badRequest(`${containerPath} is not an absolute path`);
    if (!/^[rwm]{1,3}$/.test(permissions) || new Set(permissions).size !== permissions.length) throw badRequest(`invalid device mode: ${permissions}`);
    return { hostPath: dev.hostPath, containerPath: posix.normalize(containerPath), permissions };
  });
  const paths = (list: string[] | undefined) => {
    if (list === undefined) return null;
    for (const p of list) if (!p.startsWith('/')) throw badRequest(`masked and read-only paths must be absolute: ${p}`);
    return [...list];
  };
  const security: Isolation['security'] = {
    privileged: s.privileged ?? false,
    capAdd: normalizeCapabilities(s.capAdd ?? []),
    capDrop: normalizeCapabilities(s.capDrop ?? []),
    noNewPrivileges: s.noNewPrivileges ?? false,
    seccomp,
    maskedPaths: paths(s.maskedPaths),
    readonlyPaths: paths(s.readonlyPaths),
    devices,
  };

  const f = spec.filesystem ?? {};
  const tmpfs: Record<string, string> = {};
  for (const [dest, opts] of Object.entries(f.tmpfs ?? {})) {
    const clean = posix.normalize(dest).replace(/(.)\/$/, '$1');
    if (!clean.startsWith('/')) throw badRequest(`invalid mount config for type "tmpfs": invalid mount path: '${dest}' mount path must be absolute`);
    if (clean === '/') throw badRequest(`invalid mount config for type "tmpfs": invalid specification: destination can't be '/'`);
    if (clean in tmpfs) throw badRequest(`Duplicate mount point: ${clean}`);
    if (opts.split(',').some((o) => o === '' && opts !== '')) throw badRequest(`invalid tmpfs options for ${clean}: "${opts}"`);
    tmpfs[clean] = opts;
  }
  const filesystem: Isolation['filesystem'] = { readonlyRootfs: f.readonlyRootfs ?? false, tmpfs, shmSize: f.shmSize ?? 0 };

  const namespaces: Isolation['namespaces'] = { ...d.namespaces, ...spec.namespaces };
  if (namespaces.uts === 'host' && spec.network?.hostname) throw badRequest('Conflicting options: hostname and the UTS mode');
  if (spec.process?.init && namespaces.pid === 'host')
    throw badRequest('Berth does not support --init with --pid host: the host\'s PID namespace has an init already (Docker leaves --init out there without saying so)');
  if (spec.process?.stopSignal) parseSignal(spec.process.stopSignal);

  const k = spec.kernel ?? {};
  const sysctls = { ...(k.sysctls ?? {}) };
  for (const key of Object.keys(sysctls)) checkSysctl(key, namespaces, networkMode === 'host');
  const seen = new Set<string>();
  const ulimits = (k.ulimits ?? []).map((u) => {
    const name = u.name.toLowerCase();
    if (!ULIMITS.has(name)) throw badRequest(`invalid ulimit type: ${u.name}`);
    if (seen.has(name)) throw badRequest(`ulimit ${name} is given twice`);
    seen.add(name);
    if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) throw badRequest(`ulimit soft limit must be less than or equal to hard limit: ${u.soft} > ${u.hard}`);
    return { name, soft: u.soft, hard: u.hard };
  });
  return { security, filesystem, namespaces, kernel: { sysctls, ulimits } };
}

/** What the monitor applies besides capabilities (encoded by securityEntries). */
export interface MonitorSecurity {
  noNewPrivileges: boolean;
  seccomp?: ResolvedSeccomp;
  /** Where the monitor keeps the compiled filter (seccompCachePath). */
  seccompCache?: string;
  /** "nofile:1024:2048" */
  rlimits: string[];
  /** "net.ipv4.ip_forward=1"; run only. */
  sysctls: string[];
  pidHost: boolean;
  ipcHost: boolean;
  utsHost: boolean;
  readonlyRootfs: boolean;
}

/** monitor.conf entries (agent/native/config.c); exec gets only what applies to a process. */
export function securityEntries(s: MonitorSecurity | undefined, kind: 'run' | 'exec'): string[] {
  if (!s) return [];
  const out = [...(s.noNewPrivileges ? ['no_new_privs=1'] : []), ...s.rlimits.map((r) => `rlimit=${r}`), ...seccompEntries(s.seccomp, s.seccompCache)];
  if (kind === 'exec') return out;
  return [
    ...out,
    ...s.sysctls.map((x) => `sysctl=${x}`),
    ...(s.readonlyRootfs ? ['rootfs_readonly=1'] : []),
    ...(s.pidHost ? ['pidns=host'] : []),
    ...(s.ipcHost ? ['ipcns=host'] : []),
    ...(s.utsHost ? ['utsns=host'] : []),
  ];
}


export interface ContainerIsolation {
  caps: bigint;
  monitor: MonitorSecurity;
  plan: PlanOptions;
  devices: DeviceAccess;
  /** Put before the command: the init, when --init. */
  argvPrefix: string[];
}

/** Docker's defaults for a container with a network namespace of its own (moby's withCommonOptions). */
function defaultSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  if (existsSync('/proc/sys/net/ipv4/ping_group_range')) out['net.ipv4.ping_group_range'] = '0 2147483647';
  if (existsSync('/proc/sys/net/ipv4/ip_unprivileged_port_start')) out['net.ipv4.ip_unprivileged_port_start'] = '0';
  return out;
}

const MKNOD = 'CAP_MKNOD';

/** The capabilities a container gets: Docker's TweakCapabilities over what this agent has. */
export function containerCapabilities(sec: Isolation['security'], confinesDevices: boolean): bigint {
  const have = agentCapabilities();
  if (sec.privileged) return have;
  const add = sec.capAdd;
  const drop = sec.capDrop;
  for (const c of add) {
    if (c !== 'ALL' && !((have >> BigInt(CAPABILITIES.indexOf(c as (typeof CAPABILITIES)[number]))) & 1n))
      throw badRequest(`capability not supported by your kernel or not available in the current environment: "${c}"`);
  }
  let caps: string[];
  if (add.includes('ALL')) caps = capNames(have).filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = [...add];
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  // Without a devices cgroup a container that may mknod can open any disk of the host.
  if (!confinesDevices && caps.includes(MKNOD)) {
    if (add.includes(MKNOD) || add.includes('ALL'))
      throw badRequest('Berth cannot confine device access on this host (cgroup v2 without a device filter), so it does not grant CAP_MKNOD (--cap-add)');
    caps = caps.filter((c) => c !== MKNOD);
  }
  return capMask(caps) & have;
}

/** The compiled-filter cache of the agent whose container records are in `containersDir`. */
export const seccompCacheDir = (containersDir: string) => join(dirname(containersDir), 'seccomp-cache');

/**
 * The file the monitor keeps this filter's compiled program in: named after the rules and
 * the monitor binary that compiles them (another libseccomp may compile the same rules
 * differently), so an existing file is always this program.
 */
export function seccompCachePath(dir: string, s: ResolvedSeccomp): string {
  const bin = statSync(monitorBinary());
  const key = createHash('sha256').update(JSON.stringify([s, bin.size, bin.mtimeMs, bin.ino])).digest('hex');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${key}.bpf`);
}

/** What every process of the container runs with, the first and the exec'd ones alike. */
export function processSecurity(spec: ResolvedSpec, confinesDevices: boolean, cacheDir?: string): { caps: bigint; monitor: MonitorSecurity } {
  const { security: sec, filesystem: fs, namespaces: ns, kernel } = spec;
  const caps = containerCapabilities(sec, confinesDevices);

  let seccomp: ResolvedSeccomp | undefined;
  const choice = sec.seccomp;
  // --privileged runs without a filter unless the user gave one (Docker's WithSeccomp).
  if (choice !== 'unconfined' && !(sec.privileged && choice === 'default')) {
    try {
      const profile = typeof choice === 'object' ? parseSeccompProfile(choice.profile) : DEFAULT_SECCOMP_PROFILE;
      seccomp = resolveSeccomp(profile, capNames(caps));
    } catch (e) {
      if (e instanceof SeccompProfileError) throw badRequest(e.message);
      throw e;
    }
  }

  const ownNetns = spec.network.mode !== 'host';
  const sysctls = { ...(ownNetns ? defaultSysctls() : {}), ...kernel.sysctls };
  const ulimit = (n: number) => (n < 0 ? 'unlimited' : String(n));
  return {
    caps,
    monitor: {
      noNewPrivileges: sec.noNewPrivileges,
      seccomp,
      seccompCache: seccomp && cacheDir ? seccompCachePath(cacheDir, seccomp) : undefined,
      rlimits: kernel.ulimits.map((u) => `${u.name}:${ulimit(u.soft)}:${ulimit(u.hard)}`),
      sysctls: Object.entries(sysctls).map(([k, v]) => `${k}=${v}`),
      pidHost: ns.pid === 'host',
      ipcHost: ns.ipc === 'host',
      utsHost: ns.uts === 'host',
      readonlyRootfs: fs.readonlyRootfs,
    },
  };
}

/** Everything the monitor, the plan and the cgroups get from a resolved spec at start. `initBinary`: what --init binds. */
export function containerIsolation(spec: ResolvedSpec, confinesDevices: boolean, opts: { initBinary?: string; seccompCacheDir?: string } = {}): ContainerIsolation {
  const { initBinary } = opts;
  if (spec.process.init && !initBinary) throw new EngineError(500, 'no init binary to bind for --init');
  const { security: sec, filesystem: fs, namespaces: ns } = spec;
  const { caps, monitor } = processSecurity(spec, confinesDevices, opts.seccompCacheDir);
  const devices: PlanDevice[] = [];
  const rules: string[] = [];
  if (sec.privileged) devices.push(...hostDevices());
  for (const m of sec.devices) {
    let found: PlanDevice[];
    try {
      found = devicesFromPath(m.hostPath, m.containerPath);
    } catch (e) {
      if (e instanceof DeviceError) throw new EngineError(400, e.message);
      throw e;
    }
    for (const dev of found) {
      const i = devices.findIndex((x) => x.path === dev.path);
      if (i >= 0) devices.splice(i, 1);
      devices.push(dev);
      rules.push(`${dev.type} ${dev.major}:${dev.minor} ${m.permissions}`);
    }
  }

  return {
    caps,
    monitor,
    plan: {
      shmSize: fs.shmSize,
      ipc: ns.ipc === 'host' ? 'host' : ns.ipc === 'none' ? 'none' : 'private',
      readonlyRootfs: fs.readonlyRootfs,
      privileged: sec.privileged,
      maskedPaths: sec.maskedPaths ?? undefined,
      readonlyPaths: sec.readonlyPaths ?? undefined,
      tmpfs: Object.entries(fs.tmpfs).map(([destination, o]) => ({ destination, options: o ? o.split(',') : [] })),
      devices,
      init: spec.process.init ? initBinary : undefined,
    },
    devices: { allowAll: sec.privileged, rules },
    argvPrefix: spec.process.init ? [INIT_PATH, '--'] : [],
  };
}

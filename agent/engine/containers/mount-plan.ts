// What a container's filesystem looks like besides its image: the mount plan the monitor
// carries out (agent/native/rootfs.c), OCI-style. The agent decides; the monitor only
// does what the plan says, in order: mounts, device nodes, symlinks, masked paths,
// read-only paths. --tmpfs, --read-only, --shm-size, --ipc, --device, --init and
// --privileged are changes to this plan (PlanOptions), not to C code; so are binds,
// volumes and tmpfs mounts (withStorageMounts, from agent/engine/volumes/mounts.ts).
//
// monitor.conf entries (see agent/native/config.c):
//   mount=DEST, then mount.type=TYPE ("bind" for binds), mount.source=SRC, mount.options=A,B
//   device=PATH, then device.type=c|b|p, device.major, device.minor, device.mode (octal),
//     device.uid, device.gid
//   symlink=PATH, then symlink.target=TARGET
//   masked=PATH, readonly=PATH
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface PlanMount {
  destination: string;
  /** A filesystem type, or "bind". */
  type: string;
  source?: string;
  /** OCI's names: nosuid, nodev, noexec, ro, rbind, strictatime, rprivate …, and filesystem options (mode=755). */
  options: string[];
}

export interface PlanDevice {
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  /** Permission bits. */
  mode: number;
  uid: number;
  gid: number;
}

export interface MountPlan {
  mounts: PlanMount[];
  devices: PlanDevice[];
  symlinks: Array<{ path: string; target: string }>;
  /** Made empty: a read-only tmpfs over a directory, /dev/null over a file. Missing ones are skipped. */
  maskedPaths: string[];
  /** Bound read-only (and nosuid, nodev, noexec) on themselves. Missing ones are skipped. */
  readonlyPaths: string[];
}

/** Docker's (moby's oci/defaults.go, Docker 28). */
export const DEFAULT_MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const char = (name: string, major: number, minor: number): PlanDevice => ({ path: `/dev/${name}`, type: 'c', major, minor, mode: 0o666, uid: 0, gid: 0 });
const DEFAULT_DEVICES = [char('null', 1, 3), char('zero', 1, 5), char('full', 1, 7), char('random', 1, 8), char('urandom', 1, 9), char('tty', 5, 0)];
const DEFAULT_SYMLINKS = [
  { path: '/dev/fd', target: '/proc/self/fd' },
  { path: '/dev/stdin', target: '/proc/self/fd/0' },
  { path: '/dev/stdout', target: '/proc/self/fd/1' },
  { path: '/dev/stderr', target: '/proc/self/fd/2' },
  { path: '/dev/ptmx', target: 'pts/ptmx' },
];

let filesystems: string[] | undefined;
/** Filesystems this kernel can mount (a kernel built without POSIX message queues has no mqueue). */
function kernelHas(fs: string): boolean {
  filesystems ??= readFileSync('/proc/filesystems', 'utf8')
    .split('\n')
    .map((l) => l.split('\t').at(-1)!.trim())
    .filter(Boolean);
  return filesystems.includes(fs);
}

export interface EtcFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** Docker's /dev/shm: 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** Where Docker puts its init (docker-init, tini) in a `--init` container; the engine binds its own there. */
export const INIT_PATH = '/sbin/docker-init';
/** Mounts a read-only rootfs leaves writable, as Docker does. */
const WRITABLE_WITH_READONLY_ROOTFS = new Set(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);

export interface PlanOptions {
  /** Bytes of /dev/shm (default DEFAULT_SHM_SIZE). */
  shmSize?: number;
  /** host: the host's /dev/shm bound in; none: no /dev/shm. */
  ipc?: 'private' | 'host' | 'none';
  /** The /etc files and the like read-only too (the rootfs itself is the monitor's rootfs_readonly=). */
  readonlyRootfs?: boolean;
  /** /sys writable, nothing masked or read-only (unless given below). */
  privileged?: boolean;
  /** Replace Docker's lists (undefined: Docker's, or none when privileged). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** --tmpfs mounts: destination and the user's options, over Docker's noexec,nosuid,nodev. */
  tmpfs?: Array<{ destination: string; options: string[] }>;
  /** Device nodes besides the defaults (a privileged container's host devices, --device); same path: these win. */
  devices?: PlanDevice[];
  /** The init binary to bind read-only at INIT_PATH. */
  init?: string;
}

/** Docker's mounts for a container, with the runtime's /etc files bound in. */
export function defaultMountPlan(etc: EtcFiles, o: PlanOptions = {}): MountPlan {
  const ipc = o.ipc ?? 'private';
  const shm: PlanMount[] =
    ipc === 'none'
      ? []
      : ipc === 'host'
        ? [{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'rprivate'] }]
        : [{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${o.shmSize || DEFAULT_SHM_SIZE}`] }];
  const mounts: PlanMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    ...shm,
    ...(kernelHas('mqueue') ? [{ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] }] : []),
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...(o.privileged ? [] : ['ro'])] },
    { destination: '/etc/hostname', type: 'bind', source: etc.hostname, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: etc.hosts, options: ['rbind', 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: etc.resolvConf, options: ['rbind', 'rprivate'] },
    ...(o.init ? [{ destination: INIT_PATH, type: 'bind', source: o.init, options: ['bind', 'ro'] }] : []),
  ];
  if (o.readonlyRootfs)
    for (const m of mounts) if (!WRITABLE_WITH_READONLY_ROOTFS.has(m.destination) && !m.options.includes('ro')) m.options.push('ro');
  for (const t of o.tmpfs ?? []) mounts.push({ destination: t.destination, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(t.options) });
  const symlinks = DEFAULT_SYMLINKS.map((s) => ({ ...s }));
  // A host's /dev/ptmx and the like give way to the container's own links.
  const extra = (o.devices ?? []).filter((d) => !symlinks.some((s) => s.path === d.path));
  const devices = [...DEFAULT_DEVICES.filter((d) => !extra.some((x) => x.path === d.path)).map((d) => ({ ...d })), ...extra.map((d) => ({ ...d }))];
  return {
    mounts,
    devices,
    symlinks,
    maskedPaths: [...(o.maskedPaths ?? (o.privileged ? [] : DEFAULT_MASKED_PATHS))],
    readonlyPaths: [...(o.readonlyPaths ?? (o.privileged ? [] : DEFAULT_READONLY_PATHS))],
  };
}

const ETC_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);

/**
 * The plan with a container's own mounts (binds, volumes, --mount tmpfs) in, Docker's way
 * (moby's WithMounts and setupMounts): a mount of the user's replaces the default at the
 * same place (a bind on /dev replaces every default below /dev too); the user's mounts and
 * the --tmpfs ones (`tmpfsTargets`) go in together, shallower targets first, after the
 * defaults and before the /etc files and the init, which stay on top.
 */
export function withStorageMounts(plan: MountPlan, user: PlanMount[], tmpfsTargets: string[] = []): MountPlan {
  if (!user.length) return plan;
  const dests = new Set(user.map((m) => m.destination));
  const overDev = dests.has('/dev');
  const kept = plan.mounts.filter((m) => !dests.has(m.destination) && !(overDev && m.destination.startsWith('/dev/')));
  const tmpfs = new Set(tmpfsTargets);
  const late = (m: PlanMount) => ETC_FILES.has(m.destination) || m.destination === INIT_PATH;
  const depth = (m: PlanMount) => m.destination.split('/').length;
  const own = [...kept.filter((m) => tmpfs.has(m.destination) && m.type === 'tmpfs'), ...user].sort((a, b) => depth(a) - depth(b));
  const base = kept.filter((m) => !late(m) && !(tmpfs.has(m.destination) && m.type === 'tmpfs'));
  return { ...plan, mounts: [...base, ...own, ...kept.filter(late)] };
}

/** The mount attributes a tmpfs option can switch, each word with its opposite. */
const OPPOSITES: Record<string, string> = { ro: 'rw', rw: 'ro', exec: 'noexec', noexec: 'exec', suid: 'nosuid', nosuid: 'suid', dev: 'nodev', nodev: 'dev' };

/** Docker's noexec,nosuid,nodev under the user's options: a later word wins over its opposite, a later key=value over the same key. */
export function mergeTmpfsOptions(user: string[]): string[] {
  const out: string[] = [];
  for (const o of ['noexec', 'nosuid', 'nodev', ...user]) {
    const eq = o.indexOf('=');
    const drop = eq > 0 ? (x: string) => x.startsWith(o.slice(0, eq + 1)) : (x: string) => x === o || x === OPPOSITES[o];
    const at = out.findIndex(drop);
    if (at >= 0) out.splice(at, 1);
    out.push(o);
  }
  return out;
}

export class DeviceError extends Error {}

/** The device node at `hostPath` (symlinks followed) as it should appear at `containerPath`. */
export function deviceFromPath(hostPath: string, containerPath: string): PlanDevice {
  const st = statSync(hostPath);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) throw new DeviceError(`${hostPath}: not a device node`);
  return { path: containerPath, type, major: Math.floor(st.rdev / 256) & 0xfff, minor: (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/**
 * `--device HOST[:CONTAINER]`: the node, or for a directory every node under it, at the
 * same place below CONTAINER. Errors (missing path, nothing that is a device) are
 * DeviceErrors in Docker's words.
 */
export function devicesFromPath(hostPath: string, containerPath: string): PlanDevice[] {
  const fail = (why: string) => new DeviceError(`error gathering device information while adding custom device "${hostPath}": ${why}`);
  let real: string;
  try {
    real = realpathSync(hostPath);
  } catch (e) {
    throw fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message);
  }
  if (!statSync(real).isDirectory()) {
    try {
      return [deviceFromPath(real, containerPath)];
    } catch (e) {
      throw fail((e as Error).message.replace(`${real}: `, ''));
    }
  }
  const out: PlanDevice[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, `${rel}/${name}`);
      else if (st.isCharacterDevice() || st.isBlockDevice()) out.push(deviceFromPath(p, `${containerPath}${rel}/${name}`));
    }
  };
  walk(real, '');
  if (!out.length) throw fail('not a device node');
  return out;
}

/** A privileged container's devices: the host's /dev, as containerd lists it (no pts, shm, mqueue, console). */
export function hostDevices(dev = '/dev'): PlanDevice[] {
  const out: PlanDevice[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory()) {
        if (!['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(name)) walk(p);
      } else if (name !== 'console' && (st.isCharacterDevice() || st.isBlockDevice())) out.push(deviceFromPath(p, p.slice(dev.length - '/dev'.length)));
    }
  };
  walk(dev);
  return out;
}

/** The plan as monitor.conf entries, in the order the monitor carries them out. */
export function planEntries(plan: MountPlan): string[] {
  const out: string[] = [];
  for (const m of plan.mounts) {
    if (!m.destination.startsWith('/')) throw new Error(`mount plan: destination ${m.destination} is not absolute`);
    if (m.options.some((o) => o.includes(',') || !o)) throw new Error(`mount plan: ${m.destination}: an option is empty or holds a comma`);
    out.push(`mount=${m.destination}`, `mount.type=${m.type}`);
    if (m.source !== undefined) out.push(`mount.source=${m.source}`);
    if (m.options.length) out.push(`mount.options=${m.options.join(',')}`);
  }
  for (const d of plan.devices) {
    out.push(`device=${d.path}`, `device.type=${d.type}`);
    if (d.type !== 'p') out.push(`device.major=${d.major}`, `device.minor=${d.minor}`);
    out.push(`device.mode=${d.mode.toString(8)}`, `device.uid=${d.uid}`, `device.gid=${d.gid}`);
  }
  for (const s of plan.symlinks) out.push(`symlink=${s.path}`, `symlink.target=${s.target}`);
  for (const p of plan.maskedPaths) out.push(`masked=${p}`);
  for (const p of plan.readonlyPaths) out.push(`readonly=${p}`);
  return out;
}

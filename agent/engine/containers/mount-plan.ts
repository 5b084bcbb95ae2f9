// What a container's filesystem looks like besides its image: the mount plan the monitor
// carries out (agent/native/rootfs.c), OCI-style. The agent decides; the monitor only
// does what the plan says, in order: mounts, device nodes, symlinks, masked paths,
// read-only paths. Volumes, --tmpfs, --read-only, --shm-size, --device and --privileged
// are changes to this plan (phase 2), not to C code.
//
// monitor.conf entries (see agent/native/config.c):
//   mount=DEST, then mount.type=TYPE ("bind" for binds), mount.source=SRC, mount.options=A,B
//   device=PATH, then device.type=c|b|p, device.major, device.minor, device.mode (octal),
//     device.uid, device.gid
//   symlink=PATH, then symlink.target=TARGET
//   masked=PATH, readonly=PATH
import { readFileSync } from 'node:fs';

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

/** Docker's default mounts for an unprivileged container, with the runtime's /etc files bound in. */
export function defaultMountPlan(etc: EtcFiles): MountPlan {
  const mounts: PlanMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    ...(kernelHas('mqueue') ? [{ destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] }] : []),
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/etc/hostname', type: 'bind', source: etc.hostname, options: ['rbind', 'rprivate'] },
    { destination: '/etc/hosts', type: 'bind', source: etc.hosts, options: ['rbind', 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: etc.resolvConf, options: ['rbind', 'rprivate'] },
  ];
  return {
    mounts,
    devices: DEFAULT_DEVICES.map((d) => ({ ...d })),
    symlinks: DEFAULT_SYMLINKS.map((s) => ({ ...s })),
    maskedPaths: [...DEFAULT_MASKED_PATHS],
    readonlyPaths: [...DEFAULT_READONLY_PATHS],
  };
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

// cgroup v1 and v2 behind one interface. The agent creates a container's groups and sets
// their limits; the monitor moves the init into them (it is the init's parent).
//
// The monitor has groups of its own, "<parent>/<id>-monitor" in every hierarchy mounted
// (v1 controllers, named ones such as name=systemd, the unified tree), so it is out of
// the agent's group everywhere: a service manager that kills the agent's whole cgroup
// leaves monitors and containers running. The monitor moves itself in (monitor_cgroup=);
// the init starts there and then joins the container's groups, so in hierarchies where
// the container has none (name=systemd, blkio, an empty unified tree) it stays with its
// monitor, out of the agent's group too. Groups go when the container stops or is removed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface CgroupLimits {
  /** Bytes; 0 = unlimited. */
  memory: number;
  /** Bytes of memory+swap, already resolved: -1 = unlimited, 0 = not set. */
  memorySwap: number;
  /** 0 = unlimited. */
  nanoCpus: number;
  /** 0 = default. */
  cpuShares: number;
  /** 0 or negative = unlimited. */
  pidsLimit: number;
}

/** Device access beyond Docker's defaults (v1 devices controller): everything (--privileged),
 *  or "c 1:3 rwm"-style rules for --device. */
export interface DeviceAccess {
  allowAll: boolean;
  rules: string[];
}

export interface CgroupStats {
  memoryUsage: number;
  memoryLimit: number;
  /** Total CPU time, nanoseconds. */
  cpuUsageNs: number;
  pids: number;
}

export interface Cgroups {
  readonly version: 1 | 2;
  /** Creates the groups, applies limits, returns the directories whose cgroup.procs the init joins. */
  create(id: string, limits: CgroupLimits, devices?: DeviceAccess): Promise<string[]>;
  /** Directories of an existing container's groups (whether or not they exist). */
  paths(id: string): string[];
  /** Removes the container's groups (only empty ones can go; the parent and roots are never touched). */
  remove(id: string): Promise<void>;
  /** Removes the parent groups once no container group is left in them: an agent owns its
   *  parent (see cgroupParentFor), so nothing else can be using an empty one. */
  release(): Promise<void>;
  stats(id: string): Promise<CgroupStats>;
  /** True when the kernel OOM-killed something in the container's group. */
  oomKilled(id: string): Promise<boolean>;
  /** Whether device access is confined by the cgroup (v1 devices controller); without it the
   *  runtime must not hand out CAP_MKNOD. */
  readonly confinesDevices: boolean;
  /** Creates the monitor's groups (one per mounted hierarchy) and returns their directories. */
  createMonitor(id: string): Promise<string[]>;
  /** The monitor's group directories (whether or not they exist). */
  monitorPaths(id: string): string[];
  /** Removes the monitor's groups; they must be empty (the monitor has exited). */
  removeMonitor(id: string): Promise<void>;
  /** Every group the init is in: the container's, and its monitor's in hierarchies where
   *  the container has no group (what `exec` joins). */
  initPaths(id: string): string[];
}

export interface Hierarchy {
  /** Mount point. */
  dir: string;
  /** st_dev of the mount: one per hierarchy, however many times it is mounted. */
  dev: number;
  /** v1 cpuset: a new group has no cpus or mems until given some. */
  cpuset: boolean;
}

/** Every cgroup hierarchy mounted here (from /proc/self/mountinfo), each once. */
export function mountedHierarchies(mountinfo = '/proc/self/mountinfo'): Hierarchy[] {
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: Hierarchy[] = [];
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const f = pre.split(' ');
    const [fstype, , superOpts = ''] = post.split(' ');
    // Only whole hierarchies: a bind of a subtree would put the group somewhere else.
    if ((fstype !== 'cgroup' && fstype !== 'cgroup2') || f[3] !== '/') continue;
    const dir = unescape(f[4]);
    let dev: number;
    try {
      dev = statSync(dir).dev;
    } catch {
      continue;
    }
    if (out.some((h) => h.dev === dev)) continue;
    out.push({ dir, dev, cpuset: fstype === 'cgroup' && superOpts.split(',').includes('cpuset') });
  }
  return out;
}

/** A fresh v1 cpuset group cannot take a task until it has cpus and mems: copy them down. */
async function initCpuset(root: string, parentDir: string, dir: string): Promise<void> {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const fromRoot = readFileSync(join(root, f), 'utf8').trim();
    if (!readFileSync(join(parentDir, f), 'utf8').trim()) await writeFile(join(parentDir, f), fromRoot);
    await writeFile(join(dir, f), readFileSync(join(parentDir, f), 'utf8').trim());
  }
}

/** The monitor's groups, shared by both versions. */
class MonitorGroups {
  constructor(
    private readonly hierarchies: Hierarchy[],
    private readonly parent: string,
  ) {}

  paths(id: string): string[] {
    return this.hierarchies.map((h) => join(h.dir, this.parent, `${id}-monitor`));
  }

  async create(id: string): Promise<string[]> {
    for (const h of this.hierarchies) {
      const parentDir = join(h.dir, this.parent);
      const dir = join(parentDir, `${id}-monitor`);
      try {
        await mkdir(dir, { recursive: true });
        if (h.cpuset) await initCpuset(h.dir, parentDir, dir);
      } catch (e) {
        throw new Error(`cgroup: cannot create the monitor's group ${dir}: ${(e as Error).message}`);
      }
    }
    return this.paths(id);
  }

  async remove(id: string): Promise<void> {
    for (const d of this.paths(id)) await rmdirQuiet(d);
  }

  /** The monitor's groups in the hierarchies `covered` (st_dev of mount points) leaves out. */
  uncovered(id: string, covered: Set<number>): string[] {
    return this.hierarchies.filter((h) => !covered.has(h.dev)).map((h) => join(h.dir, this.parent, `${id}-monitor`));
  }

  async release(): Promise<void> {
    for (const h of this.hierarchies) await rmdirIfEmpty(join(h.dir, this.parent));
  }
}

function devOf(dir: string): number | undefined {
  try {
    return statSync(dir).dev;
  } catch {
    return undefined;
  }
}

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'freezer', 'devices'] as const;

/** Docker's default device rules: any node may be created, only these opened. */
const V1_DEVICE_RULES = [
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm', // null
  'c 1:5 rwm', // zero
  'c 1:7 rwm', // full
  'c 1:8 rwm', // random
  'c 1:9 rwm', // urandom
  'c 5:0 rwm', // tty
  'c 5:1 rwm', // console
  'c 5:2 rwm', // ptmx
  'c 136:* rwm', // pts
  'c 10:200 rwm', // tun
];
const CPU_PERIOD_US = 100_000;

export function detectCgroupVersion(base = '/sys/fs/cgroup'): 1 | 2 {
  // A pure v2 host mounts the unified tree right at /sys/fs/cgroup; hybrid hosts keep v1 controllers.
  return existsSync(join(base, 'cgroup.controllers')) ? 2 : 1;
}

async function readNum(path: string): Promise<number> {
  try {
    const s = (await readFile(path, 'utf8')).trim();
    return s === 'max' ? -1 : Number(s.split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** A limit the user asked for: a missing file means the controller is not there, and that is an error. */
async function writeLimit(path: string, value: string, what: string): Promise<void> {
  if (!existsSync(path)) throw new Error(`cgroup: cannot set the ${what} limit: ${path} does not exist (controller not available)`);
  try {
    await writeFile(path, value);
  } catch (e) {
    throw new Error(`cgroup: write ${value} to ${path}: ${(e as Error).message}`);
  }
}

/** Swap limits exist only with swap accounting on; Docker, too, carries on without them. */
async function writeIfExists(path: string, value: string): Promise<void> {
  if (existsSync(path)) await writeLimit(path, value, 'swap');
}

/** Removes an empty group, waiting up to 5 s for the last tasks of a dead pid namespace to be reaped; a group still busy then is an error, not a silent leak. */
/** rmdir that leaves a group which still has tasks or children where it is. */
async function rmdirIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw e;
  }
}

async function rmdirQuiet(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // EBUSY: the kernel has not finished tearing down the last task yet.
      if (code !== 'EBUSY') throw e;
      if (i >= 100) throw new Error(`cgroup: cannot remove ${dir}: it still has tasks`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `parent` is a path under each hierarchy ("berth"); agents with different roots may pass
 *  different ones. `monitorHierarchies`: where monitors get groups (default: every mounted one). */
export function openCgroups(opts: { parent?: string; base?: string; monitorHierarchies?: Hierarchy[] } = {}): Cgroups {
  const base = opts.base ?? '/sys/fs/cgroup';
  const parent = opts.parent ?? 'berth';
  const version = detectCgroupVersion(base);
  const monitors = new MonitorGroups(opts.monitorHierarchies ?? mountedHierarchies(), parent);
  return version === 2 ? new V2(base, parent, monitors) : new V1(base, parent, monitors);
}

class V1 implements Cgroups {
  readonly version = 1 as const;
  private readonly controllers: string[];
  constructor(
    private base: string,
    private parent: string,
    private monitors: MonitorGroups,
  ) {
    this.controllers = V1_CONTROLLERS.filter((c) => existsSync(join(base, c, 'cgroup.procs')));
  }

  createMonitor(id: string): Promise<string[]> {
    return this.monitors.create(id);
  }
  monitorPaths(id: string): string[] {
    return this.monitors.paths(id);
  }
  removeMonitor(id: string): Promise<void> {
    return this.monitors.remove(id);
  }
  initPaths(id: string): string[] {
    const covered = new Set(this.controllers.map((c) => devOf(join(this.base, c))).filter((d) => d !== undefined));
    return [...this.paths(id), ...this.monitors.uncovered(id, covered)];
  }

  get confinesDevices(): boolean {
    return this.controllers.includes('devices');
  }

  private dir(ctrl: string, id: string) {
    return join(this.base, ctrl, this.parent, id);
  }

  paths(id: string): string[] {
    return this.controllers.map((c) => this.dir(c, id));
  }

  async create(id: string, l: CgroupLimits, devices?: DeviceAccess): Promise<string[]> {
    for (const c of this.controllers) {
      const parentDir = join(this.base, c, this.parent);
      await mkdir(parentDir, { recursive: true });
      await mkdir(this.dir(c, id), { recursive: true });
      if (c === 'cpuset') await initCpuset(join(this.base, c), parentDir, this.dir(c, id));
    }
    if (this.confinesDevices) {
      const dev = this.dir('devices', id);
      // A new group inherits its parent's rules: allowing all, or denying all and allowing Docker's list and the --device nodes.
      if (devices?.allowAll) await writeLimit(join(dev, 'devices.allow'), 'a', 'devices');
      else {
        await writeLimit(join(dev, 'devices.deny'), 'a', 'devices');
        for (const rule of [...V1_DEVICE_RULES, ...(devices?.rules ?? [])]) await writeLimit(join(dev, 'devices.allow'), rule, 'devices');
      }
    }
    const mem = this.dir('memory', id);
    if (l.memory > 0) {
      await writeLimit(join(mem, 'memory.limit_in_bytes'), String(l.memory), 'memory');
      // memsw must be >= the memory limit, so it is written second.
      if (l.memorySwap !== 0) await writeIfExists(join(mem, 'memory.memsw.limit_in_bytes'), String(l.memorySwap));
    }
    if (l.pidsLimit > 0) await writeLimit(join(this.dir('pids', id), 'pids.max'), String(l.pidsLimit), 'pids');
    const cpu = this.dir('cpu', id);
    if (l.cpuShares > 0) await writeLimit(join(cpu, 'cpu.shares'), String(l.cpuShares), 'CPU shares');
    if (l.nanoCpus > 0) {
      await writeLimit(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), 'CPU period');
      await writeLimit(join(cpu, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round((l.nanoCpus * CPU_PERIOD_US) / 1e9))), 'CPU quota');
    }
    return this.paths(id);
  }

  async remove(id: string): Promise<void> {
    for (const d of this.paths(id)) await rmdirQuiet(d);
  }

  async release(): Promise<void> {
    for (const c of this.controllers) await rmdirIfEmpty(join(this.base, c, this.parent));
    await this.monitors.release();
  }

  async stats(id: string): Promise<CgroupStats> {
    const mem = this.dir('memory', id);
    const limit = await readNum(join(mem, 'memory.limit_in_bytes'));
    const pidsDir = this.dir('pids', id);
    return {
      memoryUsage: await readNum(join(mem, 'memory.usage_in_bytes')),
      // v1 says "unlimited" with a huge page-rounded number.
      memoryLimit: limit >= 2 ** 62 ? -1 : limit,
      cpuUsageNs: await readNum(join(this.dir('cpuacct', id), 'cpuacct.usage')),
      pids: await readNum(join(pidsDir, 'pids.current')),
    };
  }

  async oomKilled(id: string): Promise<boolean> {
    try {
      const s = await readFile(join(this.dir('memory', id), 'memory.oom_control'), 'utf8');
      return /^oom_kill [1-9]/m.test(s);
    } catch {
      return false;
    }
  }
}

class V2 implements Cgroups {
  readonly version = 2 as const;
  // v2 confines devices only with an eBPF program, which this runtime does not load.
  readonly confinesDevices = false;
  constructor(
    private base: string,
    private parent: string,
    private monitors: MonitorGroups,
  ) {}

  createMonitor(id: string): Promise<string[]> {
    return this.monitors.create(id);
  }
  monitorPaths(id: string): string[] {
    return this.monitors.paths(id);
  }
  removeMonitor(id: string): Promise<void> {
    return this.monitors.remove(id);
  }
  initPaths(id: string): string[] {
    const dev = devOf(this.base);
    return [...this.paths(id), ...this.monitors.uncovered(id, new Set(dev === undefined ? [] : [dev]))];
  }

  private dir(id: string) {
    return join(this.base, this.parent, id);
  }

  paths(id: string): string[] {
    return [this.dir(id)];
  }

  private async enable(dir: string, wanted: string[]) {
    const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/);
    const on = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/);
    const missing = wanted.filter((c) => available.includes(c) && !on.includes(c));
    if (missing.length) await writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => '+' + c).join(' ')).catch(() => {});
  }

  async create(id: string, l: CgroupLimits): Promise<string[]> {
    const wanted = ['memory', 'pids', 'cpu', 'cpuset'];
    const parentDir = join(this.base, this.parent);
    // The root's subtree_control is only written when a controller we need is off there.
    await this.enable(this.base, wanted);
    await mkdir(parentDir, { recursive: true });
    await this.enable(parentDir, wanted);
    const d = this.dir(id);
    await mkdir(d, { recursive: true });
    if (l.memory > 0) {
      await writeLimit(join(d, 'memory.max'), String(l.memory), 'memory');
      if (l.memorySwap > 0) await writeIfExists(join(d, 'memory.swap.max'), String(Math.max(0, l.memorySwap - l.memory)));
      else if (l.memorySwap < 0) await writeIfExists(join(d, 'memory.swap.max'), 'max');
    }
    if (l.pidsLimit > 0) await writeLimit(join(d, 'pids.max'), String(l.pidsLimit), 'pids');
    if (l.cpuShares > 0) {
      // Same mapping as runc: shares 2..262144 onto weight 1..10000.
      const weight = Math.min(10000, Math.max(1, 1 + Math.floor(((l.cpuShares - 2) * 9999) / 262142)));
      await writeLimit(join(d, 'cpu.weight'), String(weight), 'CPU shares');
    }
    if (l.nanoCpus > 0)
      await writeLimit(join(d, 'cpu.max'), `${Math.max(1000, Math.round((l.nanoCpus * CPU_PERIOD_US) / 1e9))} ${CPU_PERIOD_US}`, 'CPU quota');
    return [d];
  }

  async release(): Promise<void> {
    await rmdirIfEmpty(join(this.base, this.parent));
    await this.monitors.release();
  }

  async remove(id: string): Promise<void> {
    const d = this.dir(id);
    // Nested groups a container made for itself must go first.
    const walk = async (dir: string): Promise<void> => {
      const ents = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const e of ents) if (e.isDirectory()) await walk(join(dir, e.name));
      await rmdirQuiet(dir);
    };
    await walk(d);
  }

  async stats(id: string): Promise<CgroupStats> {
    const d = this.dir(id);
    const cpu = await readFile(join(d, 'cpu.stat'), 'utf8').catch(() => '');
    const usec = Number(/^usage_usec (\d+)/m.exec(cpu)?.[1] ?? 0);
    return {
      memoryUsage: await readNum(join(d, 'memory.current')),
      memoryLimit: await readNum(join(d, 'memory.max')),
      cpuUsageNs: usec * 1000,
      pids: await readNum(join(d, 'pids.current')),
    };
  }

  async oomKilled(id: string): Promise<boolean> {
    const s = await readFile(join(this.dir(id), 'memory.events'), 'utf8').catch(() => '');
    return /^oom_kill [1-9]/m.test(s);
  }
}

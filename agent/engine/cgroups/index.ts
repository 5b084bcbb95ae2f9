// cgroup v1 and v2 behind one interface. The agent creates a container's groups and sets
// their limits; the monitor moves the init into them (it is the init's parent).
import { existsSync, readFileSync } from 'node:fs';
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
  create(id: string, limits: CgroupLimits): Promise<string[]>;
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

/** `parent` is a path under each hierarchy ("berth"); agents with different roots may pass different ones. */
export function openCgroups(opts: { parent?: string; base?: string } = {}): Cgroups {
  const base = opts.base ?? '/sys/fs/cgroup';
  const parent = opts.parent ?? 'berth';
  const version = detectCgroupVersion(base);
  return version === 2 ? new V2(base, parent) : new V1(base, parent);
}

class V1 implements Cgroups {
  readonly version = 1 as const;
  private readonly controllers: string[];
  constructor(
    private base: string,
    private parent: string,
  ) {
    this.controllers = V1_CONTROLLERS.filter((c) => existsSync(join(base, c, 'cgroup.procs')));
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

  async create(id: string, l: CgroupLimits): Promise<string[]> {
    for (const c of this.controllers) {
      const parentDir = join(this.base, c, this.parent);
      await mkdir(parentDir, { recursive: true });
      await mkdir(this.dir(c, id), { recursive: true });
      if (c === 'cpuset') {
        // A fresh v1 cpuset group has no cpus or mems, and a task cannot join it until it has.
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          const fromRoot = readFileSync(join(this.base, c, f), 'utf8').trim();
          if (!readFileSync(join(parentDir, f), 'utf8').trim()) await writeFile(join(parentDir, f), fromRoot);
          await writeFile(join(this.dir(c, id), f), readFileSync(join(parentDir, f), 'utf8').trim());
        }
      }
    }
    if (this.confinesDevices) {
      const dev = this.dir('devices', id);
      await writeLimit(join(dev, 'devices.deny'), 'a', 'devices');
      for (const rule of V1_DEVICE_RULES) await writeLimit(join(dev, 'devices.allow'), rule, 'devices');
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
  ) {}

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

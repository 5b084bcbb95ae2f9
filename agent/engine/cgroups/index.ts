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
import { existsSync, mkdirSync, readFileSync, realpathSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

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

export interface BlkioEntry {
  major: number;
  minor: number;
  /** "read", "write" (v2) or v1's "Read", "Write", "Sync", "Async", "Discard". */
  op: string;
  value: number;
}

/** Device access beyond Docker's defaults (v1 devices controller): everything (--privileged),
 *  or "c 1:3 rwm"-style rules for --device. */
export interface DeviceAccess {
  allowAll: boolean;
  rules: string[];
}

export interface CgroupStats {
  memoryUsage: number;
  /** -1 = unlimited. */
  memoryLimit: number;
  /** v1 only (max_usage_in_bytes); 0 on v2. */
  memoryMaxUsage: number;
  /** memory.stat as the kernel writes it (v1: cache, rss, total_inactive_file …; v2: anon, file, inactive_file …). */
  memoryStat: Record<string, number>;
  /** Times the limit was hit (v1 failcnt, v2 the oom count). */
  memoryFailcnt: number;
  /** Total CPU time, nanoseconds. */
  cpuUsageNs: number;
  cpuUserNs: number;
  cpuKernelNs: number;
  /** Per CPU, nanoseconds (v1 only). */
  cpuPerCpuNs: number[];
  throttling: { periods: number; throttledPeriods: number; throttledTimeNs: number };
  pids: number;
  /** 0 = unlimited. */
  pidsLimit: number;
  /** Bytes read and written per device (v1 blkio.throttle.io_service_bytes_recursive, v2 io.stat). */
  ioServiceBytes: BlkioEntry[];
  /** Requests per device (v1 io_serviced_recursive, v2 rios/wios). */
  ioServiced: BlkioEntry[];
}

export interface CreateOptions {
  /** A path on the disk the container writes to (its own directory): block I/O on that disk
   *  is counted for the container. cgroup v1 counts a group's I/O on a device only while the
   *  group has a throttle rule for it, so a rule no disk can reach is set there. */
  ioPath?: string;
  devices?: DeviceAccess;
}

export interface Cgroups {
  readonly version: 1 | 2;
  /** Creates the groups, applies limits, returns the directories whose cgroup.procs the init joins. */
  create(id: string, limits: CgroupLimits, opts?: CreateOptions): Promise<string[]>;
  /** Changes the limits of a container's live groups; only the fields given are written.
   *  Here memorySwap -1 means unlimited swap and pidsLimit <= 0 unlimited, as `docker update` means them. */
  update(id: string, limits: Partial<CgroupLimits>): Promise<void>;
  /** Freezes every task of the container (v1 freezer.state, v2 cgroup.freeze) and returns once they are. */
  freeze(id: string): Promise<void>;
  thaw(id: string): Promise<void>;
  /** Whether the container's group is frozen now. */
  frozen(id: string): Promise<boolean>;
  /** Host pids of every process in the container's groups. */
  pids(id: string): Promise<number[]>;
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

// Creating a container's groups is synchronous: some sixty mkdirs and small writes to
// cgroupfs that take microseconds each, where a trip through libuv's thread pool for each
// cost 3-17 ms of every start on a busy machine. Limits changed later (update) stay
// asynchronous: shrinking memory.limit_in_bytes makes the kernel reclaim before it returns.

/** A fresh v1 cpuset group cannot take a task until it has cpus and mems: copy them down. */
function initCpuset(root: string, parentDir: string, dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const fromRoot = readFileSync(join(root, f), 'utf8').trim();
    if (!readFileSync(join(parentDir, f), 'utf8').trim()) writeFileSync(join(parentDir, f), fromRoot);
    writeFileSync(join(dir, f), readFileSync(join(parentDir, f), 'utf8').trim());
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
        mkdirSync(dir, { recursive: true });
        if (h.cpuset) initCpuset(h.dir, parentDir, dir);
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

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'freezer', 'devices', 'blkio'] as const;
/** A throttle rule that never throttles (8 EiB/s) but makes v1 count the group's I/O on the device. */
const V1_ACCOUNTING_BPS = '9223372036854775807';
const FREEZE_TIMEOUT_MS = 10_000;

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
const cpuQuotaUs = (nanoCpus: number) => Math.max(1000, Math.round((nanoCpus * CPU_PERIOD_US) / 1e9));

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

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat). */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** v1 blkio lines: "8:0 Read 4096" (per-device Total too, as containerd keeps it); the closing "Total N" is dropped. */
export function parseBlkioV1(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
  }
  return out;
}

/** v2 io.stat lines: "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0", as Docker maps them. */
export function parseIoStatV2(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const f = Object.fromEntries(kv.map((p) => p.split('=')).map(([k, v]) => [k, Number(v) || 0]));
    const at = { major: Number(m[1]), minor: Number(m[2]) };
    bytes.push({ ...at, op: 'read', value: f.rbytes ?? 0 }, { ...at, op: 'write', value: f.wbytes ?? 0 });
    ios.push({ ...at, op: 'read', value: f.rios ?? 0 }, { ...at, op: 'write', value: f.wios ?? 0 });
  }
  return { bytes, ios };
}

/** The whole disk ("254:0") under a path, or undefined when it is on no block device (tmpfs, overlay). */
export function diskOf(path: string, sysDevBlock = '/sys/dev/block'): string | undefined {
  let dev: bigint;
  try {
    dev = statSync(path, { bigint: true }).dev;
  } catch {
    return undefined;
  }
  // glibc's gnu_dev_major / gnu_dev_minor.
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const node = join(sysDevBlock, `${major}:${minor}`);
  if (!existsSync(node)) return undefined;
  // Throttle rules take whole disks only: a partition's parent directory is its disk.
  if (existsSync(join(node, 'partition'))) {
    try {
      // /sys/dev/block/X:Y links to …/<disk>/<partition>.
      return readFileSync(join(dirname(realpathSync(node)), 'dev'), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  return `${major}:${minor}`;
}

async function waitFor(what: () => Promise<boolean>, label: string): Promise<void> {
  const end = Date.now() + FREEZE_TIMEOUT_MS;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    if (await what()) return;
    if (Date.now() > end) throw new Error(`cgroup: timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, delay));
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

/** writeLimit for a new, empty group (create). */
function writeLimitSync(path: string, value: string, what: string): void {
  if (!existsSync(path)) throw new Error(`cgroup: cannot set the ${what} limit: ${path} does not exist (controller not available)`);
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw new Error(`cgroup: write ${value} to ${path}: ${(e as Error).message}`);
  }
}

/** Swap limits exist only with swap accounting on; Docker, too, carries on without them. */
async function writeIfExists(path: string, value: string): Promise<void> {
  if (existsSync(path)) await writeLimit(path, value, 'swap');
}

function writeIfExistsSync(path: string, value: string): void {
  if (existsSync(path)) writeLimitSync(path, value, 'swap');
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
      // The first try is synchronous (the group is most often empty by now), the retries wait.
      if (i === 0) rmdirSync(dir);
      else await rmdir(dir);
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

  async create(id: string, l: CgroupLimits, opts: CreateOptions = {}): Promise<string[]> {
    for (const c of this.controllers) {
      const parentDir = join(this.base, c, this.parent);
      mkdirSync(this.dir(c, id), { recursive: true });
      if (c === 'cpuset') initCpuset(join(this.base, c), parentDir, this.dir(c, id));
    }
    if (this.confinesDevices) {
      const dev = this.dir('devices', id);
      // A new group inherits its parent's rules: allowing all, or denying all and allowing Docker's list and the --device nodes.
      if (opts.devices?.allowAll) writeLimitSync(join(dev, 'devices.allow'), 'a', 'devices');
      else {
        writeLimitSync(join(dev, 'devices.deny'), 'a', 'devices');
        for (const rule of [...V1_DEVICE_RULES, ...(opts.devices?.rules ?? [])]) writeLimitSync(join(dev, 'devices.allow'), rule, 'devices');
      }
    }
    const disk = opts.ioPath && this.controllers.includes('blkio') ? diskOf(opts.ioPath) : undefined;
    if (disk) {
      const blk = this.dir('blkio', id);
      for (const f of ['blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device']) {
        try {
          writeFileSync(join(blk, f), `${disk} ${V1_ACCOUNTING_BPS}`);
        } catch (e) {
          // Only the numbers of `docker stats` depend on it, so a kernel that refuses does not stop the container.
          console.error(`berth: block I/O accounting for ${id.slice(0, 12)}: ${(e as Error).message}`);
        }
      }
    }
    const mem = this.dir('memory', id);
    if (l.memory > 0) {
      writeLimitSync(join(mem, 'memory.limit_in_bytes'), String(l.memory), 'memory');
      // memsw must be >= the memory limit, so it is written second.
      if (l.memorySwap !== 0) writeIfExistsSync(join(mem, 'memory.memsw.limit_in_bytes'), String(l.memorySwap));
    }
    if (l.pidsLimit > 0) writeLimitSync(join(this.dir('pids', id), 'pids.max'), String(l.pidsLimit), 'pids');
    const cpu = this.dir('cpu', id);
    if (l.cpuShares > 0) writeLimitSync(join(cpu, 'cpu.shares'), String(l.cpuShares), 'CPU shares');
    if (l.nanoCpus > 0) {
      writeLimitSync(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), 'CPU period');
      writeLimitSync(join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(l.nanoCpus)), 'CPU quota');
    }
    return this.paths(id);
  }

  private async writeCpu(id: string, l: Partial<CgroupLimits>): Promise<void> {
    const cpu = this.dir('cpu', id);
    if (l.cpuShares !== undefined && l.cpuShares > 0) await writeLimit(join(cpu, 'cpu.shares'), String(l.cpuShares), 'CPU shares');
    if (l.nanoCpus !== undefined && l.nanoCpus > 0) {
      await writeLimit(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US), 'CPU period');
      await writeLimit(join(cpu, 'cpu.cfs_quota_us'), String(cpuQuotaUs(l.nanoCpus)), 'CPU quota');
    }
  }

  async update(id: string, l: Partial<CgroupLimits>): Promise<void> {
    const mem = this.dir('memory', id);
    const memsw = join(mem, 'memory.memsw.limit_in_bytes');
    const writeMem = () => (l.memory ? writeLimit(join(mem, 'memory.limit_in_bytes'), String(l.memory), 'memory') : Promise.resolve());
    const writeSwap = () => (l.memorySwap && existsSync(memsw) ? writeLimit(memsw, String(l.memorySwap), 'swap') : Promise.resolve());
    // The kernel wants memory <= memsw at every step: raise memsw first when it grows past the
    // current memory limit, lower memory first otherwise (runc's order).
    const current = await readNum(join(mem, 'memory.limit_in_bytes'));
    if (l.memorySwap !== undefined && (l.memorySwap === -1 || current < l.memorySwap)) {
      await writeSwap();
      await writeMem();
    } else {
      await writeMem();
      await writeSwap();
    }
    if (l.pidsLimit !== undefined) await writeLimit(join(this.dir('pids', id), 'pids.max'), l.pidsLimit > 0 ? String(l.pidsLimit) : 'max', 'pids');
    await this.writeCpu(id, l);
  }

  private freezerState(id: string): string {
    if (!this.controllers.includes('freezer')) throw new Error('cgroup: pausing needs the freezer controller, which this host does not mount');
    return join(this.dir('freezer', id), 'freezer.state');
  }

  async freeze(id: string): Promise<void> {
    const f = this.freezerState(id);
    await writeLimit(f, 'FROZEN', 'freezer');
    // FREEZING until every task has stopped.
    try {
      await waitFor(async () => (await readText(f)).trim() === 'FROZEN', `${id.slice(0, 12)} to freeze`);
    } catch (e) {
      await writeFile(f, 'THAWED').catch(() => {});
      throw e;
    }
  }

  async thaw(id: string): Promise<void> {
    const f = this.freezerState(id);
    await writeLimit(f, 'THAWED', 'freezer');
    await waitFor(async () => (await readText(f)).trim() === 'THAWED', `${id.slice(0, 12)} to thaw`);
  }

  async frozen(id: string): Promise<boolean> {
    if (!this.controllers.includes('freezer')) return false;
    return (await readText(join(this.dir('freezer', id), 'freezer.state'))).trim() === 'FROZEN';
  }

  async pids(id: string): Promise<number[]> {
    // Every task joins every controller's group, so any one lists them all.
    const ctrl = this.controllers.includes('pids') ? 'pids' : this.controllers[0];
    return (await readText(join(this.dir(ctrl, id), 'cgroup.procs'))).split('\n').filter(Boolean).map(Number);
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
    const acct = this.dir('cpuacct', id);
    // cpuacct.stat counts USER_HZ (100 per second) ticks.
    const ticks = parseKeyValues(await readText(join(acct, 'cpuacct.stat')));
    const cpuStat = parseKeyValues(await readText(join(this.dir('cpu', id), 'cpu.stat')));
    const blk = this.dir('blkio', id);
    const pidsMax = (await readText(join(pidsDir, 'pids.max'))).trim();
    return {
      memoryUsage: await readNum(join(mem, 'memory.usage_in_bytes')),
      // v1 says "unlimited" with a huge page-rounded number.
      memoryLimit: limit >= 2 ** 62 ? -1 : limit,
      memoryMaxUsage: await readNum(join(mem, 'memory.max_usage_in_bytes')),
      memoryStat: parseKeyValues(await readText(join(mem, 'memory.stat'))),
      memoryFailcnt: await readNum(join(mem, 'memory.failcnt')),
      cpuUsageNs: await readNum(join(acct, 'cpuacct.usage')),
      cpuUserNs: (ticks.user ?? 0) * 1e7,
      cpuKernelNs: (ticks.system ?? 0) * 1e7,
      cpuPerCpuNs: (await readText(join(acct, 'cpuacct.usage_percpu'))).trim().split(/\s+/).filter(Boolean).map(Number),
      throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTimeNs: cpuStat.throttled_time ?? 0 },
      pids: await readNum(join(pidsDir, 'pids.current')),
      pidsLimit: pidsMax === 'max' || pidsMax === '' ? 0 : Number(pidsMax),
      ioServiceBytes: parseBlkioV1(await readText(join(blk, 'blkio.throttle.io_service_bytes_recursive'))),
      ioServiced: parseBlkioV1(await readText(join(blk, 'blkio.throttle.io_serviced_recursive'))),
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
    // io is for block I/O statistics; v2 counts every group's I/O without rules.
    const wanted = ['memory', 'pids', 'cpu', 'cpuset', 'io'];
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
    await this.writeCpu(d, l);
    return [d];
  }

  private async writeCpu(d: string, l: Partial<CgroupLimits>): Promise<void> {
    if (l.cpuShares !== undefined && l.cpuShares > 0) {
      // Same mapping as runc: shares 2..262144 onto weight 1..10000.
      const weight = Math.min(10000, Math.max(1, 1 + Math.floor(((l.cpuShares - 2) * 9999) / 262142)));
      await writeLimit(join(d, 'cpu.weight'), String(weight), 'CPU shares');
    }
    if (l.nanoCpus !== undefined && l.nanoCpus > 0) await writeLimit(join(d, 'cpu.max'), `${cpuQuotaUs(l.nanoCpus)} ${CPU_PERIOD_US}`, 'CPU quota');
  }

  async update(id: string, l: Partial<CgroupLimits>): Promise<void> {
    const d = this.dir(id);
    // v2 keeps memory and swap apart, so the order does not matter; swap.max is what exceeds memory.
    if (l.memory) await writeLimit(join(d, 'memory.max'), String(l.memory), 'memory');
    if (l.memorySwap) {
      const memory = l.memory || (await readNum(join(d, 'memory.max')));
      const swap = l.memorySwap < 0 || memory < 0 ? 'max' : String(Math.max(0, l.memorySwap - memory));
      await writeIfExists(join(d, 'memory.swap.max'), swap);
    }
    if (l.pidsLimit !== undefined) await writeLimit(join(d, 'pids.max'), l.pidsLimit > 0 ? String(l.pidsLimit) : 'max', 'pids');
    await this.writeCpu(d, l);
  }

  async freeze(id: string): Promise<void> {
    const d = this.dir(id);
    await writeLimit(join(d, 'cgroup.freeze'), '1', 'freezer');
    try {
      await waitFor(() => this.frozen(id), `${id.slice(0, 12)} to freeze`);
    } catch (e) {
      await writeFile(join(d, 'cgroup.freeze'), '0').catch(() => {});
      throw e;
    }
  }

  async thaw(id: string): Promise<void> {
    await writeLimit(join(this.dir(id), 'cgroup.freeze'), '0', 'freezer');
    await waitFor(async () => !(await this.frozen(id)), `${id.slice(0, 12)} to thaw`);
  }

  async frozen(id: string): Promise<boolean> {
    // cgroup.freeze says what was asked; cgroup.events says when every task has stopped.
    return /^frozen 1$/m.test(await readText(join(this.dir(id), 'cgroup.events')));
  }

  async pids(id: string): Promise<number[]> {
    const out: number[] = [];
    const walk = async (dir: string): Promise<void> => {
      out.push(...(await readText(join(dir, 'cgroup.procs'))).split('\n').filter(Boolean).map(Number));
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await walk(join(dir, e.name));
    };
    await walk(this.dir(id));
    return out;
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
    const cpu = parseKeyValues(await readText(join(d, 'cpu.stat')));
    const io = parseIoStatV2(await readText(join(d, 'io.stat')));
    const events = parseKeyValues(await readText(join(d, 'memory.events')));
    const pidsMax = (await readText(join(d, 'pids.max'))).trim();
    return {
      memoryUsage: await readNum(join(d, 'memory.current')),
      memoryLimit: await readNum(join(d, 'memory.max')),
      memoryMaxUsage: 0,
      memoryStat: parseKeyValues(await readText(join(d, 'memory.stat'))),
      memoryFailcnt: events.oom ?? 0,
      cpuUsageNs: (cpu.usage_usec ?? 0) * 1000,
      cpuUserNs: (cpu.user_usec ?? 0) * 1000,
      cpuKernelNs: (cpu.system_usec ?? 0) * 1000,
      cpuPerCpuNs: [],
      throttling: { periods: cpu.nr_periods ?? 0, throttledPeriods: cpu.nr_throttled ?? 0, throttledTimeNs: (cpu.throttled_usec ?? 0) * 1000 },
      pids: await readNum(join(d, 'pids.current')),
      pidsLimit: pidsMax === 'max' || pidsMax === '' ? 0 : Number(pidsMax),
      ioServiceBytes: io.bytes,
      ioServiced: io.ios,
    };
  }

  async oomKilled(id: string): Promise<boolean> {
    const s = await readFile(join(this.dir(id), 'memory.events'), 'utf8').catch(() => '');
    return /^oom_kill [1-9]/m.test(s);
  }
}

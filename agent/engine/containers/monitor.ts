// The agent's side of the berth-monitor file protocol (see agent/native/monitor.c).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorBinary } from '../../native/binary';

export interface MonitorConfig {
  rootfs: string;
  /** overlay mount data; without it `rootfs` is used as it is. */
  overlay?: string;
  hostname: string;
  user: string;
  cwd: string;
  log: string;
  etcHostname: string;
  etcHosts: string;
  etcResolv: string;
  /** false = share the host's network namespace. */
  newNetns: boolean;
  env: string[];
  argv: string[];
  cgroups: string[];
  /** Capabilities root keeps in the container (bit n = capability n). */
  caps: bigint;
}

/** Docker's default capability set: chown, dac_override, fowner, fsetid, kill, setgid, setuid,
 *  setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap. */
export const DEFAULT_CAPS = 0xa80425fbn;
export const CAP_MKNOD = 1n << 27n;

export function encodeConfig(c: MonitorConfig): Buffer {
  const entries = [
    `rootfs=${c.rootfs}`,
    ...(c.overlay ? [`overlay=${c.overlay}`] : []),
    `hostname=${c.hostname}`,
    `user=${c.user}`,
    `cwd=${c.cwd}`,
    `log=${c.log}`,
    `etc_hostname=${c.etcHostname}`,
    `etc_hosts=${c.etcHosts}`,
    `etc_resolv=${c.etcResolv}`,
    `netns=${c.newNetns ? 'new' : 'host'}`,
    `caps=${c.caps.toString(16)}`,
    ...c.env.map((e) => `env=${e}`),
    ...c.argv.map((a) => `arg=${a}`),
    ...c.cgroups.map((g) => `cgroup=${g}`),
  ];
  for (const e of entries) if (e.includes('\0')) throw new Error('container config holds a NUL byte');
  return Buffer.from(entries.map((e) => e + '\0').join(''));
}

export interface ExitInfo {
  code: number;
  finishedAt: string;
}

/** The files one run of a monitor leaves in its state dir. */
export class MonitorRun {
  constructor(readonly dir: string) {}

  private read(name: string): string | undefined {
    try {
      return readFileSync(join(this.dir, name), 'utf8');
    } catch {
      return undefined;
    }
  }

  monitorPid(): number {
    return Number(this.read('monitor.pid')?.trim()) || 0;
  }
  initPid(): number {
    return Number(this.read('pid')?.trim()) || 0;
  }
  error(): string | undefined {
    const e = this.read('error');
    return e === undefined ? undefined : e.trim();
  }
  execed(): boolean {
    return existsSync(join(this.dir, 'execed'));
  }
  exit(): ExitInfo | undefined {
    const s = this.read('exit');
    if (!s) return undefined;
    const [code, time] = s.split('\n');
    return { code: Number(code), finishedAt: time || new Date().toISOString() };
  }

  /** Alive and really our monitor (pids get reused). */
  monitorAlive(): boolean {
    const pid = this.monitorPid();
    if (!pid) return false;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // A zombie left for its parent to reap counts as gone.
      return cmd[1] === 'run' && cmd[2] === this.dir && !/\) Z /.test(stat);
    } catch {
      return false;
    }
  }

  /** Lets the init go on to mount, pivot_root and execve. */
  release(): void {
    process.kill(this.monitorPid(), 'SIGUSR1');
  }

  async until<T>(what: () => T | undefined, timeoutMs: number, label: string): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      const v = what();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`berth-monitor: timed out waiting for ${label}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Starts a monitor for `dir` (replacing the files of an earlier run) and returns once it has detached. */
export async function launchMonitor(dir: string, cfg: MonitorConfig): Promise<MonitorRun> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'monitor.conf'), encodeConfig(cfg), { mode: 0o600 });
  const bin = monitorBinary();
  const code = await new Promise<number>((resolve, reject) => {
    // Its own session, no pipes to us: the monitor must survive the agent.
    const p = spawn(bin, ['run', dir], { detached: true, stdio: 'ignore', env: {} as NodeJS.ProcessEnv });
    p.once('error', reject);
    p.once('exit', (c, sig) => resolve(c ?? 128 + (sig ? 1 : 0)));
  });
  const run = new MonitorRun(dir);
  if (code !== 0) throw new Error(run.error() ?? `berth-monitor exited with ${code}`);
  return run;
}

export interface ExecConfig {
  user: string;
  cwd: string;
  env: string[];
  argv: string[];
  cgroups: string[];
  caps: bigint;
}

/** Runs a command inside a running container (its init is `initPid`); stdio are pipes to us. */
export function spawnExec(containerDir: string, initPid: number, c: ExecConfig): ChildProcessWithoutNullStreams {
  const entries = [
    `user=${c.user}`,
    `cwd=${c.cwd}`,
    `caps=${c.caps.toString(16)}`,
    ...c.env.map((e) => `env=${e}`),
    ...c.argv.map((a) => `arg=${a}`),
    ...c.cgroups.map((g) => `cgroup=${g}`),
  ];
  if (entries.some((e) => e.includes('\0'))) throw new Error('exec config holds a NUL byte');
  const conf = join(containerDir, `exec-${randomBytes(8).toString('hex')}.conf`);
  writeFileSync(conf, entries.map((e) => e + '\0').join(''), { mode: 0o600 });
  const p = spawn(monitorBinary(), ['exec', String(initPid), conf], { stdio: 'pipe', env: {} as NodeJS.ProcessEnv });
  p.once('exit', () => rmSync(conf, { force: true }));
  p.once('error', () => rmSync(conf, { force: true }));
  return p;
}

/** The capabilities root keeps in a container: Docker's default set, less CAP_MKNOD where the
 *  kernel does not confine device access (no v1 devices controller to say which nodes work). */
export function containerCaps(confinesDevices: boolean): bigint {
  return confinesDevices ? DEFAULT_CAPS : DEFAULT_CAPS & ~CAP_MKNOD;
}

// The agent's side of berth-monitor (agent/native/): the configuration it reads
// (monitor.conf, NUL-terminated key=value entries, refused when a key is unknown: see
// agent/native/config.c), the state files it writes (monitor.pid, pid, execed, error,
// exit: see agent/native/loop.c) and its control socket (control.sock, one request line,
// one reply line: see agent/native/control.c). Everything the agent asks of a running
// container goes through that socket, never through a pid: the monitor is the init's
// parent and is the only one that knows when that pid stops being the container's.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { LogDrop } from '../../../protocol/container';
import { monitorBinary } from '../../native/binary';
import { planEntries, type MountPlan } from './mount-plan';
import { securityEntries, type MonitorSecurity } from './security';

export interface MonitorConfig {
  rootfs: string;
  /** overlay mount data; without it `rootfs` is used as it is. */
  overlay?: string;
  /** Unset with the host's UTS namespace (security.utsHost): the host's name is not the container's to set. */
  hostname?: string;
  user: string;
  cwd: string;
  /** The json-file log; none: no log kept. */
  log?: string;
  /** Rotate the log at this many bytes (0 or absent: never), keeping logMaxFile files. */
  logMaxSize?: number;
  logMaxFile?: number;
  /** false = share the host's network namespace (or joinNetns). */
  newNetns: boolean;
  /** With newNetns false: the network namespace (a /proc/PID/ns/net path) the monitor, and so its init, runs in. */
  joinNetns?: string;
  env: string[];
  argv: string[];
  /** The container's cgroup dirs the init joins. */
  cgroups: string[];
  /** The monitor's own cgroup dirs, one per hierarchy (Cgroups.createMonitor). */
  monitorCgroups: string[];
  /** Capabilities root keeps in the container (bit n = capability n). */
  caps: bigint;
  /** The container's processes' OOM score adjustment. */
  oomScoreAdj: number;
  /** The monitor's own (monitorOomScoreAdj()); unset, it keeps the agent's. */
  monitorOomScoreAdj?: number;
  /** Everything mounted besides the rootfs (mount-plan.ts). */
  plan: MountPlan;
  /** seccomp, no_new_privs, rlimits, sysctls, host namespaces, read-only rootfs (security.ts). */
  security?: MonitorSecurity;
  /** A TTY in the container's devpts on fds 0-2 (`-t`), of this first size. */
  tty?: boolean;
  ttySize?: TtySize;
  /** stdin is a pipe the control socket's `stdin` feeds (`-i`, Docker's OpenStdin). */
  openStdin?: boolean;
  /** Supplementary groups besides the user's (`--group-add`). */
  groupAdd?: string[];
}

export interface TtySize {
  rows: number;
  cols: number;
}

/** The monitor.conf entries for the process's terminal, stdin and groups (run and exec). */
function stdioEntries(c: { tty?: boolean; ttySize?: TtySize; groupAdd?: string[] }): string[] {
  const out = c.tty ? ['tty=1'] : [];
  if (c.tty && c.ttySize && c.ttySize.rows > 0 && c.ttySize.cols > 0) out.push(`tty_size=${c.ttySize.rows}x${c.ttySize.cols}`);
  for (const g of c.groupAdd ?? []) out.push(`group_add=${g}`);
  return out;
}

/** Docker's default capability set: chown, dac_override, fowner, fsetid, kill, setgid, setuid,
 *  setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap. */
export const DEFAULT_CAPS = 0xa80425fbn;
export const CAP_MKNOD = 1n << 27n;

export function encodeConfig(c: MonitorConfig): Buffer {
  const entries = [
    `rootfs=${c.rootfs}`,
    ...(c.overlay ? [`overlay=${c.overlay}`] : []),
    ...(c.hostname === undefined ? [] : [`hostname=${c.hostname}`]),
    `user=${c.user}`,
    `cwd=${c.cwd}`,
    ...(c.log ? [`log=${c.log}`] : []),
    ...(c.log && c.logMaxSize ? [`log_max_size=${BigInt(c.logMaxSize)}`, `log_max_file=${c.logMaxFile ?? 1}`] : []),
    `netns=${c.newNetns ? 'new' : 'host'}`,
    `caps=${c.caps.toString(16)}`,
    `oom_score_adj=${c.oomScoreAdj}`,
    ...(c.monitorOomScoreAdj === undefined ? [] : [`monitor_oom_score_adj=${c.monitorOomScoreAdj}`]),
    ...c.env.map((e) => `env=${e}`),
    ...c.argv.map((a) => `arg=${a}`),
    ...c.cgroups.map((g) => `cgroup=${g}`),
    ...c.monitorCgroups.map((g) => `monitor_cgroup=${g}`),
    ...planEntries(c.plan),
    ...securityEntries(c.security, 'run'),
    ...stdioEntries(c),
    ...(c.openStdin ? ['stdin=open'] : []),
  ];
  for (const e of entries) if (e.includes('\0')) throw new Error('container config holds a NUL byte');
  return Buffer.from(entries.map((e) => e + '\0').join(''));
}

const CAP_SYS_RESOURCE = 24n;
let oomGuard: { value: number | undefined } | undefined;

/**
 * What a monitor sets its oom_score_adj to: -1000 (never chosen by the OOM killer, like
 * conmon), which takes CAP_SYS_RESOURCE. Without it (some sandboxes drop it) monitors
 * keep the agent's score, and the agent says so once.
 */
export function monitorOomScoreAdj(): number | undefined {
  if (!oomGuard) {
    const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    const can = eff !== undefined && ((BigInt('0x' + eff) >> CAP_SYS_RESOURCE) & 1n) === 1n;
    if (!can) console.error('berth: no CAP_SYS_RESOURCE: container monitors keep the agent\'s oom_score_adj instead of -1000');
    oomGuard = { value: can ? -1000 : undefined };
  }
  return oomGuard.value;
}

export interface ExitInfo {
  code: number;
  finishedAt: string;
}

/** The monitor is not there to answer: it exited (after the init) or was killed. */
export class MonitorGone extends Error {}
/** The monitor answered "error …". */
export class MonitorRefused extends Error {}

const CONTROL_TIMEOUT_MS = 10_000;
const UNTIL_POLL_MS = 50;

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
  /** Lines the monitor could not write to the log (log.c, "log-dropped"). */
  logDropped(): LogDrop[] {
    const drops: LogDrop[] = [];
    for (const line of (this.read('log-dropped') ?? '').split('\n')) {
      const m = /^(\d+) (\d+)$/.exec(line);
      if (m) drops.push({ afterSeq: Number(m[1]), count: Number(m[2]) });
    }
    return drops;
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

  /**
   * One request on the control socket; resolves with what follows "ok". The socket's path
   * may be longer than a unix socket address allows, so it is reached through an open
   * descriptor of the state dir (/proc/self/fd/N/control.sock).
   */
  control(request: string): Promise<string> {
    let dirFd: number;
    try {
      dirFd = openSync(this.dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      return Promise.reject(new MonitorGone(`the container's monitor is gone: ${(e as Error).message}`));
    }
    return new Promise<string>((resolve, reject) => {
      let reply = '';
      let done = false;
      const finish = (err: Error | undefined, value?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(value!);
      };
      const sock = net.createConnection({ path: `/proc/self/fd/${dirFd}/control.sock` });
      const timer = setTimeout(() => finish(new Error(`berth-monitor: no answer to "${request}" within ${CONTROL_TIMEOUT_MS} ms`)), CONTROL_TIMEOUT_MS);
      let connected = false;
      sock.once('connect', () => {
        connected = true;
        closeSync(dirFd);
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        if (connected) return finish(e);
        closeSync(dirFd);
        if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(new MonitorGone(`the container's monitor is gone (${e.code})`));
        else finish(e);
      });
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        reply += d;
        const nl = reply.indexOf('\n');
        if (nl < 0) return;
        const line = reply.slice(0, nl);
        if (line === 'ok' || line.startsWith('ok ')) finish(undefined, line.slice(3));
        else finish(new MonitorRefused(line.replace(/^error /, '')));
      });
      sock.on('close', () => finish(new MonitorGone(`the container's monitor closed the control socket before answering "${request}"`)));
      sock.write(request + '\n');
    });
  }

  /**
   * A connection that, after "ok", carries a stream: `attach` (the container's output as
   * Docker's multiplexed frames) or `stdin` (length-prefixed frames to the container). Bytes
   * that came right after the "ok" line are put back on the socket.
   */
  openStream(verb: 'attach' | 'stdin'): Promise<net.Socket> {
    let dirFd: number;
    try {
      dirFd = openSync(this.dir, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      return Promise.reject(new MonitorGone(`the container's monitor is gone: ${(e as Error).message}`));
    }
    return new Promise<net.Socket>((resolve, reject) => {
      let reply = Buffer.alloc(0);
      let connected = false;
      let done = false;
      const sock = net.createConnection({ path: `/proc/self/fd/${dirFd}/control.sock` });
      const timer = setTimeout(() => finish(new Error(`berth-monitor: no answer to "${verb}" within ${CONTROL_TIMEOUT_MS} ms`)), CONTROL_TIMEOUT_MS);
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onClose);
        // Errors after this are the stream's: its 'close' tells the reader.
        sock.off('error', onError);
        sock.on('error', () => {});
        if (err) {
          sock.destroy();
          reject(err);
        } else resolve(sock);
      };
      const onError = (e: NodeJS.ErrnoException) => {
        if (!connected) {
          connected = true;
          closeSync(dirFd);
          if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') return finish(new MonitorGone(`the container's monitor is gone (${e.code})`));
        }
        finish(e);
      };
      const onClose = () => finish(new MonitorGone(`the container's monitor closed the control socket before answering "${verb}"`));
      const onData = (d: Buffer) => {
        reply = Buffer.concat([reply, d]);
        const nl = reply.indexOf(10);
        if (nl < 0) return;
        sock.pause();
        const line = reply.subarray(0, nl).toString('utf8');
        if (line !== 'ok') return finish(new MonitorRefused(line.replace(/^error /, '')));
        if (nl + 1 < reply.length) sock.unshift(reply.subarray(nl + 1));
        finish();
      };
      sock.once('connect', () => {
        connected = true;
        closeSync(dirFd);
      });
      sock.on('error', onError);
      sock.on('close', onClose);
      sock.on('data', onData);
      sock.write(verb + '\n');
    });
  }

  /** The container's TTY window size; MonitorRefused when it has no TTY or has exited. */
  async resize(size: TtySize): Promise<void> {
    await this.control(`resize ${size.rows} ${size.cols}`);
  }

  /** Lets the init go on to mount, pivot_root and execve. */
  async release(): Promise<void> {
    await this.control('start');
  }

  /** Signals the init; MonitorRefused("container is not running") once it has been reaped. */
  async kill(signal: number): Promise<void> {
    await this.control(`kill ${signal}`);
  }

  /**
   * Resolves with what() once it is defined, checked again whenever a file in the state dir
   * changes: the monitor renames each state file into place, so inotify says when to look
   * (a poll with back-off used to add up to half its interval to every start). The slow
   * poll is for a dir inotify cannot watch.
   */
  until<T>(what: () => T | undefined, timeoutMs: number, label: string): Promise<T> {
    const first = what();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      let fsw: FSWatcher | undefined;
      const finish = (err: Error | undefined, v?: T) => {
        clearInterval(poll);
        clearTimeout(timer);
        fsw?.close();
        if (err) reject(err);
        else resolve(v!);
      };
      const check = () => {
        const v = what();
        if (v !== undefined) finish(undefined, v);
      };
      const poll = setInterval(check, UNTIL_POLL_MS);
      const timer = setTimeout(() => finish(new Error(`berth-monitor: timed out waiting for ${label}`)), timeoutMs);
      try {
        fsw = watch(this.dir, check);
        fsw.on('error', () => {});
      } catch {
        // The poll still notices.
      }
      // What happened between the first look and the watch.
      check();
    });
  }
}

function inPath(name: string): string {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (d && existsSync(join(d, name))) return join(d, name);
  return name;
}

/** Starts a monitor for `dir` (replacing the files of an earlier run) and returns once it has detached. */
export async function launchMonitor(dir: string, cfg: MonitorConfig): Promise<MonitorRun> {
  // In line: a handful of small files, where three trips through the thread pool cost
  // more than the work on a busy machine.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'monitor.conf'), encodeConfig(cfg), { mode: 0o600 });
  const bin = monitorBinary();
  const code = await new Promise<number>((resolve, reject) => {
    // Its own session, no pipes to us: the monitor must survive the agent.
    // The monitor gets an empty environment, so nsenter is found with the agent's PATH.
    const [cmd, args] = cfg.joinNetns ? [inPath('nsenter'), [`--net=${cfg.joinNetns}`, '--', bin, 'run', dir]] : [bin, ['run', dir]];
    const p = spawn(cmd, args, { detached: true, stdio: 'ignore', env: {} as NodeJS.ProcessEnv });
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
  oomScoreAdj: number;
  /** The container's seccomp filter, no_new_privs and rlimits (security.ts). */
  security?: MonitorSecurity;
  /** A TTY made inside the container: the helper relays it on its stdin/stdout, fd 3 takes "<rows> <cols>" lines. */
  tty?: boolean;
  ttySize?: TtySize;
  groupAdd?: string[];
}

/** The helper's stdio: pipes, or nothing (/dev/null) where no one will read or write. */
export interface ExecStdio {
  stdin: boolean;
  output: boolean;
}

/** Runs a command inside the running container whose monitor keeps `runDir` (it joins the
 *  init by pidfd, asked for over the control socket); stdio are pipes to us (with a tty,
 *  stdio[3] takes window sizes). The configuration file goes in `containerDir`, and goes
 *  when the process does. */
export function spawnExec(containerDir: string, runDir: string, c: ExecConfig, io?: ExecStdio): ChildProcess {
  const entries = [
    `user=${c.user}`,
    `cwd=${c.cwd}`,
    `caps=${c.caps.toString(16)}`,
    `oom_score_adj=${c.oomScoreAdj}`,
    ...c.env.map((e) => `env=${e}`),
    ...c.argv.map((a) => `arg=${a}`),
    ...c.cgroups.map((g) => `cgroup=${g}`),
    ...securityEntries(c.security, 'exec'),
    ...stdioEntries(c),
    // Output piped to us: the command goes when the agent does (nobody would read it); a detached one runs on.
    ...(io === undefined || io.output || io.stdin ? ['attached=1'] : []),
  ];
  if (entries.some((e) => e.includes('\0'))) throw new Error('exec config holds a NUL byte');
  const conf = join(containerDir, `exec-${randomBytes(8).toString('hex')}.conf`);
  writeFileSync(conf, entries.map((e) => e + '\0').join(''), { mode: 0o600 });
  const stdio: StdioOptions = io
    ? [io.stdin ? 'pipe' : 'ignore', io.output ? 'pipe' : 'ignore', io.output ? 'pipe' : 'ignore', ...(c.tty ? ['pipe' as const] : [])]
    : 'pipe';
  const p = spawn(monitorBinary(), ['exec', runDir, conf], { stdio, env: {} as NodeJS.ProcessEnv });
  p.once('exit', () => rmSync(conf, { force: true }));
  p.once('error', () => rmSync(conf, { force: true }));
  return p;
}

/** The capabilities root keeps in a container: Docker's default set, less CAP_MKNOD where the
 *  kernel does not confine device access (no v1 devices controller to say which nodes work). */
export function containerCaps(confinesDevices: boolean): bigint {
  return confinesDevices ? DEFAULT_CAPS : DEFAULT_CAPS & ~CAP_MKNOD;
}

// Container lifecycle: records on disk, monitors that outlive the agent, exit detection
// by watching the monitor's exit file (the agent is not the parent of anything it runs).
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cgroups } from '../cgroups';
import { badRequest, conflict, EngineError, notFound } from '../errors';
import { overlayOptions, unmountOverlay } from '../mounts/overlay';
import type { ContainerCreateSpec, ContainerEvent, ContainerRecord, ImageStore } from '../types';
import { effectiveConfig, hostsFile, mergeEnv, parseSignal, resolvConf } from './config';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { CAP_MKNOD, DEFAULT_CAPS, launchMonitor, MonitorRun, spawnExec } from './monitor';
import { generateName, VALID_NAME } from './names';
import { ContainerStore } from './store';

export { parseSignal } from './config';

const NEVER = '0001-01-01T00:00:00Z';
const START_TIMEOUT_MS = 15_000;
const POLL_MS = 1000;

export interface ContainerHooks {
  /** After the init exists (host pid known), before it mounts and execs: network wiring goes here.
   *  It may rewrite the files in ctx.dir (hosts, resolv.conf, hostname). */
  prestart?(c: ContainerRecord, ctx: { pid: number; dir: string }): Promise<void>;
  /** After the container stopped, also when noticed only by a later agent. */
  poststop?(c: ContainerRecord): Promise<void>;
}

export interface ExecOptions {
  cmd: string[];
  /** "KEY=value", merged over the container's env. */
  env?: string[];
  user?: string;
  workingDir?: string;
}

type WaitCond = 'not-running' | 'next-exit' | 'removed';
interface Waiter {
  cond: WaitCond;
  resolve: (v: { exitCode: number }) => void;
}

// Wall clock at load plus the monotonic clock since: nanosecond digits that are real and ordered.
const wallAtLoadNs = BigInt(Date.now()) * 1_000_000n;
const hrAtLoad = process.hrtime.bigint();

export function nowRfc3339Nano(): string {
  const ns = wallAtLoadNs + (process.hrtime.bigint() - hrAtLoad);
  const iso = new Date(Number(ns / 1_000_000n)).toISOString(); // 2026-11-22T19:30:00.123Z
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export class Containers {
  private recs = new Map<string, ContainerRecord>();
  private watchers = new Map<string, { fsw?: FSWatcher; timer: NodeJS.Timeout; run: MonitorRun }>();
  private waiters = new Map<string, Waiter[]>();
  /** Starts under way: a remove waits for one (or refuses without force) so it cannot be undone by it. */
  private starting = new Map<string, Promise<void>>();
  private removing = new Map<string, Promise<void>>();
  readonly store: ContainerStore;
  private closed = false;

  constructor(
    readonly root: string,
    private images: ImageStore,
    private cgroups: Cgroups,
    private emit: (e: ContainerEvent) => void,
    private hooks: ContainerHooks = {},
  ) {
    this.store = new ContainerStore(join(root, 'containers'));
  }

  dir(id: string) {
    return this.store.containerDir(id);
  }
  private runDir(id: string) {
    return join(this.dir(id), 'run');
  }

  /** Loads records and reconciles them with what the monitors left behind. */
  async load(): Promise<void> {
    for (const rec of await this.store.loadAll()) {
      this.recs.set(rec.id, rec);
      if (rec.state.status === 'removing') {
        await this.finishRemove(rec);
        continue;
      }
      if (!rec.state.running) continue;
      const run = new MonitorRun(this.runDir(rec.id));
      if (run.exit() || !run.monitorAlive()) await this.onExit(rec.id, run);
      else this.watchExit(rec.id, run);
    }
  }

  list(all = false): ContainerRecord[] {
    return [...this.recs.values()]
      .filter((r) => all || r.state.running)
      .sort((a, b) => (a.created < b.created ? 1 : -1))
      .map((r) => structuredClone(r));
  }

  resolve(idOrName: string): ContainerRecord {
    const key = idOrName.replace(/^\//, '');
    const exact = this.recs.get(key);
    if (exact) return exact;
    for (const r of this.recs.values()) if (r.name === key) return r;
    if (/^[0-9a-f]+$/.test(key)) {
      const hits = [...this.recs.values()].filter((r) => r.id.startsWith(key));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw badRequest(`multiple IDs found with provided prefix: ${key}`);
    }
    throw notFound(`No such container: ${idOrName}`);
  }

  inspect(idOrName: string): ContainerRecord {
    return structuredClone(this.resolve(idOrName));
  }

  async create(spec: ContainerCreateSpec): Promise<ContainerRecord> {
    if (!spec.image) throw badRequest('Config.Image is required');
    const img = this.images.get(spec.image);
    if (!img) throw notFound(`No such image: ${spec.image}`);
    let name = spec.name?.replace(/^\//, '');
    if (name !== undefined && name !== '') {
      if (!VALID_NAME.test(name))
        throw badRequest(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const other = [...this.recs.values()].find((r) => r.name === name);
      if (other)
        throw conflict(
          `Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
    } else {
      name = generateName((n) => [...this.recs.values()].some((r) => r.name === n));
    }
    const id = randomBytes(32).toString('hex');
    const { config, hostConfig } = effectiveConfig(id, spec, img.config);
    const dir = this.dir(id);
    const rec: ContainerRecord = {
      id,
      name,
      created: nowRfc3339Nano(),
      image: spec.image,
      imageId: img.id,
      config,
      hostConfig,
      state: {
        status: 'created',
        running: false,
        paused: false,
        pid: 0,
        exitCode: 0,
        startedAt: NEVER,
        finishedAt: NEVER,
        error: '',
        oomKilled: false,
      },
      restartCount: 0,
      logPath: join(dir, `${id}-json.log`),
    };
    // Claim the name before the first await so two concurrent creates cannot both get it.
    this.recs.set(id, rec);
    try {
      await mkdir(join(dir, 'upper'), { recursive: true });
      await mkdir(join(dir, 'work'), { recursive: true });
      await mkdir(join(dir, 'rootfs'), { recursive: true });
      await writeFile(rec.logPath, '', { flag: 'a', mode: 0o640 });
      await this.store.save(rec);
    } catch (e) {
      this.recs.delete(id);
      await this.store.delete(id);
      throw e;
    }
    this.emit({ action: 'create', id });
    return structuredClone(rec);
  }

  async start(idOrName: string): Promise<void> {
    const rec = this.resolve(idOrName);
    if (rec.state.running) return;
    if (rec.state.status === 'removing') throw conflict(`container ${rec.id} is marked for removal and cannot be started`);
    if (this.starting.has(rec.id)) throw conflict(`container ${rec.id} is already being started`);
    const p = this.doStart(rec).finally(() => this.starting.delete(rec.id));
    this.starting.set(rec.id, p);
    return p;
  }

  private async doStart(rec: ContainerRecord): Promise<void> {
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    const dir = this.dir(rec.id);
    let layers = this.images.layerDirs(img);
    if (!layers.length) {
      // overlay needs at least one lower dir; an image without layers gets an empty one.
      await mkdir(join(dir, 'empty'), { recursive: true });
      layers = [join(dir, 'empty')];
    }
    const overlay = overlayOptions([...layers].reverse(), join(dir, 'upper'), join(dir, 'work'));
    await mkdir(join(dir, 'upper'), { recursive: true });
    await mkdir(join(dir, 'work'), { recursive: true });
    await mkdir(join(dir, 'rootfs'), { recursive: true });

    const h = rec.hostConfig;
    const ownNetns = h.networkMode !== 'host';
    const hostResolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await writeFile(join(dir, 'hostname'), rec.config.hostname + '\n');
    await writeFile(join(dir, 'hosts'), hostsFile(rec.config.hostname));
    await writeFile(join(dir, 'resolv.conf'), resolvConf(hostResolv, ownNetns));

    let cgroupDirs: string[];
    try {
      cgroupDirs = await this.cgroups.create(rec.id, {
        memory: h.memory,
        memorySwap: h.memorySwap,
        nanoCpus: h.nanoCpus,
        cpuShares: h.cpuShares,
        pidsLimit: h.pidsLimit,
      });
    } catch (e) {
      await this.cgroups.remove(rec.id).catch(() => {});
      throw new EngineError(500, (e as Error).message);
    }
    const env = [...rec.config.env];
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${rec.config.hostname}`);

    let run: MonitorRun | undefined;
    const fail = async (msg: string, exitCode: number): Promise<never> => {
      // Once a monitor ran, the container has run and failed: it shows as exited, like Docker's.
      const finishedAt = run ? (run.exit()?.finishedAt ?? nowRfc3339Nano()) : rec.state.finishedAt;
      const status = run ? 'exited' : rec.state.status;
      rec.state = { ...rec.state, status, running: false, pid: 0, exitCode, error: msg, finishedAt };
      await this.store.save(rec);
      await this.cgroups.remove(rec.id).catch(() => {});
      if (run) {
        // Attached clients and waiters learn of it as of any other end; --rm still removes it.
        this.emit({ action: 'die', id: rec.id, exitCode });
        this.settle(rec.id, ['not-running', 'next-exit'], exitCode);
        // remove() waits for this start to be over.
        if (rec.hostConfig.autoRemove) void this.remove(rec.id, { force: true }).catch(() => {});
      }
      throw new EngineError(exitCode === 127 || exitCode === 126 ? 400 : 500, msg);
    };

    try {
      run = await launchMonitor(this.runDir(rec.id), {
        rootfs: join(dir, 'rootfs'),
        overlay,
        hostname: rec.config.hostname,
        user: rec.config.user,
        cwd: rec.config.workingDir || '/',
        log: rec.logPath,
        etcHostname: join(dir, 'hostname'),
        etcHosts: join(dir, 'hosts'),
        etcResolv: join(dir, 'resolv.conf'),
        newNetns: ownNetns,
        env,
        argv: [...rec.config.entrypoint, ...rec.config.cmd],
        cgroups: cgroupDirs,
        caps: this.caps(),
      });
    } catch (e) {
      return fail((e as Error).message, 128);
    }
    const r = run;
    const pid = await r
      .until(() => r.initPid() || (r.exit() ? -1 : undefined), START_TIMEOUT_MS, 'the container init')
      .catch(() => -1);
    if (pid < 0) return fail(r.error() ?? 'berth-monitor failed to start the container', r.exit()?.code ?? 128);

    try {
      await this.hooks.prestart?.(structuredClone(rec), { pid, dir });
      r.release();
    } catch (e) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      return fail(`prestart: ${(e as Error).message}`, 128);
    }
    const outcome = await r
      .until(() => (r.execed() ? 'ok' : r.error() !== undefined || r.exit() ? 'failed' : undefined), START_TIMEOUT_MS, 'execve')
      .catch(() => 'failed' as const);
    if (outcome === 'failed') {
      const exit = await r.until(() => r.exit(), 5000, 'the exit code').catch(() => undefined);
      const msg = r.error() ?? 'the container init did not start';
      if (!exit) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      return fail(msg, exit?.code ?? 128);
    }

    rec.state = {
      status: 'running',
      running: true,
      paused: false,
      pid,
      exitCode: 0,
      startedAt: nowRfc3339Nano(),
      finishedAt: rec.state.finishedAt,
      error: '',
      oomKilled: false,
    };
    await this.store.save(rec);
    this.emit({ action: 'start', id: rec.id });
    this.watchExit(rec.id, r);
  }

  private caps(): bigint {
    return this.cgroups.confinesDevices ? DEFAULT_CAPS : DEFAULT_CAPS & ~CAP_MKNOD;
  }

  /** A command in a running container's namespaces and cgroups, like `docker exec`: the
   *  process's stdio are pipes, its exit code is the command's (126/127 when it cannot run). */
  exec(idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams {
    const rec = this.resolve(idOrName);
    // The record may not have caught up with an exit yet, and the pid may then name another process.
    if (!rec.state.running || !rec.state.pid || new MonitorRun(this.runDir(rec.id)).exit()) throw conflict(`Container ${rec.id} is not running`);
    if (!opts.cmd.length) throw badRequest('No exec command specified');
    let env = mergeEnv(rec.config.env, opts.env ?? []);
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env = [...env, `HOSTNAME=${rec.config.hostname}`];
    return spawnExec(this.dir(rec.id), rec.state.pid, {
      user: opts.user || rec.config.user,
      cwd: opts.workingDir || rec.config.workingDir || '/',
      env,
      argv: opts.cmd,
      cgroups: this.cgroups.paths(rec.id),
      caps: this.caps(),
    });
  }

  private watchExit(id: string, run: MonitorRun) {
    if (this.watchers.has(id) || this.closed) return;
    const check = () => {
      if (!this.watchers.has(id)) return;
      if (run.exit() || !run.monitorAlive()) {
        this.unwatch(id);
        this.onExit(id, run).catch((e) => console.error(`berth: exit of ${id.slice(0, 12)}:`, e));
      }
    };
    let fsw: FSWatcher | undefined;
    try {
      fsw = watch(run.dir, (_ev, file) => {
        if (file === 'exit') check();
      });
      fsw.on('error', () => {});
    } catch {
      // The slow poll below still notices.
    }
    const timer = setInterval(check, POLL_MS);
    timer.unref();
    this.watchers.set(id, { fsw, timer, run });
    check();
  }

  private unwatch(id: string) {
    const w = this.watchers.get(id);
    if (!w) return;
    w.fsw?.close();
    clearInterval(w.timer);
    this.watchers.delete(id);
  }

  private async onExit(id: string, run: MonitorRun) {
    const rec = this.recs.get(id);
    if (!rec || !rec.state.running) return;
    const exit = run.exit();
    const oom = await this.cgroups.oomKilled(id);
    rec.state = {
      status: 'exited',
      running: false,
      paused: false,
      pid: 0,
      exitCode: exit ? exit.code : 255,
      startedAt: rec.state.startedAt,
      finishedAt: exit?.finishedAt ?? nowRfc3339Nano(),
      error: exit ? '' : 'the container monitor exited without recording an exit code',
      oomKilled: oom,
    };
    await this.store.save(rec);
    await this.cgroups.remove(id).catch((e) => console.error(`berth: cgroups of ${id.slice(0, 12)}:`, e));
    await this.hooks.poststop?.(structuredClone(rec)).catch((e) => console.error('berth: poststop:', e));
    this.emit({ action: 'die', id, exitCode: rec.state.exitCode });
    this.settle(id, ['not-running', 'next-exit'], rec.state.exitCode);
    if (rec.hostConfig.autoRemove && !this.closed) await this.remove(id, { force: true }).catch(() => {});
  }

  private settle(id: string, conds: WaitCond[], exitCode: number) {
    const ws = this.waiters.get(id) ?? [];
    const keep = ws.filter((w) => !conds.includes(w.cond));
    for (const w of ws) if (conds.includes(w.cond)) w.resolve({ exitCode });
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  wait(idOrName: string, cond: WaitCond = 'not-running'): Promise<{ exitCode: number }> {
    const rec = this.resolve(idOrName);
    if (cond === 'not-running' && !rec.state.running) return Promise.resolve({ exitCode: rec.state.exitCode });
    return new Promise((resolve) => {
      const ws = this.waiters.get(rec.id) ?? [];
      ws.push({ cond, resolve });
      this.waiters.set(rec.id, ws);
    });
  }

  private async signal(rec: ContainerRecord, sig: number) {
    const run = new MonitorRun(this.runDir(rec.id));
    // The pid file may outlive its process; never signal a pid that already exited.
    if (run.exit() || !rec.state.pid) return;
    try {
      process.kill(rec.state.pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  private async exited(rec: ContainerRecord, ms: number): Promise<boolean> {
    if (!rec.state.running) return true;
    const done = this.wait(rec.id, 'not-running').then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    return Promise.race([done, timeout]);
  }

  async stop(idOrName: string, timeoutSec?: number): Promise<void> {
    const rec = this.resolve(idOrName);
    if (!rec.state.running) return;
    const stopSignal = this.images.get(rec.imageId)?.config.StopSignal || 'SIGTERM';
    const t = timeoutSec ?? 10;
    if (t < 0) {
      await this.signal(rec, parseSignal(stopSignal));
      await this.wait(rec.id, 'not-running');
    } else {
      await this.signal(rec, parseSignal(stopSignal));
      if (!(await this.exited(rec, t * 1000))) {
        await this.signal(rec, 9);
        if (!(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
      }
    }
    this.emit({ action: 'stop', id: rec.id });
  }

  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const rec = this.resolve(idOrName);
    const sig = parseSignal(signal);
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    await this.signal(rec, sig);
    this.emit({ action: 'kill', id: rec.id });
    if (sig === 9 && !(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
  }

  async remove(idOrName: string, opts: { force?: boolean } = {}): Promise<void> {
    const rec = this.resolve(idOrName);
    const pending = this.removing.get(rec.id);
    if (pending) return pending;
    const starting = this.starting.get(rec.id);
    if (starting) {
      if (!opts.force) throw conflict(`You cannot remove container ${rec.id} while it is starting. Wait for it, or force remove`);
      await starting.catch(() => {});
      const again = this.removing.get(rec.id);
      if (again) return again;
      if (!this.recs.has(rec.id)) return;
    }
    if (rec.state.running) {
      if (!opts.force)
        throw conflict(
          `You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`,
        );
      await this.signal(rec, 9);
      if (!(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
      // autoRemove may have started removing it as it died.
      const again = this.removing.get(rec.id);
      if (again) return again;
      if (!this.recs.has(rec.id)) return;
    }
    const p = (async () => {
      rec.state = { ...rec.state, status: 'removing' };
      await this.store.save(rec);
      await this.finishRemove(rec);
    })().finally(() => this.removing.delete(rec.id));
    this.removing.set(rec.id, p);
    return p;
  }

  private async finishRemove(rec: ContainerRecord) {
    this.unwatch(rec.id);
    await this.cgroups.remove(rec.id).catch((e) => console.error(`berth: cgroups of ${rec.id.slice(0, 12)}:`, e));
    // The rootfs lives in the container's own mount namespace; a host-side mount (build, cp) may not.
    await unmountOverlay(join(this.dir(rec.id), 'rootfs')).catch(() => {});
    await this.store.delete(rec.id);
    this.recs.delete(rec.id);
    this.emit({ action: 'destroy', id: rec.id });
    this.settle(rec.id, ['not-running', 'next-exit', 'removed'], rec.state.exitCode);
  }

  statusOf(id: string): ContainerRecord['state']['status'] | undefined {
    return this.recs.get(id)?.state.status;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.watchers.keys()]) this.unwatch(id);
  }
}

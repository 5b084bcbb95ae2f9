// Container lifecycle: create, start (through a monitor that outlives the agent), stop,
// kill, remove, and what happens when an init exits. Records live in ContainerRecords,
// exits are noticed by ExitWatch; this is the part that changes state.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord, ContainerSpec } from '../../../protocol/container';
import type { Cgroups } from '../cgroups';
import { conflict, EngineError, notFound } from '../errors';
import { overlayOptions, unmountOverlay } from '../mounts/overlay';
import type { ContainerEvent, ImageStore, WaitCondition } from '../types';
import { hostsFile, resolvConf } from './etc-files';
import { ExitWatch, Waiters } from './exits';
import { containerCaps, launchMonitor, MonitorGone, MonitorRefused, MonitorRun, monitorOomScoreAdj } from './monitor';
import { defaultMountPlan } from './mount-plan';
import type { ContainerRecords } from './records';
import { parseSignal } from './signals';
import { resolveSpec } from './spec';

const NEVER = '0001-01-01T00:00:00Z';
const START_TIMEOUT_MS = 15_000;

export interface ContainerHooks {
  /** After the init exists (host pid known), before it mounts and execs: network wiring goes here.
   *  It may rewrite the files in ctx.dir (hosts, resolv.conf, hostname). */
  prestart?(c: ContainerRecord, ctx: { pid: number; dir: string }): Promise<void>;
  /** After the container stopped, also when noticed only by a later agent. */
  poststop?(c: ContainerRecord): Promise<void>;
}

// Wall clock at load plus the monotonic clock since: nanosecond digits that are real and ordered.
const wallAtLoadNs = BigInt(Date.now()) * 1_000_000n;
const hrAtLoad = process.hrtime.bigint();

export function nowRfc3339Nano(): string {
  const ns = wallAtLoadNs + (process.hrtime.bigint() - hrAtLoad);
  const iso = new Date(Number(ns / 1_000_000n)).toISOString(); // 2026-11-22T19:30:00.123Z
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export class ContainerLifecycle {
  /** Starts under way: a remove waits for one (or refuses without force) so it cannot be undone by it. */
  private readonly starting = new Map<string, Promise<void>>();
  private readonly removing = new Map<string, Promise<void>>();
  /** Exits being recorded, so one end is recorded once. */
  private readonly ending = new Set<string>();
  private readonly waiters = new Waiters();
  private readonly exits = new ExitWatch((id, run) => {
    this.onExit(id, run).catch((e) => console.error(`berth: exit of ${id.slice(0, 12)}:`, e));
  });
  private closed = false;

  constructor(
    private readonly records: ContainerRecords,
    private readonly images: ImageStore,
    private readonly cgroups: Cgroups,
    private readonly emit: (e: ContainerEvent) => void,
    private readonly hooks: ContainerHooks = {},
  ) {}

  /** Reconciles the loaded records with what the monitors left behind while no agent watched. */
  async reconcile(): Promise<void> {
    for (const rec of this.records.all()) {
      if (rec.state.status === 'removing') {
        await this.finishRemove(rec);
        continue;
      }
      if (!rec.state.running) continue;
      const run = new MonitorRun(this.records.runDir(rec.id));
      if (run.exit() || !run.monitorAlive()) await this.onExit(rec.id, run);
      else this.exits.watch(rec.id, run);
    }
  }

  async create(spec: ContainerSpec): Promise<ContainerRecord> {
    const img = this.images.get(spec.image);
    if (!img) throw notFound(`No such image: ${spec.image}`);
    const name = this.records.chooseName(spec.name);
    const id = randomBytes(32).toString('hex');
    const dir = this.records.dir(id);
    const resolved = resolveSpec(id, spec, img.config);
    const rec: ContainerRecord = {
      id,
      name,
      created: nowRfc3339Nano(),
      image: spec.image,
      imageId: img.id,
      spec: resolved,
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
      // As Docker's: no log file (and no LogPath) with the none driver.
      logPath: resolved.log?.driver === 'none' ? '' : join(dir, `${id}-json.log`),
    };
    // Claim the name before the first await so two concurrent creates cannot both get it.
    this.records.add(rec);
    try {
      for (const sub of ['upper', 'work', 'rootfs']) await mkdir(join(dir, sub), { recursive: true });
      if (rec.logPath) await writeFile(rec.logPath, '', { flag: 'a', mode: 0o640 });
      await this.records.save(rec);
    } catch (e) {
      await this.records.delete(id);
      throw e;
    }
    this.emit({ action: 'create', id });
    return structuredClone(rec);
  }

  async start(idOrName: string): Promise<void> {
    const rec = this.records.resolve(idOrName);
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
    const dir = this.records.dir(rec.id);
    let layers = this.images.layerDirs(img);
    if (!layers.length) {
      // overlay needs at least one lower dir; an image without layers gets an empty one.
      await mkdir(join(dir, 'empty'), { recursive: true });
      layers = [join(dir, 'empty')];
    }
    const overlay = overlayOptions([...layers].reverse(), join(dir, 'upper'), join(dir, 'work'));
    for (const sub of ['upper', 'work', 'rootfs']) await mkdir(join(dir, sub), { recursive: true });

    const { process: proc, resources: res, network } = rec.spec;
    const ownNetns = network.mode !== 'host';
    const hostResolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await writeFile(join(dir, 'hostname'), network.hostname + '\n');
    await writeFile(join(dir, 'hosts'), hostsFile(network.hostname));
    await writeFile(join(dir, 'resolv.conf'), resolvConf(hostResolv, ownNetns));

    let cgroupDirs: string[];
    let monitorCgroups: string[];
    try {
      cgroupDirs = await this.cgroups.create(rec.id, res);
      monitorCgroups = await this.cgroups.createMonitor(rec.id);
    } catch (e) {
      await this.removeCgroups(rec.id);
      throw new EngineError(500, (e as Error).message);
    }
    const env = [...proc.env];
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${network.hostname}`);
    if (proc.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm'); // as Docker gives a TTY

    let run: MonitorRun | undefined;
    const fail = async (msg: string, exitCode: number): Promise<never> => {
      // Once a monitor ran, the container has run and failed: it shows as exited, like Docker's.
      const finishedAt = run ? (run.exit()?.finishedAt ?? nowRfc3339Nano()) : rec.state.finishedAt;
      const status = run ? 'exited' : rec.state.status;
      rec.state = { ...rec.state, status, running: false, pid: 0, exitCode, error: msg, finishedAt };
      await this.records.save(rec);
      await this.removeCgroups(rec.id);
      if (run) {
        // Attached clients and waiters learn of it as of any other end.
        this.emit({ action: 'die', id: rec.id, exitCode });
        this.waiters.settle(rec.id, ['not-running', 'next-exit'], exitCode);
      }
      // --rm removes a container whose start failed, however early (the CLI waits for the
      // removal); remove() waits for this start to be over.
      if (rec.spec.restart.autoRemove) void this.remove(rec.id, { force: true }).catch(() => {});
      throw new EngineError(exitCode === 127 || exitCode === 126 ? 400 : 500, msg);
    };

    try {
      run = await launchMonitor(this.records.runDir(rec.id), {
        rootfs: join(dir, 'rootfs'),
        overlay,
        hostname: network.hostname,
        user: proc.user,
        cwd: proc.workingDir || '/',
        log: rec.logPath || undefined,
        logMaxSize: rec.spec.log?.maxSize,
        logMaxFile: rec.spec.log?.maxFile,
        newNetns: ownNetns,
        env,
        argv: [...proc.entrypoint, ...proc.cmd],
        cgroups: cgroupDirs,
        monitorCgroups,
        caps: containerCaps(this.cgroups.confinesDevices),
        oomScoreAdj: 0,
        monitorOomScoreAdj: monitorOomScoreAdj(),
        plan: defaultMountPlan({ hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') }),
        tty: proc.tty,
        ttySize: proc.consoleSize,
        openStdin: proc.openStdin,
        groupAdd: proc.groupAdd,
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
    } catch (e) {
      await r.kill(9).catch(() => {});
      return fail(`prestart: ${(e as Error).message}`, 128);
    }
    try {
      await r.release();
    } catch (e) {
      await r.kill(9).catch(() => {});
      const exit = await r.until(() => r.exit(), 5000, 'the exit code').catch(() => undefined);
      return fail(r.error() ?? `berth-monitor: release the container: ${(e as Error).message}`, exit?.code ?? 128);
    }
    const outcome = await r
      .until(() => (r.execed() ? 'ok' : r.error() !== undefined || r.exit() ? 'failed' : undefined), START_TIMEOUT_MS, 'execve')
      .catch(() => 'failed' as const);
    if (outcome === 'failed') {
      const exit = await r.until(() => r.exit(), 5000, 'the exit code').catch(() => undefined);
      const msg = r.error() ?? 'the container init did not start';
      if (!exit) await r.kill(9).catch(() => {});
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
    await this.records.save(rec);
    this.emit({ action: 'start', id: rec.id });
    this.exits.watch(rec.id, r);
  }

  private async onExit(id: string, run: MonitorRun): Promise<void> {
    const rec = this.records.get(id);
    // The watch and a failed signal may both notice the same end.
    if (!rec || !rec.state.running || this.ending.has(id)) return;
    this.ending.add(id);
    try {
      await this.recordExit(rec, run);
    } finally {
      this.ending.delete(id);
    }
  }

  private async recordExit(rec: ContainerRecord, run: MonitorRun): Promise<void> {
    const id = rec.id;
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
    await this.records.save(rec);
    await this.removeCgroups(id);
    await this.hooks.poststop?.(structuredClone(rec)).catch((e) => console.error('berth: poststop:', e));
    this.emit({ action: 'die', id, exitCode: rec.state.exitCode });
    this.waiters.settle(id, ['not-running', 'next-exit'], rec.state.exitCode);
    if (rec.spec.restart.autoRemove && !this.closed) await this.remove(id, { force: true }).catch(() => {});
  }

  wait(idOrName: string, cond: WaitCondition = 'not-running'): Promise<{ exitCode: number }> {
    const rec = this.records.resolve(idOrName);
    if (cond === 'not-running' && !rec.state.running) return Promise.resolve({ exitCode: rec.state.exitCode });
    return this.waiters.add(rec.id, cond);
  }

  /**
   * Signals the init through its monitor, which signals by pidfd and never after reaping:
   * a pid is never signalled here, so nothing that reused one can be hit. Returns why the
   * signal was not sent when the container is not running (its exit is then recorded, or
   * about to be).
   */
  private async signal(rec: ContainerRecord, sig: number): Promise<string | undefined> {
    const run = new MonitorRun(this.records.runDir(rec.id));
    try {
      await run.kill(sig);
      return undefined;
    } catch (e) {
      if (e instanceof MonitorRefused && /not running/.test(e.message)) return e.message;
      if (e instanceof MonitorGone) {
        // A monitor that died takes its init with it (parent-death signal): record that now.
        console.error(`berth: ${rec.id.slice(0, 12)}: ${e.message}; recording it as exited`);
        this.exits.unwatch(rec.id);
        await this.onExit(rec.id, run);
        return e.message;
      }
      throw new EngineError(500, `cannot signal container ${rec.id}: ${(e as Error).message}`);
    }
  }

  private async removeCgroups(id: string): Promise<void> {
    await this.cgroups.remove(id).catch((e) => console.error(`berth: cgroups of ${id.slice(0, 12)}:`, e));
    await this.cgroups.removeMonitor(id).catch((e) => console.error(`berth: monitor cgroups of ${id.slice(0, 12)}:`, e));
  }

  private exited(rec: ContainerRecord, ms: number): Promise<boolean> {
    if (!rec.state.running) return Promise.resolve(true);
    const done = this.wait(rec.id, 'not-running').then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    return Promise.race([done, timeout]);
  }

  private async killAndWait(rec: ContainerRecord): Promise<void> {
    await this.signal(rec, 9);
    if (!(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
  }

  async stop(idOrName: string, timeoutSec?: number): Promise<void> {
    const rec = this.records.resolve(idOrName);
    if (!rec.state.running) return;
    const stopSignal = parseSignal(this.images.get(rec.imageId)?.config.StopSignal || 'SIGTERM');
    const t = timeoutSec ?? 10;
    await this.signal(rec, stopSignal);
    if (t < 0) await this.wait(rec.id, 'not-running');
    else if (!(await this.exited(rec, t * 1000))) await this.killAndWait(rec);
    this.emit({ action: 'stop', id: rec.id });
  }

  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const rec = this.records.resolve(idOrName);
    const sig = parseSignal(signal);
    // A start under way first: its process may print (and be seen) before the agent has
    // recorded it as running, and Docker's kill waits for a start the same way.
    if (!rec.state.running) await this.starting.get(rec.id)?.catch(() => {});
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    const notSent = await this.signal(rec, sig);
    if (notSent) throw conflict(`Container ${rec.id} is not running: ${notSent}`);
    this.emit({ action: 'kill', id: rec.id });
    if (sig === 9 && !(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
  }

  async remove(idOrName: string, opts: { force?: boolean } = {}): Promise<void> {
    const rec = this.records.resolve(idOrName);
    const pending = this.removing.get(rec.id);
    if (pending) return pending;
    const starting = this.starting.get(rec.id);
    if (starting) {
      if (!opts.force) throw conflict(`You cannot remove container ${rec.id} while it is starting. Wait for it, or force remove`);
      await starting.catch(() => {});
      const again = this.removing.get(rec.id);
      if (again) return again;
      if (!this.records.get(rec.id)) return;
    }
    if (rec.state.running) {
      if (!opts.force)
        throw conflict(`You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`);
      await this.killAndWait(rec);
      // autoRemove may have started removing it as it died.
      const again = this.removing.get(rec.id);
      if (again) return again;
      if (!this.records.get(rec.id)) return;
    }
    const p = (async () => {
      rec.state = { ...rec.state, status: 'removing' };
      await this.records.save(rec);
      await this.finishRemove(rec);
    })().finally(() => this.removing.delete(rec.id));
    this.removing.set(rec.id, p);
    return p;
  }

  private async finishRemove(rec: ContainerRecord): Promise<void> {
    this.exits.unwatch(rec.id);
    await this.removeCgroups(rec.id);
    // The rootfs lives in the container's own mount namespace; a host-side mount (build, cp) may not.
    await unmountOverlay(join(this.records.dir(rec.id), 'rootfs')).catch(() => {});
    await this.records.delete(rec.id);
    this.emit({ action: 'destroy', id: rec.id });
    this.waiters.settle(rec.id, ['not-running', 'next-exit', 'removed'], rec.state.exitCode);
  }

  close(): void {
    this.closed = true;
    this.exits.close();
  }
}

// Container lifecycle: create, start (through a monitor that outlives the agent), stop,
// kill, pause, remove, and what happens when an init exits: the restart policy, the
// healthcheck. Records live in ContainerRecords, exits are noticed by ExitWatch; this is
// the part that changes state, with Docker's rules (moby's daemon/{start,stop,kill,monitor}.go).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRecord, ContainerSpec, HealthState, ResolvedHealth } from '../../../protocol/container';
import type { Cgroups } from '../cgroups';
import { badRequest, conflict, EngineError, notFound } from '../errors';
import { overlayOptions, unmountOverlay } from '../mounts/overlay';
import type { ContainerEvent, ImageStore, UpdateOptions, WaitCondition } from '../types';
import { hostsFile, resolvConf } from './etc-files';
import { execIn, killExec } from './exec';
import { ExitWatch, Waiters } from './exits';
import { goDuration, HealthMonitors, LimitedOutput, probeCommand, type ProbeRun } from './health';
import { monitorBinary } from '../../native/binary';
import { launchMonitor, MonitorGone, MonitorRefused, MonitorRun, monitorOomScoreAdj } from './monitor';
import { defaultMountPlan, withStorageMounts } from './mount-plan';
import type { ContainerStorage } from '../volumes/mounts';
import { containerIsolation, seccompCacheDir, type ContainerIsolation } from './security';
import type { ContainerRecords } from './records';
import { RestartManager } from './restart';
import { parseSignal } from './signals';
import { checkRestartPolicy, resolveSpec, updatedResources } from './spec';
import { top, type TopResult } from './top';

const NEVER = '0001-01-01T00:00:00Z';
const START_TIMEOUT_MS = 15_000;
const SIGKILL = 9;

export interface ContainerHooks {
  /** At create, once the spec is resolved and before the record is kept: may refuse it (throw)
   *  or complete it (its network part: network ids, a shared namespace's hostname). */
  create?(c: ContainerRecord): void;
  /** Before the monitor starts: what the start takes (addresses, ports); a throw fails the start
   *  with its error as it is. `joinNetns`: a network namespace to join instead of a new one. */
  launch?(c: ContainerRecord): Promise<{ joinNetns?: string } | void>;
  /** After the init exists (host pid known), before it mounts and execs: network wiring goes here.
   *  It may rewrite the files in ctx.dir (hosts, resolv.conf, hostname). */
  prestart?(c: ContainerRecord, ctx: { pid: number; dir: string }): Promise<void>;
  /** After the container stopped, also when noticed only by a later agent, and after a start that failed. */
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

const isNever = (t: string) => t.startsWith('0001-01-01');

export class ContainerLifecycle {
  /** Called as a container is removed, before its directory goes (the engine keeps its log from it). */
  onRemoving?: (rec: ContainerRecord) => void;
  /** Starts under way: a remove waits for one (or refuses without force) so it cannot be undone by it. */
  private readonly starting = new Map<string, Promise<void>>();
  private readonly removing = new Map<string, Promise<void>>();
  /** Restart managers, per container, from a user's start until the next one. */
  private readonly restarts = new Map<string, RestartManager>();
  /** Exits being recorded: the state says exited before the groups are gone and the hooks ran. */
  private readonly ending = new Map<string, Promise<void>>();
  /** Containers in a `docker restart`: their stop must not auto-remove them. */
  private readonly manualRestart = new Set<string>();
  private readonly waiters = new Waiters();
  private readonly exits = new ExitWatch((id, run) => {
    this.onExit(id, run).catch((e) => console.error(`berth: exit of ${id.slice(0, 12)}:`, e));
  });
  private readonly health: HealthMonitors;
  private closed = false;

  constructor(
    private readonly records: ContainerRecords,
    private readonly images: ImageStore,
    private readonly cgroups: Cgroups,
    private readonly emit: (e: ContainerEvent) => void,
    private readonly hooks: ContainerHooks = {},
    /** Binds and volumes; without it a spec that asks for any is refused at create. */
    private readonly storage?: ContainerStorage,
    /** The agent's root (its binds get slave propagation, as dockerd's root does). */
    private readonly agentRoot = '',
  ) {
    this.health = new HealthMonitors({
      probe: (id, h, timeoutMs) => this.probe(id, h, timeoutMs),
      current: (id) => {
        const rec = this.records.get(id);
        if (!rec || rec.state.status !== 'running' || !rec.spec.health || !rec.state.health) return undefined;
        return { health: rec.spec.health, state: rec.state.health, startedAtMs: Date.parse(rec.state.startedAt) };
      },
      update: (id, state, statusChanged) => {
        const rec = this.records.get(id);
        if (!rec) return;
        rec.state.health = state;
        // Like dockerd, a probe's result alone is kept in memory; a new status is written down.
        if (!statusChanged) return;
        this.records.save(rec).catch((e) => console.error(`berth: health of ${id.slice(0, 12)}:`, e));
        this.emit({ action: 'health_status', id, health: state.status });
      },
      now: nowRfc3339Nano,
    });
  }

  private manager(id: string): RestartManager {
    let rm = this.restarts.get(id);
    if (!rm) this.restarts.set(id, (rm = new RestartManager()));
    return rm;
  }

  /** A user's start (or the agent's, at boot): a fresh restart manager, no manual stop, no restarts counted. */
  private resetRestarts(rec: ContainerRecord): void {
    this.restarts.get(rec.id)?.cancel();
    this.restarts.delete(rec.id);
    rec.restartCount = 0;
    rec.manuallyStopped = false;
  }

  /**
   * Reconciles the loaded records with what the monitors left behind while no agent watched,
   * then starts what the restart policies say should run, as dockerd does when it starts:
   * after a reboot (every monitor gone) that brings back always and unless-stopped
   * containers, and on-failure ones whose last run failed.
   */
  async reconcile(): Promise<void> {
    const toStart: ContainerRecord[] = [];
    for (const rec of this.records.all()) {
      if (rec.state.status === 'removing') {
        await this.finishRemove(rec);
        continue;
      }
      if (rec.state.status === 'restarting') {
        // An agent stopped during the back-off: the run had ended, the restart had not begun.
        rec.state = { ...rec.state, status: 'exited', running: false, paused: false, pid: 0 };
        await this.records.save(rec);
      } else if (rec.state.running) {
        const run = new MonitorRun(this.records.runDir(rec.id));
        if (run.exit() || !run.monitorAlive()) await this.endRun(rec, run, { atBoot: true });
        else {
          this.exits.watch(rec.id, run);
          await this.restoreRunning(rec);
        }
      } else await this.endUnrecordedStart(rec);
      if (!rec.state.running && !isNever(rec.state.startedAt) && this.shouldRestartAtBoot(rec)) toStart.push(rec);
    }
    for (const rec of toStart) {
      // The agent answers while these come up; a failure is the container's, as any start's.
      this.start(rec.id).catch((e) => console.error(`berth: restart of ${rec.id.slice(0, 12)} at agent start:`, (e as Error).message));
    }
  }

  /**
   * An agent that died during a start (the monitor launched, the record not yet saved as
   * running) left a run nobody answered for: it ends here, as a start that failed would, so no
   * container runs unseen and its cgroups can go.
   */
  private async endUnrecordedStart(rec: ContainerRecord): Promise<void> {
    const run = new MonitorRun(this.records.runDir(rec.id));
    if (run.exit() || !run.monitorAlive()) return;
    console.log(`berth: container ${rec.id.slice(0, 12)} was being started when the last agent stopped; ending that start`);
    await run.kill(SIGKILL).catch(() => {});
    await run.until(() => (run.exit() || !run.monitorAlive() ? true : undefined), 10_000, 'the interrupted start to end').catch((e: Error) => console.error(`berth: ${rec.id.slice(0, 12)}: ${e.message}`));
    await this.removeCgroups(rec.id);
    if (run.execed()) {
      rec.state = { ...rec.state, status: 'exited', exitCode: run.exit()?.code ?? 137, finishedAt: run.exit()?.finishedAt ?? nowRfc3339Nano(), error: 'the agent stopped while the container was starting' };
      await this.records.save(rec);
    }
  }

  private shouldRestartAtBoot(rec: ContainerRecord): boolean {
    const ranMs = Date.parse(rec.state.finishedAt) - Date.parse(rec.state.startedAt);
    return new RestartManager().decide(rec.spec.restart, {
      exitCode: rec.state.exitCode,
      manuallyStopped: rec.manuallyStopped ?? false,
      ranMs: Number.isFinite(ranMs) ? ranMs : 0,
      restartCount: rec.restartCount,
    }).restart;
  }

  /** A container found running by a new agent: its paused state as the cgroup says, its healthcheck probing again. */
  private async restoreRunning(rec: ContainerRecord): Promise<void> {
    const frozen = await this.cgroups.frozen(rec.id).catch(() => false);
    if (frozen !== rec.state.paused) {
      rec.state = { ...rec.state, paused: frozen, status: frozen ? 'paused' : 'running' };
      await this.records.save(rec);
    }
    if (!frozen) this.startHealth(rec, { reset: true });
  }

  async create(spec: ContainerSpec): Promise<ContainerRecord> {
    const img = this.images.get(spec.image);
    if (!img) throw notFound(`No such image: ${spec.image}`);
    const id = randomBytes(32).toString('hex');
    // Resolved before the name is claimed: a refused spec leaves nothing behind.
    const resolved = resolveSpec(id, spec, img.config, this.agentRoot);
    if (!this.storage && (resolved.storage.mounts.length || resolved.storage.volumesFrom.length)) throw badRequest('this engine has no volume store');
    const name = this.records.chooseName(spec.name);
    const dir = this.records.dir(id);
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
      manuallyStopped: false,
      // As Docker's: no log file (and no LogPath) with the none driver.
      logPath: resolved.log?.driver === 'none' ? '' : join(dir, `${id}-json.log`),
    };
    this.hooks.create?.(rec);
    // Claim the name before the first await so two concurrent creates cannot both get it.
    this.records.add(rec);
    try {
      for (const sub of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, sub), { recursive: true });
      if (rec.logPath) writeFileSync(rec.logPath, '', { flag: 'a', mode: 0o640 });
      if (this.storage) rec.spec.storage = await this.storage.prepare(rec, dir);
      await this.records.save(rec);
    } catch (e) {
      await this.records.delete(id);
      // What prepare() made for it (anonymous volumes) goes with it.
      await this.storage?.removed(rec, true).catch(() => {});
      throw e;
    }
    this.emit({ action: 'create', id });
    return structuredClone(rec);
  }

  /** A user's start. A running (or restarting) container is left as it is. */
  async start(idOrName: string): Promise<void> {
    const rec = this.records.resolve(idOrName);
    if (rec.state.paused) throw conflict('cannot start a paused container, try unpause instead');
    if (rec.state.running) return;
    if (rec.state.status === 'removing') throw conflict(`container ${rec.id} is marked for removal and cannot be started`);
    if (this.starting.has(rec.id)) throw conflict(`container ${rec.id} is already being started`);
    this.resetRestarts(rec);
    return this.track(rec, this.doStart(rec));
  }

  private track(rec: ContainerRecord, p: Promise<void>): Promise<void> {
    const tracked = p.finally(() => this.starting.delete(rec.id));
    this.starting.set(rec.id, tracked);
    return tracked;
  }

  /** The restart policy's start, when the back-off is over. A start that fails ends the restarts, as in Docker. */
  private autoStart(id: string): void {
    const rec = this.records.get(id);
    if (!rec || rec.state.status !== 'restarting' || this.closed || this.starting.has(id)) return;
    this.track(rec, this.doStart(rec)).catch(async (e) => {
      console.error(`berth: restart of ${id.slice(0, 12)} failed: ${(e as Error).message}`);
      if (rec.state.status === 'restarting') await this.endRestarting(rec, (e as Error).message);
    });
  }

  /** A container waiting for its restart that will not get it: exited, with the last run's code. */
  private async endRestarting(rec: ContainerRecord, error = ''): Promise<void> {
    rec.state = { ...rec.state, status: 'exited', running: false, paused: false, pid: 0, error: error || rec.state.error };
    await this.records.save(rec);
    this.waiters.settle(rec.id, ['not-running', 'next-exit'], rec.state.exitCode);
  }

  private async doStart(rec: ContainerRecord): Promise<void> {
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    const dir = this.records.dir(rec.id);
    let layers = this.images.layerDirs(img);
    if (!layers.length) {
      // overlay needs at least one lower dir; an image without layers gets an empty one.
      mkdirSync(join(dir, 'empty'), { recursive: true });
      layers = [join(dir, 'empty')];
    }
    const overlay = overlayOptions([...layers].reverse(), join(dir, 'upper'), join(dir, 'work'), this.records.runDir(rec.id));
    // The small files of a start are written in line: each trip through libuv's thread pool
    // costs more than the write itself, and more still on a busy machine.
    for (const sub of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, sub), { recursive: true });

    const { process: proc, resources: res, network } = rec.spec;
    const ownNetns = network.mode !== 'host';
    let hostResolv = '';
    try {
      hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      // No host resolvers: the container gets the defaults resolvConf() gives.
    }
    writeFileSync(join(dir, 'hostname'), network.hostname + '\n');
    writeFileSync(join(dir, 'hosts'), hostsFile(network.hostname));
    writeFileSync(join(dir, 'resolv.conf'), resolvConf(hostResolv, ownNetns));

    // A device that is gone or a profile this host cannot take fails the start, through fail() below.
    let iso: ContainerIsolation | Error;
    try {
      iso = containerIsolation(rec.spec, this.cgroups.confinesDevices, {
        initBinary: rec.spec.process.init ? monitorBinary() : undefined,
        seccompCacheDir: seccompCacheDir(this.records.store.dir),
      });
    } catch (e) {
      iso = e as Error;
    }
    let cgroupDirs: string[];
    let monitorCgroups: string[];
    try {
      cgroupDirs = await this.cgroups.create(rec.id, res, { ioPath: dir, devices: iso instanceof Error ? undefined : iso.devices });
      monitorCgroups = await this.cgroups.createMonitor(rec.id);
    } catch (e) {
      await this.removeCgroups(rec.id);
      throw new EngineError(500, (e as Error).message);
    }
    const env = [...proc.env];
    if (!env.some((e) => e.startsWith('HOSTNAME='))) env.push(`HOSTNAME=${network.hostname}`);
    if (proc.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm'); // as Docker gives a TTY

    let run: MonitorRun | undefined;
    const fail = async (msg: string, exitCode: number, httpStatus?: EngineError['status']): Promise<never> => {
      // Once a monitor ran, the container has run and failed: it shows as exited, like Docker's.
      const finishedAt = run ? (run.exit()?.finishedAt ?? nowRfc3339Nano()) : rec.state.finishedAt;
      const status = run ? 'exited' : rec.state.status;
      rec.state = { ...rec.state, status, running: status === 'restarting', pid: 0, exitCode, error: msg, finishedAt };
      await this.records.save(rec);
      await this.removeCgroups(rec.id);
      await this.hooks.poststop?.(structuredClone(rec)).catch((e) => console.error('berth: poststop:', e));
      await this.storage?.stopped(rec);
      if (run) {
        // Attached clients and waiters learn of it as of any other end.
        this.emit({ action: 'die', id: rec.id, exitCode, execDurationSec: 0 });
        this.waiters.settle(rec.id, ['not-running', 'next-exit'], exitCode);
      }
      // --rm removes a container whose start failed, however early (the CLI waits for the
      // removal); remove() waits for this start to be over.
      if (rec.spec.restart.autoRemove) void this.remove(rec.id, { force: true, volumes: true }).catch(() => {});
      throw new EngineError(httpStatus ?? (exitCode === 127 || exitCode === 126 ? 400 : 500), msg);
    };

    if (iso instanceof Error) return fail(iso.message, 128);
    let launch: { joinNetns?: string } | void;
    try {
      launch = await this.hooks.launch?.(structuredClone(rec));
    } catch (e) {
      return fail((e as Error).message, 128, e instanceof EngineError ? e.status : undefined);
    }
    let userMounts: Awaited<ReturnType<ContainerStorage['startMounts']>> = [];
    try {
      userMounts = (await this.storage?.startMounts(rec)) ?? [];
    } catch (e) {
      return fail((e as Error).message, 128);
    }
    const basePlan = defaultMountPlan({ hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') }, iso.plan);
    try {
      run = await launchMonitor(this.records.runDir(rec.id), {
        rootfs: join(dir, 'rootfs'),
        overlay,
        hostname: iso.monitor.utsHost ? undefined : network.hostname,
        user: proc.user,
        cwd: proc.workingDir || '/',
        log: rec.logPath || undefined,
        logMaxSize: rec.spec.log?.maxSize,
        logMaxFile: rec.spec.log?.maxFile,
        newNetns: ownNetns && !launch?.joinNetns,
        joinNetns: launch?.joinNetns,
        env,
        argv: [...iso.argvPrefix, ...proc.entrypoint, ...proc.cmd],
        cgroups: cgroupDirs,
        monitorCgroups,
        caps: iso.caps,
        oomScoreAdj: 0,
        monitorOomScoreAdj: monitorOomScoreAdj(),
        plan: withStorageMounts(basePlan, userMounts, Object.keys(rec.spec.filesystem.tmpfs)),
        security: iso.monitor,
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
      health: rec.state.health,
    };
    this.startHealth(rec, { reset: true });
    await this.records.save(rec);
    this.emit({ action: 'start', id: rec.id });
    this.exits.watch(rec.id, r);
  }

  /** Probing starts (again); with reset, from "starting" with no failures, the log kept (initHealthMonitor). */
  private startHealth(rec: ContainerRecord, opts: { reset: boolean }): void {
    if (!rec.spec.health || this.closed) return;
    if (opts.reset || !rec.state.health) rec.state.health = { status: 'starting', failingStreak: 0, log: rec.state.health?.log ?? [] };
    this.health.start(rec.id);
  }

  /** One healthcheck probe: an exec of the check's command, with Docker's exec events. */
  private probe(id: string, h: ResolvedHealth, timeoutMs: number): ProbeRun {
    const execId = randomBytes(32).toString('hex');
    const cmd = probeCommand(h);
    const command = cmd.join(' ');
    this.emit({ action: 'exec_create', id, execId, command });
    let p: ReturnType<typeof execIn>;
    try {
      p = execIn(this.records, this.cgroups, id, { cmd });
    } catch (e) {
      return { done: Promise.resolve({ exitCode: -1, output: (e as Error).message }), abort: () => {} };
    }
    this.emit({ action: 'exec_start', id, execId, command });
    const out = new LimitedOutput();
    p.stdout.on('data', (b: Buffer) => out.write(b));
    p.stderr.on('data', (b: Buffer) => out.write(b));
    p.stdin.end();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killExec(p);
    }, timeoutMs);
    timer.unref();
    const done = new Promise<{ exitCode: number; output: string }>((resolve) => {
      p.once('error', (e) => {
        clearTimeout(timer);
        resolve({ exitCode: -1, output: e.message });
      });
      p.once('close', (code, sig) => {
        clearTimeout(timer);
        const exitCode = code ?? 128 + (sig === 'SIGKILL' ? SIGKILL : 15);
        this.emit({ action: 'exec_die', id, execId, exitCode });
        if (!timedOut) return resolve({ exitCode, output: out.toString() });
        const o = out.toString();
        const limit = goDuration(timeoutMs);
        resolve({ exitCode: -1, output: o ? `Health check exceeded timeout (${limit}): ${o}` : `Health check exceeded timeout (${limit})` });
      });
    });
    return { done, abort: () => killExec(p) };
  }

  private async onExit(id: string, run: MonitorRun): Promise<void> {
    const rec = this.records.get(id);
    // The watch and a failed signal may both notice the same end.
    if (!rec || !rec.state.running || rec.state.status === 'restarting' || this.ending.has(id)) return;
    await this.endRun(rec, run, { atBoot: false });
  }

  /** The init has exited (or its monitor is gone): record it, then restart, remove or leave it as the policy says. */
  private endRun(rec: ContainerRecord, run: MonitorRun, opts: { atBoot: boolean }): Promise<void> {
    const p = this.recordEnd(rec, run, opts).finally(() => {
      if (this.ending.get(rec.id) === p) this.ending.delete(rec.id);
    });
    this.ending.set(rec.id, p);
    return p;
  }

  private async recordEnd(rec: ContainerRecord, run: MonitorRun, opts: { atBoot: boolean }): Promise<void> {
    const id = rec.id;
    this.health.stop(id);
    const exit = run.exit();
    const oom = await this.cgroups.oomKilled(id);
    const exitCode = exit ? exit.code : 255;
    const finishedAt = exit?.finishedAt ?? nowRfc3339Nano();
    const ranMs = Math.max(0, Date.parse(finishedAt) - Date.parse(rec.state.startedAt)) || 0;
    // At boot dockerd starts what should run itself, without the back-off (reconcile).
    const decision = opts.atBoot
      ? { restart: false as const }
      : this.manager(id).decide(rec.spec.restart, { exitCode, manuallyStopped: rec.manuallyStopped ?? false, ranMs, restartCount: rec.restartCount });
    if (decision.restart) rec.restartCount++;
    rec.state = {
      status: decision.restart ? 'restarting' : 'exited',
      // Docker counts a container waiting for its restart as running: stop, kill and rm treat it so.
      running: decision.restart,
      paused: false,
      pid: 0,
      exitCode,
      startedAt: rec.state.startedAt,
      finishedAt,
      error: exit ? '' : 'the container monitor exited without recording an exit code',
      oomKilled: oom,
      health: rec.state.health,
    };
    // A full disk must not leave the end half handled (cgroups kept, waiters hanging): the
    // monitor's exit file holds the code, and the next agent start records it from there.
    await this.records.save(rec).catch((e: Error) => console.error(`berth: ${id.slice(0, 12)}: cannot record its exit (${e.message}); the next agent start records it from the monitor's exit file`));
    await this.removeCgroups(id);
    await this.storage?.stopped(rec);
    await this.hooks.poststop?.(structuredClone(rec)).catch((e) => console.error('berth: poststop:', e));
    this.emit({ action: 'die', id, exitCode, execDurationSec: Math.floor(ranMs / 1000) });
    this.waiters.settle(id, ['not-running', 'next-exit'], exitCode);
    if (decision.restart) this.manager(id).schedule(decision.delayMs, () => this.autoStart(id));
    else if (rec.spec.restart.autoRemove && !this.closed && !this.manualRestart.has(id)) await this.remove(id, { force: true, volumes: true }).catch(() => {});
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

  private stopSignal(rec: ContainerRecord): string | undefined {
    // Records from before --stop-signal have the image's only.
    return rec.spec.process.stopSignal || this.images.get(rec.imageId)?.config.StopSignal || undefined;
  }

  /**
   * A user's signal (moby's killWithSignal): a manual stop from now on; SIGKILL, the stop
   * signal, or any signal when the image names none, also ends the restart policy's say and
   * thaws a paused container so the signal lands. A container waiting to restart just stays down.
   */
  private async userSignal(rec: ContainerRecord, sig: number): Promise<string | undefined> {
    // A policy restart under way finishes first; then the signal is for the new run.
    const restarting = this.starting.get(rec.id);
    if (restarting && rec.state.status === 'restarting') await restarting.catch(() => {});
    const own = this.stopSignal(rec);
    const exitOnNext = sig === SIGKILL || own === undefined || parseSignal(own) === sig;
    if (exitOnNext) this.manager(rec.id).cancel();
    rec.manuallyStopped = true;
    await this.records.save(rec);
    if (rec.state.status === 'restarting') {
      if (exitOnNext) await this.endRestarting(rec);
      return;
    }
    const notSent = await this.signal(rec, sig);
    if (notSent) return notSent;
    if (exitOnNext && rec.state.paused) {
      await this.cgroups.thaw(rec.id).catch((e) => console.error(`berth: thaw ${rec.id.slice(0, 12)}:`, (e as Error).message));
      if (rec.state.running) {
        rec.state = { ...rec.state, paused: false, status: 'running' };
        await this.records.save(rec);
      }
    }
    this.emit({ action: 'kill', id: rec.id, signal: sig });
  }

  private exited(rec: ContainerRecord, ms: number): Promise<boolean> {
    // Stopped means cleaned up too: a caller may look for the groups next.
    if (!rec.state.running) return (this.ending.get(rec.id) ?? Promise.resolve()).then(() => true, () => true);
    const done = this.wait(rec.id, 'not-running').then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    return Promise.race([done, timeout]);
  }

  private async killAndWait(rec: ContainerRecord): Promise<void> {
    await this.userSignal(rec, SIGKILL);
    // A container that was waiting to restart is settled by userSignal already.
    if (!(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
  }

  async stop(idOrName: string, timeoutSec?: number): Promise<void> {
    const rec = this.records.resolve(idOrName);
    // Its process may be printing already while the start is still being recorded.
    await this.starting.get(rec.id)?.catch(() => {});
    if (!rec.state.running) return;
    // The container's --stop-signal (the image's STOPSIGNAL, copied at create); its --stop-timeout unless the caller gave one.
    const t = timeoutSec ?? rec.spec.process.stopTimeout ?? 10;
    await this.userSignal(rec, parseSignal(this.stopSignal(rec) ?? 'SIGTERM'));
    if (!rec.state.running) {
      // It was waiting to restart: the stop is just that it will not.
    } else if (t < 0) await this.wait(rec.id, 'not-running');
    else if (!(await this.exited(rec, t * 1000))) await this.killAndWait(rec);
    this.emit({ action: 'stop', id: rec.id });
  }

  /** `docker restart`: stop (a manual stop, so no policy restart in between), then a user's start. */
  async restart(idOrName: string, timeoutSec?: number): Promise<void> {
    const rec = this.records.resolve(idOrName);
    this.manualRestart.add(rec.id);
    try {
      if (rec.state.running) await this.stop(rec.id, timeoutSec);
    } finally {
      this.manualRestart.delete(rec.id);
    }
    await this.start(rec.id);
    this.emit({ action: 'restart', id: rec.id });
  }

  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const rec = this.records.resolve(idOrName);
    const sig = parseSignal(signal);
    // A start under way first: its process may print (and be seen) before the agent has
    // recorded it as running, and Docker's kill waits for a start the same way.
    await this.starting.get(rec.id)?.catch(() => {});
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    // The record may say running while the monitor knows better: its word is the one that counts.
    const notSent = await this.userSignal(rec, sig);
    if (notSent) throw conflict(`Container ${rec.id} is not running: ${notSent}`);
    if (sig === SIGKILL && !(await this.exited(rec, 15_000))) throw new EngineError(500, `container ${rec.id} did not exit after SIGKILL`);
  }

  private checkLive(rec: ContainerRecord, what: string): void {
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    if (rec.state.status === 'restarting') throw conflict(`Container ${rec.id} is restarting, wait until the container is running`);
    if (this.starting.has(rec.id)) throw conflict(`Container ${rec.id} is starting, wait until it is running to ${what} it`);
  }

  async pause(idOrName: string): Promise<void> {
    const rec = this.records.resolve(idOrName);
    if (rec.state.paused) throw conflict(`Container ${rec.id} is already paused`);
    this.checkLive(rec, 'pause');
    try {
      await this.cgroups.freeze(rec.id);
    } catch (e) {
      throw new EngineError(500, `Cannot pause container ${rec.id}: ${(e as Error).message}`);
    }
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    this.health.stop(rec.id);
    rec.state = { ...rec.state, paused: true, status: 'paused' };
    await this.records.save(rec);
    this.emit({ action: 'pause', id: rec.id });
  }

  async unpause(idOrName: string): Promise<void> {
    const rec = this.records.resolve(idOrName);
    if (!rec.state.paused) throw conflict(`Container ${rec.id} is not paused`);
    try {
      await this.cgroups.thaw(rec.id);
    } catch (e) {
      throw new EngineError(500, `Cannot unpause container ${rec.id}: ${(e as Error).message}`);
    }
    if (!rec.state.running) return;
    rec.state = { ...rec.state, paused: false, status: 'running' };
    // Probing goes on where it was: pausing does not make a container healthy or unhealthy.
    this.startHealth(rec, { reset: false });
    await this.records.save(rec);
    this.emit({ action: 'unpause', id: rec.id });
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const rec = this.records.resolve(idOrName);
    const oldName = this.records.rename(rec, newName);
    try {
      await this.records.save(rec);
    } catch (e) {
      rec.name = oldName;
      throw e;
    }
    this.emit({ action: 'rename', id: rec.id, oldName });
  }

  async update(idOrName: string, u: UpdateOptions): Promise<{ warnings: string[] }> {
    const rec = this.records.resolve(idOrName);
    const cannot = (msg: string) => `Cannot update container ${rec.id}: ${msg}`;
    if (rec.state.status === 'removing') throw conflict(cannot('container is marked for removal and cannot be "update"'));
    let restart = rec.spec.restart;
    if (u.restart) {
      const maxRetries = u.restart.maxRetries ?? 0;
      checkRestartPolicy(u.restart.policy, maxRetries, false);
      if (rec.spec.restart.autoRemove && u.restart.policy !== 'no') throw badRequest(cannot('Restart policy cannot be updated because AutoRemove is enabled for the container'));
      restart = { ...restart, policy: u.restart.policy, maxRetries };
    }
    const resources = u.resources ? updatedResources(rec.spec.resources, u.resources) : rec.spec.resources;
    // A live container's groups change now; a stopped one gets them at its next start.
    const live = rec.state.running && rec.state.status !== 'restarting' && !new MonitorRun(this.records.runDir(rec.id)).exit();
    if (live && u.resources) {
      const changed: Partial<typeof resources> = {};
      for (const k of Object.keys(resources) as Array<keyof typeof resources>) if (resources[k] !== rec.spec.resources[k]) changed[k] = resources[k];
      try {
        await this.cgroups.update(rec.id, changed);
      } catch (e) {
        // Some files may have been written: put back what the record says.
        await this.cgroups.update(rec.id, rec.spec.resources).catch(() => {});
        throw new EngineError(500, cannot((e as Error).message));
      }
    }
    rec.spec = { ...rec.spec, resources, restart };
    await this.records.save(rec);
    this.emit({ action: 'update', id: rec.id });
    return { warnings: [] };
  }

  async top(idOrName: string, psArgs?: string): Promise<TopResult> {
    const rec = this.records.resolve(idOrName);
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    if (rec.state.status === 'restarting') throw conflict(`Container ${rec.id} is restarting, wait until the container is running`);
    const result = await top(await this.cgroups.pids(rec.id), psArgs);
    this.emit({ action: 'top', id: rec.id });
    return result;
  }

  /** `volumes`: its anonymous volumes go too (`docker rm -v`, and `--rm`). */
  async remove(idOrName: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
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
      if (!opts.force) {
        const what = rec.state.paused ? 'paused' : rec.state.status === 'restarting' ? 'restarting' : 'running';
        throw conflict(`You cannot remove a ${what} container ${rec.id}. Stop the container before attempting removal or force remove`);
      }
      await this.killAndWait(rec);
      // autoRemove may have started removing it as it died.
      const again = this.removing.get(rec.id);
      if (again) return again;
      if (!this.records.get(rec.id)) return;
    }
    const p = (async () => {
      rec.state = { ...rec.state, status: 'removing' };
      await this.records.save(rec);
      await this.finishRemove(rec, opts.volumes ?? false);
    })().finally(() => this.removing.delete(rec.id));
    this.removing.set(rec.id, p);
    return p;
  }

  private async finishRemove(rec: ContainerRecord, removeVolumes = false): Promise<void> {
    this.exits.unwatch(rec.id);
    this.health.stop(rec.id);
    this.restarts.get(rec.id)?.cancel();
    this.restarts.delete(rec.id);
    await this.removeCgroups(rec.id);
    // The rootfs lives in the container's own mount namespace; a host-side mount (build, cp) may not.
    await unmountOverlay(join(this.records.dir(rec.id), 'rootfs')).catch(() => {});
    this.onRemoving?.(rec);
    await this.records.delete(rec.id);
    await this.storage?.removed(rec, removeVolumes);
    this.emit({ action: 'destroy', id: rec.id });
    this.waiters.settle(rec.id, ['not-running', 'next-exit', 'removed'], rec.state.exitCode);
  }

  /** Stops watching. Containers waiting to restart stay so on disk; the next agent starts them. */
  close(): void {
    this.closed = true;
    this.exits.close();
    this.health.close();
    for (const rm of this.restarts.values()) rm.cancel();
    this.restarts.clear();
  }
}

/** A health state as `docker inspect` shows it is the record's; this only names the type for callers. */
export type { HealthState };

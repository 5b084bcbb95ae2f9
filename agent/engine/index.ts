// The engine facade both faces (Docker API, control-plane link) call, and nothing else.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { DOCKER_API_VERSION } from '../../protocol/docker-api';
import { openCgroups, type Cgroups } from './cgroups';
import { checkSpec, ContainerLifecycle, ContainerRecords, execIn, type ContainerHooks } from './containers';
import { ExecSessions } from './containers/exec-sessions';
import { exportFilesystem } from './containers/export';
import { MonitorGone, MonitorRefused, MonitorRun } from './containers/monitor';
import { ContainerStdioRegistry } from './containers/stdio';
import { conflict, EngineError, notFound } from './errors';
import { importImage, type ImportOptions } from './images/import';
import { readLogBatches, readLogs, type LogSource } from './logs';
import { prepareRoot } from './root';
import type {
  AttachOptions,
  ExecCreateOptions,
  ExecInfo,
  ExecStartOptions,
  StdioSession,
  TtySize,
  ContainerRecord,
  ContainerEvent,
  ContainerSpec,
  ContainerStats,
  Engine,
  EngineEvents,
  ExecOptions,
  HostInfo,
  ImageEvent,
  ImageRecord,
  ImageStore,
  LogEntry,
  LogOptions,
  PullOptions,
  WaitCondition,
} from './types';

export const ENGINE_VERSION = '0.1.0';

export interface OpenEngineOptions {
  root: string;
  /** An image store to use instead of ROOT/images (tests; embedding). */
  images?: ImageStore;
  /** Cgroup parent under each hierarchy; default cgroupParentFor(root). */
  cgroupParent?: string;
  /** Where the cgroup hierarchies are mounted; default /sys/fs/cgroup. */
  cgroupRoot?: string;
  hooks?: ContainerHooks;
}

/** The facade plus what tests look at from outside: where a container lives, its cgroups, the image store. */
export interface BerthEngine extends Engine {
  readonly cgroups: Cgroups;
  readonly images: ImageStore;
  containerDir(id: string): string;
}

class EngineImpl extends EventEmitter<EngineEvents> implements BerthEngine {
  // Image changes are noticed where they happen, in the store, so a pull through the Docker
  // API and one through the link (or build, commit, load) look the same to listeners.
  private readonly onImage = (e: ImageEvent) => this.emit('image', e);
  private readonly records: ContainerRecords;
  private readonly lifecycle: ContainerLifecycle;
  /** Exports under way, per container id. */
  private readonly exporting = new Map<string, number>();
  private readonly stdio: ContainerStdioRegistry;
  private readonly execs: ExecSessions;

  constructor(
    readonly root: string,
    readonly images: ImageStore,
    readonly cgroups: Cgroups,
    hooks: ContainerHooks | undefined,
  ) {
    super();
    this.records = new ContainerRecords(root);
    const emit = (e: ContainerEvent) => this.emit('container', e);
    this.stdio = new ContainerStdioRegistry((id) => this.records.runDir(id), (action, id) => emit({ action, id }));
    this.execs = new ExecSessions(this.records, cgroups, emit);
    // Clients attached before a start connect while the init waits, after the network is wired.
    const withStdio: ContainerHooks = {
      ...hooks,
      prestart: async (c, ctx) => {
        await hooks?.prestart?.(c, ctx);
        await this.stdio.ready(c.id);
      },
    };
    this.lifecycle = new ContainerLifecycle(this.records, images, cgroups, emit, withStdio);
    this.on('container', (e) => {
      if (e.action === 'die') this.stdio.ended(e.id);
      else if (e.action === 'destroy') {
        this.stdio.removed(e.id);
        this.execs.forget(e.id);
      }
    });
    images.on('image', this.onImage);
  }

  async load(): Promise<void> {
    await this.records.load();
    await this.lifecycle.reconcile();
  }

  async info(): Promise<HostInfo> {
    const all = this.records.all();
    const running = all.filter((c) => c.state.running && !c.state.paused).length;
    const paused = all.filter((c) => c.state.paused).length;
    return {
      hostname: os.hostname(),
      kernel: os.release(),
      os: await osName(),
      arch: os.arch(),
      cpus: os.cpus().length,
      memTotal: os.totalmem(),
      engineVersion: ENGINE_VERSION,
      apiVersion: DOCKER_API_VERSION,
      cgroupVersion: this.cgroups.version,
      root: this.root,
      containers: { total: all.length, running, paused, stopped: all.length - running - paused },
      images: this.images.list().length,
    };
  }

  // --- images

  pullImage(ref: string, opts?: PullOptions): Promise<ImageRecord> {
    return this.images.pull(ref, opts);
  }
  listImages(): ImageRecord[] {
    return this.images.list();
  }
  findImage(refOrId: string): ImageRecord | undefined {
    return this.images.get(refOrId);
  }
  inspectImage(refOrId: string): ImageRecord {
    const img = this.images.get(refOrId);
    if (!img) throw notFound(`No such image: ${refOrId}`);
    return img;
  }
  imageLayerDirs(image: ImageRecord): string[] {
    return this.images.layerDirs(image);
  }
  imageInUse(imageId: string): boolean {
    return this.records.all().some((c) => c.imageId === imageId);
  }
  removeImage(refOrId: string, opts: { force?: boolean } = {}): Array<{ Untagged?: string; Deleted?: string }> {
    return this.images.remove(refOrId, { force: opts.force, inUse: (id) => this.imageInUse(id) });
  }
  tagImage(source: string, target: string): string {
    return this.images.tag(source, target);
  }
  importImage(tar: AsyncIterable<Buffer | Uint8Array>, opts?: ImportOptions): Promise<ImageRecord> {
    return importImage(this.images, tar, opts);
  }

  // --- containers

  async createContainer(raw: ContainerSpec, opts: { pull?: 'missing' | 'never'; pullOptions?: PullOptions } = {}): Promise<ContainerRecord> {
    // Callers are the faces, but the link's spec came over the network: check it whole here.
    const spec = checkSpec(raw);
    if (opts.pull === 'missing' && !this.images.get(spec.image)) await this.images.pull(spec.image, opts.pullOptions);
    return this.lifecycle.create(spec);
  }
  start(idOrName: string): Promise<void> {
    return this.lifecycle.start(idOrName);
  }
  stop(idOrName: string, timeoutSec?: number): Promise<void> {
    return this.lifecycle.stop(idOrName, timeoutSec);
  }
  async restart(idOrName: string, timeoutSec?: number): Promise<void> {
    const id = this.records.resolve(idOrName).id;
    await this.lifecycle.stop(id, timeoutSec);
    await this.lifecycle.start(id);
  }
  kill(idOrName: string, signal?: string): Promise<void> {
    return this.lifecycle.kill(idOrName, signal);
  }
  remove(idOrName: string, opts?: { force?: boolean }): Promise<void> {
    const rec = this.records.resolve(idOrName);
    // Its directory holds the export's mount: removing it now would pull the view out from under the reader.
    if (this.exporting.has(rec.id)) throw conflict(`You cannot remove container ${rec.id} while it is being exported`);
    return this.lifecycle.remove(rec.id, opts);
  }
  async *exportContainer(idOrName: string): AsyncGenerator<Buffer> {
    const rec = this.records.resolve(idOrName);
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    this.exporting.set(rec.id, (this.exporting.get(rec.id) ?? 0) + 1);
    try {
      yield* exportFilesystem(this.records.dir(rec.id), this.images.layerDirs(img));
    } finally {
      const n = (this.exporting.get(rec.id) ?? 1) - 1;
      if (n > 0) this.exporting.set(rec.id, n);
      else this.exporting.delete(rec.id);
    }
  }
  list(opts?: { all?: boolean }): ContainerRecord[] {
    return this.records
      .all()
      .filter((r) => opts?.all || r.state.running)
      .sort((a, b) => (a.created < b.created ? 1 : -1))
      .map((r) => structuredClone(r));
  }
  inspect(idOrName: string): ContainerRecord {
    return structuredClone(this.records.resolve(idOrName));
  }
  wait(idOrName: string, condition?: WaitCondition): Promise<{ exitCode: number }> {
    return this.lifecycle.wait(idOrName, condition);
  }
  logs(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry> {
    return readLogs(this.logSource(idOrName), opts);
  }
  logBatches(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry[]> {
    return readLogBatches(this.logSource(idOrName), opts);
  }
  private logSource(idOrName: string): LogSource {
    // Resolve now so an unknown container fails at the call, not at the first next().
    const { id, logPath, spec } = this.records.resolve(idOrName);
    // dockerd's answer for a container whose driver keeps no log it can read.
    if (spec.log?.driver === 'none') throw new EngineError(501, 'configured logging driver does not support reading');
    return {
      path: logPath,
      status: () => this.records.get(id)?.state.status,
      onChange: (listener) => {
        const onEvent = (e: { id: string }) => {
          if (e.id === id) listener();
        };
        this.on('container', onEvent);
        return () => this.off('container', onEvent);
      },
    };
  }
  async stats(idOrName: string): Promise<ContainerStats | undefined> {
    const rec = this.records.resolve(idOrName);
    return rec.state.running ? this.cgroups.stats(rec.id) : undefined;
  }
  exec(idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams {
    return execIn(this.records, this.cgroups, idOrName, opts);
  }
  attach(idOrName: string, opts: AttachOptions): StdioSession {
    return this.stdio.attach(this.records.resolve(idOrName), opts);
  }
  async resize(idOrName: string, size: TtySize): Promise<void> {
    const rec = this.records.resolve(idOrName);
    if (!rec.state.running) throw conflict(`Container ${rec.id} is not running`);
    if (!rec.spec.process.tty) return;
    try {
      await new MonitorRun(this.records.runDir(rec.id)).resize(size);
    } catch (e) {
      if (e instanceof MonitorGone || (e instanceof MonitorRefused && /not running/.test(e.message))) throw conflict(`Container ${rec.id} is not running`);
      throw new EngineError(500, `resize the TTY of ${rec.id}: ${(e as Error).message}`);
    }
  }
  execCreate(idOrName: string, opts: ExecCreateOptions): ExecInfo {
    return this.execs.create(idOrName, opts);
  }
  execStart(execId: string, opts: ExecStartOptions): StdioSession | undefined {
    return this.execs.start(execId, opts);
  }
  execResize(execId: string, size: TtySize): Promise<void> {
    return this.execs.resize(execId, size);
  }
  execInspect(execId: string): ExecInfo {
    return this.execs.inspect(execId);
  }
  execIds(idOrName: string): string[] {
    return this.execs.idsOf(this.records.resolve(idOrName).id);
  }
  containerDir(id: string): string {
    return this.records.dir(id);
  }
  async close(): Promise<void> {
    this.images.off('image', this.onImage);
    this.lifecycle.close();
    this.stdio.close();
    // Running containers keep their groups, and so the parent, until a later agent removes them.
    await this.cgroups.release();
  }
}

// Read once: info() runs for every `docker info` and host snapshot, and the OS does not change under us.
let osNameRead: Promise<string> | undefined;
function osName(): Promise<string> {
  osNameRead ??= readFile('/etc/os-release', 'utf8').then(
    (s) => /^PRETTY_NAME="?([^"\n]*)"?/m.exec(s)?.[1] ?? os.type(),
    () => os.type(),
  );
  return osNameRead;
}

export const DEFAULT_ROOT = '/var/lib/berth';

/** "berth" for the default root, "berth-<hash of the root>" for any other: two agents on one
 *  machine never share a cgroup parent, so each may remove its own when it is empty. */
export function cgroupParentFor(root: string): string {
  const abs = resolve(root);
  return abs === DEFAULT_ROOT ? 'berth' : `berth-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`;
}

export async function openEngine(opts: OpenEngineOptions): Promise<BerthEngine> {
  const root = resolve(opts.root);
  prepareRoot(root);
  await mkdir(join(root, 'containers'), { recursive: true });
  const images = opts.images ?? (await (await import('./images')).openImageStore(join(root, 'images')));
  const cgroups = openCgroups({ parent: opts.cgroupParent ?? cgroupParentFor(root), base: opts.cgroupRoot });
  const engine = new EngineImpl(root, images, cgroups, opts.hooks);
  await engine.load();
  return engine;
}

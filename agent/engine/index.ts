// The engine facade both faces (Docker API, control-plane link) call, and nothing else.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { DOCKER_API_VERSION } from '../../protocol/docker-api';
import { openCgroups, type Cgroups } from './cgroups';
import { checkSpec, ContainerLifecycle, ContainerRecords, execIn, nowRfc3339Nano, type ContainerHooks } from './containers';
import { ContainerArchives, type ContainerArchive, type PathStat, type PutArchiveOptions } from './containers/archive';
import { ExecSessions } from './containers/exec-sessions';
import { netnsCounters, systemCpu } from './containers/host-stats';
import { exportFilesystem } from './containers/export';
import { MonitorGone, MonitorRefused, MonitorRun } from './containers/monitor';
import { ContainerStdioRegistry } from './containers/stdio';
import { conflict, EngineError, notFound } from './errors';
import { importImage, type ImportOptions } from './images/import';
import { applyChanges } from './images/changes';
import { childImage } from './images/commit';
import { commitSkips, containerChanges, type ContainerChange } from './containers/changes';
import { BuildCache } from './build/cache';
import { runBuild } from './build/builder';
import { isMounted, unmountOverlay } from './mounts/overlay';
import type { ImageStoreOptions } from './images/store';
import { readLogBatches, readLogs, type LogSource } from './logs';
import { readPage, type PageRequest } from './logs/history';
import { KeptLogs } from './logs/kept';
import { prewarmSearch, runSearch, type SearchHit, type SearchOutcome } from './logs/search';
import { LOG_SEARCH_DEFAULT_HITS, regexError, type KeptLog, type LogPage, type LogRetention } from '../../protocol/logs';
import { hostNetworkGuard, NetworkManager } from './network';
import { prepareRoot } from './root';
import type { EndpointSpec } from '../../protocol/container';
import type { NetworkCreate, NetworkInfo } from '../../protocol/network';
import { ContainerStorage } from './volumes/mounts';
import { HostUpdates, type UpdateRequest } from './updates';
import type { RecreateOptions, RecreateOutcome } from './updates/recreate';
import type { StackUpdateOutcome, UpdateReport } from '../../protocol/updates';
import { directorySize, VolumeStore, type VolumeEvent, type VolumeRecord } from './volumes/store';
import type {
  AttachOptions,
  ExecCreateOptions,
  ExecInfo,
  ExecStartOptions,
  StdioSession,
  TtySize,
  CreateVolumeOptions,
  DiskUsage,
  VolumeInfo,
  ContainerRecord,
  ContainerEvent,
  BuildRequest,
  CommitOptions,
  ImageConfig,
  ContainerSpec,
  ContainerStats,
  Engine,
  EngineEvents,
  ExecOptions,
  HostInfo,
  ImageEvent,
  ImageRecord,
  ImageStore,
  LoadResult,
  LogEntry,
  LogOptions,
  PruneResult,
  PullOptions,
  PushOptions,
  TopResult,
  UpdateOptions,
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
  /** dockerd's --bridge=none: no default bridge (containers on the default network get loopback only). */
  noDefaultBridge?: boolean;
  /** For ROOT/images: insecure registries, the per-layer size limit (ignored with `images`). */
  imageOptions?: ImageStoreOptions;
}

/** The facade plus what tests look at from outside: where a container lives, its cgroups, the image store. */
export interface BerthEngine extends Engine {
  readonly cgroups: Cgroups;
  readonly images: ImageStore;
  readonly volumes: VolumeStore;
  containerDir(id: string): string;
}

class EngineImpl extends EventEmitter<EngineEvents> implements BerthEngine {
  // Image changes are noticed where they happen, in the store, so a pull through the Docker
  // API and one through the link (or build, commit, load) look the same to listeners.
  private readonly onImage = (e: ImageEvent) => this.emit('image', e);
  private readonly onVolume = (e: VolumeEvent) => this.emit('volume', e);
  private readonly storage: ContainerStorage;
  /** Unpacked layers never change: their sizes are measured once (`docker system df`). */
  private readonly layerSizes = new Map<string, Promise<number>>();
  private readonly records: ContainerRecords;
  private readonly lifecycle: ContainerLifecycle;
  private readonly network: NetworkManager;
  /** Exports under way, per container id. */
  private readonly exporting = new Map<string, number>();
  /** `docker cp`, and the lock it shares with the operations that would change the container under a copy. */
  private readonly archives: ContainerArchives;
  private readonly stdio: ContainerStdioRegistry;
  private readonly execs: ExecSessions;
  private readonly buildCache: BuildCache;
  /** Removed containers' logs (agent/engine/logs/kept.ts). */
  readonly keptLogs: KeptLogs;
  /** Registry checks and updates with rollback (agent/engine/updates). */
  private readonly updates: HostUpdates;

  constructor(
    readonly root: string,
    readonly images: ImageStore,
    readonly cgroups: Cgroups,
    hooks: ContainerHooks | undefined,
    readonly volumes: VolumeStore,
    opts: { noDefaultBridge?: boolean } = {},
  ) {
    super();
    this.records = new ContainerRecords(root);
    this.storage = new ContainerStorage({ volumes, images, records: this.records, confinesDevices: cgroups.confinesDevices, agentRoot: root });
    const emit = (e: ContainerEvent) => {
      this.archives.observe(e);
      this.emit('container', e);
    };
    this.stdio = new ContainerStdioRegistry((id) => this.records.runDir(id), (action, id) => emit({ action, id }));
    this.execs = new ExecSessions(this.records, cgroups, emit);
    const records = this.records;
    this.network = new NetworkManager({
      root,
      defaultRoot: DEFAULT_ROOT,
      containers: { get: (id) => records.get(id), all: () => records.all(), resolve: (x) => records.resolve(x), dir: (id) => records.dir(id) },
      noDefaultBridge: opts.noDefaultBridge,
      guard: hostNetworkGuard(),
    });
    const networked = withNetwork(this.network, hooks);
    // Every start, the restart policy's too, waits for a copy before its init mounts the rootfs;
    // clients attached before a start connect while the init waits, after the network is wired.
    const gated: ContainerHooks = {
      ...networked,
      prestart: async (c, ctx) => {
        await this.archives.beforeStart(c.id);
        await networked.prestart?.(c, ctx);
        await this.stdio.ready(c.id);
      },
    };
    this.lifecycle = new ContainerLifecycle(this.records, images, cgroups, emit, gated, this.storage, root);
    this.keptLogs = new KeptLogs(join(root, 'kept-logs'));
    this.lifecycle.onRemoving = (rec) => this.keptLogs.keep(rec);
    this.archives = new ContainerArchives(this.records, images, cgroups, emit, (id) => this.lifecycle.wait(id, 'not-running'), this.storage);
    this.on('container', (e) => {
      if (e.action === 'die') this.stdio.ended(e.id);
      else if (e.action === 'destroy') {
        this.stdio.removed(e.id);
        this.execs.forget(e.id);
      }
    });
    images.on('image', this.onImage);
    volumes.on('volume', this.onVolume);
    this.buildCache = new BuildCache(join(root, 'build-cache.json'));
    this.updates = new HostUpdates(this, (ref, auth) => images.remoteDigest(ref, auth));
    images.addGcRoots(() => this.buildCache.roots());
  }

  async load(): Promise<void> {
    const builds = await this.sweepBuildMounts();
    await this.records.load();
    await this.archives.sweep();
    // Before reconcile: the containers it restarts need their networks; adopting records the
    // runs that ended meanwhile (letting go of their volumes).
    await this.network.open();
    await this.storage.adopt();
    await this.thawCommits();
    await this.lifecycle.reconcile();
    // After the restarts: an update cut short puts back the old container, which reconcile may have started already.
    await this.updates.recover();
    await this.sweepBuilds(builds);
    this.keptLogs.start();
  }

  async info(): Promise<HostInfo> {
    const all = this.records.all();
    // As dockerd counts them: one waiting to restart is neither running nor paused.
    const running = all.filter((c) => c.state.status === 'running').length;
    const paused = all.filter((c) => c.state.status === 'paused').length;
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
  pushImage(ref: string, opts?: PushOptions & { allTags?: boolean }): Promise<void> {
    return this.images.push(ref, opts);
  }
  login(serverAddress: string, auth: { username: string; password: string }): Promise<string> {
    return this.images.login(serverAddress, auth);
  }
  logout(serverAddress: string): boolean {
    return this.images.logout(serverAddress);
  }
  logins(): string[] {
    return this.images.logins();
  }
  pruneImages(opts: { all?: boolean; filter?: (img: ImageRecord) => boolean } = {}): PruneResult {
    return this.images.prune({ ...opts, inUse: (id) => this.imageInUse(id) });
  }
  saveImages(refs: string[]): AsyncIterable<Buffer> {
    return this.images.saveArchive(refs);
  }
  loadImages(tar: AsyncIterable<Buffer | Uint8Array>, opts?: { onProgress?: (line: string) => void }): Promise<LoadResult> {
    return this.images.loadArchive(tar, opts);
  }
  imagesDiskUsage(): number {
    return this.images.diskUsage();
  }
  imageLayerSizes(image: ImageRecord): number[] {
    return this.images.layerSizes(image);
  }
  async containerSizeRw(idOrName: string): Promise<number> {
    return directorySize(join(this.records.dir(this.records.resolve(idOrName).id), 'upper'));
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
  imageUpdates(req?: UpdateRequest): Promise<UpdateReport> {
    return this.updates.report(req);
  }
  updateContainerImage(idOrName: string, opts?: Omit<RecreateOptions, 'onPhase'>): Promise<RecreateOutcome> {
    return this.updates.update(idOrName, opts);
  }
  updateStack(project: string, opts?: Parameters<HostUpdates['updateStack']>[1]): Promise<StackUpdateOutcome> {
    return this.updates.updateStack(project, opts);
  }
  // A copy freezes the container and holds its lock: these wait for it, as Docker's do.
  stop(idOrName: string, timeoutSec?: number): Promise<void> {
    return this.archives.exclusive(idOrName, () => this.lifecycle.stop(idOrName, timeoutSec));
  }
  async restart(idOrName: string, timeoutSec?: number): Promise<void> {
    // Not under the lock: its start waits at the gate for any copy, and would wait for this.
    await this.archives.idle(idOrName);
    return this.lifecycle.restart(idOrName, timeoutSec);
  }
  kill(idOrName: string, signal?: string): Promise<void> {
    return this.archives.exclusive(idOrName, () => this.lifecycle.kill(idOrName, signal));
  }
  pause(idOrName: string): Promise<void> {
    return this.archives.exclusive(idOrName, () => this.lifecycle.pause(idOrName));
  }
  unpause(idOrName: string): Promise<void> {
    return this.archives.exclusive(idOrName, () => this.lifecycle.unpause(idOrName));
  }
  rename(idOrName: string, newName: string): Promise<void> {
    return this.lifecycle.rename(idOrName, newName);
  }
  update(idOrName: string, opts: UpdateOptions): Promise<{ warnings: string[] }> {
    return this.lifecycle.update(idOrName, opts);
  }
  top(idOrName: string, psArgs?: string): Promise<TopResult> {
    return this.lifecycle.top(idOrName, psArgs);
  }
  remove(idOrName: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void> {
    const rec = this.records.resolve(idOrName);
    // Its directory holds the export's mount: removing it now would pull the view out from under the reader.
    if (this.exporting.has(rec.id)) throw conflict(`You cannot remove container ${rec.id} while it is being exported`);
    return this.archives.exclusive(rec.id, () => this.lifecycle.remove(rec.id, opts));
  }
  statPath(idOrName: string, path: string): Promise<PathStat> {
    return this.archives.stat(idOrName, path);
  }
  getArchive(idOrName: string, path: string): Promise<ContainerArchive> {
    return this.archives.archive(idOrName, path);
  }
  putArchive(idOrName: string, path: string, tar: AsyncIterable<Buffer | Uint8Array>, opts?: PutArchiveOptions): Promise<void> {
    return this.archives.extract(idOrName, path, tar, opts);
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
  async containerChanges(idOrName: string): Promise<ContainerChange[]> {
    const rec = this.records.resolve(idOrName);
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    const upper = join(this.records.dir(rec.id), 'upper');
    await mkdir(upper, { recursive: true });
    return containerChanges(upper, this.images.layerDirs(img));
  }
  async commitContainer(idOrName: string, opts: CommitOptions = {}): Promise<ImageRecord> {
    const id = this.records.resolve(idOrName).id;
    return this.archives.exclusive(id, async () => {
      const rec = this.records.get(id);
      if (!rec) throw notFound(`No such container: ${idOrName}`);
      if (rec.state.status === 'removing') throw conflict(`container ${rec.id} is marked for removal`);
      const img = this.images.get(rec.imageId);
      if (!img) throw notFound(`No such image: ${rec.image}`);
      // Everything that can be refused is refused before the upper dir is read.
      const config = applyChanges({ ...commitConfig(rec, img.config), ...(opts.config ?? {}) }, opts.changes ?? []);
      const freeze = opts.pause !== false && rec.state.running && !rec.state.paused && rec.state.pid > 0;
      // The mark tells a later agent, should this one die meanwhile, that the freeze was the commit's.
      const mark = join(this.records.dir(id), COMMIT_FREEZE_MARK);
      if (freeze) {
        await writeFile(mark, '', { mode: 0o600 });
        await this.cgroups.freeze(id);
      }
      let layer: { diffId: string; chainId: string };
      try {
        layer = await this.containerLayer(id);
      } finally {
        if (freeze) {
          await this.cgroups.thaw(id);
          await rm(mark, { force: true });
        }
      }
      return childImage(this.images, {
        parent: img,
        layer,
        config,
        createdBy: rec.spec.process.cmd.join(' '),
        comment: opts.message,
        author: opts.author,
        tags: opts.ref ? [opts.ref] : [],
      });
    });
  }
  /** The container's upper dir (less the runtime's mount targets) as a layer on its image. */
  async containerLayer(idOrName: string): Promise<{ diffId: string; chainId: string }> {
    const rec = this.records.resolve(idOrName);
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    const upper = join(this.records.dir(rec.id), 'upper');
    await mkdir(upper, { recursive: true });
    const skip = await commitSkips(upper, this.images.layerDirs(img));
    return this.images.commitDirectory(upper, img.chainIds.at(-1), { overlay: true, skip });
  }
  async build(opts: BuildRequest): Promise<ImageRecord> {
    const tmpDir = join(this.root, 'builds');
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    return runBuild(this, { ...opts, tmpDir, cache: this.buildCache });
  }
  pruneBuildCache(): number {
    const n = this.buildCache.clear();
    this.images.gc();
    return n;
  }
  /** A container a commit froze when the agent died is thawed, so it is restored as running, not paused. */
  private async thawCommits(): Promise<void> {
    for (const rec of this.records.all()) {
      const mark = join(this.records.dir(rec.id), COMMIT_FREEZE_MARK);
      if (!(await lstat(mark).catch(() => undefined))) continue;
      if (!rec.state.paused) await this.cgroups.thaw(rec.id).catch(() => {});
      await rm(mark, { force: true });
    }
  }
  /** Builds the agent died in: their --from mounts undone (the dirs are never deleted through a mount). */
  private async sweepBuildMounts(): Promise<string[]> {
    const dir = join(this.root, 'builds');
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const n of names) {
      const b = join(dir, n);
      for (const sub of await readdir(b).catch(() => [] as string[])) {
        const p = join(b, sub);
        if (sub.startsWith('from-') && (await isMounted(p))) await unmountOverlay(p);
      }
      out.push(b);
    }
    return out;
  }
  /** …then their step containers and intermediate images go, as a failed build's do, and their dirs. */
  private async sweepBuilds(dirs: string[]): Promise<void> {
    for (const b of dirs) {
      const st = await readBuildState(b);
      for (const id of st.containers) {
        // A step container found running is killed first; a second try covers an exit that raced the first.
        for (let attempt = 0; attempt < 3 && this.records.get(id); attempt++) {
          await this.lifecycle.remove(id, { force: true }).catch(async (e: Error) => {
            console.error(`berth: build sweep: container ${id.slice(0, 12)} (try ${attempt + 1}): ${e.message}`);
            await new Promise((r) => setTimeout(r, 200));
          });
        }
      }
      for (const id of st.images) {
        const img = this.images.get(id);
        if (!img || img.repoTags.length || this.imageInUse(id)) continue;
        try {
          this.images.remove(id, { inUse: (x) => this.imageInUse(x) });
        } catch {
          /* tagged or in use meanwhile: it stays */
        }
      }
      await rm(b, { recursive: true, force: true });
    }
  }
  list(opts?: { all?: boolean }): ContainerRecord[] {
    return this.records
      .all()
      .filter((r) => opts?.all || r.state.running)
      .sort((a, b) => (a.created < b.created ? 1 : -1))
      .map((r) => this.shown(r));
  }
  inspect(idOrName: string): ContainerRecord {
    return this.shown(this.records.resolve(idOrName));
  }
  /** A copy of the record with its network as it is now, and the log lines its monitor had to drop. */
  private shown(r: ContainerRecord): ContainerRecord {
    const shown = { ...structuredClone(r), networkState: this.network.stateOf(r) };
    const dropped = new MonitorRun(this.records.runDir(r.id)).logDropped();
    if (dropped.length) shown.state.logDropped = dropped;
    return shown;
  }

  // --- networks

  listNetworks(): NetworkInfo[] {
    return this.network.list();
  }
  inspectNetwork(idOrName: string): NetworkInfo {
    return this.network.inspect(idOrName);
  }
  createNetwork(opts: NetworkCreate): Promise<NetworkInfo> {
    return this.network.createNetwork(opts);
  }
  removeNetwork(idOrName: string): Promise<void> {
    return this.network.removeNetwork(idOrName);
  }
  pruneNetworks(keep: (n: NetworkInfo) => boolean = () => false): Promise<string[]> {
    return this.network.prune(keep);
  }
  async connectNetwork(network: string, container: string, endpoint: Omit<EndpointSpec, 'network'> = {}): Promise<void> {
    const rec = this.records.resolve(container);
    const { networks } = await this.network.connect(rec, network, endpoint);
    rec.spec.network = { ...rec.spec.network, networks };
    await this.records.save(rec);
  }
  async disconnectNetwork(network: string, container: string): Promise<void> {
    const rec = this.records.resolve(container);
    const { networks } = await this.network.disconnect(rec, network);
    rec.spec.network = { ...rec.spec.network, networks };
    await this.records.save(rec);
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
  /**
   * A log to page or search: a live container's, or with `kept` a removed one's. A live
   * container that is gone is looked for among the kept logs by its full id, so a view that
   * was open when it was removed goes on working.
   */
  private logTarget(idOrName: string, kept?: boolean): { id: string; name: string; source: LogSource } {
    if (!kept) {
      try {
        const { id, name } = this.records.resolve(idOrName);
        return { id, name, source: this.logSource(id) };
      } catch (err) {
        if (!(err instanceof EngineError && err.status === 404 && /^[0-9a-f]{64}$/.test(idOrName))) throw err;
      }
    }
    const k = this.keptLogs.find(idOrName);
    if (!k) throw notFound(kept ? `No kept log of container ${idOrName}` : `No such container: ${idOrName}`);
    return { id: k.meta.containerId, name: k.meta.name, source: { path: k.path, status: () => undefined } };
  }
  /** A page of a log's history (protocol/logs.ts LogPageRequest). */
  async logPage(idOrName: string, req: PageRequest & { kept?: boolean }): Promise<LogPage> {
    const t = this.logTarget(idOrName, req.kept);
    // Someone is reading history: a search is likely next, and its thread takes a moment to start.
    prewarmSearch();
    return { containerId: t.id, name: t.name, ...(await readPage(t.source.path, req)) };
  }
  /** The log batches of logBatches, of a live or a kept log (which ends once read, even with follow). */
  logBatchesOf(idOrName: string, kept: boolean | undefined, opts?: LogOptions): { id: string; name: string; batches: AsyncIterable<LogEntry[]> } {
    const t = this.logTarget(idOrName, kept);
    return { id: t.id, name: t.name, batches: readLogBatches(t.source, opts) };
  }
  /**
   * Searches one log in a worker thread; the regex is checked here first, so a bad one is
   * refused at once. `onHits` paces the search. Resolves with the counts (and why it stopped early).
   */
  searchLog(
    idOrName: string,
    req: { kept?: boolean; query: string; regex?: boolean; caseSensitive?: boolean; maxHits?: number; since?: number; until?: number; stdout?: boolean; stderr?: boolean },
    onHits: (hits: SearchHit[], found: number) => Promise<void>,
    signal?: AbortSignal,
  ): { id: string; name: string; done: Promise<SearchOutcome> } {
    const bad = req.regex ? regexError(req.query, req.caseSensitive ?? false) : undefined;
    if (bad) throw new EngineError(400, bad);
    const t = this.logTarget(idOrName, req.kept);
    const { kept: _k, maxHits, ...rest } = req;
    return { id: t.id, name: t.name, done: runSearch({ ...rest, path: t.source.path, maxHits: maxHits ?? LOG_SEARCH_DEFAULT_HITS }, { onHits, signal }) };
  }
  keptLogList(): KeptLog[] {
    return this.keptLogs.list();
  }
  logRetention(set?: LogRetention): LogRetention {
    return set ? this.keptLogs.setRetention(set) : this.keptLogs.retention();
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
    if (!rec.state.running || !rec.state.pid) return undefined;
    const read = nowRfc3339Nano();
    // The host's CPU time right beside the container's, so the share between two reads is true.
    const [cg, sys] = await Promise.all([this.cgroups.stats(rec.id), systemCpu()]);
    // With the host's network the traffic is the host's, not the container's: Docker shows none.
    const networks = rec.spec.network.mode === 'host' ? {} : await netnsCounters(rec.state.pid);
    return { ...cg, read, systemCpuNs: sys.systemNs, onlineCpus: sys.onlineCpus, networks };
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
  execKill(execId: string, signal: NodeJS.Signals): void {
    this.execs.kill(execId, signal);
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

  // --- volumes

  private volumeInfo(v: VolumeRecord): VolumeInfo {
    return { ...v, usedBy: this.storage.refs(v.name) };
  }
  createVolume(name: string | undefined, opts: CreateVolumeOptions = {}): VolumeInfo {
    return this.volumeInfo(this.volumes.create(name || undefined, opts));
  }
  listVolumes(): VolumeInfo[] {
    return this.volumes
      .list()
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((v) => this.volumeInfo(v));
  }
  inspectVolume(name: string): VolumeInfo {
    return this.volumeInfo(this.volumes.inspect(name));
  }
  removeVolume(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.volumes.remove(name, { force: opts.force, refs: this.storage.refs(name) });
  }
  async pruneVolumes(keep: (v: VolumeInfo) => boolean = () => true): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    // As Docker's: volumes with driver options are left alone (their content is not on this disk).
    for (const v of this.listVolumes()) {
      if (v.usedBy.length || Object.keys(v.options).length || !keep(v)) continue;
      const size = await this.volumes.size(v.name);
      try {
        await this.removeVolume(v.name);
      } catch (e) {
        console.error(`berth: prune volume ${v.name}: ${(e as Error).message}`);
        continue;
      }
      deleted.push(v.name);
      reclaimed += Math.max(0, size);
    }
    this.volumes.notifyPrune(reclaimed);
    return { deleted, reclaimed };
  }
  private layerSize(dir: string): Promise<number> {
    let p = this.layerSizes.get(dir);
    if (!p) this.layerSizes.set(dir, (p = directorySize(dir)));
    return p;
  }
  async diskUsage(): Promise<DiskUsage> {
    const images = this.images.list();
    const uses = new Map<string, number>();
    for (const img of images) for (const d of new Set(this.images.layerDirs(img))) uses.set(d, (uses.get(d) ?? 0) + 1);
    let layersSize = 0;
    for (const d of uses.keys()) layersSize += await this.layerSize(d);
    const records = this.records.all();
    const out: DiskUsage = { layersSize, images: [], containers: [], volumes: [] };
    for (const image of images) {
      let sharedSize = 0;
      for (const d of new Set(this.images.layerDirs(image))) if ((uses.get(d) ?? 0) > 1) sharedSize += await this.layerSize(d);
      out.images.push({ image, sharedSize, containers: records.filter((c) => c.imageId === image.id).length });
    }
    for (const rec of records.sort((a, b) => (a.created < b.created ? 1 : -1))) {
      const sizeRw = await this.containerSizeRw(rec.id);
      out.containers.push({ record: structuredClone(rec), sizeRw, sizeRootFs: sizeRw + (this.images.get(rec.imageId)?.size ?? 0) });
    }
    for (const volume of this.listVolumes()) {
      if (Object.keys(volume.options).length) continue;
      out.volumes.push({ volume, size: await this.volumes.size(volume.name) });
    }
    return out;
  }

  async close(): Promise<void> {
    this.updates.close();
    this.keptLogs.stop();
    this.images.off('image', this.onImage);
    this.volumes.off('volume', this.onVolume);
    this.lifecycle.close();
    this.stdio.close();
    // Running containers keep their groups, and so the parent, until a later agent removes them.
    await this.cgroups.release();
    // And their network: bridges, addresses, published ports.
    await this.network.close();
  }
}

/** The network manager's hooks first (addresses, wiring, /etc files), then the caller's. */
function withNetwork(net: NetworkManager, own: ContainerHooks = {}): ContainerHooks {
  return {
    create: (c) => {
      net.create(c);
      own.create?.(c);
    },
    launch: async (c) => {
      const r = await net.launch(c);
      const o = await own.launch?.(c);
      return { ...r, ...(o ?? {}) };
    },
    prestart: async (c, ctx) => {
      await net.prestart(c, ctx);
      await own.prestart?.(c, ctx);
    },
    poststop: async (c) => {
      await net.poststop(c);
      await own.poststop?.(c);
    },
  };
}

const COMMIT_FREEZE_MARK = 'commit-freeze';

/** ROOT/builds/<build>/state.json: what a build made that is not meant to outlive it. */
async function readBuildState(dir: string): Promise<{ containers: string[]; images: string[] }> {
  try {
    const raw = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as { containers?: unknown; images?: unknown };
    const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    return { containers: ids(raw.containers), images: ids(raw.images) };
  } catch {
    return { containers: [], images: [] };
  }
}

/** The image config a commit starts from: the container's own (image and run options merged), as dockerd takes it. */
function commitConfig(rec: ContainerRecord, image: ImageConfig): ImageConfig {
  const p = rec.spec.process;
  const h = rec.spec.health;
  return {
    ...(image.ExposedPorts ? { ExposedPorts: image.ExposedPorts } : {}),
    ...(image.Volumes ? { Volumes: image.Volumes } : {}),
    Env: p.env,
    Cmd: p.cmd,
    ...(p.entrypoint.length ? { Entrypoint: p.entrypoint } : {}),
    ...(p.workingDir ? { WorkingDir: p.workingDir } : {}),
    ...(p.user ? { User: p.user } : {}),
    ...(Object.keys(rec.spec.labels).length ? { Labels: rec.spec.labels } : {}),
    ...(p.stopSignal ? { StopSignal: p.stopSignal } : {}),
    ...(h
      ? {
          Healthcheck: {
            Test: h.test,
            ...(h.intervalNs ? { Interval: h.intervalNs } : {}),
            ...(h.timeoutNs ? { Timeout: h.timeoutNs } : {}),
            ...(h.startPeriodNs ? { StartPeriod: h.startPeriodNs } : {}),
            ...(h.startIntervalNs ? { StartInterval: h.startIntervalNs } : {}),
            ...(h.retries ? { Retries: h.retries } : {}),
          },
        }
      : {}),
  };
}

/** Bytes of regular files under `dir`, never following symlinks; 0 when it is gone. */
async function treeBytes(dir: string): Promise<number> {
  let n = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += await treeBytes(p);
    else if (e.isFile()) n += (await lstat(p).catch(() => ({ size: 0 }))).size;
  }
  return n;
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
  const images = opts.images ?? (await (await import('./images')).openImageStore(join(root, 'images'), opts.imageOptions));
  const cgroups = openCgroups({ parent: opts.cgroupParent ?? cgroupParentFor(root), base: opts.cgroupRoot });
  const volumes = new VolumeStore(join(root, 'volumes'));
  volumes.load();
  const engine = new EngineImpl(root, images, cgroups, opts.hooks, volumes, { noDefaultBridge: opts.noDefaultBridge });
  await engine.load();
  return engine;
}

// The engine's contract: the Docker API face (agent/dockerapi) and the control-plane
// link (agent/link) both call these, so the two faces cannot drift apart.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { ContainerRecord, ContainerSpec, EndpointSpec, HealthStatus, LogEntry, RestartPolicyName } from '../../protocol/container';
import type { NetworkCreate, NetworkInfo } from '../../protocol/network';
import type { CgroupStats } from './cgroups';
import type { NetworkCounters } from './containers/host-stats';
import type { TopResult } from './containers/top';
import type { ContainerArchive, PathStat, PutArchiveOptions } from './containers/archive';
import type { ExecCreateOptions, ExecInfo, ExecStartOptions } from './containers/exec-sessions';
import type { AttachOptions, StdioSession, TtySize } from './containers/stdio';
import type { HostInfo, PullProgress, VolumeInfo } from '../../protocol/agent-link';
import type { VolumeEvent } from './volumes/store';
import type { PageRequest } from './logs/history';
import type { SearchHit, SearchOutcome } from './logs/search';
import type { KeptLog, LogPage, LogRetention } from '../../protocol/logs';
import type { StackUpdateOutcome, UpdateReport } from '../../protocol/updates';
import type { UpdateRequest } from './updates';
import type { RecreateOptions, RecreateOutcome } from './updates/recreate';

export type { VolumeInfo } from '../../protocol/agent-link';
export type { VolumeEvent } from './volumes/store';
export type { ContainerRecord, ContainerSpec, ContainerStatus, LogEntry, ResolvedSpec } from '../../protocol/container';
export type { HostInfo, PullProgress } from '../../protocol/agent-link';
export type { ExecCreateOptions, ExecInfo, ExecStartOptions } from './containers/exec-sessions';
export type { AttachOptions, OutputChunk, StdioSession, TtySize } from './containers/stdio';

/** The `config` section of an OCI / Docker image config. */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  /** Durations in nanoseconds, as Docker writes them. */
  Healthcheck?: { Test?: string[] | null; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number } | null;
  /** ONBUILD triggers, as written after the word ONBUILD. */
  OnBuild?: string[] | null;
  /** SHELL: the shell form's command prefix (default ["/bin/sh", "-c"]). */
  Shell?: string[];
}

export interface ImageRecord {
  /** "sha256:<hex of the image config blob>" */
  id: string;
  /** As `docker images` shows them: "127.0.0.1:5000/busybox:latest", "busybox:latest" for docker.io/library. */
  repoTags: string[];
  /** "127.0.0.1:5000/busybox@sha256:<manifest digest>" */
  repoDigests: string[];
  /** RFC 3339, from the image config. */
  created: string;
  architecture: string;
  os: string;
  config: ImageConfig;
  /** rootfs.diff_ids, lowest layer first. */
  diffIds: string[];
  /** Chain IDs matching diffIds; an unpacked layer is stored once per chain ID. */
  chainIds: string[];
  /** Bytes on disk of the unpacked layers. */
  size: number;
  /** The config's history, oldest first. */
  history?: HistoryEntry[];
  author?: string;
  comment?: string;
  variant?: string;
  dockerVersion?: string;
  /** "domain/path" of the repository it was pulled from, if it was. */
  source?: string;
  /** RFC 3339: when it last got a tag here. */
  lastTagTime?: string;
}

export interface HistoryEntry {
  created: string;
  createdBy: string;
  author?: string;
  comment?: string;
  /** The step made no layer (ENV, CMD …). */
  emptyLayer?: boolean;
}

export interface BuildRequest {
  /** The context tar (plain or gzip), read as it streams in. */
  context: AsyncIterable<Buffer | Uint8Array>;
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string | null>;
  target?: string;
  noCache?: boolean;
  labels?: Record<string, string>;
  pull?: boolean;
  onOutput: (o: { stream: string } | { aux: { ID: string } } | { status: string; id?: string; progressDetail?: { current?: number; total?: number } }) => void;
}

export interface CommitOptions {
  /** "name[:tag]" for the new image. */
  ref?: string;
  changes?: string[];
  /** The history comment (`-m`). */
  message?: string;
  author?: string;
  /** Freeze a running container while its changes are read (default true). */
  pause?: boolean;
  /** Config fields over the container's (the API's commit body); changes apply after. */
  config?: ImageConfig;
}

export interface PruneResult {
  deleted: Array<{ Untagged?: string; Deleted?: string }>;
  spaceReclaimed: number;
}

/** One progress message of a push, shaped like the docker CLI's JSON progress stream (aux: the result). */
export interface PushProgress extends PullProgress {
  aux?: { Tag: string; Digest: string; Size: number };
}

export interface PushOptions {
  auth?: RegistryAuth;
  onProgress?: (p: PushProgress) => void;
}

/** `docker load`'s outcome: each image loaded, by the names it got (or its id when it has none). */
export interface LoadResult {
  images: Array<{ id: string; tags: string[] }>;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  /** A bearer token given directly (docker's identitytoken / registrytoken). */
  token?: string;
}

export interface ImageStore {
  pull(ref: string, opts?: PullOptions): Promise<ImageRecord>;
  list(): ImageRecord[];
  /** By "name:tag", "name@sha256:…", full id, or a unique id prefix (with or without "sha256:"). */
  get(refOrId: string): ImageRecord | undefined;
  /** Paths of the unpacked layers to mount (short links to their directories), lowest first: overlay's lowerdir wants them reversed. */
  layerDirs(image: ImageRecord): string[];
  /** Adds the tag `target` to the image `source` names; returns the new tag in its familiar form. */
  tag(source: string, target: string): string;
  /** Untags `refOrId` (or all tags of an id); deletes the image when no tag is left and `inUse` says no. */
  remove(refOrId: string, opts: { force?: boolean; inUse: (imageId: string) => boolean }): Array<{ Untagged?: string; Deleted?: string }>;
  /** Unpacks a layer tar (plain or gzip) on top of `parentChainId`; kept from GC until createImage uses it or releaseLayer lets it go. */
  importLayer(tar: AsyncIterable<Buffer | Uint8Array>, parentChainId?: string): Promise<{ diffId: string; chainId: string; size: number }>;
  /** A directory (a container's upper dir: overlay whiteouts become .wh. entries) as a new layer on `parentChainId`; released like importLayer's. */
  commitDirectory(dir: string, parentChainId?: string, opts?: { overlay?: boolean; skip?: ReadonlySet<string> }): Promise<{ diffId: string; chainId: string; size: number }>;
  releaseLayer(chainId: string): void;
  /** Records an image from its config (whose rootfs.diff_ids name layers in the store) and tags it. */
  createImage(config: Buffer | Record<string, unknown>, opts?: { tags?: string[] }): ImageRecord;
  /** The config bytes the image id is the digest of. */
  configBytes(id: string): Buffer;
  /** `docker image prune`: unused images (dangling only, unless `all`) that pass `filter`. */
  prune(opts: { all?: boolean; inUse: (imageId: string) => boolean; filter?: (img: ImageRecord) => boolean }): PruneResult;
  /** What the build cache (and anything else outside the store) keeps from garbage collection. */
  addGcRoots(fn: () => { chainIds?: string[]; blobs?: string[] }): void;
  /** Removes layers and blobs nothing refers to. */
  gc(): void;
  /** `docker push` of `ref`'s tag (every tag of its repository with `allTags`). */
  push(ref: string, opts?: PushOptions & { allTags?: boolean }): Promise<void>;
  /** The manifest digest a reference's tag has in its registry now (`auth`, else the stored login). */
  remoteDigest(ref: string, auth?: RegistryAuth): Promise<string>;
  /** `docker save`: a docker-archive tar of the images named. */
  saveArchive(refs: string[]): AsyncIterable<Buffer>;
  /** `docker load` of a docker-archive tar. */
  loadArchive(tar: AsyncIterable<Buffer | Uint8Array>, opts?: { onProgress?: (line: string) => void }): Promise<LoadResult>;
  login(serverAddress: string, auth: { username: string; password: string }): Promise<string>;
  logout(serverAddress: string): boolean;
  logins(): string[];
  /** Bytes of unpacked layers. */
  diskUsage(): number;
  /** Each layer's own bytes, lowest first. */
  layerSizes(image: ImageRecord): number[];
  /** Each change to the image list as it happens, whoever asked for it; the engine re-emits them. */
  on(event: 'image', listener: (e: ImageEvent) => void): this;
  off(event: 'image', listener: (e: ImageEvent) => void): this;
}

export interface LogOptions {
  /** Keep going as lines arrive; ends when the container has stopped and everything is read, or on `signal`. */
  follow?: boolean;
  /**
   * Only the last N lines of the log as it ends when logs() is called (undefined = all), then
   * the other filters, as Docker's json-file does: a tail of 10 with stderr only gives those
   * of the last 10 lines that are stderr. With follow, tail 0 means "from now on".
   */
  tail?: number;
  /** Unix seconds (fractions allowed): only lines at or after. */
  since?: number;
  /** Unix seconds: only lines before. */
  until?: number;
  /** Only lines with seq > afterSeq (resuming a stream: a seek to that position, whatever the log's size). */
  afterSeq?: number;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

export type ContainerAction =
  | 'create'
  | 'start'
  | 'die'
  | 'stop'
  | 'kill'
  | 'destroy'
  | 'restart'
  | 'pause'
  | 'unpause'
  | 'rename'
  | 'update'
  | 'top'
  | 'health_status'
  | 'exec_create'
  | 'exec_start'
  | 'exec_die'
  | 'exec_detach'
  | 'attach'
  | 'detach'
  | 'archive-path'
  | 'extract-to-dir';

/** Actions that change what a container is (its state, name or limits); the rest only report. */
export const CHANGING_ACTIONS: ReadonlySet<ContainerAction> = new Set(['create', 'start', 'die', 'stop', 'destroy', 'restart', 'pause', 'unpause', 'rename', 'update', 'health_status']);

export interface ContainerEvent {
  action: ContainerAction;
  id: string;
  /** die, exec_die */
  exitCode?: number;
  /** die: whole seconds the run lasted. */
  execDurationSec?: number;
  /** kill: the signal's number. */
  signal?: number;
  /** rename: the name before. */
  oldName?: string;
  /** health_status: the new status. */
  health?: HealthStatus;
  /** exec_*: the exec's id. */
  execId?: string;
  /** exec_create, exec_start: the command line, which Docker appends to the action ("exec_start: sh -c …"). */
  command?: string;
}

export type StdioEventAction = Extract<ContainerAction, 'attach' | 'detach' | 'exec_create' | 'exec_start' | 'exec_die' | 'exec_detach'>;

export interface ImageEvent {
  /** pull: `ref` was pulled as `id`; tag: `ref` now names `id`; untag: `ref` no longer does; delete: `id` is gone. */
  action: 'pull' | 'tag' | 'untag' | 'delete';
  id: string;
  /** Familiar form ("busybox:latest", "127.0.0.1:5000/x@sha256:…"); absent for delete. */
  ref?: string;
}

export interface EngineEvents {
  container: [ContainerEvent];
  image: [ImageEvent];
  volume: [VolumeEvent];
}

/** `docker system df`: what the engine's stores hold and how much of the disk. */
export interface DiskUsage {
  /** Bytes of every unpacked layer, each once. */
  layersSize: number;
  /** Per image: its own size, what it shares with other images, how many containers use it. */
  images: Array<{ image: ImageRecord; sharedSize: number; containers: number }>;
  /** Per container: its writable layer, and that plus its image. */
  containers: Array<{ record: ContainerRecord; sizeRw: number; sizeRootFs: number }>;
  /** Volumes without driver options (the ones whose content is on this disk), with their size. */
  volumes: Array<{ volume: VolumeInfo; size: number }>;
}

export interface CreateVolumeOptions {
  driver?: string;
  /** The local driver's: type, device, o. */
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface PullOptions {
  auth?: RegistryAuth;
  onProgress?: (p: PullProgress) => void;
  /** "os/arch[/variant]" to pick from a manifest list instead of the host's (`--platform`). */
  platform?: string;
}

/** What `docker exec` runs in a running container. */
export interface ExecOptions {
  cmd: string[];
  /** "KEY=value", merged over the container's env. */
  env?: string[];
  user?: string;
  workingDir?: string;
  /** Every capability this agent has (`exec --privileged`); the container's seccomp filter still applies, as in Docker. */
  privileged?: boolean;
}

/** A running container's statistics: its cgroups, the host's CPU time, its network namespace. */
export interface ContainerStats extends CgroupStats {
  /** RFC 3339 with nanoseconds: when they were read. */
  read: string;
  /** The host's CPU time so far (what cpuUsageNs is a share of), nanoseconds. */
  systemCpuNs: number;
  onlineCpus: number;
  /** Per interface of the container's own network namespace, loopback left out (none with the host's network). */
  networks: Record<string, NetworkCounters>;
}

export type { TopResult } from './containers/top';
export type { ContainerArchive, PathStat, PutArchiveOptions } from './containers/archive';

/** `docker update`: only the fields given change (0 / undefined = unchanged, as Docker reads them). */
export interface UpdateOptions {
  resources?: { memory?: number; memorySwap?: number; nanoCpus?: number; cpuShares?: number; pidsLimit?: number };
  restart?: { policy: RestartPolicyName; maxRetries?: number };
}

/**
 * The engine facade: the only door the Docker API face and the control-plane link go
 * through. Rules that hold for both (an image in use cannot be deleted, a missing image is
 * pulled when asked, names and limits are checked) live behind it, once.
 */
export interface Engine extends EventEmitter<EngineEvents> {
  readonly root: string;
  info(): Promise<HostInfo>;

  // --- images
  pullImage(ref: string, opts?: PullOptions): Promise<ImageRecord>;
  listImages(): ImageRecord[];
  /** By "name:tag", "name@sha256:…", full id or a unique id prefix; undefined when unknown. */
  findImage(refOrId: string): ImageRecord | undefined;
  /** Like findImage, but an unknown image is a 404 "No such image: X". */
  inspectImage(refOrId: string): ImageRecord;
  /** Directories of the image's unpacked layers, lowest first. */
  imageLayerDirs(image: ImageRecord): string[];
  /** `docker tag`: `target` names the image `source` names too (404 for an unknown source, 400 for a digest target). */
  tagImage(source: string, target: string): string;
  /** Untags `refOrId` (or every tag of an id); deletes the image once untagged, unless a container uses it (409 without force). */
  removeImage(refOrId: string, opts?: { force?: boolean }): Array<{ Untagged?: string; Deleted?: string }>;
  /** `docker import`: a filesystem tar (plain or gzip) becomes a one-layer image, tagged `ref` when given;
   *  `changes` are Dockerfile instructions (CMD, ENV …) for its config. */
  importImage(tar: AsyncIterable<Buffer | Uint8Array>, opts?: { ref?: string; changes?: string[]; message?: string }): Promise<ImageRecord>;
  /** Whether any container, running or not, was made from this image id. */
  imageInUse(imageId: string): boolean;
  /** `docker push`: the tag given, or every tag of the repository when the reference has none (`tag: ''`). */
  pushImage(ref: string, opts?: PushOptions & { allTags?: boolean }): Promise<void>;
  /** `docker login`: checks the credentials with the registry and keeps them for pulls and pushes that bring none. Returns the registry host. */
  login(serverAddress: string, auth: { username: string; password: string }): Promise<string>;
  /** Forgets a stored login; false when there was none. */
  logout(serverAddress: string): boolean;
  /** Registry hosts with a stored login. */
  logins(): string[];
  /** `docker image prune` (`all`: unused tagged images too); `filter` applies Docker's filters. */
  pruneImages(opts?: { all?: boolean; filter?: (img: ImageRecord) => boolean }): PruneResult;
  /** `docker save`: the images (names or ids) as one docker-archive tar. */
  saveImages(refs: string[]): AsyncIterable<Buffer>;
  /** `docker load`: a docker-archive tar (plain or gzip), read as it streams in. */
  loadImages(tar: AsyncIterable<Buffer | Uint8Array>, opts?: { onProgress?: (line: string) => void }): Promise<LoadResult>;
  /** Bytes of image layers on disk (`docker system df`). */
  imagesDiskUsage(): number;
  /** Each layer's own bytes, lowest first (`docker history`, `system df`). */
  imageLayerSizes(image: ImageRecord): number[];
  /** Bytes of file content in the container's writable layer (`docker system df`, `ps -s`). */
  containerSizeRw(idOrName: string): Promise<number>;

  // --- containers
  /** With `pull: 'missing'` an image that is not here is pulled first, as `docker run` does. */
  createContainer(spec: ContainerSpec, opts?: { pull?: 'missing' | 'never'; pullOptions?: PullOptions }): Promise<ContainerRecord>;
  /** Whether each container's tag names another image in its registry now (agent/engine/updates). */
  imageUpdates(req?: UpdateRequest): Promise<UpdateReport>;
  /** Pull, recreate with the same settings under the same name, roll back unless it comes up (agent/engine/updates/recreate.ts). */
  updateContainerImage(idOrName: string, opts?: Omit<RecreateOptions, 'onPhase'>): Promise<RecreateOutcome>;
  /** A compose project's services updated together, rolled back together (agent/engine/updates/index.ts). */
  updateStack(project: string, opts?: { auths?: Record<string, RegistryAuth>; healthTimeoutSec?: number; settleMs?: number; only?: string[] }): Promise<StackUpdateOutcome>;
  /** A user's start: restart count and manual-stop mark are reset. 409 for a paused container. */
  start(idOrName: string): Promise<void>;
  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeoutSec` (default 10). A manual stop:
   *  the restart policy does not bring it back (until the agent starts again, for 'always'). */
  stop(idOrName: string, timeoutSec?: number): Promise<void>;
  restart(idOrName: string, timeoutSec?: number): Promise<void>;
  /** A manual stop too (see stop); a paused container is thawed for SIGKILL and its stop signal. */
  kill(idOrName: string, signal?: string): Promise<void>;
  /** Freezes every process of the container (409 unless running). */
  pause(idOrName: string): Promise<void>;
  unpause(idOrName: string): Promise<void>;
  rename(idOrName: string, newName: string): Promise<void>;
  /** Limits and restart policy; a running container's cgroups change at once. */
  update(idOrName: string, opts: UpdateOptions): Promise<{ warnings: string[] }>;
  /** The host's `ps` (with `psArgs`, default -ef), rows of the container's processes only. */
  top(idOrName: string, psArgs?: string): Promise<TopResult>;
  /** `volumes`: its anonymous volumes go too (`docker rm -v`). */
  remove(idOrName: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
  list(opts?: { all?: boolean }): ContainerRecord[];
  /** By full id, unique id prefix, or name. Throws EngineError 404 when unknown. */
  inspect(idOrName: string): ContainerRecord;
  /** Resolves when the container is next not running ('next-exit'), or at once if it is not running ('not-running'), or once removed ('removed'). */
  wait(idOrName: string, condition?: WaitCondition): Promise<{ exitCode: number }>;
  logs(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry>;
  /** The same lines as logs(), in the batches the log was read in (never empty), for faces that write them out in bulk. */
  logBatches(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry[]>;
  /** A page of a live or kept log's history (protocol/logs.ts LogPageRequest). */
  logPage(idOrName: string, req: PageRequest & { kept?: boolean }): Promise<LogPage>;
  /** logBatches of a live or kept log (a kept one ends once read), with the container's full id and name. */
  logBatchesOf(idOrName: string, kept: boolean | undefined, opts?: LogOptions): { id: string; name: string; batches: AsyncIterable<LogEntry[]> };
  /** Searches a live or kept log off the event loop; throws at once for a bad regex or an unknown log. */
  searchLog(
    idOrName: string,
    req: { kept?: boolean; query: string; regex?: boolean; caseSensitive?: boolean; maxHits?: number; since?: number; until?: number; stdout?: boolean; stderr?: boolean },
    onHits: (hits: SearchHit[], found: number) => Promise<void>,
    signal?: AbortSignal,
  ): { id: string; name: string; done: Promise<SearchOutcome> };
  /** Removed containers' logs kept on this host, newest first. */
  keptLogList(): KeptLog[];
  /** Their retention; `set` changes it (and prunes to it). */
  logRetention(set?: LogRetention): LogRetention;
  /** `docker export`: the container's filesystem (image and its own changes merged) as one tar stream. */
  exportContainer(idOrName: string): AsyncIterable<Buffer>;
  /** `docker commit`: the container's changes as a layer on its image, with its config and `changes` (Dockerfile
   *  instructions); a running container is frozen meanwhile unless `pause` is false. */
  commitContainer(idOrName: string, opts?: CommitOptions): Promise<ImageRecord>;
  /** `docker build` (the classic builder): see agent/engine/build/builder.ts. Output goes to `onOutput` as the JSON stream's messages. */
  build(opts: BuildRequest): Promise<ImageRecord>;
  /** `docker builder prune`: forgets the build cache (its layers go at the next collection); returns the entries dropped. */
  pruneBuildCache(): number;
  /** `docker diff`: what the container added (1), changed (0) and deleted (2), parents first. */
  containerChanges(idOrName: string): Promise<Array<{ Path: string; Kind: 0 | 1 | 2 }>>;
  /** `docker cp` (HEAD …/archive): what `path` is in the container; a final symlink is followed only
   *  after "/" or "/.". 404 "Could not find the file PATH in container NAME". Running or stopped. */
  statPath(idOrName: string, path: string): Promise<PathStat>;
  /** `docker cp CTR:PATH` (GET …/archive): its stat and a tar named as Docker names it. A running
   *  container stays frozen until `content` has been read to its end or `close()` is called: do one. */
  getArchive(idOrName: string, path: string): Promise<ContainerArchive>;
  /** `docker cp SRC CTR:PATH` (PUT …/archive): unpacks a plain or gzip tar into the directory `path`
   *  (symlinks followed inside the container), through the layer extractor's checks. */
  putArchive(idOrName: string, path: string, tar: AsyncIterable<Buffer | Uint8Array>, opts?: PutArchiveOptions): Promise<void>;
  /** undefined when the container is not running (or waiting to restart). */
  stats(idOrName: string): Promise<ContainerStats | undefined>;
  /** A process in a running container; stdio are pipes, 'exit' gives its code. 409 when not running. */
  exec(idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams;
  /** `docker attach`: the container's live output and (with OpenStdin) its stdin. A container
   *  that is not running yet is attached at its next start, from its first byte. */
  attach(idOrName: string, opts: AttachOptions): StdioSession;
  /** The TTY's window size; a no-op without a TTY (as Docker's); 409 when not running. */
  resize(idOrName: string, size: TtySize): Promise<void>;
  /** Docker's exec instances: create (409 when the container is not running), start once
   *  (a session, or undefined when detached), resize, inspect. */
  execCreate(idOrName: string, opts: ExecCreateOptions): ExecInfo;
  execStart(execId: string, opts: ExecStartOptions): StdioSession | undefined;
  execResize(execId: string, size: TtySize): Promise<void>;
  /** Signals a running exec (SIGKILL reaches the helper itself: its TTY closes and the kernel hangs the command up). */
  execKill(execId: string, signal: NodeJS.Signals): void;
  execInspect(execId: string): ExecInfo;
  /** The container's exec instances that have not exited (Docker's ExecIDs). */
  execIds(idOrName: string): string[];

  // --- networks
  /** The default bridge ("bridge", unless the agent runs without one), user networks, and the built-in host and none. */
  listNetworks(): NetworkInfo[];
  /** By id, name or unique id prefix; 404 "network X not found". */
  inspectNetwork(idOrName: string): NetworkInfo;
  /** A bridge network; 409 for a name in use, 403 for a subnet that overlaps another network's. */
  createNetwork(opts: NetworkCreate): Promise<NetworkInfo>;
  /** 403 for the built-in networks and one with running containers on it. */
  removeNetwork(idOrName: string): Promise<void>;
  /** Removes the user networks no running container is on, except those `keep` keeps; their names. */
  pruneNetworks(keep?: (n: NetworkInfo) => boolean): Promise<string[]>;
  /** A running container gets the interface at once; a stopped one at its next start. */
  connectNetwork(network: string, container: string, endpoint?: Omit<EndpointSpec, 'network'>): Promise<void>;
  disconnectNetwork(network: string, container: string): Promise<void>;
  // --- volumes
  /** A new volume (no name: an anonymous one), or the existing one of that name as it is. */
  createVolume(name: string | undefined, opts?: CreateVolumeOptions): VolumeInfo;
  listVolumes(): VolumeInfo[];
  /** 404 "get NAME: no such volume". */
  inspectVolume(name: string): VolumeInfo;
  /** 409 in Docker's words while any container uses it; `force`: a missing volume is no error. */
  removeVolume(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Removes every volume no container uses, that has no driver options and that `keep` lets through. */
  pruneVolumes(keep?: (v: VolumeInfo) => boolean): Promise<{ deleted: string[]; reclaimed: number }>;
  /** `docker system df`. */
  diskUsage(): Promise<DiskUsage>;

  /** Stops watching; running containers keep running (their monitors outlive the agent). */
  close(): Promise<void>;
}

// The engine's contract: the Docker API face (agent/dockerapi) and the control-plane
// link (agent/link) both call these, so the two faces cannot drift apart.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { ContainerRecord, ContainerSpec, LogEntry } from '../../protocol/container';
import type { HostInfo, PullProgress } from '../../protocol/agent-link';
import type { ExecCreateOptions, ExecInfo, ExecStartOptions } from './containers/exec-sessions';
import type { AttachOptions, StdioSession, TtySize } from './containers/stdio';

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
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  /** A bearer token given directly (docker's identitytoken / registrytoken). */
  token?: string;
}

export interface ImageStore {
  pull(ref: string, opts?: { auth?: RegistryAuth; onProgress?: (p: PullProgress) => void }): Promise<ImageRecord>;
  list(): ImageRecord[];
  /** By "name:tag", "name@sha256:…", full id, or a unique id prefix (with or without "sha256:"). */
  get(refOrId: string): ImageRecord | undefined;
  /** Directories of the unpacked layers, lowest first: overlay's lowerdir wants them reversed. */
  layerDirs(image: ImageRecord): string[];
  /** Adds the tag `target` to the image `source` names; returns the new tag in its familiar form. */
  tag(source: string, target: string): string;
  /** Untags `refOrId` (or all tags of an id); deletes the image when no tag is left and `inUse` says no. */
  remove(refOrId: string, opts: { force?: boolean; inUse: (imageId: string) => boolean }): Array<{ Untagged?: string; Deleted?: string }>;
  /** Unpacks a layer tar (plain or gzip) on top of `parentChainId`; kept from GC until createImage uses it or releaseLayer lets it go. */
  importLayer(tar: AsyncIterable<Buffer | Uint8Array>, parentChainId?: string): Promise<{ diffId: string; chainId: string; size: number }>;
  releaseLayer(chainId: string): void;
  /** Records an image from its config (whose rootfs.diff_ids name layers in the store) and tags it. */
  createImage(config: Buffer | Record<string, unknown>, opts?: { tags?: string[] }): ImageRecord;
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

export interface ContainerEvent {
  action: 'create' | 'start' | 'die' | 'stop' | 'kill' | 'destroy' | StdioEventAction;
  id: string;
  exitCode?: number;
  /** exec_* events: the exec instance. */
  execId?: string;
  /** exec_create, exec_start: the command line, which Docker appends to the action ("exec_start: sh -c …"). */
  command?: string;
}

export type StdioEventAction = 'attach' | 'detach' | 'exec_create' | 'exec_start' | 'exec_die' | 'exec_detach';

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
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface PullOptions {
  auth?: RegistryAuth;
  onProgress?: (p: PullProgress) => void;
}

/** What `docker exec` runs in a running container. */
export interface ExecOptions {
  cmd: string[];
  /** "KEY=value", merged over the container's env. */
  env?: string[];
  user?: string;
  workingDir?: string;
}

/** Memory, CPU time and pids of a running container, from its cgroups. */
export interface ContainerStats {
  memoryUsage: number;
  memoryLimit: number;
  cpuUsageNs: number;
  pids: number;
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

  // --- containers
  /** With `pull: 'missing'` an image that is not here is pulled first, as `docker run` does. */
  createContainer(spec: ContainerSpec, opts?: { pull?: 'missing' | 'never'; pullOptions?: PullOptions }): Promise<ContainerRecord>;
  start(idOrName: string): Promise<void>;
  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeoutSec` (default 10). */
  stop(idOrName: string, timeoutSec?: number): Promise<void>;
  restart(idOrName: string, timeoutSec?: number): Promise<void>;
  kill(idOrName: string, signal?: string): Promise<void>;
  remove(idOrName: string, opts?: { force?: boolean }): Promise<void>;
  list(opts?: { all?: boolean }): ContainerRecord[];
  /** By full id, unique id prefix, or name. Throws EngineError 404 when unknown. */
  inspect(idOrName: string): ContainerRecord;
  /** Resolves when the container is next not running ('next-exit'), or at once if it is not running ('not-running'), or once removed ('removed'). */
  wait(idOrName: string, condition?: WaitCondition): Promise<{ exitCode: number }>;
  logs(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry>;
  /** The same lines as logs(), in the batches the log was read in (never empty), for faces that write them out in bulk. */
  logBatches(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry[]>;
  /** `docker export`: the container's filesystem (image and its own changes merged) as one tar stream. */
  exportContainer(idOrName: string): AsyncIterable<Buffer>;
  /** undefined when the container is not running. */
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
  /** Stops watching; running containers keep running (their monitors outlive the agent). */
  close(): Promise<void>;
}

// The engine's contract: the Docker API face (agent/dockerapi) and the control-plane
// link (agent/link) both call these, so the two faces cannot drift apart.
import type { EventEmitter } from 'node:events';

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

/** One progress message of a pull, shaped like the docker CLI's JSON progress stream. */
export interface PullProgress {
  status: string;
  id?: string;
  current?: number;
  total?: number;
}

export interface ImageStore {
  pull(ref: string, opts?: { auth?: RegistryAuth; onProgress?: (p: PullProgress) => void }): Promise<ImageRecord>;
  list(): ImageRecord[];
  /** By "name:tag", "name@sha256:…", full id, or a unique id prefix (with or without "sha256:"). */
  get(refOrId: string): ImageRecord | undefined;
  /** Directories of the unpacked layers, lowest first: overlay's lowerdir wants them reversed. */
  layerDirs(image: ImageRecord): string[];
  /** Untags `refOrId` (or all tags of an id); deletes the image when no tag is left and `inUse` says no. */
  remove(refOrId: string, opts: { force?: boolean; inUse: (imageId: string) => boolean }): Array<{ Untagged?: string; Deleted?: string }>;
  /** Each change to the image list as it happens, whoever asked for it; the engine re-emits them. */
  on(event: 'image', listener: (e: ImageEvent) => void): this;
  off(event: 'image', listener: (e: ImageEvent) => void): this;
}

export interface ContainerCreateSpec {
  name?: string;
  /** An image reference or id, resolved through ImageStore.get. */
  image: string;
  /** Overrides the image's Cmd. */
  cmd?: string[];
  /** Overrides the image's Entrypoint ([] clears it). */
  entrypoint?: string[];
  /** "KEY=value", merged over the image's Env. */
  env?: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  labels?: Record<string, string>;
  /** Bytes; 0 = unlimited. */
  memory?: number;
  /** Bytes of memory+swap; -1 = unlimited swap, 0 = twice the memory limit (as Docker does: the CLI sends 0 by default). */
  memorySwap?: number;
  nanoCpus?: number;
  cpuShares?: number;
  /** 0 or negative = unlimited. */
  pidsLimit?: number;
  autoRemove?: boolean;
  /** "none" | "host" | "default" (own network namespace with loopback only, for now). */
  networkMode?: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerRecord {
  /** 64 lowercase hex digits. */
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  /** RFC 3339 with nanoseconds. */
  created: string;
  /** The reference as the user gave it. */
  image: string;
  imageId: string;
  config: {
    cmd: string[];
    entrypoint: string[];
    env: string[];
    workingDir: string;
    user: string;
    hostname: string;
    tty: boolean;
    labels: Record<string, string>;
  };
  hostConfig: {
    memory: number;
    memorySwap: number;
    nanoCpus: number;
    cpuShares: number;
    pidsLimit: number;
    autoRemove: boolean;
    networkMode: string;
  };
  state: {
    status: ContainerStatus;
    running: boolean;
    paused: boolean;
    /** Host pid of the container's init (0 when not running). */
    pid: number;
    exitCode: number;
    /** RFC 3339; "0001-01-01T00:00:00Z" when never. */
    startedAt: string;
    finishedAt: string;
    error: string;
    oomKilled: boolean;
  };
  restartCount: number;
  /** Docker json-file log of this container. */
  logPath: string;
}

export interface LogEntry {
  /** 1-based, increasing by one per line over the container's whole life: a reader resumes after the last seq it saw. */
  seq: number;
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the line was read from the process. */
  time: string;
  /** The text as printed, including its trailing "\n" when it had one. */
  line: string;
}

export interface LogOptions {
  /** Keep going as lines arrive; ends when the container has stopped and everything is read, or on `signal`. */
  follow?: boolean;
  /** Only the last N lines that pass the other filters (undefined = all). */
  tail?: number;
  /** Unix seconds (fractions allowed): only lines at or after. */
  since?: number;
  /** Unix seconds: only lines before. */
  until?: number;
  /** Only lines with seq > afterSeq (resuming a stream). */
  afterSeq?: number;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

export interface HostInfo {
  hostname: string;
  kernel: string;
  os: string;
  arch: string;
  cpus: number;
  memTotal: number;
  engineVersion: string;
  apiVersion: string;
  cgroupVersion: 1 | 2;
  root: string;
  containers: { total: number; running: number; paused: number; stopped: number };
  images: number;
}

export interface ContainerEvent {
  action: 'create' | 'start' | 'die' | 'stop' | 'kill' | 'destroy';
  id: string;
  exitCode?: number;
}

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

export interface Engine extends EventEmitter<EngineEvents> {
  readonly root: string;
  readonly images: ImageStore;
  info(): Promise<HostInfo>;
  createContainer(spec: ContainerCreateSpec): Promise<ContainerRecord>;
  start(idOrName: string): Promise<void>;
  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeoutSec` (default 10). */
  stop(idOrName: string, timeoutSec?: number): Promise<void>;
  kill(idOrName: string, signal?: string): Promise<void>;
  remove(idOrName: string, opts?: { force?: boolean }): Promise<void>;
  list(opts?: { all?: boolean }): ContainerRecord[];
  /** By full id, unique id prefix, or name. Throws EngineError 404 when unknown. */
  inspect(idOrName: string): ContainerRecord;
  /** Resolves when the container is next not running ('next-exit'), or at once if it is not running ('not-running'), or once removed ('removed'). */
  wait(idOrName: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<{ exitCode: number }>;
  logs(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry>;
  /** Stops watching; running containers keep running (their monitors outlive the agent). */
  close(): Promise<void>;
}

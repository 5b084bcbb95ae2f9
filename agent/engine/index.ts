// The engine facade both faces (Docker API, control-plane link) call.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { openCgroups, type Cgroups, type CgroupStats } from './cgroups';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { Containers, type ContainerHooks, type ExecOptions } from './containers';
import { readLogs } from './logs';
import { prepareRoot } from './root';
import type {
  ContainerCreateSpec,
  ContainerRecord,
  Engine,
  EngineEvents,
  HostInfo,
  ImageEvent,
  ImageStore,
  LogEntry,
  LogOptions,
} from './types';

export const ENGINE_VERSION = '0.1.0';
export const API_VERSION = '1.41';

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

export interface BerthEngine extends Engine {
  readonly containers: Containers;
  readonly cgroups: Cgroups;
  /** Memory, CPU time and pids of a running container; undefined when it is not running. */
  stats(idOrName: string): Promise<CgroupStats | undefined>;
  /** `docker exec`: a process in a running container; stdio are pipes, 'exit' gives its code. 409 when not running. */
  exec(idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams;
}

class EngineImpl extends EventEmitter<EngineEvents> implements BerthEngine {
  // Image changes are noticed where they happen, in the store, so a pull through the Docker
  // API and one through the link (or build, commit, load) look the same to listeners.
  private readonly onImage = (e: ImageEvent) => this.emit('image', e);

  constructor(
    readonly root: string,
    readonly images: ImageStore,
    readonly cgroups: Cgroups,
    readonly containers: Containers,
  ) {
    super();
    images.on('image', this.onImage);
  }

  async info(): Promise<HostInfo> {
    const all = this.containers.list(true);
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
      apiVersion: API_VERSION,
      cgroupVersion: this.cgroups.version,
      root: this.root,
      containers: { total: all.length, running, paused, stopped: all.length - running - paused },
      images: this.images.list().length,
    };
  }

  createContainer(spec: ContainerCreateSpec): Promise<ContainerRecord> {
    return this.containers.create(spec);
  }
  start(idOrName: string): Promise<void> {
    return this.containers.start(idOrName);
  }
  stop(idOrName: string, timeoutSec?: number): Promise<void> {
    return this.containers.stop(idOrName, timeoutSec);
  }
  kill(idOrName: string, signal?: string): Promise<void> {
    return this.containers.kill(idOrName, signal);
  }
  remove(idOrName: string, opts?: { force?: boolean }): Promise<void> {
    return this.containers.remove(idOrName, opts);
  }
  list(opts?: { all?: boolean }): ContainerRecord[] {
    return this.containers.list(opts?.all);
  }
  inspect(idOrName: string): ContainerRecord {
    return this.containers.inspect(idOrName);
  }
  wait(idOrName: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<{ exitCode: number }> {
    return this.containers.wait(idOrName, condition);
  }
  logs(idOrName: string, opts?: LogOptions): AsyncIterable<LogEntry> {
    // Resolve now so an unknown container fails at the call, not at the first next().
    const rec = this.containers.resolve(idOrName);
    const id = rec.id;
    return readLogs({ path: rec.logPath, status: () => this.containers.statusOf(id) }, opts);
  }
  async stats(idOrName: string): Promise<CgroupStats | undefined> {
    const rec = this.containers.resolve(idOrName);
    return rec.state.running ? this.cgroups.stats(rec.id) : undefined;
  }
  exec(idOrName: string, opts: ExecOptions): ChildProcessWithoutNullStreams {
    return this.containers.exec(idOrName, opts);
  }
  async close(): Promise<void> {
    this.images.off('image', this.onImage);
    await this.containers.close();
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
  let engine: EngineImpl | undefined;
  const containers = new Containers(root, images, cgroups, (e) => engine?.emit('container', e), opts.hooks);
  engine = new EngineImpl(root, images, cgroups, containers);
  await containers.load();
  return engine;
}

// The Engine API's exec instances: created, started once (attached or detached), resized,
// inspected. Each runs as a `berth-monitor exec` helper, a child of this agent (so an exec
// ends with the agent that started it); its stdio are pipes read with backpressure: a
// client that does not read pauses them, and the command blocks on a full pipe.
//
// Records live in memory: those of a container's execs that have exited are kept for
// inspection (the newest MAX_EXITED of them) until the container is removed.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { badRequest, conflict, notFound } from '../errors';
import type { Cgroups } from '../cgroups';
import type { ContainerEvent } from '../types';
import { runningRecord, spawnExecProcess } from './exec';
import type { TtySize } from './monitor';
import type { ContainerRecords } from './records';
import { ChunkQueue, DetachScanner, detachKeysOf, type OutputChunk, type StdioSession } from './stdio';

const MAX_EXITED = 100;

export interface ExecCreateOptions {
  cmd: string[];
  env?: string[];
  user?: string;
  workingDir?: string;
  tty?: boolean;
  attachStdin?: boolean;
  attachStdout?: boolean;
  attachStderr?: boolean;
  /** Docker's notation ("ctrl-p,ctrl-q"); default ctrl-p ctrl-q. */
  detachKeys?: string;
  consoleSize?: TtySize;
  privileged?: boolean;
}

export interface ExecStartOptions {
  /** No client: the output goes nowhere, and start returns once the process runs. */
  detach?: boolean;
  /** The size to start with (over the one given at create). */
  consoleSize?: TtySize;
}

/** What `GET /exec/{id}/json` shows. */
export interface ExecInfo {
  id: string;
  containerId: string;
  running: boolean;
  /** null until it has exited. */
  exitCode: number | null;
  /** Host pid of the command while it runs, else 0. */
  pid: number;
  tty: boolean;
  privileged: boolean;
  openStdin: boolean;
  openStdout: boolean;
  openStderr: boolean;
  user: string;
  entrypoint: string;
  args: string[];
  detachKeys: string;
  canRemove: boolean;
}

interface Exec {
  info: ExecInfo;
  opts: ExecCreateOptions;
  proc?: ChildProcess;
  /** The helper's window-size channel (stdio[3]) while it runs with a TTY. */
  sizes?: Writable;
}

type Emit = (e: ContainerEvent) => void;

export class ExecSessions {
  private readonly execs = new Map<string, Exec>();
  /** Per container: its exec ids, oldest first. */
  private readonly byContainer = new Map<string, string[]>();

  constructor(
    private readonly records: ContainerRecords,
    private readonly cgroups: Cgroups,
    private readonly emit: Emit,
  ) {}

  private get(id: string): Exec {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`);
    return e;
  }

  create(idOrName: string, o: ExecCreateOptions): ExecInfo {
    const rec = runningRecord(this.records, idOrName);
    if (!o.cmd.length) throw badRequest('No exec command specified');
    detachKeysOf(o.detachKeys, 'escape');
    const id = randomBytes(32).toString('hex');
    const info: ExecInfo = {
      id,
      containerId: rec.id,
      running: false,
      exitCode: null,
      pid: 0,
      tty: !!o.tty,
      privileged: !!o.privileged,
      openStdin: !!o.attachStdin,
      openStdout: !!o.attachStdout,
      openStderr: !!o.attachStderr,
      user: o.user || rec.spec.process.user,
      entrypoint: o.cmd[0],
      args: o.cmd.slice(1),
      detachKeys: o.detachKeys ?? '',
      canRemove: false,
    };
    this.execs.set(id, { info, opts: o });
    const list = this.byContainer.get(rec.id) ?? [];
    list.push(id);
    this.byContainer.set(rec.id, list);
    this.prune(rec.id);
    this.emit({ action: 'exec_create', id: rec.id, execId: id, command: o.cmd.join(' ') });
    return { ...info };
  }

  /** Keeps the newest MAX_EXITED exited execs of a container. */
  private prune(containerId: string): void {
    const list = this.byContainer.get(containerId) ?? [];
    const exited = list.filter((id) => this.execs.get(id)?.info.exitCode !== null);
    for (const id of exited.slice(0, Math.max(0, exited.length - MAX_EXITED))) {
      this.execs.delete(id);
      list.splice(list.indexOf(id), 1);
    }
  }

  inspect(id: string): ExecInfo {
    const e = this.get(id);
    const info = { ...e.info };
    if (info.running && e.proc?.pid) info.pid = commandPid(e.proc.pid);
    return info;
  }

  /** Docker's ExecIDs: the container's execs that have not exited. */
  idsOf(containerId: string): string[] {
    return (this.byContainer.get(containerId) ?? []).filter((id) => this.execs.get(id)?.info.exitCode === null);
  }

  /** The container is gone, and its execs with it. */
  forget(containerId: string): void {
    for (const id of this.byContainer.get(containerId) ?? []) this.execs.delete(id);
    this.byContainer.delete(containerId);
  }

  async resize(id: string, size: TtySize): Promise<void> {
    const e = this.get(id);
    runningRecord(this.records, e.info.containerId);
    if (!e.info.running) throw conflict(`exec ${id} is not running`);
    // Without a TTY there is nothing to size: a no-op, as Docker's.
    if (e.sizes && size.rows > 0 && size.cols > 0) e.sizes.write(`${size.rows} ${size.cols}\n`);
  }

  /** Signals a running exec's command (through its helper, which passes it on); a no-op once it has exited.
   *  Docker has no such call: the dashboard's terminal uses it to end a shell its browser left. */
  kill(id: string, signal: NodeJS.Signals): void {
    const e = this.get(id);
    if (e.info.running && e.proc && e.proc.exitCode === null && e.proc.signalCode === null) e.proc.kill(signal);
  }

  /** Starts the exec: a session for its client, or undefined when detached. */
  start(id: string, o: ExecStartOptions): StdioSession | undefined {
    const e = this.get(id);
    if (e.info.exitCode !== null) throw conflict(`exec command ${id} has already run`);
    if (e.info.running) throw conflict(`exec command ${id} is already running`);
    const rec = runningRecord(this.records, e.info.containerId);
    const detach = !!o.detach;
    const ttySize = o.consoleSize ?? e.opts.consoleSize;
    const proc = spawnExecProcess(
      this.records,
      this.cgroups,
      rec,
      { cmd: e.opts.cmd, env: e.opts.env, user: e.opts.user, workingDir: e.opts.workingDir, privileged: e.info.privileged, tty: e.info.tty, ttySize: e.info.tty ? ttySize : undefined },
      { stdin: !detach && e.info.openStdin, output: !detach },
    );
    e.proc = proc;
    e.info.running = true;
    if (e.info.tty) e.sizes = (proc.stdio[3] as Writable | null) ?? undefined;
    e.sizes?.on('error', () => {}); // the helper may exit with a size still on its way
    proc.stdin?.on('error', () => {});
    this.emit({ action: 'exec_start', id: rec.id, execId: id, command: e.opts.cmd.join(' ') });
    const session = detach ? undefined : new ExecSession(e, proc, detachKeysOf(e.opts.detachKeys, 'escape'), () => this.emit({ action: 'exec_detach', id: rec.id, execId: id }));
    let code: number | undefined;
    const finished = () => {
      e.info.running = false;
      e.info.exitCode = code ?? 126;
      e.info.pid = 0;
      e.proc = undefined;
      e.sizes = undefined;
      this.emit({ action: 'exec_die', id: rec.id, execId: id, exitCode: e.info.exitCode });
      this.prune(rec.id);
      session?.exited();
    };
    // 'close': the helper has exited and its pipes are drained, so the output is all there
    // before the client learns the exit code (the CLI asks for it as soon as the stream ends).
    proc.once('close', (c, sig) => {
      code = c ?? 128 + signalNumber(sig);
      finished();
    });
    proc.once('error', (err) => {
      console.error(`berth: exec ${id.slice(0, 12)}: ${err.message}`);
      if (proc.exitCode === null && proc.pid === undefined) finished();
    });
    return session;
  }
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const n = sig ? (({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 }) as Record<string, number>)[sig] : undefined;
  return n ?? 1;
}

/** The exec'd command: the helper's only child (it forks once, after joining the namespaces). */
function commandPid(helper: number): number {
  try {
    return Number(readFileSync(`/proc/${helper}/task/${helper}/children`, 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

/** The client's side of a started exec: its output (paused while unread) and its stdin. */
class ExecSession implements StdioSession {
  readonly output: AsyncIterable<OutputChunk[]>;
  readonly tty: boolean;
  private readonly queue: ChunkQueue;
  private readonly scanner?: DetachScanner;
  private readonly outs: Readable[];
  private done = false;

  constructor(
    private readonly e: Exec,
    private readonly proc: ChildProcess,
    detachKeys: Buffer,
    private readonly onDetach: () => void,
  ) {
    this.tty = e.info.tty;
    this.queue = new ChunkQueue(() => this.resume());
    if (this.tty && e.info.openStdin) this.scanner = new DetachScanner(detachKeys);
    this.outs = [proc.stdout, proc.stderr].filter((s): s is Readable => !!s);
    const forward = (stream: 1 | 2, wanted: boolean) => (d: Buffer) => {
      if (this.done || !wanted) return;
      // A TTY's output is one stream; the helper's own messages on stderr belong in it.
      this.queue.push({ stream: this.tty ? 1 : stream, data: d });
      if (this.queue.full) for (const s of this.outs) s.pause();
    };
    proc.stdout?.on('data', forward(1, e.info.openStdout));
    proc.stderr?.on('data', forward(2, this.tty ? e.info.openStdout || e.info.openStderr : e.info.openStderr));
    this.output = this.queue.batches();
  }

  private resume(): void {
    if (this.queue.low) for (const s of this.outs) s.resume();
  }

  async write(data: Buffer): Promise<'ok' | 'detached'> {
    if (this.done) return 'detached';
    const stdin = this.proc.stdin;
    if (!stdin || !this.e.info.openStdin) return 'ok';
    let pass = data;
    let detached = false;
    if (this.scanner) ({ pass, detached } = this.scanner.feed(data));
    if (pass.length && !stdin.destroyed && !stdin.writableEnded && !stdin.write(pass)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
    if (detached) {
      this.onDetach();
      this.leave();
      return 'detached';
    }
    return 'ok';
  }

  endInput(): void {
    if (this.done || !this.e.info.openStdin) return;
    // Docker closes an exec's stdin at its client's EOF, unless it has a TTY: then the client's output ends.
    if (!this.tty) this.proc.stdin?.end();
    else this.leave();
  }

  close(): void {
    if (!this.done && !this.tty) this.proc.stdin?.end();
    this.leave();
  }

  /** This client is done; the command runs on, its output read and dropped so it never blocks on it. */
  private leave(): void {
    if (this.done) return;
    this.done = true;
    this.queue.end();
    for (const s of this.outs) s.resume();
  }

  /** The command has exited and everything it printed is queued. */
  exited(): void {
    this.queue.end();
  }
}

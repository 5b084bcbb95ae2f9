// Node's fs can neither set extended attributes nor make device nodes, so a layer being
// unpacked gets one `berth-monitor layer-fixup ROOT` process (agent/native/layerfix.c)
// that does both with lsetxattr/mknodat, refusing any path that leaves ROOT through a
// symlink. Records stream in as the tar is read; each is acknowledged in order, so a
// caller that needs a node before going on (lchown, a later hardlink) awaits just that one.
//
// Exports: LayerFixup, DeviceType.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { monitorBinary } from '../../native/binary';
import { EngineError } from '../errors';

export type DeviceType = 'c' | 'b' | 'p';

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class LayerFixup {
  private child: ChildProcessWithoutNullStreams | undefined;
  private waiters: Waiter[] = [];
  private failure: EngineError | undefined;
  private exited: Promise<void> | undefined;

  /** `root`: the layer directory; paths given to the methods are relative to it ("" is root). */
  constructor(
    readonly root: string,
    private readonly label = 'layer',
  ) {}

  /** Creates a node with mode `mode` (no umask); the path must not exist. */
  mknod(rel: string, type: DeviceType, major: number, minor: number, mode: number): Promise<void> {
    return this.send(['mknod', rel, type, String(major), String(minor), mode.toString(8)]);
  }

  /**
   * Queues `name` on `rel`, not following a final symlink; close() reports a failure. A file
   * system without the attribute's namespace is no failure, except for trusted.overlay.*.
   */
  setXattr(rel: string, name: string, value: Buffer): void {
    this.send(['xattr', rel, name, value.toString('hex')]).catch(() => undefined);
  }

  /** Waits for every record to be applied; throws the first failure. */
  async close(): Promise<void> {
    if (!this.child) return;
    this.child.stdin.end();
    await this.exited;
    if (this.failure) throw this.failure;
  }

  /** Stops the helper without waiting for pending records (the layer is being thrown away). */
  abort(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private send(fields: string[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const bad = fields.find((f) => f.includes('\0'));
    if (bad !== undefined) return Promise.reject((this.failure = new EngineError(500, `${this.label}: NUL byte in "${bad}"`)));
    const child = this.child ?? this.spawn();
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    child.stdin.write(Buffer.from(fields.map((f) => f + '\0').join('')));
    return done;
  }

  private spawn(): ChildProcessWithoutNullStreams {
    let bin: string;
    try {
      bin = monitorBinary();
    } catch (e) {
      throw new EngineError(500, `${this.label}: ${(e as Error).message}`);
    }
    const child = spawn(bin, ['layer-fixup', this.root], { stdio: ['pipe', 'pipe', 'pipe'], env: {} as NodeJS.ProcessEnv });
    this.child = child;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout.on('data', (d: Buffer) => {
      for (const byte of d) if (byte === 0x0a) this.waiters.shift()?.resolve();
    });
    // Written records are answered or the process has died: a broken pipe says nothing new.
    child.stdin.on('error', () => undefined);
    this.exited = new Promise<void>((resolve) => {
      const fail = (msg: string) => {
        this.failure ??= new EngineError(500, `${this.label}: ${msg}`);
        for (const w of this.waiters.splice(0)) w.reject(this.failure);
      };
      child.on('error', (e) => {
        fail(`cannot run ${bin}: ${e.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        if (code !== 0) fail(stderr.trim() || `berth-monitor layer-fixup ${signal ? `killed by ${signal}` : `exited ${code}`}`);
        else if (this.waiters.length) fail('berth-monitor layer-fixup exited before answering every record');
        resolve();
      });
    });
    return child;
  }
}

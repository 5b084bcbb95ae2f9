// A container's stdio for attached clients (`docker run`, `attach`, `start -a`, the
// dashboard's terminal later): live output and stdin, through the container's monitor.
//
// Output comes from the monitor's `attach` stream, not from following the log: the log
// keeps Docker's json-file lines (a partial line waits there for its newline), while a
// client must see a prompt or a typed character the moment it is printed. One monitor
// connection per container fans out to every attached client; stdin is one monitor
// connection too, and every client's input goes into it, chunk by chunk, in order (as
// Docker lets several attached clients type). Backpressure runs end to end with bounded
// buffers: a client that does not read pauses the monitor connection (the monitor then
// stops reading the container's pipes, and the container blocks, as with Docker's
// attach); a container that does not read its stdin holds the client's input back.
//
// Clients that attach before a start (the CLI attaches, then starts) are connected while
// the init still waits to be released (the prestart step), so they get the first byte.
import type net from 'node:net';
import type { ContainerRecord } from '../../../protocol/container';
import { badRequest } from '../errors';
import { MonitorGone, MonitorRefused, MonitorRun, type TtySize } from './monitor';

export type OutputStream = 1 | 2;
export interface OutputChunk {
  stream: OutputStream;
  data: Buffer;
}

/** What one client of a container's (or an exec's) stdio holds. */
export interface StdioSession {
  /** The process has a TTY: output is one raw stream. */
  readonly tty: boolean;
  /** Output in the order it was printed, in batches; pulled, so a slow reader holds the process back.
   *  Ends when the process's output has ended, or the session was detached or closed. */
  readonly output: AsyncIterable<OutputChunk[]>;
  /** Client input; resolves once it has been taken. 'detached' when it held the detach keys
   *  (nothing from them on is passed on, and the output ends). */
  write(data: Buffer): Promise<'ok' | 'detached'>;
  /** The client's input ended: with StdinOnce and no TTY the process's stdin is closed,
   *  otherwise this client's output ends (Docker's rule). */
  endInput(): void;
  /** The client went away. */
  close(): void;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Keep streaming once the past (logs) is given; without it the session has only the past. */
  stream?: boolean;
  /** Detach keys in Docker's notation ("ctrl-p,ctrl-q", the default); they only act with a TTY. */
  detachKeys?: string;
}

const CTRL_NAMES = ['ctrl-@', ...'abcdefghijklmnopqrstuvwxyz'.split('').map((c) => `ctrl-${c}`), 'ctrl-[', 'ctrl-\\', 'ctrl-]', 'ctrl-^', 'ctrl-_'];
export const DEFAULT_DETACH_KEYS = Buffer.from([16, 17]);

/** Docker's detach key notation (moby/term ToBytes): comma-separated single characters,
 *  ctrl-@ … ctrl-_ and DEL. undefined when it cannot be read. */
export function parseDetachKeys(keys: string): Buffer | undefined {
  const out: number[] = [];
  for (const key of keys.split(',')) {
    if (key.length === 1) out.push(key.charCodeAt(0));
    else if (CTRL_NAMES.includes(key)) out.push(CTRL_NAMES.indexOf(key));
    else if (key === 'DEL') out.push(127);
    else return undefined;
  }
  return out.every((c) => c < 256) ? Buffer.from(out) : undefined;
}

/** Checked detach keys for a request: Docker's 400 for ones it cannot read. */
export function detachKeysOf(keys: string | undefined, what: 'detach' | 'escape' = 'detach'): Buffer {
  if (!keys) return DEFAULT_DETACH_KEYS;
  const b = parseDetachKeys(keys);
  if (!b) throw badRequest(`Invalid ${what} keys (${keys}) provided`);
  return b;
}

/**
 * Finds the detach sequence in a client's input, however it was split into chunks. Bytes
 * that could be its start are held back until the next chunk tells; if they are not, they
 * go on with it (so typing ctrl-p alone still reaches the process).
 */
export class DetachScanner {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  /** The bytes to pass on, and whether the sequence completed (nothing after it is passed on). */
  feed(chunk: Buffer): { pass: Buffer; detached: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        if (++this.held === this.keys.length) return { pass: Buffer.from(out), detached: true };
        continue;
      }
      // A mismatch: the held bytes were input after all (and this byte may start the sequence anew).
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]);
      this.held = 0;
      if (b === this.keys[0] && this.keys.length > 1) this.held = 1;
      else if (b === this.keys[0]) return { pass: Buffer.from(out), detached: true };
      else out.push(b);
    }
    return { pass: Buffer.from(out), detached: false };
  }
}

// Per client, output waiting to be taken: above HIGH the monitor connection is paused, below LOW it goes on.
const HIGH_WATER = 256 << 10;
const LOW_WATER = 64 << 10;

/** Output waiting for one client. */
export class ChunkQueue {
  private items: OutputChunk[] = [];
  bytes = 0;
  private ended = false;
  private wake?: () => void;
  constructor(private readonly onTaken: () => void = () => {}) {}

  push(c: OutputChunk): void {
    if (this.ended) return;
    this.items.push(c);
    this.bytes += c.data.length;
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  get full(): boolean {
    return this.bytes > HIGH_WATER;
  }
  get low(): boolean {
    return this.bytes < LOW_WATER;
  }
  async *batches(): AsyncGenerator<OutputChunk[]> {
    for (;;) {
      if (this.items.length) {
        const batch = this.items;
        this.items = [];
        this.bytes = 0;
        this.onTaken();
        yield batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

interface Subscriber {
  queue: ChunkQueue;
  stdout: boolean;
  stderr: boolean;
}

/** The monitor's `attach` stream of one container run, shared by every client attached to it. */
class OutputHub {
  private sock?: net.Socket;
  private connecting?: Promise<void>;
  private readonly subs = new Set<Subscriber>();
  private pending: Buffer = Buffer.alloc(0);
  private paused = false;
  /** The monitor closed the stream: the run's output is over. */
  private over = false;

  constructor(private readonly run: MonitorRun) {}

  get size(): number {
    return this.subs.size;
  }

  add(sub: Subscriber): void {
    if (this.over) return sub.queue.end();
    this.subs.add(sub);
  }
  remove(sub: Subscriber): void {
    this.subs.delete(sub);
    sub.queue.end();
    if (!this.subs.size) this.disconnect();
    else this.taken();
  }

  /** Connects once (again after everyone had left); the run is over when the monitor is not there. */
  connect(): Promise<void> {
    if (this.over) return Promise.resolve();
    this.connecting ??= this.run.openStream('attach').then(
      (sock) => {
        if (!this.subs.size) {
          this.connecting = undefined;
          sock.destroy();
          return;
        }
        this.sock = sock;
        // The clients keep the agent busy, not these connections to monitors.
        sock.unref();
        this.pending = Buffer.alloc(0);
        this.paused = false;
        sock.on('data', (d: Buffer) => this.data(d));
        sock.on('close', () => this.ended());
        sock.resume();
      },
      (err: Error) => {
        if (!(err instanceof MonitorGone || err instanceof MonitorRefused)) console.error(`berth: attach to ${this.run.dir}: ${err.message}`);
        this.ended();
      },
    );
    return this.connecting;
  }

  private data(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let at = 0;
    while (this.pending.length - at >= 8) {
      const len = this.pending.readUInt32BE(at + 4);
      if (this.pending.length - at < 8 + len) break;
      const stream = this.pending[at] === 2 ? 2 : 1;
      const chunk: OutputChunk = { stream, data: this.pending.subarray(at + 8, at + 8 + len) };
      for (const s of this.subs) if (stream === 1 ? s.stdout : s.stderr) s.queue.push(chunk);
      at += 8 + len;
    }
    this.pending = at === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(at);
    if (!this.paused && [...this.subs].some((s) => s.queue.full)) {
      this.paused = true;
      this.sock?.pause();
    }
  }

  /** A subscriber took its output: go on once every one is low again. */
  taken(): void {
    if (this.paused && [...this.subs].every((s) => s.queue.low)) {
      this.paused = false;
      this.sock?.resume();
    }
  }

  private ended(): void {
    this.over = true;
    for (const s of this.subs) s.queue.end();
    this.subs.clear();
    this.sock = undefined;
  }

  /** The agent stops: its clients are gone with it. */
  close(): void {
    this.sock?.destroy();
  }

  /** Nobody is attached: the monitor need not send anything (a later client connects again). */
  private disconnect(): void {
    const sock = this.sock;
    if (!sock) return; // connect() drops a connection that arrives with nobody left
    this.sock = undefined;
    this.connecting = undefined;
    sock.removeAllListeners('close');
    sock.removeAllListeners('data');
    sock.destroy();
  }
}

/** The monitor's `stdin` stream of one container: every client's input, a frame per chunk, in order. */
class StdinRelay {
  private sock?: net.Socket;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly ready: Promise<void>;

  constructor(run: MonitorRun) {
    this.ready = run.openStream('stdin').then(
      (sock) => {
        this.sock = sock;
        sock.unref();
        sock.on('close', () => {
          this.sock = undefined;
          this.closed = true;
        });
        // Nothing comes this way; reading keeps a half-closed socket from lingering.
        sock.on('data', () => {});
        sock.resume();
      },
      (err: Error) => {
        this.closed = true;
        if (!(err instanceof MonitorGone || err instanceof MonitorRefused)) console.error(`berth: stdin to ${run.dir}: ${err.message}`);
      },
    );
  }

  /** Resolves once the monitor's socket took the frame (or there is nowhere to put it any more). */
  write(data: Buffer): Promise<void> {
    if (!data.length) return this.chain.then(() => undefined);
    const p = this.chain.then(() => this.frame(data));
    this.chain = p;
    return p;
  }
  /** The attached client's EOF: the monitor closes the container's stdin (StdinOnce). */
  end(): Promise<void> {
    const p = this.chain.then(() => this.frame(Buffer.alloc(0)));
    this.chain = p;
    return p;
  }

  private async frame(data: Buffer): Promise<void> {
    await this.ready;
    const sock = this.sock;
    if (!sock || this.closed) return; // stdin closed, or the container has exited: as Docker, input goes nowhere
    const hdr = Buffer.allocUnsafe(4);
    hdr.writeUInt32BE(data.length, 0);
    sock.write(hdr);
    if (sock.write(data)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  }

  destroy(): void {
    this.sock?.destroy();
  }
}

/** One run of a container (one monitor): its output hub and, once a client wants it, its stdin. */
class Run {
  readonly hub: OutputHub;
  private relay?: StdinRelay;

  constructor(private readonly monitor: MonitorRun) {
    this.hub = new OutputHub(monitor);
  }

  stdin(): StdinRelay {
    this.relay ??= new StdinRelay(this.monitor);
    return this.relay;
  }
  close(): void {
    this.hub.close();
    this.relay?.destroy();
  }
  /** Both connections as far as the attached clients need them. */
  connected(): Promise<void> {
    return Promise.all([this.hub.size ? this.hub.connect() : undefined, this.relay?.ready]).then(() => undefined);
  }
}

/** One container's attached clients: bound to its current run, or waiting for the next. */
interface ContainerStdio {
  run?: Run;
  waiting: Set<AttachSession>;
}

type Emit = (action: 'attach' | 'detach', id: string) => void;

class AttachSession implements StdioSession {
  readonly output: AsyncIterable<OutputChunk[]>;
  private readonly queue: ChunkQueue;
  private readonly sub: Subscriber;
  private readonly scanner?: DetachScanner;
  private run?: Run;
  private bindNow!: (r: Run | undefined) => void;
  /** The run this client's input goes to (undefined: it ended before one came). */
  private readonly bound = new Promise<Run | undefined>((r) => (this.bindNow = r));
  private done = false;
  /** Input and its end go to the process in the order the client gave them. */
  private inputs: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly emit: Emit,
    private readonly rec: { id: string; tty: boolean; openStdin: boolean; stdinOnce: boolean },
    private readonly opts: AttachOptions,
    detachKeys: Buffer,
    private readonly onDone: (s: AttachSession) => void,
  ) {
    this.queue = new ChunkQueue(() => this.run?.hub.taken());
    this.sub = { queue: this.queue, stdout: !!opts.stdout, stderr: !!opts.stderr };
    // Docker looks for detach keys only on a TTY's input, and only when stdin is the container's.
    if (rec.tty && this.usesStdin) this.scanner = new DetachScanner(detachKeys);
    this.output = this.queue.batches();
  }

  get tty(): boolean {
    return this.rec.tty;
  }
  get usesStdin(): boolean {
    return !!this.opts.stdin && this.rec.openStdin;
  }

  bind(run: Run): void {
    if (this.done) return;
    this.run = run;
    run.hub.add(this.sub);
    if (this.usesStdin) run.stdin();
    this.bindNow(run);
  }

  async write(data: Buffer): Promise<'ok' | 'detached'> {
    if (this.done) return 'detached';
    if (!this.usesStdin) return 'ok'; // Docker drops input for a container without OpenStdin
    let pass = data;
    let detached = false;
    if (this.scanner) ({ pass, detached } = this.scanner.feed(data));
    // Input typed before the start waits here, and the client is not read meanwhile: no buffer grows.
    if (pass.length) await this.toStdin((stdin) => stdin.write(pass));
    if (detached) {
      this.emit('detach', this.rec.id);
      this.finish();
      return 'detached';
    }
    return 'ok';
  }

  /** Once bound, and once the output stream is connected too: what the process answers to
   *  this input must reach this client. */
  private toStdin(act: (stdin: StdinRelay) => unknown): Promise<void> {
    const next = this.inputs.then(async () => {
      const run = await this.bound;
      if (!run) return;
      await run.connected();
      await act(run.stdin());
    });
    this.inputs = next.catch(() => {});
    return next;
  }

  endInput(): void {
    if (this.done || !this.usesStdin) return;
    if (this.rec.stdinOnce && !this.rec.tty) void this.toStdin((stdin) => stdin.end()).catch(() => {});
    else this.finish();
  }

  close(): void {
    // A client that left ends its stdin the way an EOF does (Docker's copy ends either way).
    if (!this.done && this.usesStdin && this.rec.stdinOnce && !this.rec.tty) void this.toStdin((stdin) => stdin.end()).catch(() => {});
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.bindNow(undefined);
    if (this.run) this.run.hub.remove(this.sub);
    else this.queue.end();
    this.onDone(this);
  }
}

/** Every container's attached clients. The engine calls ready() before it releases an init. */
export class ContainerStdioRegistry {
  private readonly byId = new Map<string, ContainerStdio>();

  constructor(
    private readonly runDir: (id: string) => string,
    private readonly emit: Emit,
  ) {}

  private state(id: string): ContainerStdio {
    let s = this.byId.get(id);
    if (!s) {
      s = { waiting: new Set() };
      this.byId.set(id, s);
    }
    return s;
  }

  private dropIfIdle(id: string): void {
    const s = this.byId.get(id);
    if (s && !s.run && !s.waiting.size) this.byId.delete(id);
  }

  /**
   * A client attaches. A running container is connected now; one that is not running is
   * connected at its next start, before its init runs a single instruction. With stream
   * false the session has no live part (Docker's attach without stream).
   */
  attach(rec: ContainerRecord, opts: AttachOptions): StdioSession {
    const p = rec.spec.process;
    const keys = detachKeysOf(opts.detachKeys);
    const s = this.state(rec.id);
    const session = new AttachSession(this.emit, { id: rec.id, tty: p.tty, openStdin: !!p.openStdin, stdinOnce: !!p.stdinOnce }, opts, keys, (x) => {
      s.waiting.delete(x);
      this.dropIfIdle(rec.id);
    });
    this.emit('attach', rec.id);
    if (!opts.stream) {
      session.finish();
      return session;
    }
    // Running since before this agent: no ready() came for this run, so it starts here.
    if (!s.run && rec.state.running) s.run = new Run(new MonitorRun(this.runDir(rec.id)));
    if (s.run) {
      session.bind(s.run);
      void s.run.connected();
    } else s.waiting.add(session);
    return session;
  }

  /** The container's monitor runs and its init waits for release: clients attached already connect now. */
  async ready(id: string): Promise<void> {
    // Kept for clients that come while the start is still under way, too.
    const s = this.state(id);
    s.run = new Run(new MonitorRun(this.runDir(id)));
    for (const x of s.waiting) x.bind(s.run);
    s.waiting.clear();
    await s.run.connected();
  }

  /** The run ended (the container died): later clients wait for the next start. Clients of
   *  the run keep their connection until the monitor has given them everything. */
  ended(id: string): void {
    const s = this.byId.get(id);
    if (!s) return;
    s.run = undefined;
    this.dropIfIdle(id);
  }

  /** The agent stops: every client connection goes (containers run on). */
  close(): void {
    for (const s of this.byId.values()) {
      for (const x of [...s.waiting]) x.finish();
      s.run?.close();
    }
    this.byId.clear();
  }

  /** The container is gone: clients still waiting for a start never get one. */
  removed(id: string): void {
    const s = this.byId.get(id);
    if (!s) return;
    for (const x of [...s.waiting]) x.finish();
    this.byId.delete(id);
  }
}

export type { TtySize };

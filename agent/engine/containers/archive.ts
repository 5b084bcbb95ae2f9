// `docker cp`: the archive endpoints (HEAD, GET and PUT /containers/{id}/archive) on running
// and stopped containers alike, with Docker's path semantics (moby's daemon/archive_unix.go
// and containerfs_linux.go, go-archive's copy.go).
//
// Where the files are read and written: a host-side mount of the container's root file
// system without its submounts (/proc, /sys, /dev and binds stay out, as they do for
// Docker's cp), beside the container's state:
// - running (or paused): the container's own root mount, cloned from its mount namespace
//   by `berth-monitor clone-root` (agent/native/cloneroot.c). It is the same overlay, so
//   the container sees every write at once; a second overlay on the same upper dir would
//   be undefined behaviour in overlayfs;
// - stopped (created, exited, or waiting for a restart): an overlay of its upper dir over
//   the image's layers, as its start mounts it, so writes land in the upper dir
//   (copy-on-write), never in the image's layers.
//
// Why nothing can leave the container's root (CVE-2018-15664 is the symlink-swap race):
// every path is resolved here component by component under the mount, a symlink's target
// taken inside the container (an absolute one from the container's root, `..` stopping at
// it), and the PUT goes through the layer extractor (agent/engine/layers/extract.ts, mode
// 'copy'), which lstats every parent and never follows a symlink it did not resolve. That
// is only sound while nothing else changes the tree, so, as Docker did for that CVE, a
// running container is frozen (its cgroup's freezer: every process of it, execs included)
// from before the path is resolved until the last byte is read or written, and thawed
// after, also on error; a paused one simply stays paused. A second copy, and pause,
// unpause, stop, kill and remove of the same container, wait until the copy is over (the
// facade takes the same lock: Docker holds its container lock the same way), and a start
// waits before its init mounts the rootfs, so a stopped container cannot start under a
// copy, nor a copy begin while a start is mounting. The alternative, resolving every path
// with openat2(RESOLVE_IN_ROOT) in a native helper, would have meant a second extractor in
// C; freezing keeps the one extractor as the single security boundary for tar input.
//
// Volumes and binds are in the view, as in Docker's: each is attached over the view's root
// by `berth-monitor mount-in`, its target resolved inside the view by openat2 as at a start
// (read-only ones read-only), so a copy into /data lands in the volume mounted there, and
// the rest of the container's filesystem is what the root's rules say. Other running
// containers that see the same host directories (a shared volume, an overlapping bind) are
// frozen for the copy as well, since their processes could swap a path in it just the same.
// A copy into a read-only container is refused unless its destination is in a writable
// volume or bind (Docker's checkWritablePath).
//
// Exports: ContainerArchives, PathStat, ContainerArchive, PutArchiveOptions; for tests the
// path rules: goFileMode, goBase, absPathOf, resolveInRoot, PathError.
import { execFile } from 'node:child_process';
import { lstatSync, readFileSync, readlinkSync, type BigIntStats, type Stats } from 'node:fs';
import { mkdir, mkdtemp, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerRecord } from '../../../protocol/container';
import { monitorBinary } from '../../native/binary';
import type { Cgroups } from '../cgroups';
import { badRequest, conflict, EngineError, notFound } from '../errors';
import { decompress, extractLayer } from '../layers/extract';
import { packDirectory, writeTar, type TarWriteEntry } from '../layers/tar-write';
import { mountWritable, unmountOverlay } from '../mounts/overlay';
import type { ContainerEvent, ImageStore } from '../types';
import type { ContainerRecords } from './records';
import type { ContainerStorage } from '../volumes/mounts';

const run = promisify(execFile);

/** `docker cp`'s stat of a path, as Docker's X-Docker-Container-Path-Stat header carries it. */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits (type in the high bits, permissions in the low ones). */
  mode: number;
  /** RFC 3339 with nanoseconds, UTC. */
  mtime: string;
  /** A symlink's target resolved inside the container (absolute); "" for anything else. */
  linkTarget: string;
}

export interface ContainerArchive {
  stat: PathStat;
  /** The tar; reading it to its end releases the container. */
  content: AsyncIterable<Buffer>;
  /** Releases the container (thaws it, unmounts the view) without reading further; idempotent. */
  close(): Promise<void>;
}

export interface PutArchiveOptions {
  /** Refuse to replace an existing directory with a non-directory and the other way round (the CLI always asks). */
  noOverwriteDirNonDir?: boolean;
  /** `docker cp -a`: files owned by the container's user (its Config.User), when it has one. */
  copyUIDGID?: boolean;
}

// Go's os.FileMode type bits.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHARDEV = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** st_mode as Go's os.FileMode (what Docker's stat header carries). */
export function goFileMode(st: { mode: number | bigint }): number {
  const m = Number(st.mode);
  let out = m & 0o777;
  switch (m & 0o170000) {
    case 0o040000:
      out += GO_DIR;
      break;
    case 0o120000:
      out += GO_SYMLINK;
      break;
    case 0o060000:
      out += GO_DEVICE;
      break;
    case 0o020000:
      out += GO_DEVICE + GO_CHARDEV;
      break;
    case 0o010000:
      out += GO_PIPE;
      break;
    case 0o140000:
      out += GO_SOCKET;
      break;
  }
  if (m & 0o4000) out += GO_SETUID;
  if (m & 0o2000) out += GO_SETGID;
  if (m & 0o1000) out += GO_STICKY;
  return out;
}

function rfc3339Nano(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${frac ? `.${frac}` : ''}Z`;
}

// --- paths, as Go's filepath and go-archive treat them

/** filepath.Base: the last element, trailing slashes ignored; "/" for the root, "." for "". */
export function goBase(p: string): string {
  if (p === '') return '.';
  const t = p.replace(/\/+$/, '');
  if (t === '') return '/';
  return t.slice(t.lastIndexOf('/') + 1);
}

/** filepath.Clean of an absolute path. */
function goCleanAbs(p: string): string {
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return '/' + out.join('/');
}

/** archive.PreserveTrailingDotOrSeparator(filepath.Join("/", p), p): the path Docker's GET archives. */
export function absPathOf(p: string): string {
  let clean = goCleanAbs('/' + p);
  if (goBase(clean) !== '.' && goBase(p) === '.') clean += (clean.endsWith('/') ? '' : '/') + '.';
  if (!clean.endsWith('/') && p.endsWith('/')) clean += '/';
  return clean;
}

export class PathError extends Error {
  constructor(
    readonly code: 'ENOENT' | 'ENOTDIR' | 'ELOOP',
    op: string,
    path: string,
  ) {
    super(`${op} ${path}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'ENOTDIR' ? 'not a directory' : 'too many levels of symbolic links'}`);
  }
}

// Linux gives up after 40 symlinks in one lookup.
const MAX_LINKS = 40;
const lstatOf = (p: string): Stats | undefined => lstatSync(p, { throwIfNoEntry: false });

interface Resolved {
  /** The host path under the view's root, free of symlinks below it. */
  host: string;
  /** The same, as a path in the container ("/" for its root). */
  inside: string;
}

/**
 * Resolves `p` (relative paths count from "/") under `root` the way the kernel would with
 * `root` as the process's root: symlinks on the way are followed inside it, an absolute
 * target from `root`, `..` never above it. The last component is followed only when
 * `followLast` or when the path ends in "/" (then it must be a directory). With `lenient`
 * (Docker's FollowSymlinkInScope, for a stat's linkTarget) a missing component is kept as
 * written instead of failing.
 */
export function resolveInRoot(root: string, p: string, opts: { followLast: boolean; lenient?: boolean; op?: string }): Resolved {
  const op = opts.op ?? 'lstat';
  const trailing = p.endsWith('/');
  const queue = p.split('/').filter((c) => c !== '');
  const cur: string[] = [];
  let links = 0;
  let missing = false;
  while (queue.length) {
    const c = queue.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      cur.pop();
      continue;
    }
    const last = queue.length === 0;
    if (missing) {
      cur.push(c);
      continue;
    }
    const host = join(root, ...cur, c);
    const st = lstatOf(host);
    if (!st) {
      if (!opts.lenient) throw new PathError('ENOENT', op, p);
      missing = true;
      cur.push(c);
      continue;
    }
    if (st.isSymbolicLink() && (!last || opts.followLast || trailing)) {
      if (++links > MAX_LINKS) throw new PathError('ELOOP', op, p);
      const target = readlinkSync(host);
      if (target.startsWith('/')) cur.length = 0;
      queue.unshift(...target.split('/').filter((x) => x !== ''));
      continue;
    }
    if ((!last || trailing) && !st.isDirectory()) {
      if (!opts.lenient) throw new PathError('ENOTDIR', op, p);
      missing = true;
    }
    cur.push(c);
  }
  return { host: join(root, ...cur), inside: '/' + cur.join('/') };
}

/** Docker's containerFSView.Stat: lstat of `p` (a final symlink followed only after "/" or "/."). */
function statIn(root: string, p: string, name: string): { stat: PathStat; host: string; st: Stats } {
  const r = resolveInRoot(root, p, { followLast: false });
  const st = lstatSync(r.host);
  const big: BigIntStats = lstatSync(r.host, { bigint: true });
  const linkTarget = st.isSymbolicLink() ? resolveInRoot(root, p, { followLast: true, lenient: true }).inside : '';
  return { stat: { name, size: st.size, mode: goFileMode(st), mtime: rfc3339Nano(big.mtimeNs), linkTarget }, host: r.host, st };
}

/** One tar entry for `host` itself, named `name` (packDirectory's rules; sockets have none). */
function entryOf(host: string, name: string, st: Stats): TarWriteEntry | undefined {
  const base = { path: name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), absolute: true };
  if (st.isDirectory()) return { ...base, type: 'directory' };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkpath: readlinkSync(host) };
  if (st.isFile()) return { ...base, type: 'file', file: host, size: st.size };
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const rdev = Number(st.rdev);
    const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
    return { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor };
  }
  return undefined;
}

/**
 * The entries of Docker's GET archive for the resolved `host`: a directory as "<base>/" and
 * "<base>/…" (the root as "/" and "/bin", ".", for a path ending in "/.", as "./" and
 * "./x"), anything else as the one entry "<base>".
 */
async function* archiveEntries(host: string, st: Stats, absPath: string): AsyncGenerator<TarWriteEntry> {
  const base = goBase(absPath);
  if (!st.isDirectory()) {
    const e = entryOf(host, base, st);
    if (e) yield e;
    return;
  }
  const top = base === '/' ? '' : base;
  yield entryOf(host, `${top}/`, st)!;
  for await (const e of packDirectory(host, { prefix: `${top}/` })) yield { ...e, absolute: true };
}

// --- users, for `docker cp -a` (moby's getUIDGID over the container's /etc files)

function readEtc(root: string, file: string): string {
  const r = resolveInRoot(root, file, { followLast: true, op: 'open' });
  return readFileSync(r.host, 'utf8');
}

function idOrName(s: string): number | undefined {
  return /^\d+$/.test(s) && Number(s) <= 0x7fffffff ? Number(s) : undefined;
}

function lookupUser(root: string, nameOrId: string): { uid: number; gid: number } {
  const id = idOrName(nameOrId);
  let passwd: string;
  try {
    passwd = readEtc(root, '/etc/passwd');
  } catch (e) {
    // A uid needs no passwd file: it is used as it is, with group 0, as `docker run -u` does.
    if (id !== undefined) return { uid: id, gid: 0 };
    throw badRequest(`failed to look up user "${nameOrId}" in container: open /etc/passwd: ${(e as PathError).message.replace(/^.*: /, '')}`);
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if ((id === undefined ? f[0] === nameOrId : uid === id) && Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
  }
  if (id !== undefined) return { uid: id, gid: 0 };
  throw badRequest(`failed to look up user "${nameOrId}" in container: no matching entries in passwd file`);
}

function lookupGroup(root: string, nameOrId: string): number {
  const id = idOrName(nameOrId);
  if (id !== undefined) return id;
  let group: string;
  try {
    group = readEtc(root, '/etc/group');
  } catch (e) {
    throw badRequest(`failed to look up group "${nameOrId}" in container: open /etc/group: ${(e as PathError).message.replace(/^.*: /, '')}`);
  }
  for (const line of group.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] === nameOrId && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw badRequest(`failed to look up group "${nameOrId}" in container: no matching entries in group file`);
}

/** The uid:gid of "user[:group]" in the container, empty parts meaning 0, as moby's getUIDGID. */
function containerOwner(root: string, user: string): { uid: number; gid: number } {
  const colon = user.indexOf(':');
  const u = colon < 0 ? user : user.slice(0, colon);
  const g = colon < 0 ? '' : user.slice(colon + 1);
  let owner = { uid: 0, gid: 0 };
  if (u !== '') owner = lookupUser(root, u);
  if (g !== '') owner = { ...owner, gid: lookupGroup(root, g) };
  return owner;
}

/**
 * Docker's checkWritablePath: a destination in a volume or bind is as writable as that
 * mount (the deepest one holding it); anywhere else, as the container's root.
 */
export function checkWritablePath(rec: ContainerRecord, inside: string): void {
  const holding = (rec.spec.storage?.mounts ?? [])
    .filter((m) => m.type !== 'tmpfs' && (inside === m.target || inside.startsWith(m.target + '/')))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (holding) {
    if (holding.readOnly) throw badRequest('mounted volume is marked read-only');
    return;
  }
  if (rec.spec.filesystem.readonlyRootfs) throw badRequest('container rootfs is marked read-only');
}

/** Refuses compressions Docker's PUT takes but this engine cannot unpack, rather than misread them as tar. */
async function* refuseUnknownCompression(src: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  let first = true;
  for await (const chunk of src) {
    const b = Buffer.from(chunk);
    if (first && b.length >= 3) {
      first = false;
      if (b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) throw badRequest('bzip2-compressed archives are not supported here: send a plain or gzip-compressed tar');
      if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) throw badRequest('xz-compressed archives are not supported here: send a plain or gzip-compressed tar');
    }
    yield b;
  }
}

// --- the lock and the view

interface View {
  rec: ContainerRecord;
  /** The mount of the container's root on the host. */
  root: string;
  close(): Promise<void>;
}

class NotRunning extends Error {}

const LAUNCH_WAIT_MS = 60_000;

export class ContainerArchives {
  /** The holder of each container's lock: a copy, or a lifecycle operation through the facade. */
  private readonly held = new Map<string, { copy: boolean; done: Promise<void> }>();
  /** Starts past their gate whose rootfs may be being mounted: a copy waits for them. */
  private readonly launching = new Map<string, { settled: Promise<void>; settle: () => void }>();

  constructor(
    private readonly records: ContainerRecords,
    private readonly images: ImageStore,
    private readonly cgroups: Cgroups,
    private readonly emit: (e: ContainerEvent) => void,
    /** Resolves when the record says the container is not running (its exit recorded). */
    private readonly exitRecorded: (id: string) => Promise<unknown>,
    /** The container's volumes and binds, attached in the view. */
    private readonly storage?: ContainerStorage,
  ) {}

  /** Runs `fn` holding the container's lock (for pause, unpause, stop, kill and remove). */
  async exclusive<T>(idOrName: string, fn: () => Promise<T>): Promise<T> {
    const id = this.records.resolve(idOrName).id;
    const release = await this.acquire(id, false);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Until no copy or operation holds the container. */
  async idle(idOrName: string): Promise<void> {
    const id = this.records.resolve(idOrName).id;
    for (let h = this.held.get(id); h; h = this.held.get(id)) await h.done;
  }

  /**
   * Called before a start lets its init mount the rootfs: waits for a copy to end, then keeps
   * new ones out until the start is over. Not for an operation's lock: a remove holding it
   * may itself be waiting for this start.
   */
  async beforeStart(id: string): Promise<void> {
    for (let h = this.held.get(id); h?.copy; h = this.held.get(id)) await h.done;
    // The same turn as the last check: no copy can slip in between.
    let settle!: () => void;
    const settled = new Promise<void>((r) => (settle = r));
    this.launching.get(id)?.settle();
    this.launching.set(id, { settled, settle });
  }

  /** Every container event: a start is over once it started or died. */
  observe(e: ContainerEvent): void {
    if (e.action !== 'start' && e.action !== 'die' && e.action !== 'destroy') return;
    const l = this.launching.get(e.id);
    if (!l) return;
    this.launching.delete(e.id);
    l.settle();
  }

  private async acquire(id: string, copy: boolean): Promise<() => void> {
    for (;;) {
      const h = this.held.get(id);
      if (h) {
        await h.done;
        continue;
      }
      const l = copy ? this.launching.get(id) : undefined;
      if (l) {
        let timer: NodeJS.Timeout | undefined;
        const late = await Promise.race([l.settled.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), LAUNCH_WAIT_MS)))]);
        clearTimeout(timer);
        // A start that neither started nor died in that time has failed in a way no event tells.
        if (late && this.launching.get(id) === l) this.launching.delete(id);
        continue;
      }
      let release!: () => void;
      const mine = { copy, done: new Promise<void>((r) => (release = r)) };
      this.held.set(id, mine);
      return () => {
        if (this.held.get(id) === mine) this.held.delete(id);
        release();
      };
    }
  }

  /** Takes the lock and mounts the container's root on the host (freezing a running container). */
  private async open(idOrName: string, what: string): Promise<View> {
    const id = this.records.resolve(idOrName).id;
    const release = await this.acquire(id, true);
    try {
      for (let attempt = 0; ; attempt++) {
        const rec = this.records.get(id);
        if (!rec) throw notFound(`No such container: ${idOrName}`);
        if (rec.state.status === 'removing') throw conflict(`container ${rec.id} is marked for removal`);
        const live = rec.state.running && rec.state.pid > 0 && rec.state.status !== 'restarting';
        if (!live) {
          const root = await this.mountStopped(rec);
          const detach = await this.attachMounts(rec, root).catch(async (e) => {
            await rmdir(root).catch(() => {});
            throw e;
          });
          return this.viewOf(rec, root, false, release, detach);
        }
        let froze = false;
        if (!rec.state.paused) {
          try {
            await this.cgroups.freeze(rec.id);
          } catch (e) {
            await this.cgroups.thaw(rec.id).catch(() => {});
            // Its groups go when it exits: then it is copied as a stopped one.
            if (attempt === 0 && (await this.exitedWithin(rec.id, 2_000))) continue;
            throw new EngineError(500, `cannot pause container ${rec.id} to ${what} it: ${(e as Error).message}`);
          }
          froze = true;
        }
        try {
          const root = await this.mountRunning(rec);
          const detach = await this.attachMounts(rec, root).catch(async (e) => {
            await rmdir(root).catch(() => {});
            throw e;
          });
          return this.viewOf(rec, root, froze, release, detach);
        } catch (e) {
          if (froze) await this.cgroups.thaw(rec.id).catch(() => {});
          if (!(e instanceof NotRunning) || attempt > 0) throw e;
          // Its init has just exited; once that is recorded the container is copied as a stopped one.
          if (!(await this.exitedWithin(rec.id, 15_000))) throw conflict(`Container ${rec.id} is stopping, try again once it has stopped`);
        }
      }
    } catch (e) {
      release();
      throw e;
    }
  }

  private async exitedWithin(id: string, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([this.exitRecorded(id).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The container's binds and volumes attached over the view, and its sharers frozen; the
   * returned function lets go of both (the view's unmount takes the binds with it).
   */
  private async attachMounts(rec: ContainerRecord, root: string): Promise<() => Promise<void>> {
    if (!this.storage || !rec.spec.storage?.mounts.length) return async () => {};
    const { mounts, release } = await this.storage.viewMounts(rec);
    const frozen: string[] = [];
    const undo = async () => {
      for (const id of frozen.splice(0)) await this.cgroups.thaw(id).catch((e) => console.error(`berth: cp: thaw ${id.slice(0, 12)}: ${(e as Error).message}`));
      await release();
    };
    try {
      for (const other of this.storage.sharers(rec)) {
        if (other.state.paused) continue;
        try {
          await this.cgroups.freeze(other.id);
          frozen.push(other.id);
        } catch (e) {
          // One that stopped meanwhile has no processes left to race the copy.
          if (this.records.get(other.id)?.state.running) throw new EngineError(500, `cannot pause container ${other.id}, which shares a volume with ${rec.id}, for the copy: ${(e as Error).message}`);
        }
      }
      for (const m of mounts) {
        const opts = [m.nonRecursive ? 'bind' : 'rbind', ...(m.readOnly ? ['ro'] : []), 'rprivate'].join(',');
        try {
          await run(monitorBinary(), ['mount-in', root, m.target, 'bind', m.source, opts], { env: {} as NodeJS.ProcessEnv });
        } catch (e) {
          throw new EngineError(500, ((e as { stderr?: string }).stderr || String(e)).trim());
        }
      }
    } catch (e) {
      await unmountOverlay(root).catch(() => {});
      await undo();
      throw e;
    }
    return undo;
  }

  private viewOf(rec: ContainerRecord, root: string, froze: boolean, release: () => void, detach: () => Promise<void> = async () => {}): View {
    let closing: Promise<void> | undefined;
    return {
      rec,
      root,
      close: () =>
        (closing ??= (async () => {
          try {
            await unmountOverlay(root);
            await rmdir(root);
          } catch (e) {
            console.error(`berth: cp ${rec.id.slice(0, 12)}: ${(e as Error).message}`);
          }
          await detach();
          try {
            if (froze) await this.cgroups.thaw(rec.id);
          } catch (e) {
            // Left frozen, it shows as paused to the next agent; say so now.
            console.error(`berth: cp ${rec.id.slice(0, 12)}: thaw: ${(e as Error).message}`);
          } finally {
            release();
          }
        })()),
    };
  }

  private async mountRunning(rec: ContainerRecord): Promise<string> {
    const target = await mkdtemp(join(this.records.dir(rec.id), 'archive-'));
    try {
      await run(monitorBinary(), ['clone-root', this.records.runDir(rec.id), target], { env: {} as NodeJS.ProcessEnv });
      return target;
    } catch (e) {
      await rmdir(target).catch(() => {});
      const err = e as { code?: number; stderr?: string };
      const msg = (err.stderr || String(e)).trim();
      if (err.code === 3) throw new NotRunning(msg);
      throw new EngineError(500, msg);
    }
  }

  private async mountStopped(rec: ContainerRecord): Promise<string> {
    const img = this.images.get(rec.imageId);
    if (!img) throw notFound(`No such image: ${rec.image}`);
    const dir = this.records.dir(rec.id);
    let layers = this.images.layerDirs(img);
    if (!layers.length) {
      await mkdir(join(dir, 'empty'), { recursive: true });
      layers = [join(dir, 'empty')];
    }
    for (const sub of ['upper', 'work']) await mkdir(join(dir, sub), { recursive: true });
    const target = await mkdtemp(join(dir, 'archive-'));
    try {
      await mountWritable([...layers].reverse(), join(dir, 'upper'), join(dir, 'work'), target);
      return target;
    } catch (e) {
      await rmdir(target).catch(() => {});
      throw new EngineError(500, (e as Error).message);
    }
  }

  /** Docker's errors for a path: a missing one is a 404 in its words, the rest as the syscall says. */
  private pathError(e: unknown, path: string, idOrName: string): unknown {
    if (e instanceof PathError && e.code === 'ENOENT') return notFound(`Could not find the file ${path} in container ${idOrName}`);
    if (e instanceof PathError) return new EngineError(500, e.message);
    return e;
  }

  /** HEAD: the stat of `path`. */
  async stat(idOrName: string, path: string): Promise<PathStat> {
    if (path === '') throw badRequest('bad parameter: pathcannot be empty');
    const view = await this.open(idOrName, 'stat a path in');
    try {
      return statIn(view.root, path, goBase(path)).stat;
    } catch (e) {
      throw this.pathError(e, path, idOrName);
    } finally {
      await view.close();
    }
  }

  /** GET: the stat of `path` and a tar of it. */
  async archive(idOrName: string, path: string): Promise<ContainerArchive> {
    if (path === '') throw badRequest('bad parameter: pathcannot be empty');
    const view = await this.open(idOrName, 'copy from');
    let found: ReturnType<typeof statIn>;
    const absPath = absPathOf(path);
    try {
      found = statIn(view.root, absPath, goBase(absPath));
    } catch (e) {
      await view.close();
      throw this.pathError(e, path, idOrName);
    }
    const { host, st } = found;
    this.emit({ action: 'archive-path', id: view.rec.id });
    const content = (async function* () {
      try {
        yield* writeTar(archiveEntries(host, st, absPath));
      } finally {
        await view.close();
      }
    })();
    return { stat: found.stat, content, close: () => view.close() };
  }

  /** PUT: unpacks `tar` into the directory `path` (every symlink on the way followed inside the container). */
  async extract(idOrName: string, path: string, tar: AsyncIterable<Buffer | Uint8Array>, opts: PutArchiveOptions = {}): Promise<void> {
    if (path === '') throw badRequest('bad parameter: pathcannot be empty');
    const view = await this.open(idOrName, 'copy into');
    try {
      let dest: Resolved;
      try {
        dest = resolveInRoot(view.root, path, { followLast: true, op: 'lstat' });
      } catch (e) {
        throw this.pathError(e, path, idOrName);
      }
      if (!lstatSync(dest.host).isDirectory()) throw badRequest('extraction point is not a directory');
      checkWritablePath(view.rec, dest.inside);
      const user = view.rec.spec.process.user;
      const owner = opts.copyUIDGID && user ? containerOwner(view.root, user) : undefined;
      await extractLayer(decompress(refuseUnknownCompression(tar), 'the archive'), dest.host, {
        mode: 'copy',
        label: `copy into ${view.rec.id.slice(0, 12)}`,
        noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
        owner,
        displayRoot: dest.inside,
        // Without a devices cgroup a node made here would open the host's device inside.
        devices: this.cgroups.confinesDevices ? 'allow' : 'refuse',
      });
    } finally {
      await view.close();
    }
    this.emit({ action: 'extract-to-dir', id: view.rec.id });
  }

  /** Mounts left by an agent that stopped during a copy: unmounted, never deleted through. */
  async sweep(): Promise<void> {
    for (const rec of this.records.all()) {
      const dir = this.records.dir(rec.id);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const n of names.filter((x) => x.startsWith('archive-'))) {
        try {
          await unmountOverlay(join(dir, n));
          await rmdir(join(dir, n));
        } catch (e) {
          console.error(`berth: leftover cp mount ${join(dir, n)}: ${(e as Error).message}`);
        }
      }
    }
  }
}

// Unpacks one layer into its own directory in overlayfs format. This is a security
// boundary: the tar comes from a registry, so nothing it says may write outside `root`.
//
// Policy:
// - absolute paths and paths whose `..` climbs above the root are refused (the whole
//   layer fails; a partial layer is never committed by the store);
// - every parent directory of an entry is lstat'ed component by component; a parent
//   that is a symlink (or not a directory) refuses the layer, so a symlink planted by an
//   earlier entry can never redirect a later one;
// - an existing path is unlinked (never opened) before an entry replaces it, files are
//   created with O_EXCL|O_NOFOLLOW;
// - hardlinks must name an earlier entry of this layer (checked the same way);
// - device nodes are created (the agent runs as root and images like to ship
//   /dev/null); pass `devices: 'skip'` or `'refuse'` for stricter hosts;
// - nodes and xattrs, which Node cannot make, go through one `berth-monitor layer-fixup`
//   process per layer (./fixup), which resolves every path under the root again without
//   following symlinks;
// - `.wh.<name>` becomes a 0:0 character device, `.wh..wh..opq` sets
//   trusted.overlay.opaque=y on its directory, other `.wh..wh.` files are dropped;
// - owners (lchown), modes, mtimes (lutimes; directories last) and SCHILY xattrs are
//   kept, except trusted.overlay.* from the tar, which could steer overlayfs.
//
// `docker cp` into a container (mode 'copy', agent/engine/containers/archive.ts) goes
// through the same code with Docker's Untar semantics where they differ from a layer's:
// `.wh.` names are ordinary names, an absolute name is taken relative to the root (as
// Untar joins it; `..` above the root is still refused), and on request existing
// directories and non-directories do not replace each other and every entry gets one owner.
//
// Exports: extractLayer, decompress, DecompressOptions, LayerTooLargeError, ExtractOptions, ExtractResult, UnsafeLayerError.
import { execFile, spawn } from 'node:child_process';
// Sync calls on purpose: an entry is a handful of tiny syscalls, and a thread-pool round
// trip for each made small-file layers several times slower. Chunks still await the stream.
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync, type Stats } from 'node:fs';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { EngineError } from '../errors';
import { readTar, type TarHeader } from './tar';
import { LayerFixup } from './fixup';

export class UnsafeLayerError extends EngineError {
  /** `what`: "layer", or "archive" for `docker cp`, whose tar is the client's input (400). */
  constructor(message: string, what = 'layer', status: 400 | 500 = 500) {
    super(status, `unsafe ${what} refused: ${message}`);
    this.name = 'UnsafeLayerError';
  }
}

export interface ExtractOptions {
  /** Device nodes from the tar: create them (default), skip them, or refuse the layer. */
  devices?: 'allow' | 'skip' | 'refuse';
  /** Name used in error messages (e.g. the layer digest). */
  label?: string;
  /** 'layer' (default) or 'copy': `docker cp` into a container (see the top of this file). */
  mode?: 'layer' | 'copy';
  /** copy: an existing directory is not replaced by a non-directory, nor the other way round. */
  noOverwriteDirNonDir?: boolean;
  /** Every entry owned by this uid:gid instead of the tar's (`docker cp -a`). */
  owner?: { uid: number; gid: number };
  /** copy: the root as the user names it (the container path of the extraction point), for messages. */
  displayRoot?: string;
}

export interface ExtractResult {
  /** Bytes of regular file content written. */
  size: number;
  entries: number;
  /** Relative paths of whiteout devices created. */
  whiteouts: string[];
  /** Relative paths ("" for the root) marked opaque. */
  opaqueDirs: string[];
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** Cleans an archive path to components; throws on absolute paths (a layer's) and root escapes. */
function cleanPath(raw: string, what: string, unsafe: (msg: string) => UnsafeLayerError, absoluteOk: boolean, rootName: string): string[] {
  if (raw.startsWith('/') && !absoluteOk) throw unsafe(`${what} "${raw}" is an absolute path`);
  if (raw.includes('\0')) throw unsafe(`${what} "${raw}" contains a NUL byte`);
  const out: string[] = [];
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw unsafe(`${what} "${raw}" escapes the ${rootName}`);
      out.pop();
    } else out.push(c);
  }
  return out;
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

const exists = (p: string): Stats | undefined => lstatSync(p, { throwIfNoEntry: false });

let zstdFound: Promise<boolean> | undefined;
function zstdAvailable(): Promise<boolean> {
  zstdFound ??= new Promise((resolve) => execFile('zstd', ['--version'], (e) => resolve(!e)));
  return zstdFound;
}

async function* unzstd(src: AsyncIterable<Buffer>, label: string): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let feedError: unknown;
  const feed = (async () => {
    try {
      for await (const c of src) {
        // zstd is gone once the reader stopped early: no 'drain' would ever come.
        if (child.stdin.destroyed) throw new Error('zstd exited');
        if (!child.stdin.write(c)) await once(child.stdin, 'drain').catch(() => undefined);
      }
      child.stdin.end();
    } catch (e) {
      feedError = e;
      child.kill('SIGKILL');
    }
  })();
  child.stdin.on('error', () => undefined);
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feed;
    if (feedError) throw feedError;
    const code = await exited;
    if (code !== 0) throw new EngineError(500, `${label}: bad zstd data: ${stderr.trim() || `zstd exited ${code}`}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export interface DecompressOptions {
  /**
   * Most bytes the tar may have once decompressed: past it the layer is refused as a
   * decompression bomb (a few kilobytes of gzip or zstd can stand for terabytes).
   */
  maxBytes?: number;
}

/** An error a caller tests for: the layer unpacks to more than the limit allows. */
export class LayerTooLargeError extends EngineError {
  constructor(label: string, max: number) {
    super(500, `${label} unpacks to more than ${max} bytes, this agent's limit per layer (--max-layer-size): refused as a possible decompression bomb`);
    this.name = 'LayerTooLargeError';
  }
}

/**
 * Returns a stream of the tar inside `source`: gzip is inflated (zlib), zstd through the
 * host's `zstd` tool (a clear error when it is missing), plain tar passes. With
 * `maxBytes`, more output than that is refused (LayerTooLargeError) before it is written.
 */
export async function* decompress(source: AsyncIterable<Buffer | Uint8Array>, label = 'layer', opts: DecompressOptions = {}): AsyncGenerator<Buffer> {
  if (opts.maxBytes === undefined) {
    yield* decompressed(source, label);
    return;
  }
  let n = 0;
  for await (const c of decompressed(source, label)) {
    n += c.length;
    if (n > opts.maxBytes) throw new LayerTooLargeError(label, opts.maxBytes);
    yield c;
  }
}

async function* decompressed(source: AsyncIterable<Buffer | Uint8Array>, label: string): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, Buffer.from(r.value)]);
  }
  const rest = async function* () {
    try {
      if (head.length) yield head;
      for (;;) {
        if (ended) return;
        const r = await it.next();
        if (r.done) ended = true;
        else yield Buffer.from(r.value);
      }
    } finally {
      // Stopped early (a refused layer): close the caller's stream rather than leave it half-read.
      if (!ended) await it.return?.();
    }
  };
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    // Node 20's zlib has no zstd; the zstd tool does it when the host has it.
    if (!(await zstdAvailable())) {
      await it.return?.();
      throw new EngineError(500, `${label} is zstd-compressed, which this engine cannot unpack here: install zstd`);
    }
    yield* unzstd(rest(), label);
    return;
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const src = Readable.from(rest());
    // 64 KiB pieces rather than the default 16: a quarter of the per-chunk hops between
    // zlib and the tar reader, which showed when a chunk held only a few small files.
    const gunzip = createGunzip({ chunkSize: 64 * 1024 });
    src.on('error', (e) => gunzip.destroy(e));
    src.pipe(gunzip);
    try {
      for await (const c of gunzip) yield c as Buffer;
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError(500, `${label}: bad gzip data: ${(e as Error).message}`);
    } finally {
      src.destroy();
    }
    return;
  }
  yield* rest();
}

/** Unpacks the (uncompressed) tar `source` into the existing, empty directory `root`. */
export async function extractLayer(source: AsyncIterable<Buffer | Uint8Array>, root: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  root = resolve(root);
  const devices = opts.devices ?? 'allow';
  const copy = opts.mode === 'copy';
  const unsafe = (msg: string) => (copy ? new UnsafeLayerError(msg, 'archive', 400) : new UnsafeLayerError(msg));
  const rootName = copy ? 'extraction directory' : 'layer root';
  const layer = copy ? 'the archive' : 'this layer';
  const clean = (raw: string, what: string) => cleanPath(raw, what, unsafe, copy, rootName);
  const shown = (rel: string) => (opts.displayRoot ?? '/').replace(/\/$/, '') + '/' + rel;
  const uidOf = (h: TarHeader) => opts.owner?.uid ?? h.uid;
  const gidOf = (h: TarHeader) => opts.owner?.gid ?? h.gid;
  const result: ExtractResult = { size: 0, entries: 0, whiteouts: [], opaqueDirs: [] };
  const fixup = new LayerFixup(root, opts.label ?? 'layer');
  try {
    await unpack();
    await fixup.close();
  } finally {
    fixup.abort();
  }
  return result;

  async function unpack(): Promise<void> {
    // Applied after the last entry; `ino` lets us check the path still names what it named.
    const xattrs: Array<{ abs: string; name: string; value: Buffer; ino: number }> = [];
    const dirTimes: Array<{ abs: string; mtime: number; ino: number }> = [];
    // Directories known to be real directories (not symlinks) inside root.
    const dirs = new Set<string>(['']);

    /** Makes sure every component of `parts` is a real directory, creating missing ones. */
    function ensureDir(parts: string[], entry: string): string {
      let rel = '';
      for (const c of parts) {
        rel = rel ? `${rel}/${c}` : c;
        if (dirs.has(rel)) continue;
        const abs = join(root, rel);
        const st = exists(abs);
        if (!st) mkdirSync(abs, { mode: 0o755 });
        else if (st.isSymbolicLink()) throw unsafe(`entry "${entry}" goes through "${rel}", which is a symlink`);
        else if (!st.isDirectory()) throw unsafe(`entry "${entry}" goes through "${rel}", which is not a directory`);
        dirs.add(rel);
      }
      return join(root, ...parts);
    }

    /** Clears the way for a new entry at `rel` (unlinks what is there; keeps a dir when a dir comes). */
    function clear(rel: string, abs: string, keepDir: boolean): boolean {
      const st = exists(abs);
      if (!st) return false;
      if (st.isDirectory() && keepDir) return true;
      if (opts.noOverwriteDirNonDir && st.isDirectory()) throw new EngineError(400, `cannot overwrite directory "${shown(rel)}" with non-directory "${opts.displayRoot ?? '/'}"`);
      if (opts.noOverwriteDirNonDir && keepDir) throw new EngineError(400, `cannot overwrite non-directory "${shown(rel)}" with directory "${opts.displayRoot ?? '/'}"`);
      rmSync(abs, { recursive: true, force: true });
      for (const d of [...dirs]) if (d === rel || d.startsWith(rel + '/')) dirs.delete(d);
      return false;
    }

    /**
     * Makes a new entry at `rel` with `make`, which must fail with EEXIST rather than
     * touch an existing path (O_EXCL, mkdir, symlink). Most paths are new, so the lstat
     * of clear() is only paid when the name is taken.
     */
    function create<T>(rel: string, abs: string, make: () => T): T {
      try {
        return make();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      clear(rel, abs, false);
      return make();
    }

    /** Runs `make` (as for create()); false when the name is taken. */
    function tryCreate(make: () => void): boolean {
      try {
        make();
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        return false;
      }
    }

    function setMeta(abs: string, h: TarHeader, isLink: boolean): void {
      lchownSync(abs, uidOf(h), gidOf(h));
      // after chown, which clears setuid/setgid
      if (!isLink) chmodSync(abs, h.mode);
      queueXattrs(abs, h, isLink);
    }

    function queueXattrs(abs: string, h: TarHeader, isLink: boolean): void {
      // user.* cannot be set on symlinks, and nothing reads xattrs of links: skip them there.
      if (isLink) return;
      for (const [name, value] of Object.entries(h.xattrs)) {
        if (name.startsWith('trusted.overlay.')) continue;
        xattrs.push({ abs, name, value, ino: lstatSync(abs).ino });
      }
    }

    for await (const { header: h, body, buffered } of readTar(source)) {
      result.entries++;
      const parts = clean(h.path, 'entry');
      if (parts.length === 0) continue; // "./" itself: the layer root keeps its own metadata
      const rel = parts.join('/');
      const name = parts[parts.length - 1];
      const parentParts = parts.slice(0, -1);

      if (name.startsWith(WH) && !copy) {
        const parentAbs = ensureDir(parentParts, h.path);
        if (name === OPAQUE) {
          xattrs.push({ abs: parentAbs, name: 'trusted.overlay.opaque', value: Buffer.from('y'), ino: lstatSync(parentAbs).ino });
          result.opaqueDirs.push(parentParts.join('/'));
        } else if (!name.startsWith(WH + WH)) {
          const target = name.slice(WH.length);
          if (target === '' || target === '.' || target === '..') throw unsafe(`bad whiteout "${h.path}"`);
          const tRel = [...parentParts, target].join('/');
          const tAbs = join(parentAbs, target);
          clear(tRel, tAbs, false);
          await fixup.mknod(tRel, 'c', 0, 0, 0);
          lchownSync(tAbs, h.uid, h.gid);
          result.whiteouts.push(tRel);
        }
        continue;
      }

      const parentAbs = ensureDir(parentParts, h.path);
      const abs = join(parentAbs, name);

      switch (h.type) {
        case 'directory': {
          if (!tryCreate(() => mkdirSync(abs, { mode: 0o700 })) && !clear(rel, abs, true)) mkdirSync(abs, { mode: 0o700 });
          dirs.add(rel);
          setMeta(abs, h, false);
          dirTimes.push({ abs, mtime: h.mtime, ino: lstatSync(abs).ino });
          break;
        }
        case 'file': {
          const fd = create(rel, abs, () => openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
          try {
            if (buffered) writeAll(fd, buffered);
            else for await (const chunk of body) writeAll(fd, chunk);
            fchownSync(fd, uidOf(h), gidOf(h));
            // after chown, which clears setuid/setgid
            fchmodSync(fd, h.mode);
            futimesSync(fd, h.mtime, h.mtime);
          } finally {
            closeSync(fd);
          }
          result.size += h.size;
          queueXattrs(abs, h, false);
          break;
        }
        case 'symlink': {
          // symlink(2) takes no empty target (the fuzz test found the bare ENOENT it gave).
          if (h.linkpath === '') throw unsafe(`symlink "${h.path}" has an empty target`);
          create(rel, abs, () => symlinkSync(h.linkpath, abs));
          setMeta(abs, h, true);
          lutimesSync(abs, h.mtime, h.mtime);
          break;
        }
        case 'hardlink': {
          const tParts = clean(h.linkpath, `hardlink target of "${h.path}"`);
          if (tParts.length === 0) throw unsafe(`hardlink "${h.path}" points at the ${rootName}`);
          // The target's parents must be real directories of this layer, like any entry's.
          let trel = '';
          for (const c of tParts.slice(0, -1)) {
            trel = trel ? `${trel}/${c}` : c;
            if (dirs.has(trel)) continue;
            const st = exists(join(root, trel));
            if (!st || !st.isDirectory()) throw unsafe(`hardlink "${h.path}" -> "${h.linkpath}": "${trel}" is not a directory of ${layer}`);
            dirs.add(trel);
          }
          const tAbs = join(root, ...tParts);
          const tst = exists(tAbs);
          if (!tst) throw unsafe(`hardlink "${h.path}" -> "${h.linkpath}": target is not in ${layer}`);
          if (tst.isDirectory()) throw unsafe(`hardlink "${h.path}" -> "${h.linkpath}": target is a directory`);
          if (tAbs === abs) break;
          clear(rel, abs, false);
          // link(2) does not follow a symlink target: the new name is the symlink itself.
          linkSync(tAbs, abs);
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          if (h.type !== 'fifo' && devices === 'skip') break;
          if (h.type !== 'fifo' && devices === 'refuse') throw unsafe(`device node "${h.path}" is not allowed here`);
          clear(rel, abs, false);
          await fixup.mknod(rel, h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p', h.devmajor, h.devminor, 0);
          setMeta(abs, h, false);
          lutimesSync(abs, h.mtime, h.mtime);
          break;
        }
      }
    }

    // A later entry may have replaced a path, or one of its parents, with a symlink: only
    // touch paths that still resolve, symlink-free, to the inode that was queued.
    const relOf = (abs: string) => abs.slice(root.length + 1);
    const unchanged = (abs: string, ino: number): boolean => {
      const rel = relOf(abs);
      let cur = root;
      for (const c of rel.split('/').slice(0, -1)) {
        cur = join(cur, c);
        const st = exists(cur);
        if (!st || !st.isDirectory()) return false;
      }
      return exists(abs)?.ino === ino;
    };
    for (const x of xattrs) if (unchanged(x.abs, x.ino)) fixup.setXattr(relOf(x.abs), x.name, x.value);
    // Children change their parent's mtime, so directories are stamped last.
    for (const { abs, mtime, ino } of dirTimes) if (unchanged(abs, ino)) lutimesSync(abs, mtime, mtime);
  }
}

// A small tar writer (ustar + PAX for long names, big numbers and xattrs): `docker export`
// now, and the diff layers of commit and save later.
//
// Exports: writeTar, packDirectory, entryHeader, padding, TarWriteEntry.
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TarEntryType } from './tar';
import { getXattrMany } from './xattr';

export interface TarWriteEntry {
  /** Relative path; directories may end in "/" (added when missing). */
  path: string;
  type: TarEntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch (default 0, so archives are reproducible). */
  mtime?: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  /** Content of a file entry. */
  data?: Buffer | string;
  /** Or: read the content from this path on disk (`size` bytes). */
  file?: string;
  size?: number;
  xattrs?: Record<string, Buffer | string>;
  /** Keep a leading "/" (stripped by default): `docker cp CTR:/` names its entries "/", "/bin/", as Docker's does. */
  absolute?: boolean;
}

const BLOCK = 512;
const MAX_OCTAL_11 = 0o77777777777;
const MAX_OCTAL_7 = 0o7777777;

const TYPEFLAG: Record<TarEntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6' };

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(Math.floor(value).toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

function rawHeader(name: string, type: string, fields: { mode: number; uid: number; gid: number; size: number; mtime: number; linkpath: string; uname: string; gname: string; devmajor: number; devminor: number }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, fields.mode);
  octal(b, 108, 8, fields.uid);
  octal(b, 116, 8, fields.gid);
  octal(b, 124, 12, fields.size);
  octal(b, 136, 12, fields.mtime);
  b.fill(0x20, 148, 156);
  b.write(type, 156, 1, 'ascii');
  b.write(fields.linkpath, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'latin1');
  b.write(fields.uname, 265, 32, 'utf8');
  b.write(fields.gname, 297, 32, 'utf8');
  octal(b, 329, 8, fields.devmajor);
  octal(b, 337, 8, fields.devminor);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

/** The zeros that round `n` bytes of content up to whole 512-byte blocks. */
export const padding = (n: number) => Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
const fitsUstar = (s: string, max: number) => Buffer.byteLength(s) <= max && /^[\x20-\x7e]*$/.test(s);

/** The header block(s) of one entry, with a PAX header first when ustar cannot hold it. */
export function entryHeader(e: TarWriteEntry, size: number): Buffer {
  let path = e.absolute ? e.path : e.path.replace(/^\/+/, '');
  if (e.type === 'directory' && !path.endsWith('/')) path += '/';
  const linkpath = e.linkpath ?? '';
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const mtime = e.mtime ?? 0;
  const pax: Buffer[] = [];
  if (!fitsUstar(path, 100)) pax.push(paxRecord('path', Buffer.from(path)));
  if (!fitsUstar(linkpath, 100)) pax.push(paxRecord('linkpath', Buffer.from(linkpath)));
  if (size > MAX_OCTAL_11) pax.push(paxRecord('size', Buffer.from(String(size))));
  if (uid > MAX_OCTAL_7) pax.push(paxRecord('uid', Buffer.from(String(uid))));
  if (gid > MAX_OCTAL_7) pax.push(paxRecord('gid', Buffer.from(String(gid))));
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_OCTAL_11) pax.push(paxRecord('mtime', Buffer.from(String(mtime))));
  for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)));

  const fields = {
    mode: (e.mode ?? (e.type === 'directory' ? 0o755 : 0o644)) & 0o7777,
    uid: uid > MAX_OCTAL_7 ? 0 : uid,
    gid: gid > MAX_OCTAL_7 ? 0 : gid,
    size: size > MAX_OCTAL_11 ? 0 : size,
    mtime: Math.max(0, Math.min(MAX_OCTAL_11, Math.floor(mtime))),
    linkpath: fitsUstar(linkpath, 100) ? linkpath : '',
    uname: e.uname ?? '',
    gname: e.gname ?? '',
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  };
  const main = rawHeader(fitsUstar(path, 100) ? path : path.slice(0, 99), TYPEFLAG[e.type], fields);
  if (pax.length === 0) return main;
  const data = Buffer.concat(pax);
  const paxName = `PaxHeaders/${path.replace(/\/$/, '').split('/').pop() ?? ''}`.slice(0, 99);
  const paxHead = rawHeader(paxName, 'x', { ...fields, size: data.length, linkpath: '', mode: 0o644 });
  return Buffer.concat([paxHead, data, padding(data.length), main]);
}

/** Streams a tar archive of `entries`, ending with the two zero blocks. */
export async function* writeTar(entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    if (e.type !== 'file') {
      yield entryHeader(e, 0);
      continue;
    }
    if (e.file !== undefined) {
      const size = e.size ?? (await lstat(e.file)).size;
      yield entryHeader(e, size);
      let n = 0;
      // O_NOFOLLOW: the file may have been swapped for a symlink since it was listed (a running container's upper dir).
      const fh = await open(e.file, constants.O_RDONLY | constants.O_NOFOLLOW);
      for await (const chunk of fh.createReadStream({ end: size > 0 ? size - 1 : undefined, start: 0 })) {
        if (size === 0) break;
        n += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      if (n !== size) throw new Error(`tar: ${e.file} changed size while being archived (${n} of ${size} bytes)`);
      yield padding(size);
    } else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
      yield entryHeader(e, data.length);
      yield data;
      yield padding(data.length);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

async function listDirs(dir: string): Promise<string[]> {
  const out = [dir];
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...(await listDirs(join(dir, e.name))));
  return out;
}

/**
 * Walks `dir` (sorted, parents before children, never following symlinks) and yields
 * entries for writeTar. Files with several links become hardlinks to the first path seen.
 * xattrs are not archived. With `overlay` (an overlayfs upper dir, for commit), 0:0
 * character devices become `.wh.<name>` whiteouts and directories marked
 * trusted.overlay.opaque=y get a `.wh..wh..opq` entry.
 */
export async function* packDirectory(dir: string, opts: { prefix?: string; overlay?: boolean; /** relative paths left out (a directory's own entry only) */ skip?: ReadonlySet<string> } = {}): AsyncGenerator<TarWriteEntry> {
  const seen = new Map<string, string>();
  const opaque = new Set<string>();
  if (opts.overlay) {
    for (const [p, v] of await getXattrMany(await listDirs(dir), 'trusted.overlay.opaque')) if (v.toString() === 'y') opaque.add(p);
  }
  const prefix = opts.prefix ?? '';
  async function* walk(abs: string, rel: string): AsyncGenerator<TarWriteEntry> {
    if (opaque.has(abs)) yield { path: prefix + (rel ? `${rel}/` : '') + '.wh..wh..opq', type: 'file', mode: 0o644 };
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      const p = join(abs, name);
      const r = prefix + (rel ? `${rel}/${name}` : name);
      const st = await lstat(p);
      const own = rel ? `${rel}/${name}` : name;
      if (opts.skip?.has(own)) {
        if (st.isDirectory()) yield* walk(p, own);
        continue;
      }
      const base = { path: r, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) {
        yield { ...base, type: 'directory' };
        yield* walk(p, rel ? `${rel}/${name}` : name);
      } else if (st.isSymbolicLink()) {
        yield { ...base, type: 'symlink', linkpath: await readlink(p) };
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seen.get(key) : undefined;
        if (first !== undefined) yield { ...base, type: 'hardlink', linkpath: first };
        else {
          if (st.nlink > 1) seen.set(key, r);
          yield { ...base, type: 'file', file: p, size: st.size };
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = Number(st.rdev);
        if (opts.overlay && st.isCharacterDevice() && rdev === 0) {
          yield { path: prefix + (rel ? `${rel}/` : '') + '.wh.' + name, type: 'file', mode: 0o644, mtime: base.mtime };
          continue;
        }
        // glibc's major/minor encoding
        const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
        const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
        yield { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor };
      } else if (st.isFIFO()) {
        yield { ...base, type: 'fifo' };
      }
      // sockets are not archived, as tar does
    }
  }
  yield* walk(dir, '');
}

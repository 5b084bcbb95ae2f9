// The one way the agent replaces a file it must not lose or tear (image store, container
// records, the host credential): a temp file in the same directory, fsync, rename over the
// target, fsync the directory. A reader, or the next start after a crash or power loss, sees
// the old content or the new, never a mix, and once this returns the new content is on disk.
//
// Synchronous on purpose: callers hold in-memory state that must change in step with the
// file (the image store commits layers, names and records in a fixed order), and the writes
// are small.
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of the file (the umask does not apply). */
  mode: number;
}

/** Replaces `path` with `data`. On failure the old file (or its absence) stays and no temp file is left. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions): void {
  const dir = dirname(path);
  // Dot-named, so directory scans that look for their own names never take it for one.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let step = 'create the temp file';
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', opts.mode);
    step = 'set its mode';
    fchmodSync(fd, opts.mode);
    step = 'write';
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
    step = 'fsync';
    fsyncSync(fd);
    step = 'close';
    closeSync(fd);
    fd = undefined;
    step = 'rename the temp file';
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* the error being thrown already says what went wrong */
      }
    }
    rmSync(tmp, { force: true });
    throw withContext(e, `cannot write ${path} (${step})`);
  }
  try {
    fsyncDir(dir);
  } catch (e) {
    // The rename happened; only its durability is in doubt, and the caller must know.
    throw withContext(e, `cannot write ${path} (fsync the directory)`);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The error with `what` in front of its message; its code (ENOSPC, EACCES …) is kept for callers that test it. */
function withContext(e: unknown, what: string): Error {
  const err = e as NodeJS.ErrnoException;
  const out: NodeJS.ErrnoException = new Error(`${what}: ${err?.message ?? String(e)}`, { cause: e });
  if (err?.code) out.code = err.code;
  return out;
}

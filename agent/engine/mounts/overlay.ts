// overlayfs: image layers as lowerdir, a per-container upperdir. A container's own rootfs is
// mounted by its monitor inside the container's mount namespace (it vanishes with the
// container); mountReadOnly/mountWritable/unmountOverlay are for host-side readers and
// writers such as export and cp.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative } from 'node:path';
import { promisify } from 'node:util';
import { monitorBinary } from '../../native/binary';

const run = promisify(execFile);

/** Mount data must fit in one page. */
const MAX_DATA = 4000;

/**
 * Mount data for `lowerTopFirst` (layer paths, the topmost first: ImageStore.layerDirs
 * reversed) under `upper` and `work`. With `cwd` — the directory the mounting process
 * will be in — each path is given relative to it where that is shorter: overlayfs
 * resolves relative paths from the mounter's working directory, which is how Docker's
 * overlay2 mounts a hundred layers in one page. A container's monitor mounts from its
 * state dir (agent/native/loop.c: chdir(statedir) before the clone), so that is the cwd
 * the container's overlay is made for.
 */
export function overlayOptions(lowerTopFirst: string[], upper: string, work: string, cwd?: string): string {
  if (!lowerTopFirst.length) throw new Error('overlay: no lower layers');
  const p = (x: string) => shorter(x, cwd);
  return mountData(lowerTopFirst.map(p), [p(upper), p(work)], `,upperdir=${p(upper)},workdir=${p(work)}`);
}

function shorter(path: string, cwd: string | undefined): string {
  if (!cwd || !isAbsolute(path)) return path;
  const rel = relative(cwd, path) || '.';
  return rel.length < path.length ? rel : path;
}

function mountData(lowers: string[], others: string[], rest: string): string {
  for (const p of [...lowers, ...others]) if (/[,:\\]/.test(p)) throw new Error(`overlay: unsupported character in path ${p}`);
  const data = `lowerdir=${lowers.join(':')}${rest}`;
  if (data.length > MAX_DATA) throw new Error(`overlay: ${lowers.length} layers make mount options too long`);
  return data;
}

/** Where a host-side mount runs from: the directory most of the layers are in (the store's short links). */
function mountCwd(paths: string[]): string {
  const count = new Map<string, number>();
  for (const p of paths) count.set(dirname(p), (count.get(dirname(p)) ?? 0) + 1);
  return [...count.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

async function mountOverlay(target: string, data: string, cwd: string): Promise<void> {
  await mkdir(target, { recursive: true });
  try {
    await run(monitorBinary(), ['mount-overlay', target, data], { cwd });
  } catch (e) {
    throw new Error(((e as { stderr?: string }).stderr || String(e)).trim());
  }
}

/**
 * A read-only merged view of `lowerTopFirst` at `target`: overlay without an upper dir, so
 * nothing can be written through it, and whiteouts and opaque dirs in the lower layers
 * (a container's upper dir among them) hide what is below, as they do in the container.
 * Overlay needs two lower dirs at least.
 */
export async function mountReadOnly(lowerTopFirst: string[], target: string): Promise<void> {
  if (lowerTopFirst.length < 2) throw new Error('overlay: a read-only view needs two layers at least');
  const cwd = mountCwd(lowerTopFirst);
  await mountOverlay(target, mountData(lowerTopFirst.map((p) => shorter(p, cwd)), [], ''), cwd);
}

/**
 * A container's merged view at `target`, writable: its upper dir over the image's layers,
 * as its own rootfs is. For a stopped container only (`docker cp` into it), whose upper dir
 * no other overlay is using: two overlays on one upper dir is undefined in overlayfs.
 */
export async function mountWritable(lowerTopFirst: string[], upper: string, work: string, target: string): Promise<void> {
  const cwd = mountCwd(lowerTopFirst);
  await mountOverlay(target, overlayOptions(lowerTopFirst, upper, work, cwd), cwd);
}

export async function isMounted(target: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((l) => l.split(' ')[1] === target.replace(/ /g, '\\040'));
}

/** Lazy unmount; a target that is not mounted is fine. */
export async function unmountOverlay(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  try {
    await run(monitorBinary(), ['umount', target]);
  } catch (e) {
    throw new Error(((e as { stderr?: string }).stderr || String(e)).trim());
  }
}

// overlayfs: image layers as lowerdir, a per-container upperdir. A container's own rootfs is
// mounted by its monitor inside the container's mount namespace (it vanishes with the
// container); mountReadOnly/mountWritable/unmountOverlay are for host-side readers and
// writers such as export and cp.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { monitorBinary } from '../../native/binary';

const run = promisify(execFile);

/** Mount data must fit in one page. */
const MAX_DATA = 4000;

/** `lowerTopFirst`: layer dirs with the topmost layer first (ImageStore.layerDirs reversed). */
export function overlayOptions(lowerTopFirst: string[], upper: string, work: string): string {
  if (!lowerTopFirst.length) throw new Error('overlay: no lower layers');
  return mountData(lowerTopFirst, [upper, work], `,upperdir=${upper},workdir=${work}`);
}

function mountData(lowers: string[], others: string[], rest: string): string {
  for (const p of [...lowers, ...others]) if (/[,:\\]/.test(p)) throw new Error(`overlay: unsupported character in path ${p}`);
  const data = `lowerdir=${lowers.join(':')}${rest}`;
  if (data.length > MAX_DATA) throw new Error(`overlay: ${lowers.length} layers make mount options too long`);
  return data;
}

/**
 * A read-only merged view of `lowerTopFirst` at `target`: overlay without an upper dir, so
 * nothing can be written through it, and whiteouts and opaque dirs in the lower layers
 * (a container's upper dir among them) hide what is below, as they do in the container.
 * Overlay needs two lower dirs at least.
 */
export async function mountReadOnly(lowerTopFirst: string[], target: string): Promise<void> {
  if (lowerTopFirst.length < 2) throw new Error('overlay: a read-only view needs two layers at least');
  const data = mountData(lowerTopFirst, [], '');
  await mkdir(target, { recursive: true });
  try {
    await run(monitorBinary(), ['mount-overlay', target, data]);
  } catch (e) {
    throw new Error(((e as { stderr?: string }).stderr || String(e)).trim());
  }
}

/**
 * A container's merged view at `target`, writable: its upper dir over the image's layers,
 * as its own rootfs is. For a stopped container only (`docker cp` into it), whose upper dir
 * no other overlay is using: two overlays on one upper dir is undefined in overlayfs.
 */
export async function mountWritable(lowerTopFirst: string[], upper: string, work: string, target: string): Promise<void> {
  const data = overlayOptions(lowerTopFirst, upper, work);
  await mkdir(target, { recursive: true });
  try {
    await run(monitorBinary(), ['mount-overlay', target, data]);
  } catch (e) {
    throw new Error(((e as { stderr?: string }).stderr || String(e)).trim());
  }
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

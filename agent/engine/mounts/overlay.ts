// overlayfs: image layers as lowerdir, a per-container upperdir. A container's own rootfs is
// mounted by its monitor inside the container's mount namespace (it vanishes with the
// container); mountOverlay/unmountOverlay are for host-side users such as build and commit.
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
  for (const p of [...lowerTopFirst, upper, work])
    if (/[,:\\]/.test(p)) throw new Error(`overlay: unsupported character in path ${p}`);
  const data = `lowerdir=${lowerTopFirst.join(':')},upperdir=${upper},workdir=${work}`;
  if (data.length > MAX_DATA) throw new Error(`overlay: ${lowerTopFirst.length} layers make mount options too long`);
  return data;
}

export interface OverlayDirs {
  /** Lowest layer first, as ImageStore.layerDirs gives them. */
  layers: string[];
  upper: string;
  work: string;
  target: string;
}

export async function mountOverlay(d: OverlayDirs): Promise<void> {
  const data = overlayOptions([...d.layers].reverse(), d.upper, d.work);
  await Promise.all([d.upper, d.work, d.target].map((p) => mkdir(p, { recursive: true })));
  try {
    await run(monitorBinary(), ['mount-overlay', d.target, data]);
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

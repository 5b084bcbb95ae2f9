// `docker export`: a container's filesystem as the container sees it (its upper dir over the
// image's layers, whiteouts applied), read through a read-only overlay mounted on the host
// beside the container's state, so nothing in the container or the image can change by it.
// Volumes and binds are left out, as Docker's export leaves them out: this view has none of
// the container's mounts, only its mount points (empty directories made at its start).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packDirectory, writeTar } from '../layers/tar-write';
import { mountReadOnly, unmountOverlay } from '../mounts/overlay';

export async function* exportFilesystem(containerDir: string, layerDirs: string[]): AsyncGenerator<Buffer> {
  const lowers = [join(containerDir, 'upper'), ...[...layerDirs].reverse()];
  if (lowers.length < 2) {
    // An image without layers: overlay needs a second lower dir.
    await mkdir(join(containerDir, 'empty'), { recursive: true });
    lowers.push(join(containerDir, 'empty'));
  }
  const target = await mkdtemp(join(containerDir, 'export-'));
  try {
    await mountReadOnly(lowers, target);
    try {
      yield* writeTar(packDirectory(target));
    } finally {
      await unmountOverlay(target);
    }
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

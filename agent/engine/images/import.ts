// `docker import`: a filesystem tar becomes a one-layer image with a config of its own.
import { tryParseReference } from './reference';
import { hostPlatform } from './registry';
import { applyChanges } from './changes';
import { badRequest } from '../errors';
import type { ImageRecord, ImageStore } from '../types';

export interface ImportOptions {
  /** "name[:tag]" to tag the new image with. */
  ref?: string;
  /** Dockerfile instructions for the config (`docker import -c`). */
  changes?: string[];
  /** The history comment (`docker import -m`). */
  message?: string;
}

export async function importImage(store: ImageStore, tar: AsyncIterable<Buffer | Uint8Array>, opts: ImportOptions = {}): Promise<ImageRecord> {
  // Everything that can be refused is refused before the upload is read.
  if (opts.ref !== undefined && !tryParseReference(opts.ref)) throw badRequest(`invalid reference format: ${opts.ref}`);
  const config = applyChanges({}, opts.changes ?? []);
  const layer = await store.importLayer(tar);
  try {
    const created = new Date().toISOString();
    const { architecture, os } = hostPlatform();
    return store.createImage(
      {
        architecture,
        os,
        created,
        config,
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
        history: [{ created, comment: opts.message || 'Imported from -' }],
      },
      { tags: opts.ref ? [opts.ref] : [] },
    );
  } catch (e) {
    store.releaseLayer(layer.chainId);
    throw e;
  }
}

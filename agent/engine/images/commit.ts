// A child image of a parent (or of nothing, for FROM scratch): `docker commit` and each step
// of a build. The layer, if any, was imported through the store already; a layer with no
// entries (Docker's empty tar) is not kept, and the history marks the step as empty_layer,
// as dockerd's image.NewChildImage does.
//
// Exports: childImage, EMPTY_LAYER_DIFF_ID, ChildImageOptions.
import { badRequest } from '../errors';
import type { ImageConfig, ImageRecord, ImageStore } from '../types';
import { tryParseReference } from './reference';
import { hostPlatform } from './registry';
import type { RawConfig } from './store';

/** The diff ID of a tar with no entries (two zero blocks). */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

export interface ChildImageOptions {
  parent?: ImageRecord;
  /** The new layer (from importLayer/commitDirectory), or none for a metadata step. */
  layer?: { diffId: string; chainId: string };
  config: ImageConfig;
  /** The history entry's created_by. */
  createdBy: string;
  comment?: string;
  author?: string;
  tags?: string[];
}

/** Records the child image; a layer given is used or, when it is empty, released. */
export function childImage(store: ImageStore, opts: ChildImageOptions): ImageRecord {
  let layer = opts.layer;
  try {
    for (const t of opts.tags ?? []) if (!tryParseReference(t)) throw badRequest(`invalid reference format: ${t}`);
    const parentRaw: RawConfig = opts.parent ? (JSON.parse(store.configBytes(opts.parent.id).toString('utf8')) as RawConfig) : {};
    if (layer && layer.diffId === EMPTY_LAYER_DIFF_ID) {
      store.releaseLayer(layer.chainId);
      layer = undefined;
    }
    const created = new Date().toISOString();
    const platform = hostPlatform();
    const config: RawConfig = {
      architecture: parentRaw.architecture ?? platform.architecture,
      ...(parentRaw.variant ? { variant: parentRaw.variant } : !opts.parent && platform.variant ? { variant: platform.variant } : {}),
      os: parentRaw.os ?? 'linux',
      created,
      ...(opts.author ? { author: opts.author } : {}),
      ...(opts.comment ? { comment: opts.comment } : {}),
      config: cleanConfig(opts.config),
      rootfs: { type: 'layers', diff_ids: [...(parentRaw.rootfs?.diff_ids ?? []), ...(layer ? [layer.diffId] : [])] },
      history: [
        ...(parentRaw.history ?? []),
        {
          created,
          created_by: opts.createdBy,
          ...(opts.author ? { author: opts.author } : {}),
          ...(opts.comment ? { comment: opts.comment } : {}),
          ...(layer ? {} : { empty_layer: true }),
        },
      ],
    };
    const img = store.createImage(config as Record<string, unknown>, { tags: opts.tags });
    layer = undefined;
    return img;
  } finally {
    if (layer) store.releaseLayer(layer.chainId);
  }
}

/** Leaves out fields that are unset, so configs compare (and hash) the same however they were made. */
function cleanConfig(c: ImageConfig): ImageConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === undefined) continue;
    out[k] = v;
  }
  return out as ImageConfig;
}

// `docker push`: orchestration over the content store and the registry client. The
// manifest pushed is the image's own (the one it was pulled by, byte for byte, or one
// made here once and kept), so the digest the registry gets is the digest `docker
// images --digests` shows here. Per layer, as dockerd does: a blob the registry already
// has in the repository is skipped (HEAD), one it has in another repository of the same
// registry is mounted from there, anything else is uploaded; then the config, then the
// manifest under the tag.
//
// Exports: pushImage.
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { EngineError } from '../errors';
import type { PushOptions, PushProgress } from '../types';
import type { DiskImageStore } from './store';
import { parallel } from './parallel';
import { familiarName, parseReference, repoName, type Reference } from './reference';
import { MEDIA, type Descriptor, type ImageManifest, type RegistryClient } from './registry';

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const COMPRESSED = new Set<string>([MEDIA.dockerLayerGzip, MEDIA.ociLayerGzip, MEDIA.dockerLayerZstd, MEDIA.ociLayerZstd]);
/** Layers uploaded at once, as dockerd's default max-concurrent-uploads. */
const UPLOADS = 5;

export async function pushImage(store: DiskImageStore, refStr: string, opts: PushOptions & { allTags?: boolean } = {}): Promise<void> {
  const ref = parseReference(refStr);
  if (ref.digest) throw new EngineError(400, `cannot push a digest reference: ${refStr}`);
  const say = (p: PushProgress) => {
    try {
      opts.onProgress?.(p);
    } catch {
      /* a broken listener must not break the push */
    }
  };
  const repo = repoName(ref);
  const names = store.repository(repo);
  const tags = opts.allTags ? Object.keys(names).filter((k) => !k.includes('@')).map((k) => k.slice(repo.length + 1)) : [ref.tag ?? 'latest'];
  if (tags.length === 0 || !names[`${repo}:${tags[0]}`]) throw new EngineError(404, `An image does not exist locally with the tag: ${familiarName(ref)}${opts.allTags ? '' : `:${tags[0]}`}`);
  const client = store.client(ref.domain, opts.auth);
  say({ status: `The push refers to repository [${ref.domain === 'docker.io' ? repo : familiarName(ref)}]` });
  for (const tag of tags.sort()) await pushTag(store, client, ref, tag, names[`${repo}:${tag}`], say, opts);
}

async function pushTag(store: DiskImageStore, client: RegistryClient, ref: Reference, tag: string, id: string, say: (p: PushProgress) => void, opts: PushOptions): Promise<void> {
  const repo = repoName(ref);
  const img = store.stored(id);
  if (!img) throw new EngineError(404, `An image does not exist locally with the tag: ${familiarName(ref)}:${tag}`);
  const unpin = store.pin(img.chainIds);
  try {
    const { bytes, manifest, mediaType } = await manifestFor(store, img);
    const layers = manifest.layers;
    for (const l of layers) say({ status: 'Preparing', id: hexOf(l.digest).slice(0, 12) });
    for (const l of layers.slice(UPLOADS)) say({ status: 'Waiting', id: hexOf(l.digest).slice(0, 12) });
    // Docker lists the top layer first; the order of the lines is only display.
    await parallel(
      layers.map((l, i) => ({ l, diffId: img.diffIds[i] })),
      UPLOADS,
      ({ l, diffId }) => pushLayer(store, client, ref, l, diffId, img.source, say, opts),
    );
    if (!(await client.hasBlob(ref.path, id))) {
      const config = store.configBytes(id);
      await client.uploadBlob(ref.path, id, config.length, config);
    }
    const digest = await client.putManifest(ref.path, tag, bytes, mediaType);
    store.addDigestRef(repo, digest, id);
    say({ status: `${tag}: digest: ${digest} size: ${bytes.length}` });
    say({ status: '', aux: { Tag: tag, Digest: digest, Size: bytes.length } });
  } finally {
    unpin();
  }
}

/**
 * The manifest to push: the image's own when it has one whose config is this image (pulled,
 * or made here by an earlier push), else a Docker schema-2 manifest made now from the
 * layers' blobs (a layer kept only as plain tar, from import, commit, build or load, is
 * gzipped first), stored so every later push sends the same bytes.
 */
async function manifestFor(store: DiskImageStore, img: NonNullable<ReturnType<DiskImageStore['stored']>>): Promise<{ bytes: Buffer; manifest: ImageManifest; mediaType: string }> {
  for (const d of img.manifests) {
    if (!store.content.has(d)) continue;
    const m = store.manifest(d);
    if ((m.mediaType === MEDIA.dockerManifest || m.mediaType === MEDIA.ociManifest) && m.config?.digest === img.id && m.layers.length === img.diffIds.length) {
      return { bytes: store.content.read(d), manifest: m, mediaType: m.mediaType };
    }
  }
  const layers: Descriptor[] = [];
  for (const diffId of img.diffIds) {
    const blobs = store.content.blobsOf(diffId).filter((b) => store.content.has(b.digest));
    let blob = blobs.find((b) => COMPRESSED.has(b.mediaType));
    if (!blob) {
      const plain = blobs[0];
      if (!plain) throw new EngineError(500, `layer ${diffId} of image ${img.id} has no blob in the store to push: pull or load the image again`);
      blob = { ...(await gzipBlob(store, diffId, plain.digest)), repos: [] };
    }
    layers.push({ mediaType: blob.mediaType === MEDIA.ociLayerGzip ? MEDIA.dockerLayerGzip : blob.mediaType === MEDIA.ociLayerZstd ? MEDIA.dockerLayerZstd : blob.mediaType, size: blob.size, digest: blob.digest });
  }
  const config = store.configBytes(img.id);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.dockerConfig, size: config.length, digest: img.id },
    layers,
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = store.content.put(bytes);
  store.addManifest(img.id, digest);
  return { bytes, manifest, mediaType: MEDIA.dockerManifest };
}

async function gzipBlob(store: DiskImageStore, diffId: string, plainDigest: string): Promise<{ digest: string; mediaType: string; size: number }> {
  const ing = store.content.ingest();
  try {
    const gz = store.content.stream(plainDigest).pipe(createGzip({ chunkSize: 1 << 20 }));
    for await (const c of gz) ing.write(c as Buffer);
    const digest = await store.content.commit(ing);
    const blob = { digest, mediaType: MEDIA.dockerLayerGzip, size: ing.size };
    store.content.recordLayerBlob(diffId, blob);
    return blob;
  } catch (e) {
    ing.abort();
    throw e;
  }
}

async function pushLayer(store: DiskImageStore, client: RegistryClient, ref: Reference, desc: Descriptor, diffId: string, source: string | undefined, say: (p: PushProgress) => void, opts: PushOptions): Promise<void> {
  const short = hexOf(desc.digest).slice(0, 12);
  const repo = repoName(ref);
  const known = store.content.blobsOf(diffId).find((b) => b.digest === desc.digest);
  if (await client.hasBlob(ref.path, desc.digest)) {
    store.content.recordLayerBlob(diffId, desc, repo);
    say({ status: 'Layer already exists', id: short });
    return;
  }
  // Another repository of this registry that has it: a mount costs the registry a link, not an upload.
  for (const other of known?.repos ?? []) {
    const o = parseReference(other);
    if (o.domain !== ref.domain || o.path === ref.path) continue;
    if (await client.mountBlob(ref.path, desc.digest, o.path)) {
      store.content.recordLayerBlob(diffId, desc, repo);
      say({ status: `Mounted from ${o.path}`, id: short });
      return;
    }
  }
  // A layer an earlier Berth unpacked without keeping the blob: fetched again, verified, from where it came.
  await store.ensureBlob(desc, source, source && parseReference(source).domain === ref.domain ? opts.auth : undefined);
  let sent = 0;
  let last = 0;
  const body = async function* () {
    for await (const c of Readable.from(store.content.stream(desc.digest))) {
      sent += (c as Buffer).length;
      if (sent - last >= 512 * 1024 || sent === desc.size) {
        last = sent;
        say({ status: 'Pushing', id: short, current: sent, total: desc.size });
      }
      yield c as Buffer;
    }
  };
  await client.uploadBlob(ref.path, desc.digest, desc.size, body());
  store.content.recordLayerBlob(diffId, desc, repo);
  say({ status: 'Pushed', id: short });
}

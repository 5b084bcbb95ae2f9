// `docker save` and `docker load` in the docker-archive format (what `docker save`
// writes and `skopeo copy … docker-archive:` reads and writes): a tar holding
// manifest.json ([{ Config, RepoTags, Layers }]), each image's config and each layer as
// an uncompressed tar, named by digest (blobs/sha256/<hex>, as Docker 25 names them;
// Docker 20's <id>/layer.tar and skopeo's <hex>.tar load the same way, since names are
// only what manifest.json points at).
//
// Load reads the archive as it streams: small files (configs, manifest.json) are held in
// memory, bigger ones go into the content store's ingest; nothing of the archive is
// ever written to a path it names. Each layer is then unpacked by the layer extractor,
// checked against the config's diff ID, and kept as a blob, so a later save or push
// reuses it.
//
// Exports: saveImages, loadImages.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { EngineError } from '../errors';
import { decompress } from '../layers/extract';
import { unpackLayer as unpackTar } from '../layers/unpack';
import { parallel } from './parallel';
import { readTar, TarFormatError, type TarEntry } from '../layers/tar';
import { entryHeader, padding } from '../layers/tar-write';
import type { ImageRecord, LoadResult } from '../types';
import { computeChainIds, type DiskImageStore, type RawConfig } from './store';
import { familiarString, parseReference, repoName, tryParseReference } from './reference';
import { MEDIA } from './registry';

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** Files up to this size are held in memory while an archive loads (configs, manifest.json). */
const SMALL_FILE = 256 * 1024;
/** And at most this much of them in all. */
const SMALL_TOTAL = 64 << 20;
const MAX_MANIFEST_JSON = 8 << 20;
const MTIME = 0;
/** Layers of a load unpacked at once (a pull's default, too). */
const LOAD_CONCURRENCY = 3;

interface ArchiveManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** The images `refs` name, each with the tags it is saved under (a name without a tag: every tag of that repository). */
function resolveSaveRefs(store: DiskImageStore, refs: string[]): Array<{ img: ImageRecord; tags: string[] }> {
  const out = new Map<string, { img: ImageRecord; tags: Set<string> }>();
  const add = (img: ImageRecord, tag?: string) => {
    const e = out.get(img.id) ?? { img, tags: new Set<string>() };
    if (tag) e.tags.add(tag);
    out.set(img.id, e);
  };
  for (const raw of refs) {
    const r = tryParseReference(raw);
    const nameOnly = r && !r.digest && !/:[^/]+$/.test(raw) && !/^[a-f0-9]{6,64}$/.test(raw) && !raw.startsWith('sha256:');
    if (r && nameOnly) {
      const names = store.repository(repoName(r));
      const tagKeys = Object.keys(names).filter((k) => !k.includes('@'));
      if (tagKeys.length) {
        for (const k of tagKeys) add(store.get(names[k])!, familiarString(parseReference(k)));
        continue;
      }
    }
    const img = store.get(raw);
    if (!img) throw new EngineError(404, `reference does not exist: ${raw}`);
    // By tag: that tag; by id or digest: no tags, as Docker saves them.
    add(img, r && !r.digest && !/^[a-f0-9]{6,64}$/.test(raw) && !raw.startsWith('sha256:') ? familiarString(r) : undefined);
  }
  return [...out.values()].map((e) => ({ img: e.img, tags: [...e.tags].sort() }));
}

function fileHeader(path: string, size: number): Buffer {
  return entryHeader({ path, type: 'file', mode: 0o644, mtime: MTIME }, size);
}

/** `docker save`: refuses (404) before anything is written when a name is unknown. */
export function saveImages(store: DiskImageStore, refs: string[]): AsyncIterable<Buffer> {
  if (refs.length === 0) throw new EngineError(400, 'no image names given to save');
  const wanted = resolveSaveRefs(store, refs);
  const unpin = store.pin(wanted.flatMap((w) => w.img.chainIds));
  return (async function* () {
    try {
      // Before the first byte, so a layer that cannot be had is an error the client gets as one.
      for (const { img } of wanted) for (let i = 0; i < img.diffIds.length; i++) if (!layerReady(store, img, i)) await materializePlain(store, img, i);
      const written = new Set<string>();
      const manifest: ArchiveManifestEntry[] = [];
      yield entryHeader({ path: 'blobs/', type: 'directory', mode: 0o755, mtime: MTIME }, 0);
      yield entryHeader({ path: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: MTIME }, 0);
      for (const { img, tags } of wanted) {
        const config = store.configBytes(img.id);
        const configPath = `blobs/sha256/${hexOf(img.id)}`;
        if (!written.has(configPath)) {
          written.add(configPath);
          yield fileHeader(configPath, config.length);
          yield config;
          yield padding(config.length);
        }
        const layers: string[] = [];
        for (let i = 0; i < img.diffIds.length; i++) {
          const diffId = img.diffIds[i];
          const path = `blobs/sha256/${hexOf(diffId)}`;
          layers.push(path);
          if (written.has(path)) continue;
          written.add(path);
          yield* layerEntry(store, img, i, path);
        }
        manifest.push({ Config: configPath, RepoTags: tags.length ? tags : null, Layers: layers });
      }
      const m = Buffer.from(JSON.stringify(manifest));
      yield fileHeader('manifest.json', m.length);
      yield m;
      yield padding(m.length);
      yield Buffer.alloc(1024);
    } finally {
      unpin();
    }
  })();
}

/** Whether layer `i` can be written as it is: its plain tar is here, or a compressed blob and the tar's size. */
function layerReady(store: DiskImageStore, img: ImageRecord, i: number): boolean {
  const blobs = store.content.blobsOf(img.diffIds[i]).filter((b) => store.content.has(b.digest));
  return blobs.some((b) => b.digest === img.diffIds[i]) || (blobs.length > 0 && store.layers.get(img.chainIds[i])?.tarSize !== undefined);
}

/** One layer as an uncompressed tar entry, verified against its diff ID as it streams. */
async function* layerEntry(store: DiskImageStore, img: ImageRecord, i: number, path: string): AsyncGenerator<Buffer> {
  const diffId = img.diffIds[i];
  const content = store.content;
  // Without a blob (an earlier Berth kept none) or the tar's size (needed before its bytes), the plain tar is made once and kept.
  if (!layerReady(store, img, i)) await materializePlain(store, img, i);
  const blobs = content.blobsOf(diffId).filter((b) => content.has(b.digest));
  const tarSize = store.layers.get(img.chainIds[i])?.tarSize;
  const plain = blobs.find((b) => b.digest === diffId);
  const size = plain ? content.size(diffId) : tarSize!;
  yield fileHeader(path, size);
  const hash = createHash('sha256');
  let n = 0;
  const src = plain ? content.stream(diffId) : decompress(content.stream(blobs[0].digest), `layer ${blobs[0].digest}`);
  for await (const c of src) {
    const b = c as Buffer;
    n += b.length;
    if (n > size) throw new EngineError(500, `layer ${diffId}: more than the ${size} bytes it had when it was stored`);
    hash.update(b);
    yield b;
  }
  if (n !== size || 'sha256:' + hash.digest('hex') !== diffId) throw new EngineError(500, `layer ${diffId} in the content store does not match its diff ID: the store is damaged (npm run integrity)`);
  yield padding(size);
}

/** Makes the plain tar blob of layer `i` of `img` from a compressed one, fetching that first when an earlier Berth did not keep it. */
async function materializePlain(store: DiskImageStore, img: ImageRecord, i: number): Promise<void> {
  const diffId = img.diffIds[i];
  let blob = store.content.blobsOf(diffId).find((b) => store.content.has(b.digest));
  if (!blob) {
    const stored = store.stored(img.id);
    const manifestDigest = stored?.manifests.find((d) => store.content.has(d) && store.manifest(d).config?.digest === img.id);
    const desc = manifestDigest ? store.manifest(manifestDigest).layers[i] : undefined;
    if (!desc) throw new EngineError(500, `layer ${diffId} of ${img.id} has no blob in the store: pull the image again`);
    await store.ensureBlob(desc, img.source);
    store.content.recordLayerBlob(diffId, desc, img.source);
    blob = { ...desc, repos: [] };
  }
  const ing = store.content.ingest();
  try {
    for await (const c of decompress(store.content.stream(blob.digest), `layer ${blob.digest}`, { maxBytes: store.maxLayerBytes })) ing.write(c);
    await store.content.commit(ing, diffId);
    store.content.recordLayerBlob(diffId, { digest: diffId, mediaType: MEDIA.dockerLayer, size: ing.size });
  } catch (e) {
    ing.abort();
    throw e;
  }
}

/** Normalises an archive path as manifest.json and the entry names may spell it ("./x", "x"). */
const clean = (p: string) => p.replace(/^(\.\/)+/, '').replace(/^\/+/, '');

interface Held {
  data?: Buffer;
  /** Committed into the content store. */
  digest?: string;
  size: number;
}

/** `docker load`. */
export async function loadImages(store: DiskImageStore, tar: AsyncIterable<Buffer | Uint8Array>, opts: { onProgress?: (line: string) => void } = {}): Promise<LoadResult> {
  const files = new Map<string, Held>();
  const blobs: string[] = [];
  let small = 0;
  const unpins: Array<() => void> = [];
  try {
    for await (const { header: h, body, buffered } of archiveEntries(tar)) {
      if (h.type !== 'file') {
        // Links are how some writers share a layer between two images' directories.
        if (h.type === 'symlink' || h.type === 'hardlink') {
          const target = h.type === 'symlink' ? clean(new URL(h.linkpath, `file:///${clean(h.path)}`).pathname) : clean(h.linkpath);
          const held = files.get(target);
          if (held) files.set(clean(h.path), held);
        }
        continue;
      }
      const name = clean(h.path);
      if (h.size <= SMALL_FILE && small + h.size <= SMALL_TOTAL) {
        const data = buffered ? Buffer.from(buffered) : Buffer.concat(await collect(body));
        small += data.length;
        files.set(name, { data, size: data.length });
        continue;
      }
      if (name === 'manifest.json' && h.size > MAX_MANIFEST_JSON) throw new EngineError(400, `image archive: manifest.json of ${h.size} bytes is too large`);
      const ing = store.content.ingest();
      try {
        if (buffered) ing.write(buffered);
        else for await (const c of body) ing.write(c);
        const digest = await store.content.commit(ing);
        unpins.push(store.pin([], [digest]));
        blobs.push(digest);
        files.set(name, { digest, size: ing.size });
      } catch (e) {
        ing.abort();
        throw e;
      }
    }
    const manifestFile = files.get('manifest.json');
    if (!manifestFile) throw new EngineError(400, 'image archive has no manifest.json: not a docker-archive (docker save / skopeo docker-archive:)');
    let manifest: ArchiveManifestEntry[];
    try {
      manifest = JSON.parse(read(store, manifestFile).toString('utf8')) as ArchiveManifestEntry[];
      if (!Array.isArray(manifest)) throw new Error('not a list');
    } catch (e) {
      throw new EngineError(400, `image archive: manifest.json is not valid: ${(e as Error).message}`);
    }
    const result: LoadResult = { images: [] };
    for (const entry of manifest) {
      if (typeof entry?.Config !== 'string' || !Array.isArray(entry.Layers)) throw new EngineError(400, 'image archive: a manifest.json entry lacks Config or Layers');
      const configFile = files.get(clean(entry.Config));
      if (!configFile) throw new EngineError(400, `image archive: config ${entry.Config} named in manifest.json is not in the archive`);
      const configBytes = read(store, configFile);
      let config: RawConfig;
      try {
        config = JSON.parse(configBytes.toString('utf8')) as RawConfig;
      } catch {
        throw new EngineError(400, `image archive: config ${entry.Config} is not valid JSON`);
      }
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== entry.Layers.length) throw new EngineError(400, `image archive: config ${entry.Config} lists ${diffIds.length} layers, manifest.json ${entry.Layers.length}`);
      for (const d of diffIds) if (!DIGEST.test(d)) throw new EngineError(400, `image archive: unsupported diff id ${d}`);
      const tags = (entry.RepoTags ?? []).map((t) => {
        const r = tryParseReference(t);
        if (!r || r.digest) throw new EngineError(400, `image archive: invalid tag ${JSON.stringify(t)}`);
        return t;
      });
      const chainIds = computeChainIds(diffIds);
      unpins.push(store.pin(chainIds));
      const missing: Array<{ i: number; file: Held }> = [];
      for (let i = 0; i < diffIds.length; i++) {
        if (store.layers.has(chainIds[i])) continue;
        const layerFile = files.get(clean(entry.Layers[i]));
        if (!layerFile) throw new EngineError(400, `image archive: layer ${entry.Layers[i]} named in manifest.json is not in the archive`);
        missing.push({ i, file: layerFile });
      }
      // Side by side, as a pull's layers: each unpacks on a thread of its own.
      await parallel(missing, LOAD_CONCURRENCY, async ({ i, file }) => {
        opts.onProgress?.(`Loading layer ${hexOf(diffIds[i]).slice(0, 12)}`);
        await unpackLayer(store, file, diffIds[i], chainIds[i], i > 0 ? chainIds[i - 1] : undefined);
      });
      const img = store.createImage(configBytes, { tags });
      for (const t of tags) opts.onProgress?.(`Loaded image: ${familiarString(parseReference(t))}`);
      if (!tags.length) opts.onProgress?.(`Loaded image ID: ${img.id}`);
      result.images.push({ id: img.id, tags: tags.map((t) => familiarString(parseReference(t))) });
    }
    return result;
  } finally {
    for (const u of unpins) u();
    store.gc();
  }
}

async function collect(body: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(c);
  return out;
}

function read(store: DiskImageStore, f: Held): Buffer {
  return f.data ?? store.content.read(f.digest!);
}

async function unpackLayer(store: DiskImageStore, f: Held, diffId: string, chainId: string, parent: string | undefined): Promise<void> {
  const label = `layer ${diffId}`;
  const prepared = await store.layers.prepare();
  try {
    const src: AsyncIterable<Buffer> = f.data ? Readable.from([f.data]) : store.content.stream(f.digest!);
    const res = await unpackTar(src, prepared.dir, { label, maxBytes: store.maxLayerBytes });
    const got = res.diffId;
    const n = res.tarSize;
    if (got !== diffId) throw new EngineError(400, `image archive: ${label} unpacks to ${got}, not the diff ID its config names`);
    // The archive's file as this layer's blob: plain (its digest is the diff ID) or compressed as it came.
    const digest = f.digest ?? store.content.put(f.data!);
    const head = f.data ?? readHead(store.content.path(digest));
    const mediaType = head[0] === 0x1f && head[1] === 0x8b ? MEDIA.dockerLayerGzip : head[0] === 0x28 && head[1] === 0xb5 ? MEDIA.dockerLayerZstd : MEDIA.dockerLayer;
    store.content.recordLayerBlob(diffId, { digest, mediaType, size: f.size });
    store.layers.commit(prepared.dir, { chainId, diffId, ...(parent ? { parent } : {}), size: res.size, tarSize: n });
  } finally {
    await prepared.abort();
  }
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    readSync(fd, b, 0, 4, 0);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The archive's entries; a broken tar is the client's fault (400), as dockerd answers it. */
async function* archiveEntries(tar: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<TarEntry> {
  try {
    yield* readTar(decompress(tar, 'image archive'));
  } catch (e) {
    if (e instanceof TarFormatError) throw new EngineError(400, `image archive: ${e.message}`);
    throw e;
  }
}

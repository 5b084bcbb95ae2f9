// The image store: a content store (./content.ts), a layer store (./layers.ts), image
// names and image records, with pull, push (./push.ts), save and load (./archive.ts) as
// orchestration on top. Layout under `dir`:
//   blobs/sha256/<hex>        content: manifests, configs, layer blobs (kept compressed as pulled)
//   ingest/                   content being written; emptied on open
//   distribution.json         which blob carries which layer, seen in which repositories
//   layers/, l/, tmp/         the layer store
//   repositories.json         { "<domain>/<path>": { "<domain>/<path>:<tag>" | "<domain>/<path>@<digest>": "<image id>" } }
//   images/<id-hex>.json      the image record (tags live in repositories.json only)
//   store.json                { "version": 2 }: the layout's version
//   registry-auth.json        credentials from `docker login` (./credentials.ts)
// Commit order of a pull: layer blobs and layers, config and manifests, repositories.json,
// then images/<id>.json. On open, references to images whose json is missing are dropped,
// so a pull that died half-way never shows up as an image, and garbage collection takes
// what it left.
//
// Exports: openImageStore, DiskImageStore, ImageStoreOptions, computeChainIds, DEFAULT_MAX_LAYER_BYTES.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic } from '../atomic-write';
import { EngineError } from '../errors';
import { decompress } from '../layers/extract';
import { unpackLayer } from '../layers/unpack';
import { packDirectory, writeTar } from '../layers/tar-write';
import { CLOSED_MODE, closeToOthers } from '../root';
import type { HistoryEntry, ImageConfig, ImageEvent, ImageRecord, ImageStore, LoadResult, PruneResult, PullOptions, PullProgress, PushOptions, RegistryAuth } from '../types';
import { loadImages, saveImages } from './archive';
import { ContentStore, type Ingest } from './content';
import { RegistryCredentials } from './credentials';
import { LayerStore, type LayerMeta } from './layers';
import { parallel } from './parallel';
import { pushImage } from './push';
import { familiarString, fullName, parseReference, repoName, tryParseReference, type Reference } from './reference';
import { domainListed, hostPlatform, MEDIA, parsePlatform, platformString, RegistryClient, type Descriptor, type ImageManifest, type Platform } from './registry';

type StoredImage = Omit<ImageRecord, 'repoTags' | 'repoDigests'> & {
  /** Manifest (and manifest list) digests this image was pulled or pushed by, the image's own manifest first. */
  manifests: string[];
};

export interface RawConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  docker_version?: string;
  config?: ImageConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const STORE_VERSION = 2;
/** The most a layer may unpack to unless the agent is told otherwise: 64 GiB. */
export const DEFAULT_MAX_LAYER_BYTES = 64 * 2 ** 30;

/** Chain IDs per the OCI image spec: chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]). */
export function computeChainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : 'sha256:' + createHash('sha256').update(`${out[out.length - 1]} ${d}`).digest('hex'));
  return out;
}

// Configs, names and records are the store's own bookkeeping: root only, like the dirs.
const writeAtomic = (path: string, data: string | Buffer) => writeFileAtomic(path, data, { mode: 0o600 });

/** What a caller outside the store (build cache) keeps from garbage collection. */
export interface GcRoots {
  chainIds?: string[];
  blobs?: string[];
}

/** Fields of an image config that the record keeps, read from the config bytes. */
export function recordFields(raw: RawConfig): Pick<ImageRecord, 'history' | 'author' | 'comment' | 'variant' | 'dockerVersion'> {
  return {
    history: (raw.history ?? []).map((h): HistoryEntry => ({
      created: h.created ?? '',
      createdBy: h.created_by ?? '',
      ...(h.author ? { author: h.author } : {}),
      ...(h.comment ? { comment: h.comment } : {}),
      ...(h.empty_layer ? { emptyLayer: true } : {}),
    })),
    ...(raw.author ? { author: raw.author } : {}),
    ...(raw.comment ? { comment: raw.comment } : {}),
    ...(raw.variant ? { variant: raw.variant } : {}),
    ...(raw.docker_version ? { dockerVersion: raw.docker_version } : {}),
  };
}

export class DiskImageStore extends EventEmitter<{ image: [ImageEvent] }> implements ImageStore {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly credentials: RegistryCredentials;
  private images = new Map<string, StoredImage>();
  private repos: Record<string, Record<string, string>> = {};
  /** Chain hex → number of operations (pulls, loads) using it before any image records it. */
  private pinned = new Map<string, number>();
  /** Blob digest → number of operations using it before any image records it. */
  private pinnedBlobs = new Map<string, number>();
  private inflight = new Map<string, Promise<LayerMeta>>();
  /** Chain hex → layers imported (commit, build, load) that no image uses yet. */
  private imported = new Map<string, number>();
  private gcRoots: Array<() => GcRoots> = [];

  constructor(
    readonly dir: string,
    readonly platform: Platform = hostPlatform(),
    readonly concurrency = 3,
    readonly insecureRegistries: readonly string[] = [],
    readonly maxLayerBytes = DEFAULT_MAX_LAYER_BYTES,
  ) {
    super();
    this.content = new ContentStore(dir);
    this.layers = new LayerStore(dir);
    this.credentials = new RegistryCredentials(join(dir, 'registry-auth.json'));
  }

  /** Tells listeners about a change already made; a listener's failure must not turn it into a failed request. */
  announce(e: ImageEvent): void {
    try {
      this.emit('image', e);
    } catch {
      /* the change stands */
    }
  }

  // ---- loading -------------------------------------------------------------

  load(log: (line: string) => void = console.log): void {
    // Layers hold images' setuid binaries and device nodes: no other user may reach them (see ../root.ts).
    closeToOthers(this.dir, [''], 'the image store', log);
    const versionPath = join(this.dir, 'store.json');
    let version = 0;
    try {
      version = (JSON.parse(readFileSync(versionPath, 'utf8')) as { version?: number }).version ?? 0;
    } catch {
      /* no version file: a new store, or one from before the content store */
    }
    if (version > STORE_VERSION) throw new Error(`image store ${this.dir} was written by a newer Berth (layout ${version}, this one knows ${STORE_VERSION})`);
    const hadImages = existsSync(join(this.dir, 'images')) && readdirSync(join(this.dir, 'images')).some((n) => n.endsWith('.json'));
    for (const d of ['images']) mkdirSync(join(this.dir, d), { recursive: true, mode: CLOSED_MODE });
    this.content.load();
    const relinked = this.layers.load();
    this.credentials.load();

    for (const name of readdirSync(join(this.dir, 'images'))) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      try {
        const img = JSON.parse(readFileSync(join(this.dir, 'images', name), 'utf8')) as StoredImage;
        if (!img.chainIds.every((c) => this.layers.has(c))) continue;
        if (img.history === undefined && this.content.has(img.id)) {
          // Records before layout 2 kept no history: it is in the config.
          Object.assign(img, recordFields(JSON.parse(this.content.read(img.id).toString('utf8')) as RawConfig));
        }
        this.images.set(img.id, img);
      } catch {
        /* unreadable: treated as absent */
      }
    }
    const reposPath = join(this.dir, 'repositories.json');
    if (existsSync(reposPath)) {
      const raw = JSON.parse(readFileSync(reposPath, 'utf8')) as { Repositories?: Record<string, Record<string, string>> };
      this.repos = raw.Repositories ?? {};
    }
    let dropped = false;
    for (const [repo, refs] of Object.entries(this.repos)) {
      for (const [ref, id] of Object.entries(refs)) if (!this.images.has(id)) (delete refs[ref], (dropped = true));
      if (Object.keys(refs).length === 0) delete this.repos[repo];
    }
    if (dropped) this.saveRepos();

    if (version < STORE_VERSION) {
      for (const img of this.images.values()) {
        img.chainIds.forEach((c, i) => i > 0 && this.layers.setParent(c, img.chainIds[i - 1]));
        // Where it was pulled from (push and save fetch the blobs layout 1 did not keep): the repository of a digest name by one of its manifests.
        if (!img.source) {
          const byDigest = this.refsOf(img.id).map((k) => parseReference(k)).find((r) => r.digest && img.manifests.includes(r.digest));
          if (byDigest) this.saveImage({ ...img, source: repoName(byDigest) });
        }
      }
      if (hadImages) {
        // Layout 1 kept no compressed layer blobs: push and save fetch them again from where the image came from.
        const without = [...this.images.values()].filter((img) => !this.layerBlobsPresent(img)).length;
        log(
          `berth-agent: migrated the image store ${this.dir} from layout 1 to ${STORE_VERSION}: ${this.images.size} image(s) kept, ${relinked} layer(s) given short mount links` +
            (without ? `; ${without} image(s) have no compressed layer blobs (an earlier Berth did not keep them): push and save fetch them again from the registry they were pulled from` : ''),
        );
      }
      writeAtomic(versionPath, JSON.stringify({ version: STORE_VERSION }));
    }
    this.gc();
  }

  /** Whether every layer of `img` has a blob here. */
  private layerBlobsPresent(img: StoredImage): boolean {
    return img.diffIds.every((d) => this.content.blobsOf(d).some((b) => this.content.has(b.digest)));
  }

  // ---- persistence -------------------------------------------------------------

  saveRepos(): void {
    writeAtomic(join(this.dir, 'repositories.json'), JSON.stringify({ Repositories: this.repos }, null, 2));
  }

  private saveImage(img: StoredImage): void {
    writeAtomic(join(this.dir, 'images', `${hexOf(img.id)}.json`), JSON.stringify(img, null, 2));
    this.images.set(img.id, img);
  }

  // ---- queries ---------------------------------------------------------------

  private refsOf(id: string): string[] {
    const out: string[] = [];
    for (const refs of Object.values(this.repos)) for (const [ref, target] of Object.entries(refs)) if (target === id) out.push(ref);
    return out;
  }

  private record(img: StoredImage): ImageRecord {
    const repoTags: string[] = [];
    const repoDigests: string[] = [];
    for (const ref of this.refsOf(img.id)) {
      const r = parseReference(ref);
      (r.digest ? repoDigests : repoTags).push(familiarString(r));
    }
    const { manifests: _m, ...rest } = img;
    void _m;
    return {
      ...structuredClone(rest),
      repoTags: repoTags.sort(),
      repoDigests: repoDigests.sort(),
    };
  }

  /** The stored key of a reference: tag form, or digest form when it has a digest. */
  static key(r: Reference): string {
    return r.digest ? `${repoName(r)}@${r.digest}` : `${repoName(r)}:${r.tag ?? 'latest'}`;
  }

  private lookup(refOrId: string): { id: string; ref?: string } | undefined {
    const s = refOrId.trim();
    if (/^sha256:[a-f0-9]{64}$/.test(s) || /^[a-f0-9]{64}$/.test(s)) {
      const id = s.startsWith('sha256:') ? s : `sha256:${s}`;
      if (this.images.has(id)) return { id };
    }
    const r = tryParseReference(s);
    if (r) {
      const key = DiskImageStore.key(r);
      const id = this.repos[repoName(r)]?.[key];
      if (id && this.images.has(id)) return { id, ref: key };
    }
    const prefix = s.startsWith('sha256:') ? s.slice(7) : s;
    if (/^[a-f0-9]{1,64}$/.test(prefix)) {
      const hits = [...this.images.keys()].filter((id) => id.slice(7).startsWith(prefix));
      if (hits.length === 1) return { id: hits[0] };
    }
    return undefined;
  }

  list(): ImageRecord[] {
    return [...this.images.values()].map((img) => this.record(img)).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  get(refOrId: string): ImageRecord | undefined {
    const hit = this.lookup(refOrId);
    return hit ? this.record(this.images.get(hit.id)!) : undefined;
  }

  /** The stored image (with its manifests) for store-internal orchestration (push, save). */
  stored(id: string): StoredImage | undefined {
    const img = this.images.get(id);
    return img ? structuredClone(img) : undefined;
  }

  /** Tag and digest keys ("domain/path:tag", "domain/path@digest") of repository `repo` and the image ids they name. */
  repository(repo: string): Record<string, string> {
    return { ...(this.repos[repo] ?? {}) };
  }

  /** Short links of the image's layers, lowest first: what overlay mounts take (see layers.ts). */
  layerDirs(image: ImageRecord): string[] {
    return this.layers.mounts(image.chainIds);
  }

  /** The image's config as stored (the bytes its id is the digest of). */
  configBytes(id: string): Buffer {
    return this.content.read(id);
  }

  // ---- tagging and removal ---------------------------------------------------

  /** Adds `target` (a tag reference) to the image `source` names; returns the familiar form of the new tag. */
  tag(source: string, target: string): string {
    const hit = this.lookup(source);
    if (!hit) throw new EngineError(404, `No such image: ${source}`);
    const r = parseReference(target);
    if (r.digest) throw new EngineError(400, `refusing to create a tag with a digest reference: ${target}`);
    (this.repos[repoName(r)] ??= {})[DiskImageStore.key(r)] = hit.id;
    this.saveRepos();
    const img = this.images.get(hit.id)!;
    this.saveImage({ ...img, lastTagTime: new Date().toISOString() });
    this.announce({ action: 'tag', id: hit.id, ref: familiarString(r) });
    return familiarString(r);
  }

  /** Adds a manifest (stored in the content store) to the image's own. */
  addManifest(id: string, digest: string): void {
    const img = this.images.get(id);
    if (img && !img.manifests.includes(digest)) this.saveImage({ ...img, manifests: [...img.manifests, digest] });
  }

  /** Points the digest reference `repo@digest` at `id` (after a push). */
  addDigestRef(repo: string, digest: string, id: string, manifestDigest = digest): void {
    (this.repos[repo] ??= {})[`${repo}@${digest}`] = id;
    this.saveRepos();
    const img = this.images.get(id);
    if (img && !img.manifests.includes(manifestDigest)) this.saveImage({ ...img, manifests: [...img.manifests, manifestDigest] });
  }

  private untag(key: string): void {
    const r = parseReference(key);
    const refs = this.repos[repoName(r)];
    if (!refs) return;
    delete refs[key];
    if (Object.keys(refs).length === 0) delete this.repos[repoName(r)];
  }

  /**
   * Docker's rmi rules: a name given is untagged (a tag's same-repository digest names go
   * with it when no tag of that repository is left), and the image is deleted once no
   * name points at it. By id, all names go, but only when they are in one repository
   * (else 409 unless forced). An image `inUse` is never deleted: without `force` that is a
   * 409; with it, the names go and the image stays (dangling) so a container keeps its layers.
   */
  remove(refOrId: string, opts: { force?: boolean; inUse: (imageId: string) => boolean }): Array<{ Untagged?: string; Deleted?: string }> {
    const id = this.lookup(refOrId)?.id;
    const out = this.removeNames(refOrId, opts);
    for (const o of out) {
      if (o.Untagged) this.announce({ action: 'untag', id: id!, ref: o.Untagged });
      if (o.Deleted) this.announce({ action: 'delete', id: o.Deleted });
    }
    return out;
  }

  private removeNames(refOrId: string, opts: { force?: boolean; inUse: (imageId: string) => boolean }): Array<{ Untagged?: string; Deleted?: string }> {
    const hit = this.lookup(refOrId);
    if (!hit) throw new EngineError(404, `No such image: ${refOrId}`);
    const { id } = hit;
    const short = id.slice(7, 19);
    const out: Array<{ Untagged?: string; Deleted?: string }> = [];
    const display = (k: string) => familiarString(parseReference(k));
    const drop = (k: string) => (this.untag(k), out.push({ Untagged: display(k) }));
    const refs = this.refsOf(id);
    const repos = new Set(refs.map((k) => repoName(parseReference(k))));
    const tags = refs.filter((k) => !parseReference(k).digest);
    // Docker's isSingleReference: removing these names would leave the image dangling.
    const single = repos.size <= 1 && tags.length <= 1;

    if (hit.ref) {
      if (single && !opts.force && opts.inUse(id)) {
        throw new EngineError(409, `conflict: unable to remove repository reference "${refOrId}" (must force) - container is using its referenced image ${short}`);
      }
      const r = parseReference(hit.ref);
      drop(hit.ref);
      if (!r.digest) {
        const sameRepo = this.refsOf(id).filter((k) => repoName(parseReference(k)) === repoName(r));
        if (!sameRepo.some((k) => !parseReference(k).digest)) sameRepo.forEach(drop);
      }
      this.saveRepos();
      if (this.refsOf(id).length > 0 || opts.inUse(id)) return out;
    } else {
      if (!single && !opts.force) {
        throw new EngineError(409, `conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      }
      if (opts.inUse(id) && !opts.force) throw new EngineError(409, `conflict: unable to delete ${short} (must be forced) - image is being used by a container`);
      refs.forEach(drop);
      this.saveRepos();
      if (opts.inUse(id)) return out;
    }
    this.deleteRecord(id);
    out.push({ Deleted: id });
    this.gc();
    return out;
  }

  private deleteRecord(id: string): void {
    this.images.delete(id);
    rmSync(join(this.dir, 'images', `${hexOf(id)}.json`), { force: true });
  }

  /**
   * `docker image prune`: images no container uses and, without `all`, only dangling ones
   * (no tag), that pass `keep` (filters). Each goes with its names, as rmi -f would take them.
   */
  prune(opts: { all?: boolean; inUse: (imageId: string) => boolean; filter?: (img: ImageRecord) => boolean }): PruneResult {
    const deleted: Array<{ Untagged?: string; Deleted?: string }> = [];
    let reclaimed = 0;
    const before = this.diskUsage();
    for (const img of this.list()) {
      if (opts.inUse(img.id)) continue;
      if (!opts.all && img.repoTags.length > 0) continue;
      if (opts.filter && !opts.filter(img)) continue;
      for (const ref of this.refsOf(img.id)) {
        this.untag(ref);
        deleted.push({ Untagged: familiarString(parseReference(ref)) });
        this.announce({ action: 'untag', id: img.id, ref: familiarString(parseReference(ref)) });
      }
      this.saveRepos();
      this.deleteRecord(img.id);
      deleted.push({ Deleted: img.id });
      this.announce({ action: 'delete', id: img.id });
    }
    if (deleted.length) {
      this.gc();
      reclaimed = Math.max(0, before - this.diskUsage());
    }
    return { deleted, spaceReclaimed: reclaimed };
  }

  layerSizes(image: ImageRecord): number[] {
    return image.chainIds.map((c) => this.layers.usage(c));
  }

  /** Bytes of unpacked layers. */
  diskUsage(): number {
    let n = 0;
    for (const l of this.layers.all()) n += l.size;
    return n;
  }

  /** Registers what a caller outside the store (the build cache) keeps from garbage collection. */
  addGcRoots(fn: () => GcRoots): void {
    this.gcRoots.push(fn);
  }

  /**
   * Removes layers, blobs and mapping entries that nothing refers to: image records
   * (their config, manifests, layers and the blobs of those layers), operations under
   * way (pulls, loads, imports not yet made into an image) and registered roots.
   */
  gc(): void {
    const chains = new Set<string>([...this.pinned.keys(), ...this.imported.keys(), ...this.inflight.keys()]);
    const blobs = new Set<string>(this.pinnedBlobs.keys());
    const diffIds = new Set<string>();
    for (const img of this.images.values()) {
      blobs.add(img.id);
      img.manifests.forEach((m) => blobs.add(m));
      img.chainIds.forEach((c) => chains.add(hexOf(c)));
      img.diffIds.forEach((d) => diffIds.add(d));
    }
    for (const root of this.gcRoots) {
      const r = root();
      r.chainIds?.forEach((c) => chains.add(hexOf(c)));
      r.blobs?.forEach((b) => blobs.add(b));
    }
    for (const l of this.layers.all()) if (chains.has(hexOf(l.chainId))) diffIds.add(l.diffId);
    for (const d of diffIds) for (const b of this.content.blobsOf(d)) blobs.add(b.digest);
    this.layers.collect((hex) => chains.has(hex));
    for (const digest of this.content.list()) if (!blobs.has(digest)) this.content.delete(digest);
    this.content.forgetLayers((d) => diffIds.has(d));
  }

  // ---- pins --------------------------------------------------------------------

  pin(chainIds: string[], blobs: string[] = []): () => void {
    const hexes = chainIds.map(hexOf);
    for (const h of hexes) this.pinned.set(h, (this.pinned.get(h) ?? 0) + 1);
    for (const b of blobs) this.pinnedBlobs.set(b, (this.pinnedBlobs.get(b) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const h of hexes) {
        const n = (this.pinned.get(h) ?? 1) - 1;
        if (n <= 0) this.pinned.delete(h);
        else this.pinned.set(h, n);
      }
      for (const b of blobs) {
        const n = (this.pinnedBlobs.get(b) ?? 1) - 1;
        if (n <= 0) this.pinnedBlobs.delete(b);
        else this.pinnedBlobs.set(b, n);
      }
    };
  }

  // ---- building images locally (import, commit, build, load) -------------------

  /**
   * Unpacks a layer tar (plain, gzip or zstd) that goes on top of `parentChainId` (none
   * for a base layer), keeping the plain tar as the layer's blob. The layer is kept from
   * garbage collection until createImage uses it or releaseLayer lets it go.
   */
  async importLayer(tar: AsyncIterable<Buffer | Uint8Array>, parentChainId?: string, label = 'imported layer'): Promise<{ diffId: string; chainId: string; size: number }> {
    if (parentChainId !== undefined && !this.layers.has(parentChainId)) throw new EngineError(404, `parent layer ${parentChainId} is not in the store`);
    const prepared = await this.layers.prepare();
    const ing = this.content.ingest();
    try {
      const kept = async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          ing.write(chunk);
          yield chunk;
        }
      };
      // Decompressed here, as the plain tar is the blob kept (its digest is the diff ID); the worker only unpacks.
      const res = await unpackLayer(kept(decompress(tar, label, { maxBytes: this.maxLayerBytes })), prepared.dir, { label });
      const diffId = await this.content.commit(ing);
      const chainId = parentChainId === undefined ? diffId : computeChainIds([parentChainId, diffId])[1];
      this.content.recordLayerBlob(diffId, { digest: diffId, mediaType: MEDIA.dockerLayer, size: ing.size });
      const meta = this.layers.commit(prepared.dir, { chainId, diffId, ...(parentChainId ? { parent: parentChainId } : {}), size: res.size, tarSize: ing.size });
      const hex = hexOf(chainId);
      this.imported.set(hex, (this.imported.get(hex) ?? 0) + 1);
      return { diffId, chainId, size: meta.size };
    } catch (e) {
      ing.abort();
      throw e;
    } finally {
      await prepared.abort();
    }
  }

  /**
   * A directory as a new layer on top of `parentChainId`: with `overlay` (a container's
   * upper dir), overlay whiteouts and opaque directories become `.wh.` entries. For
   * commit and build; released like importLayer's.
   */
  commitDirectory(dir: string, parentChainId?: string, opts: { overlay?: boolean; skip?: ReadonlySet<string> } = {}): Promise<{ diffId: string; chainId: string; size: number }> {
    return this.importLayer(writeTar(packDirectory(dir, { overlay: opts.overlay ?? true, skip: opts.skip })), parentChainId, 'committed layer');
  }

  /** Lets garbage collection take an imported layer no image ended up using. */
  releaseLayer(chainId: string): void {
    const hex = hexOf(chainId);
    const n = (this.imported.get(hex) ?? 0) - 1;
    if (n > 0) this.imported.set(hex, n);
    else if (this.imported.delete(hex)) this.gc();
  }

  /**
   * Records an image from its config (OCI / Docker image config JSON, whose
   * rootfs.diff_ids name layers already in the store) and tags it with `tags`.
   * Returns the record; the id is the sha256 of the config bytes as stored.
   */
  createImage(config: Buffer | Record<string, unknown>, opts: { tags?: string[]; manifests?: string[] } = {}): ImageRecord {
    const bytes = Buffer.isBuffer(config) ? config : Buffer.from(JSON.stringify(config));
    let raw: RawConfig;
    try {
      raw = JSON.parse(bytes.toString('utf8')) as RawConfig;
    } catch {
      throw new EngineError(400, 'image config is not valid JSON');
    }
    const diffIds = raw.rootfs?.diff_ids ?? [];
    for (const d of diffIds) if (!DIGEST.test(d)) throw new EngineError(400, `image config: unsupported diff id ${d}`);
    const chainIds = computeChainIds(diffIds);
    for (const c of chainIds) if (!this.layers.has(c)) throw new EngineError(400, `image config names layer ${c}, which is not in the store`);
    const refs = (opts.tags ?? []).map((t) => parseReference(t));
    for (const r of refs) if (r.digest) throw new EngineError(400, `cannot tag with a digest reference: ${fullName(r)}`);

    const id = this.content.put(bytes);
    const prev = this.images.get(id);
    const img: StoredImage = {
      id,
      created: raw.created ?? new Date().toISOString(),
      architecture: raw.architecture ?? this.platform.architecture,
      os: raw.os ?? 'linux',
      config: raw.config ?? {},
      diffIds,
      chainIds,
      size: chainIds.reduce((n, c) => n + this.layers.usage(c), 0),
      ...recordFields(raw),
      manifests: [...new Set([...(prev?.manifests ?? []), ...(opts.manifests ?? [])])],
      ...(refs.length ? { lastTagTime: new Date().toISOString() } : prev?.lastTagTime ? { lastTagTime: prev.lastTagTime } : {}),
    };
    // Names first: a name whose record is missing is dropped at the next open, so a crash
    // between the two writes leaves no image at all rather than an untagged one.
    for (const r of refs) (this.repos[repoName(r)] ??= {})[DiskImageStore.key(r)] = id;
    if (refs.length) this.saveRepos();
    this.saveImage(img);
    for (const r of refs) this.announce({ action: 'tag', id, ref: familiarString(r) });
    for (const c of chainIds) {
      const hex = hexOf(c);
      const n = (this.imported.get(hex) ?? 0) - 1;
      if (n > 0) this.imported.set(hex, n);
      else this.imported.delete(hex);
    }
    return this.record(img);
  }

  // ---- registries ----------------------------------------------------------------

  /** A client for `domain` with the credentials given, or else those `docker login` stored. */
  client(domain: string, auth?: RegistryAuth): RegistryClient {
    return new RegistryClient(domain, auth ?? this.credentials.get(domain), domainListed(domain, this.insecureRegistries));
  }

  /** The manifest digest `ref`'s tag has in its registry now (a HEAD; see RegistryClient.manifestDigest). */
  remoteDigest(refStr: string, auth?: RegistryAuth): Promise<string> {
    const ref = parseReference(refStr);
    return this.client(ref.domain, auth).manifestDigest(ref.path, ref.digest ?? ref.tag ?? 'latest');
  }

  /** `docker login`: checks the credentials against the registry, then keeps them (0600). */
  async login(serverAddress: string, auth: { username: string; password: string }): Promise<string> {
    const domain = RegistryCredentials.domainOf(serverAddress);
    const client = new RegistryClient(domain, auth, domainListed(domain, this.insecureRegistries));
    await client.checkLogin();
    this.credentials.set(domain, auth);
    return domain;
  }

  logout(serverAddress: string): boolean {
    return this.credentials.remove(RegistryCredentials.domainOf(serverAddress));
  }

  logins(): string[] {
    return this.credentials.domains();
  }

  /** `docker push` (./push.ts). */
  push(ref: string, opts: PushOptions & { allTags?: boolean } = {}): Promise<void> {
    return pushImage(this, ref, opts);
  }

  /** `docker save` (./archive.ts). */
  saveArchive(refs: string[]): AsyncIterable<Buffer> {
    return saveImages(this, refs);
  }

  /** `docker load` (./archive.ts). */
  loadArchive(tar: AsyncIterable<Buffer | Uint8Array>, opts: { onProgress?: (line: string) => void } = {}): Promise<LoadResult> {
    return loadImages(this, tar, opts);
  }

  // ---- pull --------------------------------------------------------------------

  async pull(refStr: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const ref = parseReference(refStr);
    const say = (p: PullProgress) => {
      try {
        opts.onProgress?.(p);
      } catch {
        /* a broken listener must not break the pull */
      }
    };
    const platform = opts.platform ? parsePlatform(opts.platform) : this.platform;
    const client = this.client(ref.domain, opts.auth);
    const display = familiarString(ref);
    say({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });

    const { manifest, result, top } = await client.resolveImageManifest(ref.path, ref.digest ?? ref.tag ?? 'latest', platform, display);
    const configDesc = manifest.config;
    if (!DIGEST.test(configDesc.digest)) throw new EngineError(502, `manifest for ${display} has an unsupported config digest ${configDesc.digest}`);
    const configBytes = this.content.has(configDesc.digest) ? this.content.read(configDesc.digest) : await client.blob(ref.path, configDesc.digest, configDesc.size);
    let config: RawConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as RawConfig;
    } catch {
      throw new EngineError(502, `image config ${configDesc.digest} of ${display} is not valid JSON`);
    }
    if (opts.platform && top.digest === result.digest && (config.os !== platform.os || config.architecture !== platform.architecture)) {
      // A single-platform image that is not the one asked for: Docker refuses it the same way.
      throw new EngineError(404, `image with reference ${display} was found but does not match the specified platform: wanted ${platformString(platform)}, actual: ${platformString({ os: config.os ?? '', architecture: config.architecture ?? '', variant: config.variant })}`);
    }
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) throw new EngineError(502, `image ${display}: config lists ${diffIds.length} layers, manifest ${manifest.layers.length}`);
    for (const d of [...diffIds, ...manifest.layers.map((l) => l.digest)]) if (!DIGEST.test(d)) throw new EngineError(502, `image ${display}: unsupported digest ${d}`);
    const chainIds = computeChainIds(diffIds);
    const id = configDesc.digest;
    const repo = repoName(ref);

    const unpin = this.pin(chainIds, manifest.layers.map((l) => l.digest));
    let failed = false;
    try {
      const todo: number[] = [];
      manifest.layers.forEach((l, i) => {
        const short = hexOf(l.digest).slice(0, 12);
        if (this.layers.has(chainIds[i])) say({ status: 'Already exists', id: short });
        else (say({ status: 'Pulling fs layer', id: short }), todo.push(i));
      });
      for (const i of todo.slice(this.concurrency)) say({ status: 'Waiting', id: hexOf(manifest.layers[i].digest).slice(0, 12) });
      // Layers unpack in parallel, each into a directory of its own: a chain ID names the content
      // of all the layers below too, but unpacking needs only its own diff.
      await parallel(todo, this.concurrency, async (i) => {
        await this.ensureLayer(client, ref.path, manifest.layers[i], diffIds[i], chainIds[i], i > 0 ? chainIds[i - 1] : undefined, say);
      });
      for (let i = 0; i < diffIds.length; i++) {
        // Known now to be in this repository (pushed layers skip it, mounts can use it).
        if (!todo.includes(i)) this.content.recordLayerBlob(diffIds[i], manifest.layers[i], repo);
      }
      const size = chainIds.reduce((n, c) => n + this.layers.usage(c), 0);

      // Commit: blobs, then names, then the record.
      this.content.put(configBytes, id);
      this.content.put(result.bytes, result.digest);
      const manifests = [result.digest];
      if (top.digest !== result.digest) {
        this.content.put(top.bytes, top.digest);
        manifests.push(top.digest);
      }
      const prevImg = this.images.get(id);
      const img: StoredImage = {
        id,
        created: config.created ?? new Date(0).toISOString(),
        architecture: config.architecture ?? '',
        os: config.os ?? '',
        config: config.config ?? {},
        diffIds,
        chainIds,
        size,
        ...recordFields(config),
        manifests: [...new Set([...manifests, ...(prevImg?.manifests ?? [])])],
        source: repo,
        ...(prevImg?.lastTagTime ? { lastTagTime: prevImg.lastTagTime } : {}),
      };
      const tagKey = ref.digest ? undefined : DiskImageStore.key(ref);
      const digestKey = `${repo}@${top.digest}`;
      const upToDate = (tagKey ? this.repos[repo]?.[tagKey] === id : true) && this.repos[repo]?.[digestKey] === id;
      const refs = (this.repos[repo] ??= {});
      if (tagKey) refs[tagKey] = id;
      refs[digestKey] = id;
      this.saveRepos();
      this.saveImage(img);

      this.announce({ action: 'pull', id, ref: display });
      say({ status: `Digest: ${top.digest}` });
      say({ status: upToDate ? `Status: Image is up to date for ${display}` : `Status: Downloaded newer image for ${display}` });
      return this.record(img);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      unpin();
      // Layers a failed pull unpacked belong to no image: do not let them pile up.
      if (failed) this.gc();
    }
  }

  /** Downloads (or takes from the content store), verifies and unpacks one layer, once even when pulls race. */
  private ensureLayer(client: RegistryClient, repo: string, desc: Descriptor, diffId: string, chainId: string, parent: string | undefined, say: (p: PullProgress) => void): Promise<LayerMeta> {
    const hex = hexOf(chainId);
    const have = this.layers.get(chainId);
    if (have) return Promise.resolve(have);
    let p = this.inflight.get(hex);
    if (!p) {
      p = this.fetchLayer(client, repo, desc, diffId, chainId, parent, say).finally(() => this.inflight.delete(hex));
      this.inflight.set(hex, p);
    }
    return p;
  }

  private async fetchLayer(client: RegistryClient, repo: string, desc: Descriptor, diffId: string, chainId: string, parent: string | undefined, say: (p: PullProgress) => void): Promise<LayerMeta> {
    const short = hexOf(desc.digest).slice(0, 12);
    const label = `layer ${desc.digest}`;
    const prepared = await this.layers.prepare();
    const local = this.content.has(desc.digest);
    let ing: Ingest | undefined;
    let blob: Readable | undefined;
    try {
      // A blob kept from before (its layer was collected, or came from a load) is unpacked without a download.
      blob = local ? this.content.stream(desc.digest) : await client.blobStream(repo, desc.digest, desc.size);
      if (!local) ing = this.content.ingest();
      const source = blob;
      const keep = ing;
      let got = 0;
      let lastReport = 0;
      const counted = async function* () {
        for await (const chunk of source) {
          const c = chunk as Buffer;
          got += c.length;
          keep?.write(c);
          if (!local && (got - lastReport >= 512 * 1024 || got === desc.size)) {
            lastReport = got;
            say({ status: 'Downloading', id: short, current: got, total: desc.size });
          }
          yield c;
        }
        if (!local) {
          say({ status: 'Verifying Checksum', id: short });
          say({ status: 'Download complete', id: short });
        }
      };
      const res = await unpackLayer(counted(), prepared.dir, {
        label,
        maxBytes: this.maxLayerBytes,
        onProgress: () => say({ status: 'Extracting', id: short, current: Math.min(got, desc.size), total: desc.size }),
      });
      const gotDiff = res.diffId;
      if (gotDiff !== diffId) throw new EngineError(502, `${label}: uncompressed content ${gotDiff} does not match the image config's diff id ${diffId}`);
      say({ status: 'Extracting', id: short, current: desc.size, total: desc.size });
      if (ing) await this.content.commit(ing, desc.digest, desc.size);
      this.content.recordLayerBlob(diffId, desc, `${client.domain}/${repo}`);
      const meta = this.layers.commit(prepared.dir, { chainId, diffId, ...(parent ? { parent } : {}), size: res.size, tarSize: res.tarSize });
      say({ status: 'Pull complete', id: short });
      return meta;
    } catch (e) {
      blob?.destroy();
      ing?.abort();
      // A failed write (a full disk) says which layer it stopped: "ENOSPC: no space left on device, write" alone does not.
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && !(e as Error).message.includes(desc.digest)) throw new EngineError(500, `${label}: ${(e as Error).message}`);
      throw e;
    } finally {
      await prepared.abort();
    }
  }

  /** A manifest stored here, parsed. */
  manifest(digest: string): ImageManifest & { mediaType: string } {
    const m = JSON.parse(this.content.read(digest).toString('utf8')) as ImageManifest & { mediaType?: string };
    return { ...m, mediaType: m.mediaType ?? (m.config?.mediaType === MEDIA.ociConfig ? MEDIA.ociManifest : MEDIA.dockerManifest) };
  }

  /**
   * Makes sure a layer blob is here: from the content store, or fetched (verified) from
   * `source` ("domain/path"), where an earlier Berth pulled it from without keeping it;
   * `auth` for that registry (else what `docker login` stored).
   */
  async ensureBlob(desc: Descriptor, source: string | undefined, auth?: RegistryAuth): Promise<void> {
    if (this.content.has(desc.digest)) return;
    const src = source ? tryParseReference(source) : undefined;
    if (!src) throw new EngineError(500, `layer blob ${desc.digest} is not in the store, and where the image came from is unknown: pull the image again`);
    const client = this.client(src.domain, auth);
    const ing = this.content.ingest();
    try {
      for await (const c of await client.blobStream(src.path, desc.digest, desc.size)) ing.write(c as Buffer);
      await this.content.commit(ing, desc.digest, desc.size);
    } catch (e) {
      ing.abort();
      throw new EngineError(502, `layer blob ${desc.digest} was not kept by an earlier Berth and cannot be fetched again from ${source}: ${(e as Error).message}`);
    }
  }
}

export interface ImageStoreOptions {
  /** Platform to pick from manifest lists (default: this host's). */
  platform?: Platform;
  /** Layers downloaded at once per pull (default 3). */
  concurrency?: number;
  /**
   * Registries reached over plain http although they are not loopback ("host:port" or
   * "host"), like dockerd's --insecure-registry; BERTH_INSECURE_REGISTRIES (comma-separated)
   * from the environment adds to them.
   */
  insecureRegistries?: string[];
  /** Most bytes one layer may unpack to (default DEFAULT_MAX_LAYER_BYTES). */
  maxLayerBytes?: number;
  /** Where the migration line goes (default console.log). */
  log?: (line: string) => void;
}

/** Opens (creating if needed) the image store in `dir`. */
export async function openImageStore(dir: string, opts: ImageStoreOptions = {}): Promise<DiskImageStore> {
  const insecure = [...(opts.insecureRegistries ?? []), ...(process.env.BERTH_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
  const store = new DiskImageStore(dir, opts.platform, opts.concurrency, insecure, opts.maxLayerBytes);
  store.load(opts.log);
  return store;
}

// The on-disk image store. Layout under `dir`:
//   blobs/sha256/<hex>        manifests, manifest lists and image configs (compressed layers are not kept)
//   layers/<chain-hex>/       one unpacked layer (overlay format), shared by every image with that chain ID
//   layers/<chain-hex>.json   written after the directory is in place: the layer is complete
//   repositories.json         { "<domain>/<path>": { "<domain>/<path>:<tag>" | "<domain>/<path>@<digest>": "<image id>" } }
//   images/<id-hex>.json      the image record (tags live in repositories.json only)
//   tmp/                      work in progress; emptied on open
// Commit order of a pull: layers, blobs, repositories.json, then images/<id>.json. On
// open, references to images whose json is missing are dropped, so a pull that died
// half-way never shows up as an image.
//
// Exports: openImageStore, DiskImageStore (ImageStore plus tag), ImageStoreOptions, computeChainIds.
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic } from '../atomic-write';
import { EngineError } from '../errors';
import { decompress, extractLayer } from '../layers/extract';
import { CLOSED_MODE, closeToOthers } from '../root';
import type { ImageConfig, ImageEvent, ImageRecord, ImageStore, PullProgress, RegistryAuth } from '../types';
import { familiarString, fullName, parseReference, repoName, tryParseReference, type Reference } from './reference';
import { domainListed, hostPlatform, RegistryClient, type Descriptor, type Platform } from './registry';

type StoredImage = Omit<ImageRecord, 'repoTags' | 'repoDigests'> & {
  /** Manifest (and manifest list) digests this image was pulled by; their blobs go with the image. */
  manifests: string[];
};

interface LayerMeta {
  chainId: string;
  diffId: string;
  size: number;
}

interface RawConfig {
  architecture?: string;
  os?: string;
  created?: string;
  config?: ImageConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Chain IDs per the OCI image spec: chain[0] = diff[0], chain[i] = sha256(chain[i-1] + " " + diff[i]). */
export function computeChainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : 'sha256:' + createHash('sha256').update(`${out[out.length - 1]} ${d}`).digest('hex'));
  return out;
}

// Manifests, configs, names and records are the store's own bookkeeping: root only, like the dirs.
const writeAtomic = (path: string, data: string | Buffer) => writeFileAtomic(path, data, { mode: 0o600 });

/** Runs `fn` over `items` with at most `limit` at a time; the first failure aborts the rest. */
async function parallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        if (failed === undefined) failed = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export class DiskImageStore extends EventEmitter<{ image: [ImageEvent] }> implements ImageStore {
  private images = new Map<string, StoredImage>();
  private repos: Record<string, Record<string, string>> = {};
  private layers = new Map<string, LayerMeta>();
  /** Chain hex → number of pulls that are using it before any image records it. */
  private pinned = new Map<string, number>();
  private inflight = new Map<string, Promise<LayerMeta>>();
  /** Chain hex → layers imported (commit, build, load) that no image uses yet. */
  private imported = new Map<string, number>();

  constructor(
    readonly dir: string,
    private readonly platform: Platform = hostPlatform(),
    private readonly concurrency = 3,
    private readonly insecureRegistries: readonly string[] = [],
  ) {
    super();
  }

  /** Tells listeners about a change already made; a listener's failure must not turn it into a failed request. */
  private announce(e: ImageEvent): void {
    try {
      this.emit('image', e);
    } catch {
      /* the change stands */
    }
  }

  // ---- loading -------------------------------------------------------------

  load(): void {
    // Layers hold images' setuid binaries and device nodes: no other user may reach them (see ../root.ts).
    closeToOthers(this.dir, ['', 'layers'], 'the image store', console.log);
    for (const d of ['blobs/sha256', 'images', 'tmp']) mkdirSync(join(this.dir, d), { recursive: true, mode: CLOSED_MODE });
    for (const name of readdirSync(join(this.dir, 'tmp'))) rmSync(join(this.dir, 'tmp', name), { recursive: true, force: true });

    for (const name of readdirSync(join(this.dir, 'layers'))) {
      if (!name.endsWith('.json')) continue;
      const hex = name.slice(0, -5);
      try {
        const meta = JSON.parse(readFileSync(join(this.dir, 'layers', name), 'utf8')) as LayerMeta;
        if (existsSync(join(this.dir, 'layers', hex))) this.layers.set(hex, meta);
      } catch {
        /* a torn meta file: the layer is pulled again */
      }
    }
    for (const name of readdirSync(join(this.dir, 'images'))) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      try {
        const img = JSON.parse(readFileSync(join(this.dir, 'images', name), 'utf8')) as StoredImage;
        if (img.chainIds.every((c) => this.layers.has(hexOf(c)))) this.images.set(img.id, img);
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
    this.gcLayers();
  }

  // ---- paths and persistence -----------------------------------------------

  private blobPath = (digest: string) => join(this.dir, 'blobs', 'sha256', hexOf(digest));
  private layerPath = (chainId: string) => join(this.dir, 'layers', hexOf(chainId));

  private saveRepos(): void {
    writeAtomic(join(this.dir, 'repositories.json'), JSON.stringify({ Repositories: this.repos }, null, 2));
  }

  private saveBlob(digest: string, data: Buffer): void {
    if (!existsSync(this.blobPath(digest))) writeAtomic(this.blobPath(digest), data);
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
    return { ...rest, repoTags: repoTags.sort(), repoDigests: repoDigests.sort(), config: { ...img.config }, diffIds: [...img.diffIds], chainIds: [...img.chainIds] };
  }

  /** The stored key of a reference: tag form, or digest form when it has a digest. */
  private static key(r: Reference): string {
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

  layerDirs(image: ImageRecord): string[] {
    return image.chainIds.map((c) => this.layerPath(c));
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
    this.announce({ action: 'tag', id: hit.id, ref: familiarString(r) });
    return familiarString(r);
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

    const img = this.images.get(id)!;
    this.images.delete(id);
    rmSync(join(this.dir, 'images', `${hexOf(id)}.json`), { force: true });
    const stillUsed = new Set<string>();
    for (const other of this.images.values()) (stillUsed.add(other.id), other.manifests.forEach((m) => stillUsed.add(m)));
    for (const blob of [id, ...img.manifests]) if (!stillUsed.has(blob)) rmSync(this.blobPath(blob), { force: true });
    out.push({ Deleted: id });
    this.gcLayers();
    return out;
  }

  /** Removes layer dirs no image records and no pull is using. Big trees are renamed away and deleted in the background. */
  private gcLayers(): void {
    const used = new Set<string>([...this.pinned.keys(), ...this.imported.keys()]);
    for (const img of this.images.values()) for (const c of img.chainIds) used.add(hexOf(c));
    for (const name of readdirSync(join(this.dir, 'layers'))) {
      const hex = name.endsWith('.json') ? name.slice(0, -5) : name;
      if (!/^[a-f0-9]{64}$/.test(hex) || used.has(hex) || this.inflight.has(hex)) continue;
      const p = join(this.dir, 'layers', name);
      if (name.endsWith('.json')) {
        this.layers.delete(hex);
        rmSync(p, { force: true });
        continue;
      }
      const trash = join(this.dir, 'tmp', `gc-${hex}-${randomBytes(4).toString('hex')}`);
      try {
        renameSync(p, trash);
      } catch {
        continue;
      }
      void rm(trash, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  // ---- building images locally (commit, build, load) ---------------------------

  /**
   * Unpacks a layer tar (plain or gzip) that goes on top of `parentChainId` (none for a
   * base layer). The layer is kept from garbage collection until createImage uses it or
   * releaseLayer lets it go.
   */
  async importLayer(tar: AsyncIterable<Buffer | Uint8Array>, parentChainId?: string): Promise<{ diffId: string; chainId: string; size: number }> {
    if (parentChainId !== undefined && !this.layers.has(hexOf(parentChainId))) throw new EngineError(404, `parent layer ${parentChainId} is not in the store`);
    const tmp = await mkdtemp(join(this.dir, 'tmp', 'import-'));
    try {
      await chmod(tmp, 0o755);
      const diffHash = createHash('sha256');
      const hashed = async function* () {
        for await (const chunk of decompress(tar, 'imported layer')) {
          diffHash.update(chunk);
          yield chunk;
        }
      };
      const res = await extractLayer(hashed(), tmp, { label: 'imported layer' });
      const diffId = 'sha256:' + diffHash.digest('hex');
      const chainId = parentChainId === undefined ? diffId : computeChainIds([parentChainId, diffId])[1];
      const meta = this.commitLayer(tmp, { chainId, diffId, size: res.size });
      const hex = hexOf(chainId);
      this.imported.set(hex, (this.imported.get(hex) ?? 0) + 1);
      return { diffId, chainId, size: meta.size };
    } finally {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /**
   * Moves an unpacked layer from `tmp` into layers/, unless a pull or import racing this one
   * already did (then `tmp` stays for the caller to remove). Synchronous, so two commits of
   * one chain never interleave and a layer in use is never replaced.
   */
  private commitLayer(tmp: string, meta: LayerMeta): LayerMeta {
    const hex = hexOf(meta.chainId);
    const have = this.layers.get(hex);
    if (have) return have;
    const dest = this.layerPath(meta.chainId);
    rmSync(dest, { recursive: true, force: true }); // a leftover without its .json: no image uses it
    renameSync(tmp, dest);
    writeAtomic(`${dest}.json`, JSON.stringify(meta));
    this.layers.set(hex, meta);
    return meta;
  }

  /** Lets garbage collection take an imported layer no image ended up using. */
  releaseLayer(chainId: string): void {
    const hex = hexOf(chainId);
    const n = (this.imported.get(hex) ?? 0) - 1;
    if (n > 0) this.imported.set(hex, n);
    else if (this.imported.delete(hex)) this.gcLayers();
  }

  /**
   * Records an image from its config (OCI / Docker image config JSON, whose
   * rootfs.diff_ids name layers already in the store) and tags it with `tags`.
   * Returns the record; the id is the sha256 of the config bytes as stored.
   */
  createImage(config: Buffer | Record<string, unknown>, opts: { tags?: string[] } = {}): ImageRecord {
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
    for (const c of chainIds) if (!this.layers.has(hexOf(c))) throw new EngineError(400, `image config names layer ${c}, which is not in the store`);
    const refs = (opts.tags ?? []).map((t) => parseReference(t));
    for (const r of refs) if (r.digest) throw new EngineError(400, `cannot tag with a digest reference: ${fullName(r)}`);

    const id = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
    this.saveBlob(id, bytes);
    const prev = this.images.get(id);
    const img: StoredImage = {
      id,
      created: raw.created ?? new Date().toISOString(),
      architecture: raw.architecture ?? this.platform.architecture,
      os: raw.os ?? 'linux',
      config: raw.config ?? {},
      diffIds,
      chainIds,
      size: chainIds.reduce((n, c) => n + (this.layers.get(hexOf(c))?.size ?? 0), 0),
      manifests: prev?.manifests ?? [],
    };
    for (const r of refs) (this.repos[repoName(r)] ??= {})[DiskImageStore.key(r)] = id;
    if (refs.length) this.saveRepos();
    writeAtomic(join(this.dir, 'images', `${hexOf(id)}.json`), JSON.stringify(img, null, 2));
    this.images.set(id, img);
    for (const r of refs) this.announce({ action: 'tag', id, ref: familiarString(r) });
    for (const c of chainIds) {
      const hex = hexOf(c);
      const n = (this.imported.get(hex) ?? 0) - 1;
      if (n > 0) this.imported.set(hex, n);
      else this.imported.delete(hex);
    }
    return this.record(img);
  }

  // ---- pull --------------------------------------------------------------------

  async pull(refStr: string, opts: { auth?: RegistryAuth; onProgress?: (p: PullProgress) => void } = {}): Promise<ImageRecord> {
    const ref = parseReference(refStr);
    const say = (p: PullProgress) => {
      try {
        opts.onProgress?.(p);
      } catch {
        /* a broken listener must not break the pull */
      }
    };
    const client = new RegistryClient(ref.domain, opts.auth, domainListed(ref.domain, this.insecureRegistries));
    const display = familiarString(ref);
    say({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });

    const { manifest, result, top } = await client.resolveImageManifest(ref.path, ref.digest ?? ref.tag ?? 'latest', this.platform, display);
    const configDesc = manifest.config;
    if (!DIGEST.test(configDesc.digest)) throw new EngineError(502, `manifest for ${display} has an unsupported config digest ${configDesc.digest}`);
    const configBytes = await client.blob(ref.path, configDesc.digest, configDesc.size);
    let config: RawConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as RawConfig;
    } catch {
      throw new EngineError(502, `image config ${configDesc.digest} of ${display} is not valid JSON`);
    }
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) throw new EngineError(502, `image ${display}: config lists ${diffIds.length} layers, manifest ${manifest.layers.length}`);
    for (const d of [...diffIds, ...manifest.layers.map((l) => l.digest)]) if (!DIGEST.test(d)) throw new EngineError(502, `image ${display}: unsupported digest ${d}`);
    const chainIds = computeChainIds(diffIds);
    const id = configDesc.digest;
    const topDigest = top.digest;

    const pins = chainIds.map(hexOf);
    let failed = false;
    for (const h of pins) this.pinned.set(h, (this.pinned.get(h) ?? 0) + 1);
    try {
      const todo: number[] = [];
      manifest.layers.forEach((l, i) => {
        const short = hexOf(l.digest).slice(0, 12);
        if (this.layers.has(hexOf(chainIds[i]))) say({ status: 'Already exists', id: short });
        else (say({ status: 'Pulling fs layer', id: short }), todo.push(i));
      });
      for (const i of todo.slice(this.concurrency)) say({ status: 'Waiting', id: hexOf(manifest.layers[i].digest).slice(0, 12) });
      await parallel(todo, this.concurrency, async (i) => {
        await this.ensureLayer(client, ref.path, manifest.layers[i], diffIds[i], chainIds[i], say);
      });
      const size = chainIds.reduce((n, c) => n + (this.layers.get(hexOf(c))?.size ?? 0), 0);

      // Commit: blobs, then names, then the image record.
      this.saveBlob(id, configBytes);
      this.saveBlob(result.digest, result.bytes);
      const manifests = [result.digest];
      if (topDigest !== result.digest) {
        this.saveBlob(topDigest, top.bytes);
        manifests.push(topDigest);
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
        manifests: [...new Set([...(prevImg?.manifests ?? []), ...manifests])],
      };
      const repo = repoName(ref);
      const tagKey = ref.digest ? undefined : DiskImageStore.key(ref);
      const digestKey = `${repo}@${topDigest}`;
      const upToDate = (tagKey ? this.repos[repo]?.[tagKey] === id : true) && this.repos[repo]?.[digestKey] === id;
      const refs = (this.repos[repo] ??= {});
      if (tagKey) refs[tagKey] = id;
      refs[digestKey] = id;
      this.saveRepos();
      writeAtomic(join(this.dir, 'images', `${hexOf(id)}.json`), JSON.stringify(img, null, 2));
      this.images.set(id, img);

      this.announce({ action: 'pull', id, ref: display });
      say({ status: `Digest: ${topDigest}` });
      say({ status: upToDate ? `Status: Image is up to date for ${display}` : `Status: Downloaded newer image for ${display}` });
      return this.record(img);
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      for (const h of pins) {
        const n = (this.pinned.get(h) ?? 1) - 1;
        if (n <= 0) this.pinned.delete(h);
        else this.pinned.set(h, n);
      }
      // Layers a failed pull unpacked belong to no image: do not let them pile up.
      if (failed) this.gcLayers();
    }
  }

  /** Downloads, verifies and unpacks one layer into layers/<chain>, once even when pulls race. */
  private ensureLayer(client: RegistryClient, repo: string, desc: Descriptor, diffId: string, chainId: string, say: (p: PullProgress) => void): Promise<LayerMeta> {
    const hex = hexOf(chainId);
    const have = this.layers.get(hex);
    if (have) return Promise.resolve(have);
    let p = this.inflight.get(hex);
    if (!p) {
      p = this.fetchLayer(client, repo, desc, diffId, chainId, say).finally(() => this.inflight.delete(hex));
      this.inflight.set(hex, p);
    }
    return p;
  }

  private async fetchLayer(client: RegistryClient, repo: string, desc: Descriptor, diffId: string, chainId: string, say: (p: PullProgress) => void): Promise<LayerMeta> {
    const short = hexOf(desc.digest).slice(0, 12);
    const label = `layer ${desc.digest}`;
    const tmp = await mkdtemp(join(this.dir, 'tmp', 'layer-'));
    let blob: Readable | undefined;
    try {
      // The layer root becomes the container's "/" (for the lowest layer): 0755 like any root.
      await chmod(tmp, 0o755);
      blob = await client.blobStream(repo, desc.digest, desc.size);
      const source = blob;
      let got = 0;
      let lastReport = 0;
      const counted = async function* () {
        for await (const chunk of source) {
          got += (chunk as Buffer).length;
          if (got - lastReport >= 256 * 1024 || got === desc.size) {
            lastReport = got;
            say({ status: 'Downloading', id: short, current: got, total: desc.size });
          }
          yield chunk as Buffer;
        }
        say({ status: 'Verifying Checksum', id: short });
        say({ status: 'Download complete', id: short });
      };
      const diffHash = createHash('sha256');
      const hashed = async function* () {
        for await (const chunk of decompress(counted(), label)) {
          diffHash.update(chunk);
          yield chunk;
        }
      };
      const res = await extractLayer(hashed(), tmp, { label });
      const gotDiff = 'sha256:' + diffHash.digest('hex');
      if (gotDiff !== diffId) throw new EngineError(502, `${label}: uncompressed content ${gotDiff} does not match the image config's diff id ${diffId}`);
      say({ status: 'Extracting', id: short, current: desc.size, total: desc.size });

      const meta = this.commitLayer(tmp, { chainId, diffId, size: res.size });
      await rm(tmp, { recursive: true, force: true }); // left when an import got there first
      say({ status: 'Pull complete', id: short });
      return meta;
    } catch (e) {
      blob?.destroy();
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw e;
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
   * "host"), like docker's --insecure-registry. Default: BERTH_INSECURE_REGISTRIES
   * (comma-separated) from the environment.
   */
  insecureRegistries?: string[];
}

/** Opens (creating if needed) the image store in `dir`. */
export async function openImageStore(dir: string, opts: ImageStoreOptions = {}): Promise<DiskImageStore> {
  const insecure = opts.insecureRegistries ?? (process.env.BERTH_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const store = new DiskImageStore(dir, opts.platform, opts.concurrency, insecure);
  store.load();
  return store;
}

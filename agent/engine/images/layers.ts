// The layer store, snapshotter-like: committed layers are unpacked directories in
// overlay format, one per chain ID, shared by every image with that chain. Layout under
// the image store's directory:
//   layers/<chain-hex>/       the layer's files
//   layers/<chain-hex>.json   { chainId, diffId, parent, size, link }: written last, so a
//                             directory without it is a layer that never finished
//   l/<link>                  a short symlink to ../layers/<chain-hex> (Docker's overlay2
//                             does the same): overlay's mount data must fit in a page, and
//                             a hundred 80-byte paths do not
//   tmp/                      layers being made (prepare); emptied on open
//
// What is not here, and why: containers' upper and work dirs stay in containers/<id>/
// (the container code makes, mounts, copies into and exports them, and a running
// container's overlay holds their paths inside its own mount namespace, so they cannot
// move under it). A container's writable layer becomes an image layer through
// commitDirectory(), which packs it (overlay whiteouts become .wh. entries) and unpacks
// the result like any other layer.
//
// Exports: LayerStore, LayerMeta, PreparedLayer.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import { CLOSED_MODE, closeToOthers } from '../root';

export interface LayerMeta {
  chainId: string;
  diffId: string;
  /** Chain ID of the layer below; absent for a base layer. */
  parent?: string;
  /** Bytes of regular-file content. */
  size: number;
  /** Bytes of the layer's uncompressed tar (what its diff ID is the digest of); absent for layers of layout 1. */
  tarSize?: number;
  /** Name of its short link under l/. */
  link: string;
}

export interface PreparedLayer {
  /** An empty directory (0755) to unpack into. */
  dir: string;
  /** Removes the directory unless it was committed. */
  abort(): Promise<void>;
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);
const LINK_CHARS = 'abcdefghijklmnopqrstuvwxyz234567';
/** 8 characters of base32: 40 bits, checked against the links there are. */
const LINK_LEN = 8;

export class LayerStore {
  private readonly layers = new Map<string, LayerMeta>();
  private readonly links = new Set<string>();
  readonly layerDir: string;
  readonly linkDir: string;
  readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.layerDir = join(dir, 'layers');
    this.linkDir = join(dir, 'l');
    this.tmpDir = join(dir, 'tmp');
  }

  /** Reads the committed layers; gives layers an earlier version wrote (no link) their link. Returns how many it upgraded. */
  load(): number {
    closeToOthers(this.dir, ['layers', 'l'], 'the image store', console.log);
    mkdirSync(this.tmpDir, { recursive: true, mode: CLOSED_MODE });
    for (const name of readdirSync(this.tmpDir)) rmSync(join(this.tmpDir, name), { recursive: true, force: true });
    let upgraded = 0;
    for (const name of readdirSync(this.layerDir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      const hex = name.slice(0, -5);
      let meta: LayerMeta;
      try {
        meta = JSON.parse(readFileSync(join(this.layerDir, name), 'utf8')) as LayerMeta;
      } catch {
        continue; // a torn meta file: the layer is unpacked again when an image needs it
      }
      if (!existsSync(join(this.layerDir, hex))) continue;
      if (!meta.link || !this.linkIsGood(meta.link, hex)) {
        meta = { ...meta, link: this.newLink(hex) };
        writeFileAtomic(join(this.layerDir, name), JSON.stringify(meta), { mode: 0o600 });
        upgraded++;
      }
      this.links.add(meta.link);
      this.layers.set(hex, meta);
    }
    // Links to layers that are gone (a crash between the two removals).
    for (const name of readdirSync(this.linkDir)) {
      if (this.links.has(name)) continue;
      rmSync(join(this.linkDir, name), { force: true });
    }
    return upgraded;
  }

  private linkIsGood(link: string, hex: string): boolean {
    try {
      return readlinkSync(join(this.linkDir, link)) === `../layers/${hex}`;
    } catch {
      return false;
    }
  }

  private newLink(hex: string): string {
    for (;;) {
      const bytes = randomBytes(LINK_LEN);
      const name = [...bytes].map((b) => LINK_CHARS[b & 31]).join('');
      if (this.links.has(name) || lstatSync(join(this.linkDir, name), { throwIfNoEntry: false })) continue;
      symlinkSync(`../layers/${hex}`, join(this.linkDir, name));
      return name;
    }
  }

  /** Records the layer below `chainId` (layout 1 did not): the images that use it know it. */
  setParent(chainId: string, parent: string): void {
    const meta = this.layers.get(hexOf(chainId));
    if (!meta || meta.parent === parent) return;
    const full = { ...meta, parent };
    writeFileAtomic(join(this.layerDir, `${hexOf(chainId)}.json`), JSON.stringify(full), { mode: 0o600 });
    this.layers.set(hexOf(chainId), full);
  }

  get(chainId: string): LayerMeta | undefined {
    return this.layers.get(hexOf(chainId));
  }

  has(chainId: string): boolean {
    return this.layers.has(hexOf(chainId));
  }

  all(): LayerMeta[] {
    return [...this.layers.values()];
  }

  /** The layer's own directory. */
  path(chainId: string): string {
    return join(this.layerDir, hexOf(chainId));
  }

  /** Paths to mount, lowest first: the short links (see the top of this file). */
  mounts(chainIds: string[]): string[] {
    return chainIds.map((c) => {
      const meta = this.layers.get(hexOf(c));
      return meta ? join(this.linkDir, meta.link) : this.path(c);
    });
  }

  /** Bytes of file content in the layer. */
  usage(chainId: string): number {
    return this.layers.get(hexOf(chainId))?.size ?? 0;
  }

  /** An empty directory to unpack a new layer into. */
  async prepare(): Promise<PreparedLayer> {
    const dir = await mkdtemp(join(this.tmpDir, 'layer-'));
    // The layer root becomes the container's "/" (for the lowest layer): 0755 like any root.
    await chmod(dir, 0o755);
    return { dir, abort: () => rm(dir, { recursive: true, force: true }).catch(() => undefined) };
  }

  /**
   * Moves a prepared directory into layers/ as `meta.chainId`, unless a pull or import
   * racing this one already did (then `dir` stays for the caller's abort()). Synchronous,
   * so two commits of one chain never interleave and a layer in use is never replaced.
   */
  commit(dir: string, meta: Omit<LayerMeta, 'link'>): LayerMeta {
    const hex = hexOf(meta.chainId);
    const have = this.layers.get(hex);
    if (have) return have;
    const dest = join(this.layerDir, hex);
    rmSync(dest, { recursive: true, force: true }); // a leftover without its .json: no image uses it
    renameSync(dir, dest);
    const full: LayerMeta = { ...meta, link: this.newLink(hex) };
    this.links.add(full.link);
    writeFileAtomic(`${dest}.json`, JSON.stringify(full), { mode: 0o600 });
    this.layers.set(hex, full);
    return full;
  }

  /**
   * Removes layers for which `keep` says no, and anything in layers/ that is not a
   * committed layer. Big trees are renamed into tmp/ and deleted in the background.
   */
  collect(keep: (hex: string) => boolean): string[] {
    const removed: string[] = [];
    for (const name of readdirSync(this.layerDir)) {
      const hex = name.endsWith('.json') ? name.slice(0, -5) : name;
      if (!/^[a-f0-9]{64}$/.test(hex) || keep(hex)) continue;
      const p = join(this.layerDir, name);
      if (name.endsWith('.json')) {
        // The meta goes first: from then on the directory is a leftover, whatever happens next.
        const meta = this.layers.get(hex);
        rmSync(p, { force: true });
        if (meta) {
          rmSync(join(this.linkDir, meta.link), { force: true });
          this.links.delete(meta.link);
          this.layers.delete(hex);
          removed.push(meta.chainId);
        }
        continue;
      }
      const trash = join(this.tmpDir, `gc-${hex}-${randomBytes(4).toString('hex')}`);
      try {
        renameSync(p, trash);
      } catch {
        continue;
      }
      void rm(trash, { recursive: true, force: true }).catch(() => undefined);
    }
    return removed;
  }
}

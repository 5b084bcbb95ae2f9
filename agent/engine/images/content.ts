// The content store, shaped like containerd's: blobs named by their sha256, written
// through an ingest (a file under ingest/ that hashes what goes in) and committed by a
// rename once the digest (and size, when known) check out, so a blob under blobs/ is
// always whole and always what its name says. Manifests, configs and layer blobs
// (compressed as a registry served them, or plain tar for layers made here) live here.
//
// Beside the blobs, the distribution metadata: which blob (digest, media type, size)
// carries which layer (diff ID), and in which repositories of which registries it has
// been seen, so push can skip or cross-mount it and save can reuse it (Docker keeps the
// same in image/overlay2/distribution/).
//
// Exports: ContentStore, Ingest, LayerBlob.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fsync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../atomic-write';
import { EngineError } from '../errors';
import { CLOSED_MODE } from '../root';

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const hexOf = (digest: string) => digest.slice('sha256:'.length);

export interface LayerBlob {
  digest: string;
  mediaType: string;
  size: number;
  /** "domain/path" of every repository the blob is known to be in (pulled from or pushed to). */
  repos: string[];
}

const fsyncAsync = promisify(fsync);

/** A blob being written: hashes as it goes, becomes visible only at commit(). */
export class Ingest {
  private readonly hash = createHash('sha256');
  private fd: number | undefined;
  size = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'wx', 0o600);
  }

  /** Synchronous on purpose: a page-cache write is cheaper than a thread-pool round trip per chunk. */
  write(chunk: Buffer): void {
    if (this.fd === undefined) throw new Error('ingest already closed');
    this.hash.update(chunk);
    this.size += chunk.length;
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  /**
   * The digest of what was written; closes the file (fsync'd). The fsync goes through the
   * thread pool: on the main thread, a 100 MB layer's flush stalled every other layer of the
   * pull (their downloads and unpacking) for as long as the disk took.
   */
  async finish(): Promise<string> {
    const fd = this.fd;
    if (fd === undefined) throw new Error('ingest already closed');
    this.fd = undefined;
    try {
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
    return 'sha256:' + this.hash.digest('hex');
  }

  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        /* being thrown away */
      }
      this.fd = undefined;
    }
    rmSync(this.path, { force: true });
  }
}

interface DistributionFile {
  version: 1;
  /** diff ID → blobs that unpack to it. */
  layers: Record<string, LayerBlob[]>;
}

export class ContentStore {
  private readonly blobDir: string;
  private readonly ingestDir: string;
  private readonly metaPath: string;
  private dist: DistributionFile = { version: 1, layers: {} };
  /** blob digest → diff ID, derived from dist. */
  private diffOf = new Map<string, string>();

  /** `dir`: the image store's directory (blobs/sha256, ingest/ and distribution.json go in it). */
  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestDir = join(dir, 'ingest');
    this.metaPath = join(dir, 'distribution.json');
  }

  load(): void {
    mkdirSync(this.blobDir, { recursive: true, mode: CLOSED_MODE });
    mkdirSync(this.ingestDir, { recursive: true, mode: CLOSED_MODE });
    // Ingests of an agent that died: never committed, so nothing refers to them.
    for (const name of readdirSync(this.ingestDir)) rmSync(join(this.ingestDir, name), { recursive: true, force: true });
    if (existsSync(this.metaPath)) {
      try {
        const raw = JSON.parse(readFileSync(this.metaPath, 'utf8')) as DistributionFile;
        if (raw.version === 1 && raw.layers && typeof raw.layers === 'object') this.dist = raw;
      } catch {
        // Written atomically, so only a hand edit tears it; the mapping is a cache of what registries hold.
        console.error(`berth: ${this.metaPath} is unreadable: the diff ID ⇄ blob mapping starts empty`);
      }
    }
    this.reindex();
  }

  private reindex(): void {
    this.diffOf.clear();
    for (const [diffId, blobs] of Object.entries(this.dist.layers)) for (const b of blobs) this.diffOf.set(b.digest, diffId);
  }

  private saveMeta(): void {
    writeFileAtomic(this.metaPath, JSON.stringify(this.dist), { mode: 0o600 });
  }

  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new EngineError(500, `unsupported digest ${digest}`);
    return join(this.blobDir, hexOf(digest));
  }

  has(digest: string): boolean {
    return DIGEST.test(digest) && existsSync(this.path(digest));
  }

  size(digest: string): number {
    return statSync(this.path(digest)).size;
  }

  read(digest: string): Buffer {
    return readFileSync(this.path(digest));
  }

  stream(digest: string): ReadStream {
    return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
  }

  /** Every blob's digest. */
  list(): string[] {
    return readdirSync(this.blobDir)
      .filter((n) => /^[a-f0-9]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
  }

  /** Stores small content (manifests, configs) whole; returns its digest. A blob already there is kept. */
  put(data: Buffer, expected?: string): string {
    const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
    if (expected && expected !== digest) throw new EngineError(502, `content ${expected}: digest mismatch, got ${digest}`);
    if (!existsSync(this.path(digest))) writeFileAtomic(this.path(digest), data, { mode: 0o600 });
    return digest;
  }

  /** Starts a new blob; commit() it or abort() it. */
  ingest(): Ingest {
    return new Ingest(join(this.ingestDir, randomBytes(8).toString('hex')));
  }

  /**
   * Finishes `ing` and moves it under its digest, after checking it against `expected`
   * (and `size`). Returns the digest. When the blob is already there the ingest is dropped.
   */
  async commit(ing: Ingest, expected?: string, size?: number): Promise<string> {
    let digest: string;
    try {
      digest = await ing.finish();
      if (expected !== undefined && digest !== expected) throw new EngineError(502, `blob ${expected}: digest mismatch: got ${digest}`);
      if (size !== undefined && ing.size !== size) throw new EngineError(502, `blob ${digest}: size mismatch: expected ${size} bytes, got ${ing.size}`);
    } catch (e) {
      ing.abort();
      throw e;
    }
    const dest = this.path(digest);
    if (existsSync(dest)) rmSync(ing.path, { force: true });
    else renameSync(ing.path, dest);
    return digest;
  }

  /** Removes a blob; its mapping entry stays (the registries named there still have it). */
  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  // ---- the diff ID ⇄ blob mapping ---------------------------------------------

  /** Records that `blob` unpacks to `diffId` and (when given) is in repository `repo` ("domain/path"). */
  recordLayerBlob(diffId: string, blob: { digest: string; mediaType: string; size: number }, repo?: string): void {
    const list = (this.dist.layers[diffId] ??= []);
    let entry = list.find((b) => b.digest === blob.digest);
    let changed = false;
    if (!entry) {
      entry = { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, repos: [] };
      list.push(entry);
      this.diffOf.set(blob.digest, diffId);
      changed = true;
    }
    if (repo && !entry.repos.includes(repo)) {
      entry.repos.push(repo);
      changed = true;
    }
    if (changed) this.saveMeta();
  }

  /** Blobs known to carry `diffId`, present here or not. */
  blobsOf(diffId: string): LayerBlob[] {
    return (this.dist.layers[diffId] ?? []).map((b) => ({ ...b, repos: [...b.repos] }));
  }

  diffIdOf(digest: string): string | undefined {
    return this.diffOf.get(digest);
  }

  /** Drops the mapping of layers no longer in the store (GC). */
  forgetLayers(keep: (diffId: string) => boolean): void {
    let changed = false;
    for (const diffId of Object.keys(this.dist.layers)) {
      if (keep(diffId)) continue;
      delete this.dist.layers[diffId];
      changed = true;
    }
    if (changed) {
      this.reindex();
      this.saveMeta();
    }
  }
}

// Distribution API v2 client: what a pull needs (manifests, platform choice, verified
// blob streams, token/basic auth) and the push primitives the fixtures and `push` need.
//
// Exports: RegistryClient, MEDIA, MAX_MANIFEST_BYTES, hostPlatform, parsePlatform, platformString, platformMatches,
// verifyingStream, sha256Digest, domainListed, RegistryRateLimited, retryAfterMs, ManifestResult, Descriptor, ImageManifest, ManifestIndex, Platform.
import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { EngineError } from '../errors';
import type { RegistryAuth } from '../types';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Docker's cap: a manifest is read whole into memory, so a registry must not choose its size. */
export const MAX_MANIFEST_BYTES = 4 << 20;

/** The body of `res`, refusing (502) one over `max` bytes without reading the rest. */
async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const tooBig = () => new EngineError(502, `${what} is larger than ${max} bytes`);
  if (Number(res.headers.get('content-length')) > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let n = 0;
  if (res.body) {
    for await (const c of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
      n += c.length;
      if (n > max) throw tooBig(); // leaving the loop cancels the stream
      chunks.push(c as Buffer);
    }
  }
  return Buffer.concat(chunks);
}

const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ManifestIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ManifestResult {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

/** The OCI platform of this host, from Node's process.arch. */
export function hostPlatform(): Platform {
  const map: Record<string, Platform> = {
    x64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
    arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
    ia32: { os: 'linux', architecture: '386' },
    ppc64: { os: 'linux', architecture: 'ppc64le' },
    s390x: { os: 'linux', architecture: 's390x' },
    riscv64: { os: 'linux', architecture: 'riscv64' },
  };
  return map[process.arch] ?? { os: 'linux', architecture: process.arch };
}

/** "linux/arm64/v8", "linux/amd64", "arm64" (the os defaults to linux), as docker's --platform takes them. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) throw new EngineError(400, `"${s}": unknown operating system or architecture: invalid argument`);
  const [os, architecture, variant] = parts.length === 1 ? ['linux', parts[0]] : parts;
  if (os !== 'linux') throw new EngineError(400, `"${s}": operating system ${os} is not supported: this engine runs linux images only`);
  const arch = ({ x86_64: 'amd64', x86: '386', aarch64: 'arm64', armhf: 'arm', armel: 'arm' } as Record<string, string>)[architecture] ?? architecture;
  const v = variant ?? (architecture === 'armhf' ? 'v7' : architecture === 'armel' ? 'v6' : undefined);
  return { os, architecture: arch, ...(v ? { variant: v } : {}) };
}

export const platformString = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;

/** Whether a manifest list entry for `have` serves `want` (arm64's variant is v8 when it names none). */
export function platformMatches(want: Platform, have: Platform): boolean {
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if (!want.variant || !have.variant) return true;
  return want.variant === have.variant;
}

export const sha256Digest = (data: Buffer | string) => 'sha256:' + createHash('sha256').update(data).digest('hex');

/**
 * A pass-through that hashes what flows and fails at the end when the digest or the
 * size is wrong, so nothing downstream can commit unverified content.
 */
export function verifyingStream(expected: string, what: string, expectedSize?: number): Transform {
  if (!/^sha256:[a-f0-9]{64}$/.test(expected)) throw new EngineError(500, `unsupported digest "${expected}" for ${what}`);
  const hash = createHash('sha256');
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      n += chunk.length;
      if (expectedSize !== undefined && n > expectedSize) return cb(new EngineError(502, `${what}: received more than the ${expectedSize} bytes the manifest declares`));
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const got = 'sha256:' + hash.digest('hex');
      if (got !== expected) return cb(new EngineError(502, `${what}: digest mismatch: expected ${expected}, got ${got}`));
      if (expectedSize !== undefined && n !== expectedSize) return cb(new EngineError(502, `${what}: size mismatch: expected ${expectedSize} bytes, got ${n}`));
      cb();
    },
  });
}

/** Whether `domain` (host[:port]) is in `list`, which holds "host:port" or bare "host" entries. */
export function domainListed(domain: string, list: readonly string[]): boolean {
  const host = domain.startsWith('[') ? domain.slice(0, domain.indexOf(']') + 1) : domain.replace(/:\d+$/, '');
  return list.some((e) => e === domain || e === host);
}

function isLoopbackHost(domain: string): boolean {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : domain.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return { scheme: m[1].toLowerCase(), params };
}

function causeText(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string; syscall?: string }; message?: string };
  const c = e?.cause;
  if (c?.code) return `${c.syscall ?? 'connect'} ${c.code}`;
  return c?.message ?? e?.message ?? String(err);
}

/** A registry's 429: `retryAfterMs` is what its Retry-After said (seconds or a date), or undefined. */
export class RegistryRateLimited extends EngineError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(429, message);
  }
}

/** Retry-After as milliseconds from now: "120" or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const t = header.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const at = Date.parse(t);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** One registry host; caches bearer tokens per scope. */
export class RegistryClient {
  readonly base: string;
  private readonly tokens = new Map<string, string>();
  private basic = false;

  constructor(
    readonly domain: string,
    private readonly auth: RegistryAuth = {},
    /** Plain http even though the host is not loopback (docker's --insecure-registry). */
    plainHttp = false,
  ) {
    const host = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
    this.base = `${plainHttp || isLoopbackHost(domain) ? 'http' : 'https'}://${host}`;
  }

  private authHeader(scope: string): string | undefined {
    const t = this.tokens.get(scope) ?? this.auth.token;
    if (t) return `Bearer ${t}`;
    if (this.basic && this.auth.username !== undefined) return 'Basic ' + Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64');
    return undefined;
  }

  private async fetchToken(ch: Challenge, scope: string): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new EngineError(502, `registry ${this.domain} sent a bearer challenge without a realm`);
    const url = new URL(realm);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    // Every scope the request needs (a cross-repository mount needs two), and the challenge's own.
    for (const sc of new Set([...(ch.params.scope ?? '').split(' '), ...scope.split(' ')])) if (sc) url.searchParams.append('scope', sc);
    const headers: Record<string, string> = {};
    if (this.auth.username !== undefined) headers.authorization = 'Basic ' + Buffer.from(`${this.auth.username}:${this.auth.password ?? ''}`).toString('base64');
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (err) {
      throw new EngineError(502, `auth server ${url.host} unreachable: ${causeText(err)}`);
    }
    if (res.status === 401 || res.status === 403) throw new EngineError(502, `unauthorized: authentication to ${this.domain} failed (${res.status} from ${url.host}): incorrect username or password`);
    if (!res.ok) throw new EngineError(502, `auth server ${url.host} answered ${res.status}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new EngineError(502, `auth server ${url.host} returned no token`);
    return token;
  }

  /**
   * `docker login`: GET /v2/ with the credentials, through whatever challenge the registry
   * sends. Resolves when they are accepted (or the registry wants none); throws 401 when not.
   */
  async checkLogin(): Promise<void> {
    let res: Response;
    try {
      res = await this.request('/v2/', { scope: '' });
    } catch (e) {
      if (e instanceof EngineError && /unauthorized/.test(e.message)) throw new EngineError(401, `login to ${this.domain} failed: ${e.message}`);
      throw e;
    }
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401 || res.status === 403) throw new EngineError(401, `login to ${this.domain} failed: unauthorized: incorrect username or password`);
    if (!res.ok) throw new EngineError(502, `login to ${this.domain}: registry answered ${res.status} for /v2/`);
  }

  /** A request that answers auth challenges once, then returns whatever came back. */
  async request(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | AsyncIterable<Uint8Array>; scope: string; redirect?: RequestRedirect }): Promise<Response> {
    const url = path.startsWith('http') ? path : this.base + path;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const a = this.authHeader(init.scope);
      if (a) headers.authorization = a;
      let res: Response;
      const body = init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? new Uint8Array(init.body) : (init.body as unknown as BodyInit);
      try {
        res = await fetch(url, {
          method: init.method ?? 'GET',
          headers,
          body,
          redirect: init.redirect ?? 'follow',
          // A streamed body (a layer upload) goes out as it is read.
          ...(body !== undefined && !Buffer.isBuffer(init.body) ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        throw new EngineError(502, `registry ${this.domain} unreachable: ${causeText(err)}`);
      }
      // A streamed body cannot be sent twice: its request must already hold the token (uploads start with a POST that gets it).
      if (res.status !== 401 || attempt > 0 || (init.body !== undefined && !Buffer.isBuffer(init.body))) return res;
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (!ch) return res;
      if (ch.scheme === 'bearer') this.tokens.set(init.scope, await this.fetchToken(ch, init.scope));
      else if (ch.scheme === 'basic' && this.auth.username !== undefined) this.basic = true;
      else return res;
    }
  }

  private static async failure(res: Response, what: string): Promise<EngineError> {
    let detail = '';
    try {
      const body = (await res.json()) as { errors?: Array<{ code?: string; message?: string }> };
      detail = body.errors?.map((e) => e.message ?? e.code).join('; ') ?? '';
    } catch {
      /* not JSON: the status says enough */
    }
    if (res.status === 401 || res.status === 403) return new EngineError(502, `${what}: unauthorized${detail ? ` (${detail})` : ''}`);
    return new EngineError(502, `${what}: registry answered ${res.status}${detail ? ` (${detail})` : ''}`);
  }

  private pullScope = (repo: string) => `repository:${repo}:pull`;
  private pushScope = (repo: string) => `repository:${repo}:pull,push`;

  /** GET one manifest by tag or digest; the digest is verified when `ref` is one. */
  async getManifest(repo: string, ref: string, displayRef?: string): Promise<ManifestResult> {
    const res = await this.request(`/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_ACCEPT }, scope: this.pullScope(repo) });
    const name = displayRef ?? `${this.domain}/${repo}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;
    if (res.status === 404) {
      await res.body?.cancel();
      throw new EngineError(404, `manifest for ${name} not found: manifest unknown`);
    }
    if (!res.ok) throw await RegistryClient.failure(res, `fetching manifest for ${name}`);
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES, `manifest for ${name}`);
    const digest = sha256Digest(bytes);
    if (ref.startsWith('sha256:') && digest !== ref) throw new EngineError(502, `manifest for ${name}: digest mismatch: got ${digest}`);
    const header = res.headers.get('docker-content-digest');
    if (header && header.startsWith('sha256:') && header !== digest) throw new EngineError(502, `manifest for ${name}: content does not match Docker-Content-Digest ${header}`);
    let mediaType = (res.headers.get('content-type') ?? '').split(';')[0].trim();
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; schemaVersion?: number };
      if (parsed.mediaType) mediaType = parsed.mediaType;
      else if (!mediaType || mediaType === 'application/json') mediaType = parsed.manifests ? MEDIA.ociIndex : MEDIA.ociManifest;
      if (parsed.schemaVersion !== 2) throw new EngineError(502, `manifest for ${name}: schema version ${parsed.schemaVersion} is not supported`);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw new EngineError(502, `manifest for ${name} is not valid JSON`);
    }
    return { mediaType, digest, bytes };
  }

  /**
   * The digest the registry has for `ref` now (a tag's Docker-Content-Digest), by a HEAD, as
   * Docker Hub's rate limits count only GETs; a registry that sends no digest header gets a GET
   * whose body is hashed. A 429 is a RegistryRateLimited carrying the Retry-After it sent.
   */
  async manifestDigest(repo: string, ref: string): Promise<string> {
    const name = `${this.domain}/${repo}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;
    const res = await this.request(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT }, scope: this.pullScope(repo) });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 429) throw new RegistryRateLimited(`${this.domain} rate-limited the check of ${name}`, retryAfterMs(res.headers.get('retry-after')));
    if (res.status === 404) throw new EngineError(404, `manifest for ${name} not found: manifest unknown`);
    if (!res.ok) throw await RegistryClient.failure(res, `checking manifest for ${name}`);
    const header = res.headers.get('docker-content-digest');
    if (header && /^sha256:[a-f0-9]{64}$/.test(header)) return header;
    return (await this.getManifest(repo, ref)).digest;
  }

  /**
   * Resolves `ref` to a single-platform image manifest, walking through a manifest
   * list / OCI index to the entry for `platform`.
   */
  async resolveImageManifest(repo: string, ref: string, platform: Platform = hostPlatform(), displayRef?: string): Promise<{ manifest: ImageManifest; result: ManifestResult; top: ManifestResult }> {
    const top = await this.getManifest(repo, ref, displayRef);
    let result = top;
    if (top.mediaType === MEDIA.ociIndex || top.mediaType === MEDIA.dockerList) {
      const index = JSON.parse(top.bytes.toString('utf8')) as ManifestIndex;
      const candidates = (index.manifests ?? []).filter((m) => m.platform && platformMatches(platform, m.platform));
      // An exact variant first, then one that names none.
      const pick = candidates.find((m) => m.platform?.variant === platform.variant) ?? candidates.find((m) => !m.platform?.variant) ?? candidates[0];
      if (!pick) {
        const have = (index.manifests ?? []).map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? '/' + m.platform.variant : ''}` : '?')).join(', ');
        throw new EngineError(404, `no matching manifest for ${platformString(platform)} in the manifest list entries of ${displayRef ?? repo} (has: ${have || 'none'})`);
      }
      result = await this.getManifest(repo, pick.digest, displayRef);
    }
    if (result.mediaType !== MEDIA.ociManifest && result.mediaType !== MEDIA.dockerManifest) throw new EngineError(502, `manifest for ${displayRef ?? repo} has unsupported media type "${result.mediaType}"`);
    const manifest = JSON.parse(result.bytes.toString('utf8')) as ImageManifest;
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new EngineError(502, `manifest for ${displayRef ?? repo} lacks config or layers`);
    return { manifest, result, top };
  }

  /** A blob as a stream that errors at its end unless the sha256 (and size, when given) match. */
  async blobStream(repo: string, digest: string, size?: number): Promise<Readable> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { scope: this.pullScope(repo) });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new EngineError(404, `blob ${digest} not found in ${this.domain}/${repo}`);
    }
    if (!res.ok || !res.body) throw await RegistryClient.failure(res, `fetching blob ${digest}`);
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    const check = verifyingStream(digest, `blob ${digest}`, size);
    body.on('error', (e) => check.destroy(new EngineError(502, `blob ${digest}: download failed: ${causeText(e)}`)));
    return body.pipe(check);
  }

  /** A whole (small) blob, verified. */
  async blob(repo: string, digest: string, size?: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.blobStream(repo, digest, size)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD', scope: this.pushScope(repo) });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw await RegistryClient.failure(res, `checking blob ${digest}`);
  }

  /**
   * Cross-repository mount: asks the registry to link `digest` from `fromRepo` into `repo`
   * without an upload. False when it would not (an upload session it opened is cancelled).
   */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from: fromRepo });
    const res = await this.request(`/v2/${repo}/blobs/uploads/?${q}`, { method: 'POST', scope: `${this.pushScope(repo)} repository:${fromRepo}:pull` });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 201) return true;
    const location = res.headers.get('location');
    if (res.status === 202 && location) {
      const del = await this.request(new URL(location, this.base).toString(), { method: 'DELETE', scope: this.pushScope(repo) });
      await del.body?.cancel().catch(() => undefined);
      return false;
    }
    throw await RegistryClient.failure(res, `mounting ${digest} from ${fromRepo} into ${this.domain}/${repo}`);
  }

  /**
   * Monolithic upload (POST then PUT ?digest=); skipped when the registry has it, and
   * mounted instead when `mountFrom` (another repository on this registry) has it.
   * Returns the digest.
   */
  async pushBlob(repo: string, data: Buffer, opts: { mountFrom?: string } = {}): Promise<string> {
    const digest = sha256Digest(data);
    if (await this.hasBlob(repo, digest)) return digest;
    if (opts.mountFrom && opts.mountFrom !== repo && (await this.mountBlob(repo, digest, opts.mountFrom))) return digest;
    const start = await this.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', scope: this.pushScope(repo) });
    await start.body?.cancel().catch(() => undefined);
    if (start.status !== 202) throw await RegistryClient.failure(start, `starting upload of ${digest} to ${this.domain}/${repo}`);
    const location = start.headers.get('location');
    if (!location) throw new EngineError(502, `registry ${this.domain} gave no upload location`);
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const put = await this.request(url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
      scope: this.pushScope(repo),
    });
    if (put.status !== 201) throw await RegistryClient.failure(put, `uploading ${digest} to ${this.domain}/${repo}`);
    await put.body?.cancel().catch(() => undefined);
    return digest;
  }

  /**
   * Streams one blob of `size` bytes up (POST for a session, then one PUT ?digest=), as
   * `docker push` does for layers; the registry checks the digest. `data` is read once.
   */
  async uploadBlob(repo: string, digest: string, size: number, data: Buffer | AsyncIterable<Uint8Array>): Promise<void> {
    const start = await this.request(`/v2/${repo}/blobs/uploads/`, { method: 'POST', scope: this.pushScope(repo) });
    await start.body?.cancel().catch(() => undefined);
    if (start.status !== 202) throw await RegistryClient.failure(start, `starting upload of ${digest} to ${this.domain}/${repo}`);
    const location = start.headers.get('location');
    if (!location) throw new EngineError(502, `registry ${this.domain} gave no upload location`);
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest);
    const put = await this.request(url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: data,
      scope: this.pushScope(repo),
    });
    if (put.status !== 201) throw await RegistryClient.failure(put, `uploading ${digest} to ${this.domain}/${repo}`);
    await put.body?.cancel().catch(() => undefined);
  }

  /** PUT a manifest under a tag or digest; returns its digest. */
  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.request(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: bytes, scope: this.pushScope(repo) });
    if (res.status !== 201) throw await RegistryClient.failure(res, `pushing manifest ${this.domain}/${repo}:${ref}`);
    await res.body?.cancel().catch(() => undefined);
    return sha256Digest(bytes);
  }
}

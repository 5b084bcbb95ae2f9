// Image endpoints. A pull answers with Docker's JSON progress stream; headers go out
// only with the first progress line, so an early failure (bad reference, unknown
// repository) still gets a proper status code, as dockerd does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, ImageRecord, PullProgress, PushProgress, RegistryAuth } from '../engine/types';
import { filterTime } from './containers';
import { HttpError, boolParam, messageOf, readJson, sendJson, statusOf, unixSeconds, type Query } from './http';
import { apiAtLeast } from './api-version';
import { DOCKER_API_VERSION as API_VERSION } from '../../protocol/docker-api';

export function pullRef(fromImage: string, tag: string | null): string {
  if (!tag) return fromImage;
  return tag.startsWith('sha256:') ? `${fromImage}@${tag}` : `${fromImage}:${tag}`;
}

/** X-Registry-Auth is base64url(JSON) of Docker's AuthConfig; empty or "{}" means anonymous. */
export function registryAuth(header: string | string[] | undefined): RegistryAuth | undefined {
  if (typeof header !== 'string' || header === '') return undefined;
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'invalid X-Registry-Auth header');
  }
  const str = (k: string) => (typeof cfg[k] === 'string' && cfg[k] !== '' ? (cfg[k] as string) : undefined);
  const auth: RegistryAuth = { username: str('username'), password: str('password'), token: str('identitytoken') ?? str('registrytoken') };
  return auth.username || auth.password || auth.token ? auth : undefined;
}

function progressLine(p: PullProgress | PushProgress): Record<string, unknown> {
  const line: Record<string, unknown> = { status: p.status };
  if (p.id) line.id = p.id;
  if (p.current !== undefined || p.total !== undefined) {
    line.progressDetail = { current: p.current, total: p.total };
    line.progress = progressBar(p.current ?? 0, p.total ?? 0);
  }
  if ('aux' in p && p.aux) return { progressDetail: {}, aux: p.aux };
  return line;
}

/** The bar dockerd sends along (the CLI draws its own from progressDetail; other clients print this). */
function progressBar(current: number, total: number): string {
  const size = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)}MB` : n >= 1e3 ? `${(n / 1e3).toFixed(2)}kB` : `${n}B`);
  if (total <= 0) return size(current);
  const w = Math.min(50, Math.floor((current / total) * 50));
  return `[${'='.repeat(Math.max(0, w - 1))}${w > 0 ? '>' : ''}${' '.repeat(50 - w)}] ${size(current)}/${size(total)}`;
}

/**
 * A JSON progress stream whose headers go out with the first line, so an error before it
 * still gets a proper status; after it, errors travel as an errorDetail line.
 */
function progressStream(res: ServerResponse): { write: (line: Record<string, unknown>) => void; fail: (err: unknown) => boolean } {
  let started = false;
  const write = (line: Record<string, unknown>) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    if (!res.writableEnded) res.write(JSON.stringify(line) + '\r\n');
  };
  return {
    write,
    fail: (err) => {
      if (!started) return false;
      const message = messageOf(err);
      write({ errorDetail: { message, code: statusOf(err) }, error: message });
      res.end();
      return true;
    },
  };
}

export async function createImage(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const fromImage = q.get('fromImage');
  if (!fromImage) {
    if (q.get('fromSrc') !== null) return importImage(engine, req, res, q);
    throw new HttpError(400, 'fromImage is required');
  }
  const ref = pullRef(fromImage, q.get('tag'));
  const auth = registryAuth(req.headers['x-registry-auth']);
  const platform = q.get('platform') || undefined;
  let started = false;
  let sawStatus = false;
  const write = (line: Record<string, unknown>) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    if (!res.writableEnded) res.write(JSON.stringify(line) + '\r\n');
  };
  let image: ImageRecord;
  try {
    image = await engine.pullImage(ref, {
      auth,
      platform,
      onProgress: (p) => {
        if (p.status.startsWith('Status:')) sawStatus = true;
        write(progressLine(p));
      },
    });
  } catch (err) {
    if (!started) throw err;
    const message = messageOf(err);
    write({ errorDetail: { message, code: statusOf(err) }, error: message });
    res.end();
    return;
  }
  if (!sawStatus) {
    const digest = image.repoDigests[0]?.split('@')[1];
    if (digest) write({ status: `Digest: ${digest}` });
    write({ status: `Status: Downloaded newer image for ${ref}` });
  }
  res.end();
}

/** `docker import`: the request body is the filesystem tar, read as it streams in. */
async function importImage(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  if (q.get('fromSrc') !== '-') throw new HttpError(400, 'Berth does not support importing from a URL yet; pipe the archive in (docker import - or a file)');
  const platform = q.get('platform');
  if (platform) throw new HttpError(400, 'Berth does not support --platform for import yet');
  const repo = q.get('repo') || undefined;
  const tag = q.get('tag');
  const image = await engine.importImage(req, {
    ref: repo && tag ? `${repo}:${tag}` : repo,
    changes: q.getAll('changes').filter((c) => c.trim() !== ''),
    message: q.get('message') || undefined,
  });
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ status: image.id }) + '\r\n');
}

/**
 * One image of `GET /images/json` (and `system df`) for `version`, as dockerd 28 shapes it:
 * untagged images get "<none>" placeholders before 1.43 and empty lists from it; VirtualSize
 * only before 1.44. `containers` is -1 (not counted) where dockerd does not count them either,
 * `sharedSize` -1 unless `shared-size` asked for it. Manifests (1.47) and Descriptor (1.48)
 * describe a multi-platform store's index, which dockerd too leaves out without one.
 */
export function imageSummary(img: ImageRecord, containers: number, version: string = API_VERSION, sharedSize = -1): Record<string, unknown> {
  const none = !apiAtLeast(version, '1.43') && !img.repoTags.length && !img.repoDigests.length;
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: none ? ['<none>:<none>'] : img.repoTags,
    RepoDigests: none ? ['<none>@<none>'] : img.repoDigests,
    Created: unixSeconds(img.created),
    Size: img.size,
    SharedSize: sharedSize,
    ...(apiAtLeast(version, '1.44') ? {} : { VirtualSize: img.size }),
    Labels: img.config.Labels ?? {},
    Containers: containers,
  };
}

// Keys Docker knows and Berth does not are refused: ignoring one would list the wrong images.
const IMAGE_FILTERS = new Set(['reference', 'label', 'dangling', 'before', 'since']);

function imageFilter(engine: Engine, q: Query): (img: ImageRecord) => boolean {
  const raw = q.get('filters');
  const tests: Array<(img: ImageRecord) => boolean> = [];
  if (raw) {
    const filters = parseFilters(raw);
    for (const k of Object.keys(filters)) if (!IMAGE_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
    // before/since name an image; only images created before (after) it pass.
    const createdOf = (key: string) => (filters[key]?.length ? Date.parse(engine.inspectImage(filters[key][0]).created) : undefined);
    const before = createdOf('before');
    const since = createdOf('since');
    if (before !== undefined) tests.push((img) => Date.parse(img.created) < before);
    if (since !== undefined) tests.push((img) => Date.parse(img.created) > since);
    for (const ref of filters.reference ?? []) {
      tests.push((img) => img.repoTags.some((t) => globMatch(ref, t) || globMatch(ref, t.replace(/:[^:/]+$/, ''))));
    }
    for (const label of filters.label ?? []) tests.push((img) => labelMatches(img.config.Labels ?? {}, label));
    if (filters.dangling?.length) {
      const want = filters.dangling[0] === 'true' || filters.dangling[0] === '1';
      tests.push((img) => (img.repoTags.length === 0) === want);
    }
  }
  const filterRef = q.get('filter');
  if (filterRef) tests.push((img) => img.repoTags.some((t) => globMatch(filterRef, t)));
  return (img) => tests.every((t) => t(img));
}

export async function listImages(engine: Engine, res: ServerResponse, q: Query, version: string): Promise<void> {
  const keep = imageFilter(engine, q);
  // The store lists newest first already.
  const images = engine.listImages().filter(keep);
  // shared-size came with 1.42: the bytes of layers other images use too, as `system df` counts them.
  let shared: Map<string, number> | undefined;
  if (apiAtLeast(version, '1.42') && boolParam(q, 'shared-size')) shared = new Map((await engine.diskUsage()).images.map((i) => [i.image.id, i.sharedSize]));
  // dockerd counts no containers per image in this list before API 1.51: -1, "not counted".
  sendJson(res, 200, images.map((img) => imageSummary(img, -1, version, shared?.get(img.id) ?? -1)));
}

/**
 * `docker image inspect` for `version`, as dockerd 28 shapes it: VirtualSize before 1.44,
 * and before 1.50 the container-only fields of Config (always empty for an image), which 1.50
 * leaves out. One difference: Container and ContainerConfig stay (empty) at every version,
 * where dockerd drops them from 1.45: Debian's docker-compose 1.29 negotiates the newest
 * version and then reads ContainerConfig to recreate a service (dockerd 25+ breaks it, a
 * KeyError).
 */
export function inspectImage(engine: Engine, res: ServerResponse, name: string, version: string = API_VERSION): void {
  const img = engine.inspectImage(name);
  const c = img.config;
  const containerOnly = (fields: Record<string, unknown>) => (apiAtLeast(version, '1.50') ? {} : fields);
  sendJson(res, 200, {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: img.comment ?? '',
    Created: img.created,
    Container: '',
    ContainerConfig: {},
    DockerVersion: img.dockerVersion ?? '',
    Author: img.author ?? '',
    Config: {
      ...containerOnly({ Hostname: '', Domainname: '' }),
      User: c.User ?? '',
      ...containerOnly({ AttachStdin: false, AttachStdout: false, AttachStderr: false }),
      ExposedPorts: c.ExposedPorts ?? null,
      ...containerOnly({ Tty: false, OpenStdin: false, StdinOnce: false }),
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
      ...containerOnly({ Image: '' }),
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: (c as { OnBuild?: string[] }).OnBuild ?? null,
      Labels: c.Labels ?? null,
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
      ...((c as { Shell?: string[] }).Shell ? { Shell: (c as { Shell?: string[] }).Shell } : {}),
    },
    Architecture: img.architecture,
    ...(img.variant ? { Variant: img.variant } : {}),
    Os: img.os,
    Size: img.size,
    ...(apiAtLeast(version, '1.44') ? {} : { VirtualSize: img.size }),
    GraphDriver: { Name: 'overlay2', Data: { LowerDir: engine.imageLayerDirs(img).slice().reverse().join(':') } },
    RootFS: { Type: 'layers', Layers: img.diffIds },
    Metadata: { LastTagTime: img.lastTagTime ?? '0001-01-01T00:00:00Z' },
  });
}

/** `docker history`: newest step first; steps that made a layer carry its size, the rest 0. */
export function imageHistory(engine: Engine, res: ServerResponse, name: string): void {
  const img = engine.inspectImage(name);
  const sizes = layerSizes(engine, img);
  const steps = img.history?.length ? img.history : img.diffIds.map(() => ({ created: img.created, createdBy: '' }));
  let layer = 0;
  const rows = steps.map((h) => {
    const empty = 'emptyLayer' in h && h.emptyLayer;
    const size = empty ? 0 : (sizes[layer++] ?? 0);
    return { Id: '<missing>', Created: unixSeconds(h.created || img.created), CreatedBy: h.createdBy, Tags: null as string[] | null, Size: size, Comment: ('comment' in h && h.comment) || '' };
  });
  rows.reverse();
  if (rows.length) Object.assign(rows[0], { Id: img.id, Tags: img.repoTags.length ? img.repoTags : null });
  sendJson(res, 200, rows);
}

/** Each layer's own bytes, lowest first (the record's size is their sum). */
function layerSizes(engine: Engine, img: ImageRecord): number[] {
  return engine.imageLayerSizes(img);
}

// Filters `docker image prune` takes; an unknown one is refused rather than ignored (it would delete more).
const PRUNE_FILTERS = new Set(['dangling', 'until', 'label', 'label!']);

/** `docker image prune [-a] [--filter …]`. */
export function pruneImages(engine: Engine, res: ServerResponse, q: Query): void {
  const raw = q.get('filters');
  const f = raw ? parseFilters(raw) : {};
  for (const k of Object.keys(f)) if (!PRUNE_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  const dangling = f.dangling?.length ? f.dangling[0] : 'true';
  if (!['true', 'false', '1', '0'].includes(dangling)) throw new HttpError(400, `invalid filter 'dangling=${dangling}'`);
  const until = f.until?.length ? Math.min(...f.until.map((v) => filterTime(v))) : undefined;
  const filter = (img: ImageRecord) =>
    (f.label ?? []).every((l) => labelMatches(img.config.Labels ?? {}, l)) &&
    !(f['label!'] ?? []).some((l) => labelMatches(img.config.Labels ?? {}, l)) &&
    (until === undefined || Date.parse(img.created) < until);
  const r = engine.pruneImages({ all: dangling === 'false' || dangling === '0', filter });
  sendJson(res, 200, { ImagesDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.spaceReclaimed });
}

/** `docker push NAME[:TAG]`: the CLI sends the tag apart; none means every tag of the repository. */
export async function pushImage(engine: Engine, req: IncomingMessage, res: ServerResponse, name: string, q: Query): Promise<void> {
  const tag = q.get('tag');
  const auth = registryAuth(req.headers['x-registry-auth']);
  const ref = tag ? (tag.startsWith('sha256:') ? `${name}@${tag}` : `${name}:${tag}`) : name;
  const out = progressStream(res);
  try {
    await engine.pushImage(ref, { auth, allTags: !tag, onProgress: (p) => out.write(progressLine(p)) });
  } catch (err) {
    if (!out.fail(err)) throw err;
    return;
  }
  res.end();
}

/** POST /auth: `docker login`. The CLI keeps the credentials too and sends them with each pull and push. */
export async function login(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson<{ username?: string; password?: string; serveraddress?: string; identitytoken?: string; registrytoken?: string }>(req);
  if (!body) throw new HttpError(400, 'login: no credentials in the request body');
  if (body.identitytoken || body.registrytoken) throw new HttpError(400, 'Berth does not support logging in with an identity or registry token yet; give a username and password');
  if (!body.username) throw new HttpError(400, 'login: a username is required');
  await engine.login(body.serveraddress ?? '', { username: body.username, password: body.password ?? '' });
  sendJson(res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
}

/** GET /images/get?names=… and GET /images/NAME/get: `docker save`. */
export async function saveImages(engine: Engine, res: ServerResponse, names: string[]): Promise<void> {
  if (names.length === 0) throw new HttpError(400, 'no image names given to save');
  // Everything that can be refused (unknown names) is refused before the first byte.
  const it = engine.saveImages(names)[Symbol.asyncIterator]();
  let first = await it.next();
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    while (!first.done) {
      if (!res.write(first.value)) await new Promise<void>((r) => res.once('drain', r));
      if (res.destroyed) {
        await it.return?.(undefined);
        return;
      }
      first = await it.next();
    }
  } catch (err) {
    console.error(`docker api: save of ${names.join(' ')} failed: ${messageOf(err)}`);
    res.destroy();
    return;
  }
  res.end();
}

/** POST /images/load: `docker load`; the body is the archive, read as it streams in. */
export async function loadImages(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const quiet = boolParam(q, 'quiet');
  const out = progressStream(res);
  const lines: string[] = [];
  try {
    await engine.loadImages(req, {
      onProgress: (line) => {
        if (line.startsWith('Loaded image')) lines.push(line);
        else if (!quiet) out.write({ status: line });
      },
    });
  } catch (err) {
    if (!out.fail(err)) throw err;
    return;
  }
  for (const l of lines) out.write({ stream: `${l}\n` });
  if (!lines.length) out.write({ stream: '' });
  res.end();
}

/** `docker tag SOURCE TARGET` arrives as repo and tag of the target. */
export function tagImage(engine: Engine, res: ServerResponse, name: string, q: Query): void {
  const repo = q.get('repo');
  if (!repo) throw new HttpError(400, 'repository name (repo) is required');
  const tag = q.get('tag');
  engine.tagImage(name, tag ? `${repo}:${tag}` : repo);
  res.writeHead(201).end();
}

/** Docker's rmi rules (what is untagged, when the image goes, what needs force) are the engine's. */
export function deleteImage(engine: Engine, res: ServerResponse, name: string, q: Query): void {
  sendJson(res, 200, engine.removeImage(name, { force: boolParam(q, 'force') }));
}

// --- filters shared with containers -------------------------------------------------

/** Docker sends filters as {"key": ["v", …]} or the legacy {"key": {"v": true}}. */
export function parseFilters(raw: string): Record<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, `invalid filters: ${raw}`);
  }
  if (!parsed || typeof parsed !== 'object') throw new HttpError(400, `invalid filters: ${raw}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === 'object') out[k] = Object.keys(v);
    else throw new HttpError(400, `invalid filter value for ${k}`);
  }
  return out;
}

export function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf('=');
  if (eq < 0) return filter in labels;
  const key = filter.slice(0, eq);
  return labels[key] === filter.slice(eq + 1);
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(value);
}

// Image endpoints. A pull answers with Docker's JSON progress stream; headers go out
// only with the first progress line, so an early failure (bad reference, unknown
// repository) still gets a proper status code, as dockerd does.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, ImageRecord, PullProgress, RegistryAuth } from '../engine/types';
import { HttpError, boolParam, messageOf, sendJson, statusOf, unixSeconds, type Query } from './http';

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

function progressLine(p: PullProgress): Record<string, unknown> {
  const line: Record<string, unknown> = { status: p.status };
  if (p.id) line.id = p.id;
  if (p.current !== undefined || p.total !== undefined) {
    line.progressDetail = { current: p.current, total: p.total };
  }
  return line;
}

export async function createImage(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const fromImage = q.get('fromImage');
  if (!fromImage) {
    if (q.get('fromSrc') !== null) return importImage(engine, req, res, q);
    throw new HttpError(400, 'fromImage is required');
  }
  const ref = pullRef(fromImage, q.get('tag'));
  const auth = registryAuth(req.headers['x-registry-auth']);
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

/** Containers per image id, counted once for a whole listing. */
function containerCounts(engine: Engine): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of engine.list({ all: true })) counts.set(c.imageId, (counts.get(c.imageId) ?? 0) + 1);
  return counts;
}

export function imageSummary(img: ImageRecord, containers: number): Record<string, unknown> {
  return {
    Id: img.id,
    ParentId: '',
    RepoTags: img.repoTags.length ? img.repoTags : ['<none>:<none>'],
    RepoDigests: img.repoDigests.length ? img.repoDigests : ['<none>@<none>'],
    Created: unixSeconds(img.created),
    Size: img.size,
    SharedSize: -1,
    VirtualSize: img.size,
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

export function listImages(engine: Engine, res: ServerResponse, q: Query): void {
  const keep = imageFilter(engine, q);
  const counts = containerCounts(engine);
  // The store lists newest first already.
  const images = engine.listImages().filter(keep);
  sendJson(res, 200, images.map((img) => imageSummary(img, counts.get(img.id) ?? 0)));
}

export function inspectImage(engine: Engine, res: ServerResponse, name: string): void {
  const img = engine.inspectImage(name);
  sendJson(res, 200, {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: '',
    Created: img.created,
    Container: '',
    ContainerConfig: {},
    DockerVersion: '',
    Author: '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: img.config.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: img.config.ExposedPorts ?? null,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: img.config.Env ?? null,
      Cmd: img.config.Cmd ?? null,
      Image: '',
      Volumes: img.config.Volumes ?? null,
      WorkingDir: img.config.WorkingDir ?? '',
      Entrypoint: img.config.Entrypoint ?? null,
      OnBuild: null,
      Labels: img.config.Labels ?? null,
      StopSignal: img.config.StopSignal,
    },
    Architecture: img.architecture,
    Os: img.os,
    Size: img.size,
    VirtualSize: img.size,
    GraphDriver: { Name: 'overlay2', Data: { LowerDir: engine.imageLayerDirs(img).slice().reverse().join(':') } },
    RootFS: { Type: 'layers', Layers: img.diffIds },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  });
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

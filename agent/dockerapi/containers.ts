// Container endpoints: translate Docker's create body, list/inspect shapes and
// lifecycle calls into Engine calls.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EngineError } from '../engine/errors';
import type { ContainerCreateSpec, ContainerRecord, Engine } from '../engine/types';
import { HttpError, boolParam, intParam, readJson, sendEmpty, sendJson, type Query } from './http';
import { humanStatus } from '../link/human-status';
import { findImage, labelMatches, parseFilters } from './images';

/** Looks a container up, answering with Docker's wording when it is unknown. */
export function resolveContainer(engine: Engine, idOrName: string): ContainerRecord {
  try {
    return engine.inspect(idOrName.replace(/^\//, ''));
  } catch (err) {
    if (err instanceof EngineError && err.status === 404) throw new HttpError(404, `No such container: ${idOrName}`);
    throw err;
  }
}

interface CreateBody {
  Hostname?: string;
  User?: string;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Image?: string;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  Tty?: boolean;
  HostConfig?: {
    Memory?: number;
    MemorySwap?: number;
    NanoCpus?: number;
    CpuShares?: number;
    PidsLimit?: number | null;
    AutoRemove?: boolean;
    NetworkMode?: string;
  } | null;
}

function argv(v: string[] | string | null | undefined): string[] | undefined {
  if (v === null || v === undefined) return undefined;
  return typeof v === 'string' ? ['/bin/sh', '-c', v] : v;
}

/** Docker's create body → the engine's spec; exported for the unit test of the mapping. */
export function createSpec(body: CreateBody, name: string | undefined): ContainerCreateSpec {
  if (!body.Image) throw new HttpError(400, 'No image was specified (Config.Image is empty)');
  const hc = body.HostConfig ?? {};
  let entrypoint = body.Entrypoint === undefined || body.Entrypoint === null ? undefined : typeof body.Entrypoint === 'string' ? [body.Entrypoint] : body.Entrypoint;
  // `--entrypoint ""` arrives as [""]: Docker reads that as "clear the image's entrypoint".
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const network = hc.NetworkMode === undefined || hc.NetworkMode === '' || hc.NetworkMode === 'bridge' ? 'default' : hc.NetworkMode;
  const spec: ContainerCreateSpec = {
    name,
    image: body.Image,
    cmd: argv(body.Cmd),
    entrypoint,
    env: body.Env ?? undefined,
    workingDir: body.WorkingDir || undefined,
    user: body.User || undefined,
    hostname: body.Hostname || undefined,
    tty: body.Tty ?? false,
    labels: body.Labels ?? undefined,
    memory: hc.Memory || undefined,
    memorySwap: hc.MemorySwap || undefined,
    nanoCpus: hc.NanoCpus || undefined,
    cpuShares: hc.CpuShares || undefined,
    pidsLimit: hc.PidsLimit ?? undefined,
    autoRemove: hc.AutoRemove ?? false,
    networkMode: network,
  };
  if (spec.memory !== undefined && spec.memory > 0 && spec.memory < 6 * 1024 * 1024) {
    throw new HttpError(400, 'Minimum memory limit allowed is 6MB');
  }
  if (spec.memorySwap !== undefined && spec.memorySwap > 0 && spec.memory && spec.memorySwap < spec.memory) {
    throw new HttpError(400, 'Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  return spec;
}

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export async function createContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const name = q.get('name') || undefined;
  if (name !== undefined && !NAME_RE.test(name)) {
    throw new HttpError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  const body = (await readJson<CreateBody>(req)) ?? {};
  const spec = createSpec(body, name?.replace(/^\//, ''));
  // The CLI pulls and retries only on a 404 that names the image, so say it exactly as dockerd does.
  const image = findImage(engine, spec.image);
  if (!image) throw new HttpError(404, `No such image: ${spec.image}`);
  if (spec.image !== image.id && !engine.images.get(spec.image)) spec.image = `${spec.image}:latest`;
  const rec = await engine.createContainer(spec);
  sendJson(res, 201, { Id: rec.id, Warnings: [] });
}

export function commandLine(c: ContainerRecord): string {
  return [...c.config.entrypoint, ...c.config.cmd].join(' ');
}

function unixSeconds(t: string): number {
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

export function containerSummary(c: ContainerRecord, now = Date.now()): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.image,
    ImageID: c.imageId,
    Command: commandLine(c),
    Created: unixSeconds(c.created),
    Ports: [],
    Labels: c.config.labels,
    State: c.state.status,
    Status: humanStatus(c.state, now),
    HostConfig: { NetworkMode: c.hostConfig.networkMode },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  };
}

function containerFilter(engine: Engine, q: Query): (c: ContainerRecord) => boolean {
  const raw = q.get('filters');
  if (!raw) return () => true;
  const f = parseFilters(raw);
  const tests: Array<(c: ContainerRecord) => boolean> = [];
  const anyOf = (values: string[] | undefined, test: (c: ContainerRecord, v: string) => boolean) => {
    if (values?.length) tests.push((c) => values.some((v) => test(c, v)));
  };
  const statuses = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
  for (const s of f.status ?? []) if (!statuses.includes(s)) throw new HttpError(400, `invalid filter 'status=${s}'`);
  anyOf(f.status, (c, v) => c.state.status === v);
  // Docker's name filter is an unanchored regular expression over the name with its slash.
  anyOf(f.name, (c, v) => safeRegExp(v).test(`/${c.name}`));
  anyOf(f.id, (c, v) => c.id.startsWith(v));
  anyOf(f.exited, (c, v) => !c.state.running && !!c.state.finishedAt && !c.state.finishedAt.startsWith('0001') && String(c.state.exitCode) === v);
  anyOf(f.ancestor, (c, v) => c.image === v || c.imageId === v || findImage(engine, v)?.id === c.imageId);
  for (const label of f.label ?? []) tests.push((c) => labelMatches(c.config.labels, label));
  return (c) => tests.every((t) => t(c));
}

function safeRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch {
    throw new HttpError(400, `invalid name filter: ${pattern}`);
  }
}

export function listContainers(engine: Engine, res: ServerResponse, q: Query): void {
  const all = boolParam(q, 'all');
  const keep = containerFilter(engine, q);
  // A status filter for stopped containers implies all, as in Docker.
  const wantsAll = all || !!q.get('filters')?.includes('status');
  let list = engine.list({ all: wantsAll }).filter(keep);
  list.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
  const limit = intParam(q, 'limit');
  if (limit !== undefined && limit > 0) list = list.slice(0, limit);
  const now = Date.now();
  sendJson(res, 200, list.map((c) => containerSummary(c, now)));
}

export function inspectBody(c: ContainerRecord): Record<string, unknown> {
  const s = c.state;
  return {
    Id: c.id,
    Created: c.created,
    Path: [...c.config.entrypoint, ...c.config.cmd][0] ?? '',
    Args: [...c.config.entrypoint, ...c.config.cmd].slice(1),
    State: {
      Status: s.status,
      Running: s.running,
      Paused: s.paused,
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
    },
    Image: c.imageId,
    ResolvConfPath: '',
    HostnamePath: '',
    HostsPath: '',
    LogPath: c.logPath,
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Memory: c.hostConfig.memory,
      MemorySwap: c.hostConfig.memorySwap,
      NanoCpus: c.hostConfig.nanoCpus,
      CpuShares: c.hostConfig.cpuShares,
      PidsLimit: c.hostConfig.pidsLimit || null,
      AutoRemove: c.hostConfig.autoRemove,
      NetworkMode: c.hostConfig.networkMode,
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: {} },
      Binds: null,
      PortBindings: {},
      Privileged: false,
      ReadonlyRootfs: false,
    },
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: [],
    Config: {
      Hostname: c.config.hostname,
      Domainname: '',
      User: c.config.user,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: c.config.tty,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.config.env,
      Cmd: c.config.cmd,
      Image: c.image,
      Volumes: null,
      WorkingDir: c.config.workingDir,
      Entrypoint: c.config.entrypoint.length ? c.config.entrypoint : null,
      OnBuild: null,
      Labels: c.config.labels,
    },
    NetworkSettings: { Bridge: '', SandboxID: '', Ports: {}, SandboxKey: '', Networks: {}, IPAddress: '', Gateway: '', MacAddress: '' },
  };
}

export function inspectContainer(engine: Engine, res: ServerResponse, id: string): void {
  sendJson(res, 200, inspectBody(resolveContainer(engine, id)));
}

export async function startContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  const c = resolveContainer(engine, id);
  if (c.state.running) return sendEmpty(res, 304);
  await engine.start(c.id);
  sendEmpty(res, 204);
}

function stopTimeout(q: Query): number | undefined {
  const t = intParam(q, 't') ?? intParam(q, 'timeout');
  return t === undefined ? undefined : t < 0 ? 0 : t;
}

export async function stopContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = resolveContainer(engine, id);
  if (!c.state.running) return sendEmpty(res, 304);
  await engine.stop(c.id, stopTimeout(q));
  sendEmpty(res, 204);
}

export async function restartContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = resolveContainer(engine, id);
  if (c.state.running) await engine.stop(c.id, stopTimeout(q));
  await engine.start(c.id);
  sendEmpty(res, 204);
}

export async function killContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = resolveContainer(engine, id);
  if (!c.state.running) throw new HttpError(409, `Cannot kill container: ${id}: Container ${c.id} is not running`);
  await engine.kill(c.id, q.get('signal') || undefined);
  sendEmpty(res, 204);
}

export async function removeContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = resolveContainer(engine, id);
  const force = boolParam(q, 'force');
  if (c.state.running && !force) {
    throw new HttpError(409, `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`);
  }
  await engine.remove(c.id, { force });
  sendEmpty(res, 204);
}

/** Headers go out at once: the CLI waits for them before it starts the container, and the body comes at exit. */
export async function waitContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = resolveContainer(engine, id);
  const condition = q.get('condition') || 'not-running';
  if (condition !== 'not-running' && condition !== 'next-exit' && condition !== 'removed') {
    throw new HttpError(400, `invalid condition: "${condition}"`);
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  let result: { StatusCode: number; Error: { Message: string } | null };
  try {
    const { exitCode } = await engine.wait(c.id, condition);
    result = { StatusCode: exitCode, Error: null };
  } catch (err) {
    result = { StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } };
  }
  if (!req.destroyed) res.end(JSON.stringify(result) + '\n');
}

/** `docker container prune`: every container that is not running (label filters narrow it). */
export async function pruneContainers(engine: Engine, res: ServerResponse, q: Query): Promise<void> {
  const raw = q.get('filters');
  const labels = raw ? (parseFilters(raw).label ?? []) : [];
  const deleted: string[] = [];
  for (const c of engine.list({ all: true })) {
    if (c.state.running || !labels.every((l) => labelMatches(c.config.labels, l))) continue;
    await engine.remove(c.id);
    deleted.push(c.id);
  }
  sendJson(res, 200, { ContainersDeleted: deleted, SpaceReclaimed: 0 });
}

// Container endpoints: translate Docker's create body, list/inspect shapes and
// lifecycle calls into Engine calls.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { EngineError } from '../engine/errors';
import type { ContainerCreateSpec, ContainerRecord, Engine } from '../engine/types';
import { HttpError, boolParam, intParam, readJson, sendEmpty, sendJson, unixSeconds, type Query } from './http';
import { humanStatus, isZeroTime } from '../link/human-status';
import { commandLine } from '../link/snapshot';
import { labelMatches, parseFilters } from './images';

// The part of Docker's create body Berth reads. Wrong types are refused with a 400 naming the
// field (dockerd's JSON decoding does the same), never carried into the container's record.
const strSlice = z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish(); // Docker's StrSlice
const createBody = z.object({
  Hostname: z.string().optional(),
  User: z.string().optional(),
  Env: z.array(z.string()).nullish(),
  Cmd: strSlice,
  Entrypoint: strSlice,
  Image: z.string().optional(),
  WorkingDir: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Tty: z.boolean().optional(),
  HostConfig: z
    .object({
      Memory: z.number().int().optional(),
      MemorySwap: z.number().int().optional(),
      NanoCpus: z.number().int().optional(),
      CpuShares: z.number().int().optional(),
      PidsLimit: z.number().int().nullish(),
      AutoRemove: z.boolean().optional(),
      NetworkMode: z.string().optional(),
    })
    .nullish(),
});

/** Docker's create body → the engine's spec; exported for the unit test of the mapping. */
export function createSpec(raw: unknown, name: string | undefined): ContainerCreateSpec {
  const parsed = createBody.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid container config: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const body = parsed.data;
  if (!body.Image) throw new HttpError(400, 'No image was specified (Config.Image is empty)');
  const hc = body.HostConfig ?? {};
  let entrypoint = body.Entrypoint ?? undefined;
  // `--entrypoint ""` arrives as [""]: Docker reads that as "clear the image's entrypoint".
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const network = hc.NetworkMode === undefined || hc.NetworkMode === '' || hc.NetworkMode === 'bridge' ? 'default' : hc.NetworkMode;
  const spec: ContainerCreateSpec = {
    name,
    image: body.Image,
    cmd: body.Cmd ?? undefined,
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

export async function createContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const body = await readJson<unknown>(req);
  // The engine checks the name, and answers an unknown image with a 404 "No such image: X",
  // the words the CLI needs to pull and retry.
  const rec = await engine.createContainer(createSpec(body, q.get('name') || undefined));
  sendJson(res, 201, { Id: rec.id, Warnings: [] });
}

function containerSummary(c: ContainerRecord, now = Date.now()): Record<string, unknown> {
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

// Docker's other keys (expose, publish, network, volume, health, isolation, is-task) are refused
// rather than ignored: an ignored filter would answer with the wrong containers.
const CONTAINER_FILTERS = new Set(['status', 'name', 'id', 'exited', 'ancestor', 'label', 'before', 'since']);
const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

function containerFilter(engine: Engine, f: Record<string, string[]>): (c: ContainerRecord) => boolean {
  const tests: Array<(c: ContainerRecord) => boolean> = [];
  const anyOf = (values: string[] | undefined, test: (c: ContainerRecord, v: string) => boolean) => {
    if (values?.length) tests.push((c) => values.some((v) => test(c, v)));
  };
  for (const k of Object.keys(f)) if (!CONTAINER_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  for (const s of f.status ?? []) if (!STATUSES.has(s)) throw new HttpError(400, `invalid filter 'status=${s}'`);
  anyOf(f.status, (c, v) => c.state.status === v);
  // Docker's name filter is an unanchored regular expression over the name with its slash.
  anyOf(f.name, (c, v) => safeRegExp(v).test(`/${c.name}`));
  anyOf(f.id, (c, v) => c.id.startsWith(v));
  anyOf(f.exited, (c, v) => !c.state.running && !isZeroTime(c.state.finishedAt) && String(c.state.exitCode) === v);
  anyOf(f.ancestor, (c, v) => c.image === v || c.imageId === v || engine.images.get(v)?.id === c.imageId);
  for (const label of f.label ?? []) tests.push((c) => labelMatches(c.config.labels, label));
  // before/since name a container; only containers created before (after) it pass. Creation
  // times are RFC 3339 with nine fraction digits in UTC, so they compare as strings, to the nanosecond.
  const createdOf = (key: string) => (f[key]?.length ? engine.inspect(f[key][0]).created : undefined);
  const before = createdOf('before');
  const since = createdOf('since');
  if (before !== undefined) tests.push((c) => c.created < before);
  if (since !== undefined) tests.push((c) => c.created > since);
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
  const raw = q.get('filters');
  const filters = raw ? parseFilters(raw) : {};
  const keep = containerFilter(engine, filters);
  const limit = intParam(q, 'limit');
  // As in Docker, a status filter or a limit (`ps -n 3`, `ps -l`) reaches stopped containers too.
  const all = boolParam(q, 'all') || !!filters.status?.length || (limit !== undefined && limit > 0);
  let list = engine.list({ all }).filter(keep);
  list.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  if (limit !== undefined && limit > 0) list = list.slice(0, limit);
  const now = Date.now();
  sendJson(res, 200, list.map((c) => containerSummary(c, now)));
}

function inspectBody(c: ContainerRecord): Record<string, unknown> {
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
  sendJson(res, 200, inspectBody(engine.inspect(id)));
}

export async function startContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  const c = engine.inspect(id);
  if (c.state.running) return sendEmpty(res, 304);
  await engine.start(c.id);
  sendEmpty(res, 204);
}

function stopTimeout(q: Query): number | undefined {
  const t = intParam(q, 't') ?? intParam(q, 'timeout');
  return t === undefined ? undefined : t < 0 ? 0 : t;
}

export async function stopContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
  if (!c.state.running) return sendEmpty(res, 304);
  await engine.stop(c.id, stopTimeout(q));
  sendEmpty(res, 204);
}

export async function restartContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
  if (c.state.running) await engine.stop(c.id, stopTimeout(q));
  await engine.start(c.id);
  sendEmpty(res, 204);
}

export async function killContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
  if (!c.state.running) throw new HttpError(409, `Cannot kill container: ${id}: Container ${c.id} is not running`);
  await engine.kill(c.id, q.get('signal') || undefined);
  sendEmpty(res, 204);
}

export async function removeContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  // A running container without force is the engine's 409.
  await engine.remove(id, { force: boolParam(q, 'force') });
  sendEmpty(res, 204);
}

/** Headers go out at once: the CLI waits for them before it starts the container, and the body comes at exit. */
export async function waitContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
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

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Docker's timestamp filter values: unix seconds, a Go duration back from now ("24h", "1h30m"), or a date. */
export function filterTime(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (GO_DURATION.test(v)) {
    let ms = 0;
    for (const [, n, , unit] of v.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * DURATION_MS[unit];
    return now - ms;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HttpError(400, `invalid time in filter: ${JSON.stringify(v)}`);
  return t;
}

// A prune filter that was ignored would delete more than was asked for, so unknown keys are refused.
const PRUNE_FILTERS = new Set(['label', 'label!', 'until']);

/** `docker container prune`: every container that is not running, narrowed by label, label! and until. */
export async function pruneContainers(engine: Engine, res: ServerResponse, q: Query): Promise<void> {
  const raw = q.get('filters');
  const f = raw ? parseFilters(raw) : {};
  for (const k of Object.keys(f)) if (!PRUNE_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  const until = f.until?.length ? Math.min(...f.until.map((v) => filterTime(v))) : undefined;
  const keep = (c: ContainerRecord) =>
    (f.label ?? []).every((l) => labelMatches(c.config.labels, l)) &&
    !(f['label!'] ?? []).some((l) => labelMatches(c.config.labels, l)) &&
    (until === undefined || Date.parse(c.created) < until);
  const deleted: string[] = [];
  for (const c of engine.list({ all: true })) {
    if (c.state.running || !keep(c)) continue;
    try {
      await engine.remove(c.id);
      deleted.push(c.id);
    } catch (err) {
      // Started or removed by someone else meanwhile: not ours to prune any more, as with Docker.
      if (!(err instanceof EngineError && (err.status === 404 || err.status === 409))) throw err;
    }
  }
  sendJson(res, 200, { ContainersDeleted: deleted, SpaceReclaimed: 0 });
}

// Container endpoints: translate Docker's create body, list/inspect shapes and
// lifecycle calls into Engine calls.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { EngineError } from '../engine/errors';
import type { ContainerRecord, ContainerSpec, Engine } from '../engine/types';
import type { NetworkMode } from '../../protocol/container';
import { CONFIG_FIELDS, firstRefused, HOST_CONFIG_FIELDS, refusedEndpoint } from './create-fields';
import { HttpError, boolParam, intParam, readJson, sendEmpty, sendJson, unixSeconds, type Query } from './http';
import { commandLine, humanStatus, isZeroTime } from '../../protocol/docker-words';
import { labelMatches, parseFilters } from './images';
import { stdioInspect, stdioSpec } from './stdio-fields';

// The part of Docker's create body Berth maps into the engine's spec. Wrong types are refused
// with a 400 naming the field (dockerd's JSON decoding does the same), never carried into the
// container's record; fields Berth does not implement are refused by create-fields.ts.
const strSlice = z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish(); // Docker's StrSlice
// Go decodes a JSON null as the zero value, so Docker accepts null for every field: so does Berth.
const createBody = z.object({
  Hostname: z.string().nullish(),
  User: z.string().nullish(),
  Env: z.array(z.string()).nullish(),
  Cmd: strSlice,
  Entrypoint: strSlice,
  Image: z.string().nullish(),
  WorkingDir: z.string().nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  HostConfig: z
    .object({
      Memory: z.number().int().nullish(),
      MemorySwap: z.number().int().nullish(),
      NanoCpus: z.number().int().nullish(),
      CpuShares: z.number().int().nullish(),
      PidsLimit: z.number().int().nullish(),
      AutoRemove: z.boolean().nullish(),
      NetworkMode: z.string().nullish(),
      LogConfig: z.object({ Type: z.string().nullish(), Config: z.record(z.string(), z.string()).nullish() }).nullish(),
    })
    .nullish(),
  NetworkingConfig: z.object({ EndpointsConfig: z.record(z.string(), z.unknown()).nullish() }).nullish(),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Docker's NetworkMode → the engine's; a network that does not exist is Docker's 404. */
function networkMode(mode: string | null | undefined): NetworkMode {
  if (mode === undefined || mode === null || mode === '' || mode === 'default' || mode === 'bridge') return 'default';
  if (mode === 'host' || mode === 'none') return mode;
  if (mode.startsWith('container:')) throw new HttpError(400, 'Berth does not support --network container:NAME yet');
  throw new HttpError(404, `network ${mode} not found`);
}

/** Docker's create body → the engine's spec; exported for the unit test of the mapping. */
export function createSpec(raw: unknown, name: string | undefined): ContainerSpec {
  if (raw !== undefined && !isObject(raw)) throw new HttpError(400, 'invalid container config: the body must be a JSON object');
  const rawBody = raw ?? {};
  const rawHost = rawBody.HostConfig;
  if (rawHost !== undefined && rawHost !== null && !isObject(rawHost)) throw new HttpError(400, 'invalid container config: HostConfig: must be an object');
  // HostConfig first: there the CLI's flags map one to one (-p is PortBindings; ExposedPorts only echoes it).
  const unsupported = (rawHost ? firstRefused(rawHost, HOST_CONFIG_FIELDS, 'HostConfig.') : undefined) ?? firstRefused(rawBody, CONFIG_FIELDS, '');
  if (unsupported) throw new HttpError(400, `Berth does not support ${unsupported} yet`);

  const parsed = createBody.safeParse(rawBody);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid container config: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const body = parsed.data;
  if (!body.Image) throw new HttpError(400, 'No image was specified (Config.Image is empty)');
  const hc = body.HostConfig ?? {};
  const mode = networkMode(hc.NetworkMode);
  const endpoint = refusedEndpoint(body.NetworkingConfig?.EndpointsConfig, hc.NetworkMode || 'default');
  if (endpoint) throw new HttpError(400, `Berth does not support ${endpoint} yet`);

  let entrypoint = body.Entrypoint ?? undefined;
  // `--entrypoint ""` arrives as [""]: Docker reads that as "clear the image's entrypoint".
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  return {
    name,
    image: body.Image,
    labels: body.Labels ?? undefined,
    process: {
      cmd: body.Cmd ?? undefined,
      entrypoint,
      env: body.Env ?? undefined,
      workingDir: body.WorkingDir || undefined,
      user: body.User || undefined,
      ...stdioSpec(rawBody, rawHost ?? undefined),
    },
    resources: {
      memory: hc.Memory || undefined,
      memorySwap: hc.MemorySwap || undefined,
      nanoCpus: hc.NanoCpus || undefined,
      cpuShares: hc.CpuShares || undefined,
      pidsLimit: hc.PidsLimit ?? undefined,
    },
    network: { mode, hostname: body.Hostname || undefined },
    restart: { autoRemove: hc.AutoRemove ?? false },
    // The engine checks driver and options, in dockerd's words.
    ...(hc.LogConfig?.Type || Object.keys(hc.LogConfig?.Config ?? {}).length
      ? { log: { driver: hc.LogConfig?.Type || undefined, options: hc.LogConfig?.Config ?? undefined } }
      : {}),
  };
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
    Labels: c.spec.labels,
    State: c.state.status,
    Status: humanStatus(c.state, now),
    HostConfig: { NetworkMode: c.spec.network.mode },
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
  anyOf(f.ancestor, (c, v) => c.image === v || c.imageId === v || engine.findImage(v)?.id === c.imageId);
  for (const label of f.label ?? []) tests.push((c) => labelMatches(c.spec.labels, label));
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
    Path: [...c.spec.process.entrypoint, ...c.spec.process.cmd][0] ?? '',
    Args: [...c.spec.process.entrypoint, ...c.spec.process.cmd].slice(1),
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
      Memory: c.spec.resources.memory,
      MemorySwap: c.spec.resources.memorySwap,
      NanoCpus: c.spec.resources.nanoCpus,
      CpuShares: c.spec.resources.cpuShares,
      PidsLimit: c.spec.resources.pidsLimit || null,
      AutoRemove: c.spec.restart.autoRemove,
      NetworkMode: c.spec.network.mode,
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: c.spec.log?.driver ?? 'json-file', Config: c.spec.log?.options ?? {} },
      Binds: null,
      PortBindings: {},
      Privileged: false,
      ReadonlyRootfs: false,
    },
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: [],
    Config: {
      Hostname: c.spec.network.hostname,
      Domainname: '',
      User: c.spec.process.user,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: c.spec.process.tty,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.spec.process.env,
      Cmd: c.spec.process.cmd,
      Image: c.image,
      Volumes: null,
      WorkingDir: c.spec.process.workingDir,
      Entrypoint: c.spec.process.entrypoint.length ? c.spec.process.entrypoint : null,
      OnBuild: null,
      Labels: c.spec.labels,
    },
    NetworkSettings: { Bridge: '', SandboxID: '', Ports: {}, SandboxKey: '', Networks: {}, IPAddress: '', Gateway: '', MacAddress: '' },
  };
}

export function inspectContainer(engine: Engine, res: ServerResponse, id: string): void {
  const c = engine.inspect(id);
  const body = inspectBody(c);
  const ids = engine.execIds(c.id);
  const stdio = stdioInspect(c);
  Object.assign(body.Config as object, stdio.config);
  Object.assign(body.HostConfig as object, stdio.host);
  sendJson(res, 200, { ...body, ExecIDs: ids.length ? ids : null });
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

/** `docker export`: the filesystem as a tar stream. The first chunk decides the status, so an error before it is still a proper answer. */
export async function exportContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const iter = engine.exportContainer(id)[Symbol.asyncIterator]();
  try {
    let r = await iter.next();
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    for (; !r.done && !abort.signal.aborted; r = await iter.next()) {
      if (!res.write(r.value)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
    }
    res.end();
  } finally {
    // A reader that went away ends the walk, and with it the mount.
    await iter.return?.();
  }
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
    (f.label ?? []).every((l) => labelMatches(c.spec.labels, l)) &&
    !(f['label!'] ?? []).some((l) => labelMatches(c.spec.labels, l)) &&
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

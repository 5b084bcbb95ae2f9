// Container endpoints: translate Docker's create body, list/inspect shapes and
// lifecycle calls into Engine calls.
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { z } from 'zod';
import { EngineError } from '../engine/errors';
import type { ContainerRecord, ContainerSpec, Engine } from '../engine/types';
import { RESTART_POLICIES, type ContainerNetworkState, type EndpointSpec, type NetworkMode, type PortBindingSpec, type RestartPolicyName } from '../../protocol/container';
import { CONFIG_FIELDS, createEndpoints, endpointName, firstRefused, HEALTHCHECK_FIELDS, HOST_CONFIG_FIELDS, type EndpointSettings } from './create-fields';
import { apiAtLeast } from './api-version';
import { DOCKER_API_VERSION as API_VERSION } from '../../protocol/docker-api';
import { isolationConfig, isolationHostConfig, withIsolation } from './create-security';
import { mountPoints, mountsMatch, storageConfig, storageHostConfig, storageSpec } from './create-storage';
import { HttpError, boolParam, intParam, readJson, sendEmpty, sendJson, unixSeconds, type Query } from './http';
import { commandLine, isZeroTime, recordStatus } from '../../protocol/docker-words';
import { labelMatches, parseFilters } from './images';
import { stdioInspect, stdioSpec } from './stdio-fields';

// The part of Docker's create body Berth maps into the engine's spec. Wrong types are refused
// with a 400 naming the field (dockerd's JSON decoding does the same), never carried into the
// container's record; fields Berth does not implement are refused by create-fields.ts.
const restartPolicyBody = z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().int().nullish() }).nullish();
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
  Healthcheck: z
    .object({
      Test: z.array(z.string()).nullish(),
      Interval: z.number().int().nonnegative().nullish(),
      Timeout: z.number().int().nonnegative().nullish(),
      StartPeriod: z.number().int().nonnegative().nullish(),
      StartInterval: z.number().int().nonnegative().nullish(),
      Retries: z.number().int().nullish(),
    })
    .nullish(),
  HostConfig: z
    .object({
      Memory: z.number().int().nullish(),
      MemorySwap: z.number().int().nullish(),
      NanoCpus: z.number().int().nullish(),
      CpuShares: z.number().int().nullish(),
      PidsLimit: z.number().int().nullish(),
      AutoRemove: z.boolean().nullish(),
      NetworkMode: z.string().nullish(),
      Links: z.array(z.string()).nullish(),
      RestartPolicy: restartPolicyBody,
      PortBindings: z.record(z.string(), z.array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() })).nullish()).nullish(),
      PublishAllPorts: z.boolean().nullish(),
      Dns: z.array(z.string()).nullish(),
      DnsSearch: z.array(z.string()).nullish(),
      DnsOptions: z.array(z.string()).nullish(),
      ExtraHosts: z.array(z.string()).nullish(),
      LogConfig: z.object({ Type: z.string().nullish(), Config: z.record(z.string(), z.string()).nullish() }).nullish(),
    })
    .nullish(),
  ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
  MacAddress: z.string().nullish(),
  NetworkingConfig: z.object({ EndpointsConfig: z.record(z.string(), z.unknown()).nullish() }).nullish(),
});

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Docker's NetworkMode → the engine's mode, and the network it names (whether that exists is the engine's 404). */
function networkMode(mode: string | null | undefined): { mode: NetworkMode; container?: string; network?: string } {
  if (mode === undefined || mode === null || mode === '' || mode === 'default') return { mode: 'default' };
  if (mode === 'host' || mode === 'none') return { mode };
  if (mode.startsWith('container:')) {
    const container = mode.slice('container:'.length);
    if (!container) throw new HttpError(400, 'invalid network mode: container: needs a container name or id');
    return { mode: 'container', container };
  }
  return { mode: 'default', network: mode };
}

/** "80/tcp" → [80, 'tcp']; Docker's nat.Port. */
function portKey(key: string): [number, 'tcp' | 'udp'] {
  const m = /^(\d+)(?:\/(\w+))?$/.exec(key);
  const proto = (m?.[2] ?? 'tcp').toLowerCase();
  const port = Number(m?.[1]);
  if (!m || port < 1 || port > 65535) throw new HttpError(400, `invalid port specification: ${JSON.stringify(key)}`);
  if (proto !== 'tcp' && proto !== 'udp') throw new HttpError(400, `Berth does not support ${proto} ports yet (only tcp and udp)`);
  return [port, proto];
}

/** HostConfig.PortBindings → the engine's; HostPort "" is any free port, "8000-8010" one free port of those. */
export function portBindings(raw: Record<string, Array<{ HostIp?: string | null; HostPort?: string | null }> | null | undefined>): PortBindingSpec[] {
  const out: PortBindingSpec[] = [];
  for (const [key, list] of Object.entries(raw)) {
    const [containerPort, protocol] = portKey(key);
    for (const b of list?.length ? list : [{}]) {
      const hp = (b.HostPort ?? '').trim();
      const m = /^(\d+)(?:-(\d+))?$/.exec(hp);
      if (hp && !m) throw new HttpError(400, `invalid port specification: ${JSON.stringify(hp)}`);
      const from = m ? Number(m[1]) : 0;
      const to = m?.[2] ? Number(m[2]) : undefined;
      if (from > 65535 || (to !== undefined && (to > 65535 || to < from))) throw new HttpError(400, `invalid port specification: ${JSON.stringify(hp)}`);
      out.push({ containerPort, protocol, ...(b.HostIp ? { hostIp: b.HostIp } : {}), ...(from ? { hostPort: from } : {}), ...(to !== undefined && to !== from ? { hostPortEnd: to } : {}) });
    }
  }
  return out;
}

/** Docker's RestartPolicy → the engine's, with dockerd's words for a name it does not know. */
export function restartPolicy(p: { Name?: string | null; MaximumRetryCount?: number | null } | null | undefined): { policy: RestartPolicyName; maxRetries: number } | undefined {
  if (!p || !p.Name) {
    // Before Docker 25 an empty name with any count meant "no"; a count alone still means nothing.
    return undefined;
  }
  if (!(RESTART_POLICIES as readonly string[]).includes(p.Name)) {
    throw new HttpError(400, `invalid restart policy: unknown policy '${p.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  const maxRetries = p.MaximumRetryCount ?? 0;
  if (maxRetries < 0) {
    throw new HttpError(400, p.Name === 'on-failure' ? 'invalid restart policy: maximum retry count cannot be negative' : "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative");
  }
  return { policy: p.Name as RestartPolicyName, maxRetries };
}

/** The body as dockerd reads it from a client of `version`: fields newer than it are ignored, and an
 *  older client's defaults are its own (before 1.40 an unset IpcMode meant "shareable"). */
function dropNewerFields(rawBody: Record<string, unknown>, version: string): Record<string, unknown> {
  const body = { ...rawBody };
  if (!apiAtLeast(version, '1.40') && !(isObject(body.HostConfig) && body.HostConfig.IpcMode)) body.HostConfig = { ...(isObject(body.HostConfig) ? body.HostConfig : {}), IpcMode: 'shareable' };
  if (isObject(body.HostConfig)) {
    const host = { ...body.HostConfig };
    if (!apiAtLeast(version, '1.43')) delete host.Annotations;
    // Before 1.42 dockerd on Linux made the terminal its default size, whatever was asked.
    if (!apiAtLeast(version, '1.42')) delete host.ConsoleSize;
    body.HostConfig = host;
  }
  if (isObject(body.Healthcheck) && !apiAtLeast(version, '1.44')) body.Healthcheck = { ...body.Healthcheck, StartInterval: 0 };
  return body;
}

/** Docker's create body → the engine's spec; exported for the unit test of the mapping. What
 *  dockerd accepts with a warning (ports with the host's network) goes to `warnings`. `version`
 *  is the API version the client speaks: fields it predates are ignored, as dockerd does. */
export function createSpec(raw: unknown, name: string | undefined, warnings: string[] = [], version: string = API_VERSION): ContainerSpec {
  if (raw !== undefined && !isObject(raw)) throw new HttpError(400, 'invalid container config: the body must be a JSON object');
  const rawBody = dropNewerFields(raw ?? {}, version);
  const rawHost = rawBody.HostConfig;
  if (rawHost !== undefined && rawHost !== null && !isObject(rawHost)) throw new HttpError(400, 'invalid container config: HostConfig: must be an object');
  // HostConfig first: there the CLI's flags map one to one (-p is PortBindings; ExposedPorts only echoes it).
  const rawHealth = isObject(rawBody.Healthcheck) ? rawBody.Healthcheck : undefined;
  const unsupported =
    (rawHost ? firstRefused(rawHost, HOST_CONFIG_FIELDS, 'HostConfig.') : undefined) ??
    firstRefused(rawBody, CONFIG_FIELDS, '') ??
    (rawHealth ? firstRefused(rawHealth, HEALTHCHECK_FIELDS, 'Healthcheck.') : undefined);
  if (unsupported) throw new HttpError(400, `Berth does not support ${unsupported} yet`);

  const parsed = createBody.safeParse(rawBody);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid container config: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const body = parsed.data;
  if (!body.Image) throw new HttpError(400, 'No image was specified (Config.Image is empty)');
  const hc = body.HostConfig ?? {};
  const net = networkMode(hc.NetworkMode);
  const mode = hc.NetworkMode || 'default';
  const endpoints = createEndpoints(body.NetworkingConfig?.EndpointsConfig, mode, version);
  if (endpoints.error) throw new HttpError(400, endpoints.error);
  if (endpoints.refused) throw new HttpError(400, `Berth does not support ${endpoints.refused} yet`);
  const eps = containerMacAddress(endpoints.endpoints, body.MacAddress ?? '', endpointName(mode), net.mode === 'default', version, warnings);
  // dockerd keeps HostConfig.Links of a container on a user network without registering them
  // (legacy links are the default bridge's): Berth makes them what the docker CLI sends for
  // --link there, links of the main endpoint, rather than take them and do nothing.
  if (hc.Links?.length) {
    if (!net.network || net.network === 'bridge') throw new HttpError(400, 'Berth does not support --link yet');
    if (!eps.length) eps.push({ name: net.network, settings: {} });
    eps[0].settings.links = [...(eps[0].settings.links ?? []), ...hc.Links];
  }
  const hasEndpoint = eps.some((e) => Object.keys(e.settings).length > 0);
  if (hasEndpoint && net.mode !== 'default') {
    if (eps.some((e) => e.settings.macAddress)) throw new HttpError(400, 'conflicting options: mac-address and the network mode');
    throw new HttpError(400, 'network-scoped alias is supported only for containers in user defined networks');
  }
  let ports = hc.PortBindings ? portBindings(hc.PortBindings) : [];
  let publishAll = hc.PublishAllPorts ?? false;
  if (net.mode === 'host' && (ports.length || publishAll)) {
    warnings.push('Published ports are discarded when using host network mode');
    ports = [];
    publishAll = false;
  }
  const endpointSpec = (e: { name: string; settings: EndpointSettings }): EndpointSpec => ({ network: e.name, ...e.settings });
  // The main endpoint first (createEndpoints puts it there); the default bridge with nothing set is no endpoint at all.
  const main = eps[0] ? [eps[0]] : net.network ? [{ name: net.network, settings: {} }] : [];
  const named = net.network || hasEndpoint || eps.length > 1;
  const networks: EndpointSpec[] | undefined = named && net.mode === 'default' ? [...main, ...eps.slice(1)].map(endpointSpec) : undefined;

  const hcheck = body.Healthcheck;
  if (hcheck?.Retries !== undefined && hcheck.Retries !== null && hcheck.Retries < 0) throw new HttpError(400, 'Retries in Healthcheck cannot be negative');
  const restart = restartPolicy(hc.RestartPolicy);
  let entrypoint = body.Entrypoint ?? undefined;
  // `--entrypoint ""` arrives as [""]: Docker reads that as "clear the image's entrypoint".
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const storage = storageSpec(rawBody);
  return withIsolation(rawBody, {
    ...(storage ? { storage } : {}),
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
    network: {
      mode: net.mode,
      ...(net.container ? { container: net.container } : {}),
      ...(networks ? { networks } : {}),
      hostname: body.Hostname || undefined,
      ...(ports.length ? { ports } : {}),
      ...(publishAll ? { publishAll } : {}),
      ...(body.ExposedPorts && Object.keys(body.ExposedPorts).length ? { exposedPorts: Object.keys(body.ExposedPorts) } : {}),
      ...(hc.Dns?.length ? { dns: hc.Dns } : {}),
      ...(hc.DnsSearch?.length ? { dnsSearch: hc.DnsSearch } : {}),
      ...(hc.DnsOptions?.length ? { dnsOptions: hc.DnsOptions } : {}),
      ...(hc.ExtraHosts?.length ? { extraHosts: hc.ExtraHosts } : {}),
    },
    restart: { autoRemove: hc.AutoRemove ?? false, ...restart },
    ...(hcheck
      ? {
          health: {
            test: hcheck.Test ?? undefined,
            intervalNs: hcheck.Interval || undefined,
            timeoutNs: hcheck.Timeout || undefined,
            startPeriodNs: hcheck.StartPeriod || undefined,
            startIntervalNs: hcheck.StartInterval || undefined,
            retries: hcheck.Retries || undefined,
          },
        }
      : {}),
    // The engine checks driver and options, in dockerd's words.
    ...(hc.LogConfig?.Type || Object.keys(hc.LogConfig?.Config ?? {}).length
      ? { log: { driver: hc.LogConfig?.Type || undefined, options: hc.LogConfig?.Config ?? undefined } }
      : {}),
  });
}

/**
 * The container-wide Config.MacAddress, as dockerd's create takes it: before API 1.44 it is the
 * only MAC address (an endpoint's own is dropped); from 1.44 it is deprecated, with a warning,
 * and moved to the main endpoint unless that has one of its own, which it must then match.
 */
function containerMacAddress(
  endpoints: Array<{ name: string; settings: EndpointSettings }>,
  mac: string,
  mainName: string,
  bridgeLike: boolean,
  version: string,
  warnings: string[],
): Array<{ name: string; settings: EndpointSettings }> {
  const eps = endpoints.map((e) => ({ name: e.name, settings: { ...e.settings } }));
  const mainEndpoint = () => {
    if (!eps.length) eps.push({ name: mainName, settings: {} });
    return eps[0];
  };
  if (!apiAtLeast(version, '1.44')) {
    for (const e of eps) delete e.settings.macAddress;
    if (!mac) return eps;
    if (!bridgeLike) throw new HttpError(400, 'conflicting options: mac-address and the network mode');
    mainEndpoint().settings.macAddress = mac;
    return eps;
  }
  if (!mac) return eps;
  if (!bridgeLike) throw new HttpError(400, 'conflicting options: mac-address and the network mode');
  const ep = mainEndpoint();
  if (!ep.settings.macAddress) ep.settings.macAddress = mac;
  else if (ep.settings.macAddress.toLowerCase() !== mac.toLowerCase()) {
    throw new HttpError(400, 'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty');
  }
  warnings.push('The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.');
  return eps;
}

/**
 * The Engine API takes a new container's name from the query only; dockerode's
 * createContainer({ name }) sends its options as both query and body, so a body `name`
 * equal to the query's is that client's echo and is dropped. One the query does not
 * carry would be ignored by dockerd; Berth says so instead.
 */
export function withoutQueryName(body: unknown, queryName: string | null): unknown {
  if (!isObject(body) || !('name' in body)) return body;
  const { name, ...rest } = body;
  if (name === undefined || name === null || name === '' || name === queryName) return rest;
  throw new HttpError(400, `invalid container config: name: the Engine API reads a container's name from the query (?name=${typeof name === 'string' ? encodeURIComponent(name) : '…'}), not from the body`);
}

export async function createContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query, version: string): Promise<void> {
  const body = await readJson<unknown>(req);
  // The engine checks the name, and answers an unknown image with a 404 "No such image: X",
  // the words the CLI needs to pull and retry.
  const warnings: string[] = [];
  const rec = await engine.createContainer(createSpec(withoutQueryName(body, q.get('name')), q.get('name') || undefined, warnings, version));
  sendJson(res, 201, { Id: rec.id, Warnings: warnings });
}

/** HostConfig.NetworkMode as Docker shows it: "default", a network's name, "host", "none", "container:ID". */
function shownNetworkMode(c: ContainerRecord): string {
  const n = c.spec.network;
  if (n.mode === 'container') return `container:${n.container}`;
  if (n.mode !== 'default') return n.mode;
  return n.networks.length ? n.networks[0].name : 'default';
}

const noNetwork: ContainerNetworkState = { networks: {}, ports: [] };

const dedup = (xs: string[]) => [...new Set(xs.filter((x) => x !== ''))];
const userDefined = (network: string) => !['bridge', 'host', 'none', 'default'].includes(network);

/**
 * NetworkSettings.Networks: Docker's EndpointSettings per network, for `version`. Aliases are the
 * ones asked for; inspect from a client older than 1.45 also gets the short id on a user network,
 * as dockerd adds it there. DNSNames (1.44) are the names the embedded resolver answers to on a
 * user network, in dockerd's order (dockerd's also list the hostname, which Berth's resolver does
 * not answer to); GwPriority (1.48) is 0, the only one Berth takes.
 */
function endpointSettingsOut(c: ContainerRecord, version: string, forInspect: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const shortId = c.id.slice(0, 12);
  for (const [name, a] of Object.entries((c.networkState ?? noNetwork).networks)) {
    const asked = c.spec.network.networks.find((e) => e.id === a.networkId || e.name === name);
    const askedAliases = asked?.aliases ?? [];
    const aliases = forInspect && !apiAtLeast(version, '1.45') && userDefined(name) ? dedup([...askedAliases, shortId]) : askedAliases;
    out[name] = {
      IPAMConfig: asked?.ipv4Address ? { IPv4Address: asked.ipv4Address } : null,
      Links: asked?.links?.length ? asked.links : null,
      Aliases: aliases.length ? aliases : null,
      NetworkID: a.networkId,
      EndpointID: a.endpointId,
      Gateway: a.gateway,
      IPAddress: a.ipAddress,
      IPPrefixLen: a.prefixLen,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      MacAddress: a.macAddress,
      DriverOpts: null,
      ...(apiAtLeast(version, '1.48') ? { GwPriority: 0 } : {}),
      ...(apiAtLeast(version, '1.44') ? { DNSNames: userDefined(name) ? dedup([c.name, ...askedAliases, shortId]) : null } : {}),
    };
  }
  return out;
}

/** `docker ps`'s Ports: each published port, and each exposed one that is not, while the container runs. */
function summaryPorts(c: ContainerRecord): Array<Record<string, unknown>> {
  if (!c.state.running) return [];
  const published = (c.networkState ?? noNetwork).ports;
  const out: Array<Record<string, unknown>> = published.map((p) => ({ IP: p.hostIp, PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol }));
  for (const x of c.spec.network.exposedPorts) {
    const [port, proto] = x.split('/');
    if (!published.some((p) => p.containerPort === Number(port) && p.protocol === proto)) out.push({ PrivatePort: Number(port), Type: proto });
  }
  return out;
}

/** NetworkSettings.Ports: "80/tcp" → the host's bindings (null for an exposed port that is not published), while running. */
function settingsPorts(c: ContainerRecord): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  if (!c.state.running) return {};
  const out: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  for (const x of c.spec.network.exposedPorts) out[x] = null;
  for (const p of (c.networkState ?? noNetwork).ports) {
    const k = `${p.containerPort}/${p.protocol}`;
    out[k] = [...(out[k] ?? []), { HostIp: p.hostIp, HostPort: String(p.hostPort) }];
  }
  return out;
}

/** HostConfig.PortBindings as asked for. */
function askedPortBindings(c: ContainerRecord): Record<string, Array<{ HostIp: string; HostPort: string }>> {
  const out: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of c.spec.network.ports) {
    const k = `${p.containerPort}/${p.protocol}`;
    const hostPort = p.hostPort ? (p.hostPortEnd ? `${p.hostPort}-${p.hostPortEnd}` : String(p.hostPort)) : '';
    (out[k] ??= []).push({ HostIp: p.hostIp, HostPort: hostPort });
  }
  return out;
}

function networkSettings(c: ContainerRecord, version: string): Record<string, unknown> {
  const networks = endpointSettingsOut(c, version, true);
  // As Docker: the top-level address fields are the default bridge's, empty on user networks.
  const bridge = (c.networkState ?? noNetwork).networks.bridge;
  return {
    Bridge: '',
    SandboxID: '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: settingsPorts(c),
    SandboxKey: c.state.running && c.state.pid && c.spec.network.mode !== 'host' ? `/proc/${c.state.pid}/ns/net` : '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridge?.endpointId ?? '',
    Gateway: bridge?.gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.ipAddress ?? '',
    IPPrefixLen: bridge?.prefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: bridge?.macAddress ?? '',
    Networks: networks,
  };
}

/** Where a volume's content is, for Mounts[].Source ("" for one that is gone). */
export function volumeDir(engine: Engine): (name: string) => string {
  return (name) => {
    try {
      return engine.inspectVolume(name).mountpoint;
    } catch {
      return '';
    }
  };
}

/** One container of `GET /containers/json` (and `system df`) for `version`; the sizes when they were asked for. */
export function containerSummary(
  c: ContainerRecord,
  now = Date.now(),
  dataDir: (name: string) => string = () => '',
  version: string = API_VERSION,
  size?: { rw: number; rootFs: number },
): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.image,
    ImageID: c.imageId,
    Command: commandLine(c),
    Created: unixSeconds(c.created),
    Ports: summaryPorts(c),
    ...(size ? { SizeRw: size.rw, SizeRootFs: size.rootFs } : {}),
    Labels: c.spec.labels,
    State: c.state.status,
    Status: recordStatus(c, now),
    HostConfig: { NetworkMode: shownNetworkMode(c) },
    NetworkSettings: { Networks: endpointSettingsOut(c, version, false) },
    Mounts: mountPoints(c, dataDir),
  };
}

// Docker's other keys (expose, publish, network, isolation, is-task) are refused
// rather than ignored: an ignored filter would answer with the wrong containers.
const CONTAINER_FILTERS = new Set(['status', 'name', 'id', 'exited', 'ancestor', 'label', 'before', 'since', 'health', 'volume']);
const HEALTH_FILTERS = new Set(['starting', 'healthy', 'unhealthy', 'none']);
const STATUSES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);

function containerFilter(engine: Engine, f: Record<string, string[]>): (c: ContainerRecord) => boolean {
  const tests: Array<(c: ContainerRecord) => boolean> = [];
  const anyOf = (values: string[] | undefined, test: (c: ContainerRecord, v: string) => boolean) => {
    if (values?.length) tests.push((c) => values.some((v) => test(c, v)));
  };
  for (const k of Object.keys(f)) if (!CONTAINER_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  for (const s of f.status ?? []) if (!STATUSES.has(s)) throw new HttpError(400, `invalid filter 'status=${s}'`);
  for (const h of f.health ?? []) if (!HEALTH_FILTERS.has(h)) throw new HttpError(400, `Unrecognised filter value for health: ${h}`);
  anyOf(f.status, (c, v) => c.state.status === v);
  // As Docker's: "none" until a check has run its first start, the last status after a stop.
  anyOf(f.health, (c, v) => (c.state.health?.status ?? 'none') === v);
  // Docker's name filter is an unanchored regular expression over the name with its slash.
  anyOf(f.name, (c, v) => safeRegExp(v).test(`/${c.name}`));
  anyOf(f.id, (c, v) => c.id.startsWith(v));
  anyOf(f.exited, (c, v) => !c.state.running && !isZeroTime(c.state.finishedAt) && String(c.state.exitCode) === v);
  anyOf(f.ancestor, (c, v) => c.image === v || c.imageId === v || engine.findImage(v)?.id === c.imageId);
  anyOf(f.volume, (c, v) => mountsMatch(c, v));
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

/** `size`: the writable layer's bytes, and with the image's, as `docker ps -s` shows them. */
async function containerSize(engine: Engine, c: ContainerRecord): Promise<{ rw: number; rootFs: number }> {
  const rw = await engine.containerSizeRw(c.id);
  return { rw, rootFs: rw + (engine.findImage(c.imageId)?.size ?? 0) };
}

export async function listContainers(engine: Engine, res: ServerResponse, q: Query, version: string): Promise<void> {
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
  const dir = volumeDir(engine);
  const sizes = boolParam(q, 'size') ? await Promise.all(list.map((c) => containerSize(engine, c))) : undefined;
  sendJson(res, 200, list.map((c, i) => containerSummary(c, now, dir, version, sizes?.[i])));
}

function inspectBody(c: ContainerRecord, dataDir: (name: string) => string, version: string): Record<string, unknown> {
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
      // Berth's own: log lines this run's monitor could not write (a full disk), counted rather than lost silently.
      ...(s.logDropped ? { LogLinesDropped: s.logDropped.reduce((n, d) => n + d.count, 0) } : {}),
      ...(s.health
        ? {
            Health: {
              Status: s.health.status,
              FailingStreak: s.health.failingStreak,
              Log: s.health.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
            },
          }
        : {}),
    },
    Image: c.imageId,
    ResolvConfPath: c.logPath ? path.join(path.dirname(c.logPath), 'resolv.conf') : '',
    HostnamePath: c.logPath ? path.join(path.dirname(c.logPath), 'hostname') : '',
    HostsPath: c.logPath ? path.join(path.dirname(c.logPath), 'hosts') : '',
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
      NetworkMode: shownNetworkMode(c),
      RestartPolicy: { Name: c.spec.restart.policy, MaximumRetryCount: c.spec.restart.maxRetries },
      LogConfig: { Type: c.spec.log?.driver ?? 'json-file', Config: c.spec.log?.options ?? {} },
      PortBindings: askedPortBindings(c),
      PublishAllPorts: c.spec.network.publishAll,
      Dns: c.spec.network.dns,
      DnsOptions: c.spec.network.dnsOptions,
      DnsSearch: c.spec.network.dnsSearch,
      ExtraHosts: c.spec.network.extraHosts.length ? c.spec.network.extraHosts : null,
      Links: null,
      ...isolationHostConfig(c),
      ...storageHostConfig(c),
    },
    GraphDriver: { Name: 'overlay2', Data: null },
    Mounts: mountPoints(c, dataDir),
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
      ...storageConfig(c),
      WorkingDir: c.spec.process.workingDir,
      Entrypoint: c.spec.process.entrypoint.length ? c.spec.process.entrypoint : null,
      OnBuild: null,
      Labels: c.spec.labels,
      ...(c.spec.network.exposedPorts.length ? { ExposedPorts: Object.fromEntries(c.spec.network.exposedPorts.map((p) => [p, {}])) } : {}),
      ...(c.spec.network.networks[0]?.macAddress ? { MacAddress: c.spec.network.networks[0].macAddress } : {}),
      ...(healthConfig(c) ? { Healthcheck: healthConfig(c) } : {}),
      ...isolationConfig(c),
    },
    NetworkSettings: networkSettings(c, version),
  };
}

/** Config.Healthcheck as Docker shows it: the merged check, unset durations left out; ["NONE"] when disabled. */
function healthConfig(c: ContainerRecord): Record<string, unknown> | undefined {
  const h = c.spec.health;
  if (!h) return undefined;
  const out: Record<string, unknown> = { Test: h.test };
  if (h.intervalNs) out.Interval = h.intervalNs;
  if (h.timeoutNs) out.Timeout = h.timeoutNs;
  if (h.startPeriodNs) out.StartPeriod = h.startPeriodNs;
  if (h.startIntervalNs) out.StartInterval = h.startIntervalNs;
  if (h.retries) out.Retries = h.retries;
  return out;
}

export async function inspectContainer(engine: Engine, res: ServerResponse, id: string, q: Query, version: string): Promise<void> {
  const c = engine.inspect(id);
  const body = inspectBody(c, volumeDir(engine), version);
  if (boolParam(q, 'size')) {
    const size = await containerSize(engine, c);
    Object.assign(body, { SizeRw: size.rw, SizeRootFs: size.rootFs });
  }
  const ids = engine.execIds(c.id);
  const stdio = stdioInspect(c);
  Object.assign(body.Config as object, stdio.config);
  Object.assign(body.HostConfig as object, stdio.host);
  sendJson(res, 200, { ...body, ExecIDs: ids.length ? ids : null });
}

export async function startContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  const c = engine.inspect(id);
  // A paused one is the engine's 409 ("try unpause instead").
  if (c.state.running && !c.state.paused) return sendEmpty(res, 304);
  await engine.start(c.id);
  sendEmpty(res, 204);
}

function stopTimeout(q: Query): number | undefined {
  const t = intParam(q, 't') ?? intParam(q, 'timeout');
  return t === undefined ? undefined : t < 0 ? 0 : t;
}

/** `signal` (API 1.42, `docker stop -s`): the engine stops with the container's own stop signal only,
 *  so one asked for is refused by name rather than ignored; dockerd reads none from older clients. */
function refuseStopSignal(q: Query, version: string, command: string): void {
  if (apiAtLeast(version, '1.42') && q.get('signal')) throw new HttpError(400, `Berth does not support docker ${command} --signal yet`);
}

export async function stopContainer(engine: Engine, res: ServerResponse, id: string, q: Query, version: string = API_VERSION): Promise<void> {
  refuseStopSignal(q, version, 'stop');
  const c = engine.inspect(id);
  if (!c.state.running) return sendEmpty(res, 304);
  await engine.stop(c.id, stopTimeout(q));
  sendEmpty(res, 204);
}

export async function restartContainer(engine: Engine, res: ServerResponse, id: string, q: Query, version: string = API_VERSION): Promise<void> {
  refuseStopSignal(q, version, 'restart');
  await engine.restart(engine.inspect(id).id, stopTimeout(q));
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
  await engine.remove(id, { force: boolParam(q, 'force'), volumes: boolParam(q, 'v') });
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

/**
 * From API 1.30 headers go out at once (the CLI waits for them before it starts the container,
 * and the body comes at exit) and a condition may be given; before, dockerd ignored the
 * condition and answered only at exit. Error is left out when there is none, as dockerd does.
 */
export async function waitContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, q: Query, version: string = API_VERSION): Promise<void> {
  const c = engine.inspect(id);
  const legacy = !apiAtLeast(version, '1.30');
  const condition = (!legacy && q.get('condition')) || 'not-running';
  if (condition !== 'not-running' && condition !== 'next-exit' && condition !== 'removed') {
    throw new HttpError(400, `invalid condition: "${condition}"`);
  }
  if (!legacy) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
  }
  let result: { StatusCode: number; Error?: { Message: string } };
  try {
    const { exitCode } = await engine.wait(c.id, condition);
    result = { StatusCode: exitCode };
  } catch (err) {
    result = { StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } };
  }
  if (req.destroyed) return;
  if (legacy) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(result) + '\n');
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

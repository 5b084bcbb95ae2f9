// /_ping, /version, /info, /events: what the CLI asks before anything else.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ContainerEvent, Engine, HostInfo, ImageEvent, VolumeEvent } from '../engine/types';
import { HttpError, sendJson, type Query } from './http';
import { labelMatches, parseFilters } from './images';
import { timeParam } from './logs';
import { apiAtLeast } from './api-version';

/** Events queued for a reader that has stopped reading; past this it is cut off rather than buffered for. */
const EVENTS_BACKLOG_BYTES = 1 << 20;

export { DOCKER_API_VERSION as API_VERSION, DOCKER_MIN_API_VERSION as MIN_API_VERSION } from '../../protocol/docker-api';
import { DOCKER_API_VERSION as API_VERSION, DOCKER_MIN_API_VERSION as MIN_API_VERSION } from '../../protocol/docker-api';

const GO_ARCH: Record<string, string> = { x64: 'amd64', ia32: '386', x86_64: 'amd64', aarch64: 'arm64', armv7l: 'arm', i686: '386', i386: '386' };
const UNAME_ARCH: Record<string, string> = { x64: 'x86_64', ia32: 'i686', amd64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', '386': 'i686' };

const goArch = (a: string) => GO_ARCH[a] ?? a;
const unameArch = (a: string) => UNAME_ARCH[a] ?? a;

export function pingHeaders(res: ServerResponse): void {
  res.setHeader('API-Version', API_VERSION);
  res.setHeader('OSType', 'linux');
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Builder-Version', '1');
  // Since API 1.42 (unversioned): Berth has no swarm mode.
  res.setHeader('Swarm', 'inactive');
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
}

export function ping(req: IncomingMessage, res: ServerResponse): void {
  pingHeaders(res);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
  res.end(req.method === 'HEAD' ? undefined : 'OK');
}

export async function version(engine: Engine, res: ServerResponse): Promise<void> {
  const info = await engine.info();
  const details = { ApiVersion: API_VERSION, Arch: goArch(info.arch), MinAPIVersion: MIN_API_VERSION, Os: 'linux', KernelVersion: info.kernel };
  sendJson(res, 200, {
    Platform: { Name: 'Berth Engine' },
    Components: [{ Name: 'Engine', Version: info.engineVersion, Details: { ...details, GitCommit: 'berth', GoVersion: `node${process.versions.node}`, Experimental: 'false' } }],
    Version: info.engineVersion,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'berth',
    GoVersion: `node${process.versions.node}`,
    Os: 'linux',
    Arch: goArch(info.arch),
    KernelVersion: info.kernel,
    Experimental: false,
    BuildTime: '',
  });
}

/** `GET /info` as dockerd 28 shapes it for `version`: fields deprecated since are null, false or left out, as it does. */
export function infoBody(info: HostInfo, eventListeners: number, version: string): Record<string, unknown> {
  const commit = (v: string) => ({ ID: '', ...(apiAtLeast(v, '1.49') ? {} : { Expected: '' }) });
  return {
    ID: `berth-${info.hostname}`,
    Containers: info.containers.total,
    ContainersRunning: info.containers.running,
    ContainersPaused: info.containers.paused,
    ContainersStopped: info.containers.stopped,
    Images: info.images,
    Driver: 'overlay2',
    DriverStatus: [['Backing Filesystem', 'extfs']],
    Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'none'], Authorization: null, Log: ['json-file'] },
    MemoryLimit: true,
    SwapLimit: true,
    CpuCfsPeriod: true,
    CpuCfsQuota: true,
    CPUShares: true,
    CPUSet: true,
    PidsLimit: true,
    OomKillDisable: false,
    IPv4Forwarding: true,
    // Deprecated in 1.48 (always false) and left out from 1.50, as dockerd does.
    ...(apiAtLeast(version, '1.50') ? {} : { BridgeNfIptables: false, BridgeNfIp6tables: false }),
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'cgroupfs',
    CgroupVersion: String(info.cgroupVersion),
    NEventsListener: eventListeners,
    KernelVersion: info.kernel,
    OperatingSystem: info.os,
    OSVersion: '',
    OSType: 'linux',
    Architecture: unameArch(info.arch),
    IndexServerAddress: 'https://index.docker.io/v1/',
    RegistryConfig: {
      ...(apiAtLeast(version, '1.47') ? {} : { AllowNondistributableArtifactsCIDRs: null, AllowNondistributableArtifactsHostnames: null }),
      InsecureRegistryCIDRs: ['127.0.0.0/8'],
      IndexConfigs: { 'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true } },
      Mirrors: [],
    },
    NCPU: info.cpus,
    MemTotal: info.memTotal,
    GenericResources: null,
    DockerRootDir: info.root,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: info.hostname,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: info.engineVersion,
    Runtimes: { berth: { path: 'berth-monitor' } },
    DefaultRuntime: 'berth',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: commit(version),
    RuncCommit: commit(version),
    InitCommit: commit(version),
    SecurityOptions: ['name=seccomp,profile=default', `name=cgroupns`],
    // 1.44: CDI needs an experimental daemon, and a daemon that is not lists none. Containerd
    // (1.46), FirewallBackend (1.49) and DiscoveredDevices (1.50) are left out: Berth runs no
    // containerd, and dockerd leaves them out when it has nothing to say.
    ...(apiAtLeast(version, '1.44') ? { CDISpecDirs: [] } : {}),
    Warnings: [],
  };
}

export async function info(engine: Engine, res: ServerResponse, version: string): Promise<void> {
  sendJson(res, 200, infoBody(await engine.info(), eventStreams.size, version));
}

/** Open `docker events` streams, which `docker info` counts as NEventsListener. */
const eventStreams = new Set<object>();

export interface EventMessage {
  Type: 'container' | 'image' | 'volume';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
}

const EVENT_FILTERS = new Set(['type', 'event', 'container', 'image', 'label', 'scope', 'daemon', 'plugin', 'volume', 'network', 'node', 'service', 'secret', 'config']);
const stripTag = (ref: string) => (/^sha256:/.test(ref) ? ref : ref.replace(/@.*$/, '').replace(/:[^:/]+$/, ''));

/** Docker's events filter (daemon/events/filter.go): every given key must match, any of its values. */
function eventFilter(q: Query): (m: EventMessage) => boolean {
  const raw = q.get('filters');
  if (!raw) return () => true;
  const f = parseFilters(raw);
  for (const k of Object.keys(f)) if (!EVENT_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  const given = (k: string) => (f[k]?.length ? f[k] : undefined);
  const exact = (k: string, ...vs: Array<string | undefined>) => !given(k) || vs.some((v) => v !== undefined && f[k].includes(v));
  const fuzzy = (k: string, ...vs: Array<string | undefined>) => !given(k) || vs.some((v) => v !== undefined && v !== '' && f[k].some((x) => v === x || v.startsWith(x)));
  // dockerd (#25798): health_status, exec_create and exec_start carry the status or command
  // after a colon, so a filter naming one without its colon matches by prefix.
  const fuzzyEvents = (f.event ?? []).some((v) => v === 'health_status' || v === 'exec_create' || v === 'exec_start');
  const eventMatches = (action: string) => !given('event') || f.event.some((v) => v === action || (fuzzyEvents && action.startsWith(v)));
  return (m) => {
    const a = m.Actor.Attributes;
    const imageName = m.Type === 'image' ? a.name : a.image;
    return (
      exact('type', m.Type) &&
      eventMatches(m.Action) &&
      exact('scope', 'local') &&
      fuzzy('container', ...(m.Type === 'container' ? [m.Actor.ID, a.name] : [])) &&
      exact('image', m.Actor.ID, imageName, stripTag(m.Actor.ID), imageName === undefined ? undefined : stripTag(imageName)) &&
      fuzzy('volume', ...(m.Type === 'volume' ? [m.Actor.ID] : [])) &&
      (!given('label') || f.label.some((l) => labelMatches(a, l))) &&
      // Berth emits no daemon, plugin, network or swarm events: those filters match nothing here.
      ['daemon', 'plugin', 'network', 'node', 'service', 'secret', 'config'].every((k) => !given(k))
    );
  };
}

/** An engine event in Docker's words: the action as dockerd spells it, the container's labels, name and image, and the event's own attributes. */
export function containerEventMessage(engine: Pick<Engine, 'inspect'>, e: ContainerEvent): EventMessage {
  const attributes: Record<string, string> = {};
  try {
    const c = engine.inspect(e.id);
    Object.assign(attributes, c.spec.labels);
    attributes.name = c.name;
    attributes.image = c.image;
  } catch {
    // Destroyed containers cannot be looked up any more; the id alone still tells the story.
  }
  if (e.exitCode !== undefined) attributes.exitCode = String(e.exitCode);
  if (e.execDurationSec !== undefined) attributes.execDuration = String(e.execDurationSec);
  if (e.signal !== undefined) attributes.signal = String(e.signal);
  if (e.oldName !== undefined) attributes.oldName = `/${e.oldName}`;
  if (e.execId !== undefined) attributes.execID = e.execId;
  let action: string = e.action;
  if (e.action === 'health_status' && e.health) action = `health_status: ${e.health}`;
  else if ((e.action === 'exec_create' || e.action === 'exec_start') && e.command !== undefined) action = `${e.action}: ${e.command}`;
  return { Type: 'container', Action: action, Actor: { ID: e.id, Attributes: attributes } };
}

/**
 * A live feed of engine events, in the shape `docker events` decodes, narrowed by Docker's
 * `filters`. Image events carry what Docker's do: a pull is named by the reference pulled,
 * tag by the image id with the new name, untag and delete by the image id alone. Past
 * events (since) are not kept; `until` ends the feed at that time (at once when it is past).
 */
export function events(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): void {
  const include = eventFilter(q);
  const until = timeParam(q, 'until');
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  const untilMs = until === undefined ? Infinity : Math.max(0, until * 1000 - Date.now());
  // setTimeout cannot wait longer than 2^31-1 ms (it would fire at once): an until that far off never comes.
  const end = untilMs <= 0x7fffffff ? setTimeout(() => res.end(), untilMs) : undefined;
  const stream = {};
  eventStreams.add(stream);
  const stop = () => {
    eventStreams.delete(stream);
    clearTimeout(end);
    engine.off('container', onContainer);
    engine.off('image', onImage);
    engine.off('volume', onVolume);
  };
  const send = (m: EventMessage) => {
    if (!include(m)) return;
    if (res.writableLength > EVENTS_BACKLOG_BYTES) {
      // 'close' comes later; more events may arrive before it, so unsubscribe now.
      stop();
      res.destroy();
      return;
    }
    const nanos = BigInt(Date.now()) * 1_000_000n;
    res.write(
      JSON.stringify({
        status: m.Action,
        id: m.Actor.ID,
        from: m.Type === 'container' ? m.Actor.Attributes.image : undefined,
        Type: m.Type,
        Action: m.Action,
        Actor: m.Actor,
        scope: 'local',
        time: Number(nanos / 1_000_000_000n),
        timeNano: Number(nanos),
      }) + '\n',
    );
  };
  const onContainer = (e: ContainerEvent) => {
    const m = containerEventMessage(engine, e);
    send(m);
  };
  const onImage = (e: ImageEvent) => {
    const labels = e.action === 'delete' ? {} : (engine.findImage(e.id)?.config.Labels ?? {});
    let actor: EventMessage['Actor'];
    if (e.action === 'pull' && e.ref) actor = { ID: e.ref, Attributes: { ...labels, name: stripTag(e.ref) } };
    else if (e.action === 'tag' && e.ref) actor = { ID: e.id, Attributes: { ...labels, name: e.ref } };
    else actor = { ID: e.id, Attributes: { ...labels, name: e.id } };
    send({ Type: 'image', Action: e.action, Actor: actor });
  };
  // Docker's volume events: create/destroy with the driver, mount with the container and where, unmount, prune.
  const onVolume = (e: VolumeEvent) => send({ Type: 'volume', Action: e.action, Actor: { ID: e.name, Attributes: { ...e.attributes } } });
  engine.on('container', onContainer);
  engine.on('image', onImage);
  engine.on('volume', onVolume);
  req.on('close', stop);
  res.on('close', stop);
}


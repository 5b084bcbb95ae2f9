// What the agent and the control plane say to each other. Both sides import these
// types; the server never talks to an agent any other way.
import { z } from 'zod';
import type { ContainerSpec, ContainerStatus, HealthState, HealthStatus, LogDrop, LogEntry, PublishedPort } from './container';
import { tunnelCommandSchemas, type TunnelChunk } from './docker-tunnel';
import { networkCreateSchema } from './network';
import { stackCommandSchemas, type StackSummary } from './stacks';
import { TERM_INPUT_MAX, TERM_SIZE_MAX } from './ui-socket';
import { LOG_PAGE_MAX, LOG_QUERY_MAX, LOG_RETENTION_MAX_AGE, LOG_RETENTION_MAX_BYTES } from './logs';
import { LOG_TIME_MAX } from './log-limits';
import { agentLogRuleSchema, type HostMetrics, type LogMatch } from './alerts';
import type { SnapshotAck, SnapshotDelta } from './snapshot-delta';

/** socket.io namespace agents connect to (the browser uses '/ui'). */
export const AGENT_NAMESPACE = '/agent';

/**
 * Enrolment, over plain HTTP before the socket opens:
 *   POST {server}/api/agent/enroll  body EnrollRequest  → 200 EnrollResponse | 401 { error }
 * The join token is single-use; the credential is stored in the agent's root
 * (only its hash on the server) and used in every later handshake.
 */
export const ENROLL_PATH = '/api/agent/enroll';
export interface EnrollRequest {
  token: string;
  hostname: string;
}
export interface EnrollResponse {
  hostId: string;
  credential: string;
}

/** socket.io handshake `auth` of an enrolled agent. A revoked or unknown host gets connect_error "unauthorized". */
export interface AgentAuth {
  hostId: string;
  credential: string;
}

export interface HostInfo {
  hostname: string;
  kernel: string;
  os: string;
  arch: string;
  cpus: number;
  memTotal: number;
  engineVersion: string;
  apiVersion: string;
  cgroupVersion: 1 | 2;
  root: string;
  containers: { total: number; running: number; paused: number; stopped: number };
  images: number;
}

/** One progress message of a pull, shaped like the docker CLI's JSON progress stream. */
export interface PullProgress {
  status: string;
  id?: string;
  current?: number;
  total?: number;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  /** The command line as one string, as `docker ps` shows it. */
  command: string;
  created: string;
  state: ContainerStatus;
  /** Human status as `docker ps` prints it: "Up 3 seconds", "Exited (0) 2 minutes ago". */
  status: string;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  memoryLimit: number;
  /** The healthcheck's status while it runs; absent without a healthcheck. */
  health?: HealthStatus;
  /** Restarts by its restart policy since a user last started it. */
  restartCount?: number;
  /** Log lines of its current (or last) run that could not be written (a full disk); absent when none. */
  logDropped?: LogDrop[];
  /** While it runs and publishes ports: each as bound on the host. */
  ports?: PublishedPort[];
  /** Its compose project (label com.docker.compose.project), for the stack's merged logs. */
  project?: string;
  /** Its labels (`docker run -l`), for the fleet table's label filter and alert rules; absent when it has none. */
  labels?: Record<string, string>;
  /** Asked for by its labels (protocol/updates.ts AUTO_UPDATE_*): present only when berth.auto-update is "true". */
  autoUpdate?: { schedule?: string; window?: string };
}

/**
 * One reading of a running container's statistics. Counters are totals since the container
 * started (they start again from 0 after a restart); CPU share and I/O rates come from the
 * difference of two readings, as `docker stats` computes them.
 */
export interface ContainerStatsSample {
  /** RFC 3339 with nanoseconds: when the agent read them. */
  read: string;
  /** CPU time the container has used, and the host's CPU time meanwhile (all CPUs), nanoseconds. */
  cpuUsageNs: number;
  systemCpuNs: number;
  onlineCpus: number;
  /** What `docker stats` calls usage: the cgroup's memory without its inactive file cache. */
  memoryUsage: number;
  /** Bytes; -1 = no limit. */
  memoryLimit: number;
  pids: number;
  /** 0 = no limit. */
  pidsLimit: number;
  /** Interfaces of its own network namespace, loopback left out as Docker leaves it out (none with the host's network). */
  networkInterfaces: number;
  netRxBytes: number;
  netTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
}

/** What the container page polls for while it is open: the state that moves without a snapshot (health probes) and, while it runs, its stats. */
export interface ContainerLive {
  id: string;
  status: ContainerStatus;
  restartCount: number;
  /** Present when the container has a healthcheck and has been started. */
  health?: HealthState;
  /** null when it is not running (stopped, or waiting to restart). */
  stats: ContainerStatsSample | null;
}

export interface ImageSummary {
  id: string;
  repoTags: string[];
  size: number;
  created: string;
}

/** `docker load`'s outcome: each image loaded, by the names it got. */
export interface ImageLoadResult {
  images: Array<{ id: string; tags: string[] }>;
}

/** A volume as the engine knows it (Docker's volume inspect, plus who uses it). */
export interface VolumeInfo {
  name: string;
  /** Always "local" for now. */
  driver: string;
  /** RFC 3339. */
  createdAt: string;
  labels: Record<string, string>;
  /** The local driver's options: type, device, o. */
  options: Record<string, string>;
  /** Where its content is on the host. */
  mountpoint: string;
  /** Containers, running or not, that mount it (a volume in use cannot be removed). */
  usedBy: string[];
}

/**
 * The agent's whole state; sent on every (re)connect, and after any change (debounced) as a
 * delta once the server has said it takes them (protocol/snapshot-delta.ts).
 */
export interface HostSnapshot {
  /** The agent's count of the states it sent on this connection: a delta names the rev it applies to. */
  rev?: number;
  info: HostInfo;
  containers: ContainerSummary[];
  images: ImageSummary[];
  /** Compose projects on the host: Berth's own and those the CLI started (protocol/stacks.ts). */
  stacks?: StackSummary[];
}

const id = z.string().min(1);
const count = z.number().int().nonnegative();
const logTime = z.number().finite().nonnegative().max(LOG_TIME_MAX);
const logFilterFields = { since: logTime.optional(), until: logTime.optional(), stdout: z.boolean().optional(), stderr: z.boolean().optional() };
const logPageFields = { before: count.optional(), after: count.optional(), around: count.optional(), at: logTime.optional(), limit: z.number().int().min(1).max(LOG_PAGE_MAX).optional() };
const logSearchFields = { query: z.string().min(1).max(LOG_QUERY_MAX), regex: z.boolean().optional(), caseSensitive: z.boolean().optional(), maxHits: z.number().int().min(1).optional() };
const stringMap = z.record(z.string(), z.string());

/** A registry login handed over with one command. */
export const registryAuthSchema = z.strictObject({ username: z.string().min(1).max(255), password: z.string().max(4096) });

/** A terminal's size in character cells. */
export const termSizeSchema = z.strictObject({ cols: z.number().int().min(1).max(TERM_SIZE_MAX), rows: z.number().int().min(1).max(TERM_SIZE_MAX) });
export type TermSize = z.infer<typeof termSizeSchema>;
/** How long a hung-up shell may take to exit before its exec is killed. */
export const TERM_KILL_AFTER_MS = 3_000;

/** Commands the server sends with `emit('command', cmd, ack)`; the agent always acks with a CommandResult.
 *  Strict: the agent refuses a command with a field it does not know, naming it, rather than drop it. */
export const agentCommandSchema = z.discriminatedUnion('op', [
  /** `platform`: "os/arch[/variant]" from a manifest list instead of the host's. */
  /** `progressId`: echoed in every pullProgress event of this pull, so the server knows whose it is. */
  /** `auth`: the team's login for the registry, for this pull only (never stored on the host); without it, the agent's own `docker login`. */
  z.strictObject({ op: z.literal('pull'), ref: id, platform: z.string().min(1).optional(), progressId: id.optional(), auth: registryAuthSchema.optional() }),
  /** Pushes `ref`'s tag; progress goes out as pullProgress events, in the same shape. `auth` as for pull; without it, the agent's stored login for that registry. */
  z.strictObject({ op: z.literal('push'), ref: id, progressId: id.optional(), auth: registryAuthSchema.optional() }),
  z.strictObject({ op: z.literal('tag'), source: id, target: id }),
  /** `docker image prune` (`all`: unused tagged images too). */
  z.strictObject({ op: z.literal('pruneImages'), all: z.boolean().optional() }),
  /** The image record: config, layers, history, names (ImageRecord), with `layerSizes` (each layer's own bytes, lowest first). */
  z.strictObject({ op: z.literal('inspectImage'), ref: id }),
  /**
   * `docker save` as a stream: acked once everything that can be refused has been checked (an
   * unknown name), then the archive comes as `imageData` events for `streamId`, each sent only
   * after the server acked the one before, so a slow download slows the agent's reading.
   */
  z.strictObject({ op: z.literal('images.save'), streamId: id, refs: z.array(id).min(1).max(100) }),
  /** Stops a save under way (the browser went away); its iterator is closed, nothing more is sent. */
  z.strictObject({ op: z.literal('images.save.cancel'), streamId: id }),
  /**
   * `docker load` as a stream: `images.load` opens it, each `images.load.chunk` carries the next
   * bytes (acked once the engine has room for more, so the server reads its upload no faster
   * than the agent unpacks), `images.load.end` answers with the LoadResult, `images.load.cancel`
   * abandons it (the engine keeps nothing of a load it did not finish).
   */
  z.strictObject({ op: z.literal('images.load'), streamId: id }),
  z.strictObject({ op: z.literal('images.load.chunk'), streamId: id, data: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'data must be bytes') }),
  z.strictObject({ op: z.literal('images.load.end'), streamId: id }),
  z.strictObject({ op: z.literal('images.load.cancel'), streamId: id }),
  /**
   * `docker build`: opens an upload of the context tar (then images.load.chunk / .end / .cancel
   * as a load's), whose build output comes back as `imageData` pieces of JSON lines, as the
   * Docker API's /build prints them; images.load.end answers { id } once all of it was sent.
   */
  z.strictObject({
    op: z.literal('images.build'),
    streamId: id,
    dockerfile: z.string().min(1).max(4096).optional(),
    tags: z.array(z.string().min(1).max(512)).max(20).optional(),
    buildArgs: z.record(z.string().max(256), z.string().max(65536)).optional(),
    target: z.string().min(1).max(256).optional(),
    noCache: z.boolean().optional(),
    labels: z.record(z.string().max(256), z.string().max(65536)).optional(),
  }),
  /** Checks the credentials with the registry and keeps them on the agent (0600) for pulls and pushes. */
  z.strictObject({ op: z.literal('login'), server: id, username: id, password: z.string() }),
  z.strictObject({ op: z.literal('logout'), server: id }),
  /** Registry hosts the agent has a login for (never the secrets). */
  z.strictObject({ op: z.literal('logins') }),
  /** The spec itself is checked by the engine (containerSpecSchema), so its refusals read the same from every face. `auth`: as for pull, for an image not on the host yet. */
  z.strictObject({ op: z.literal('run'), spec: z.custom<ContainerSpec>((v) => typeof v === 'object' && v !== null, 'spec must be an object'), auth: registryAuthSchema.optional() }),
  z.strictObject({ op: z.literal('start'), id }),
  z.strictObject({ op: z.literal('stop'), id, timeoutSec: z.number().int().optional() }),
  z.strictObject({ op: z.literal('restart'), id, timeoutSec: z.number().int().optional() }),
  /** A signal name ("SIGHUP", "HUP") or number; default SIGKILL. */
  z.strictObject({ op: z.literal('kill'), id, signal: z.union([z.string().min(1), z.number().int().positive()]).optional() }),
  z.strictObject({ op: z.literal('pause'), id }),
  z.strictObject({ op: z.literal('unpause'), id }),
  z.strictObject({ op: z.literal('remove'), id, force: z.boolean().optional() }),
  z.strictObject({ op: z.literal('removeImage'), ref: id, force: z.boolean().optional() }),
  z.strictObject({ op: z.literal('inspect'), id }),
  /** One ContainerLive reading. The agent keeps nothing between readings: whoever asks again
   *  (the dashboard, only while someone looks at the container) computes the rates. */
  z.strictObject({ op: z.literal('stats'), id }),
  /** Start streaming: the last `tail` lines (or everything after `afterSeq` when resuming), then follow. */
  z.strictObject({ op: z.literal('logs.subscribe'), subId: id, id, kept: z.boolean().optional(), tail: count.optional(), afterSeq: count.optional() }),
  z.strictObject({ op: z.literal('logs.unsubscribe'), subId: id }),
  /** A page of one log's history (protocol/logs.ts LogPageRequest, with the source as `id`/`kept`) → LogPage. */
  z.strictObject({ op: z.literal('logs.page'), id, kept: z.boolean().optional(), ...logFilterFields, ...logPageFields }),
  /** A search of one log: acked once the regex compiled and the log was found, then `logSearch` events for
   *  `searchId`, each sent after the server acked the one before; the last has `done`. `maxHits` has no upper
   *  bound here (a filtered download takes every match): the acks pace it, and the browser's bound is the server's. */
  z.strictObject({ op: z.literal('logs.search'), searchId: id, id, kept: z.boolean().optional(), ...logFilterFields, ...logSearchFields }),
  z.strictObject({ op: z.literal('logs.search.cancel'), searchId: id }),
  /** The removed containers' logs this host keeps (KeptLog[], newest first). */
  z.strictObject({ op: z.literal('logs.kept') }),
  /** Their retention (LogRetention); with `set`, changes it first (and prunes to it at once). */
  z.strictObject({ op: z.literal('logs.retention'), set: z.strictObject({ maxAgeSeconds: count.max(LOG_RETENTION_MAX_AGE), maxBytes: count.max(LOG_RETENTION_MAX_BYTES) }).optional() }),
  /** Volumes: every one with who uses it (VolumeInfo[]), one, a new one (no name: anonymous), removing one, and pruning the unused. */
  z.strictObject({ op: z.literal('volumes.list') }),
  z.strictObject({ op: z.literal('volumes.inspect'), name: id }),
  z.strictObject({ op: z.literal('volumes.create'), name: z.string().optional(), driver: z.string().optional(), options: stringMap.optional(), labels: stringMap.optional() }),
  z.strictObject({ op: z.literal('volumes.remove'), name: id, force: z.boolean().optional() }),
  /** Result: { deleted: string[], reclaimed: bytes }. */
  z.strictObject({ op: z.literal('volumes.prune') }),
  /** A terminal: an exec with a TTY running `cmd` in the container; its output comes as 'term' messages. */
  z.strictObject({
    op: z.literal('term.open'),
    sessionId: id,
    id,
    cmd: z.array(z.string().min(1).max(4096)).min(1).max(64),
    user: z.string().min(1).max(256).optional(),
    size: termSizeSchema,
  }),
  /** Keys and pastes, in order; the ack comes once the TTY has taken them. */
  z.strictObject({ op: z.literal('term.input'), sessionId: id, data: z.string().max(TERM_INPUT_MAX) }),
  z.strictObject({ op: z.literal('term.resize'), sessionId: id, size: termSizeSchema }),
  /** Ends the session: the shell is hung up on (SIGHUP), killed if it outlives TERM_KILL_AFTER_MS. */
  z.strictObject({ op: z.literal('term.close'), sessionId: id }),
  /** Networks: every one (NetworkInfo[], the built-in ones marked), one by id or name, a new one, removing one
   *  (the engine refuses the built-in ones and one with running containers), and pruning the unused (result: their names). */
  z.strictObject({ op: z.literal('networks.list') }),
  z.strictObject({ op: z.literal('networks.inspect'), id }),
  z.strictObject({ op: z.literal('networks.create'), network: networkCreateSchema }),
  z.strictObject({ op: z.literal('networks.remove'), id }),
  z.strictObject({ op: z.literal('networks.prune') }),
  /**
   * The team's log-pattern alert rules that apply to this host (all of them: it replaces what the agent had),
   * and whether a metric or disk rule covers it: only then does the agent send its 'metrics' readings, which
   * cost a stats read of every running container and about 100 bytes a container on the wire.
   */
  z.strictObject({ op: z.literal('alerts.logRules'), rules: z.array(agentLogRuleSchema).max(200), readings: z.boolean().optional() }),
  /** Image updates (protocol/updates.ts) → UpdateReport. `auths`: the team's logins by registry host, for these checks only;
   *  `force`: ask the registries even where a cached answer is fresh ("check now"); `ids`: only these containers. */
  z.strictObject({
    op: z.literal('updates.status'),
    auths: z.record(z.string().min(1).max(255), registryAuthSchema).optional(),
    force: z.boolean().optional(),
    ids: z.array(id).max(1000).optional(),
  }),
  /** Pull the container's reference, recreate it from the new image, roll back unless it comes up → the outcome. */
  z.strictObject({ op: z.literal('updates.apply'), id, auth: registryAuthSchema.optional(), healthTimeoutSec: z.number().int().min(1).max(3600).optional() }),
  /** Update a compose project's services together (rolled back together) → StackUpdateOutcome. `auths` as for updates.status. */
  z.strictObject({
    op: z.literal('updates.stack'),
    project: z.string().min(1).max(255),
    auths: z.record(z.string().min(1).max(255), registryAuthSchema).optional(),
    healthTimeoutSec: z.number().int().min(1).max(3600).optional(),
    /** Only these of its containers (ids or names): the automatic pass's, which asked by label. */
    only: z.array(id).min(1).max(1000).optional(),
  }),
  /** The Docker API proxied through the control plane (protocol/docker-tunnel.ts). */
  ...tunnelCommandSchemas,
  /**
   * Credential rotation (server/hub/rotate.ts): the agent stores `credential` atomically in
   * place of its own and presents it from the next handshake on; acked once it is on disk.
   */
  z.strictObject({ op: z.literal('credential.rotate'), credential: z.string().min(20).max(200) }),
  /** Which credential the agent holds now: { hash } (hex SHA-256, as the server stores them), to settle an unconfirmed rotation. */
  z.strictObject({ op: z.literal('credential.check') }),
  /** Compose stacks (protocol/stacks.ts). */
  ...stackCommandSchemas,
]);

export type AgentCommand = z.infer<typeof agentCommandSchema>;

export type CommandResult<T = unknown> =
  | { ok: true; result?: T }
  /** `status` mirrors the engine's EngineError status (404 unknown container, 400 bad reference …). */
  | { ok: false; error: string; status?: number };

export interface AgentToServer {
  /** The whole state. A server that takes deltas acks with `{ deltas: true }`; one that does not, never acks. */
  snapshot: (s: HostSnapshot, ack?: (a: SnapshotAck) => void) => void;
  /** What changed since the state of rev `base`; acked `{ resync: true }` when the server does not hold that rev. */
  snapshotDelta: (d: SnapshotDelta, ack: (a: SnapshotAck) => void) => void;
  /** The host's CPU in use since the reading before (share of all CPUs, 0–1) and memory in use (bytes), every 10 s. */
  usage: (u: { cpu: number; mem: number }) => void;
  /** One batch of a log subscription. The agent sends the next batch only after the server acks this one,
   *  so a slow reader throttles reading the log file instead of filling memory. `done` = the stream ended. */
  logs: (batch: LogBatch, ack: () => void) => void;
  /** A terminal's output, or its end. The agent sends the next message of a session only after the
   *  server acks this one (the server acks once the browser has drawn it), so a flood of output
   *  stops the command at its TTY instead of filling buffers on the way. */
  term: (msg: TermMessage, ack: () => void) => void;
  /** Progress of a pull or push started by a 'pull', 'run' or 'push' command (with its `progressId` when it had one). */
  pullProgress: (p: { ref: string; progressId?: string } & PullProgress) => void;
  /** The next piece of an `images.save` stream; the agent waits for the ack before the next. */
  imageData: (chunk: ImageDataChunk, ack: () => void) => void;
  /** The next hits of a `logs.search`; the agent waits for the ack before the next. */
  logSearch: (chunk: LogSearchChunk, ack: () => void) => void;
  /** What a proxied Docker API connection's socket said (protocol/docker-tunnel.ts). */
  dockerData: (chunk: TunnelChunk, ack: () => void) => void;
  /** For metric alert rules, every interval (protocol/alerts.ts). Taken by the process holding the connection. */
  metrics: (m: HostMetrics) => void;
  /** A log-pattern alert rule matched a line (rate-limited on the agent). Taken by the process holding the connection. */
  logMatch: (m: LogMatch) => void;
}

/** Hits of one log's search. The last chunk has `done` (LogSearchDone's counts, for this log). */
export interface LogSearchChunk {
  searchId: string;
  hits: Array<LogEntry & { ranges: Array<[number, number]> }>;
  /** Matching lines found so far. */
  found: number;
  done?: { total: number; sent: number; scannedBytes: number; error?: string };
}

/** A piece of a save archive. `done`: the archive is complete; `error`: it failed midway (the download must not look complete). */
export interface ImageDataChunk {
  streamId: string;
  data?: Uint8Array;
  done?: boolean;
  error?: string;
}

/** Bytes per `imageData` event or `images.load.chunk` command, well under socket.io's message limit. */
export const IMAGE_CHUNK_BYTES = 512 * 1024;

export interface LogBatch {
  subId: string;
  entries: LogEntry[];
  done?: boolean;
}

/** Why a terminal session ended, as the agent saw it. */
export type TermEndReason = 'exited' | 'closed' | 'container stopped' | 'error';

export type TermMessage =
  | { sessionId: string; data: Uint8Array }
  /** The last message of a session: the command's exit code (null when unknown) and why it ended. */
  | { sessionId: string; end: { exitCode: number | null; reason: TermEndReason; error?: string } };

export interface ServerToAgent {
  command: (cmd: AgentCommand, ack: (res: CommandResult) => void) => void;
}

/** How long the server waits for a command's ack before answering the caller with an error. Pulls take longer. */
export const COMMAND_TIMEOUT_MS = 30_000;
export const PULL_TIMEOUT_MS = 10 * 60_000;
/** Pushes move as much as pulls. */
export const PUSH_TIMEOUT_MS = PULL_TIMEOUT_MS;
/** An update pulls, then waits for the new container to be healthy. */
export const UPDATE_TIMEOUT_MS = PULL_TIMEOUT_MS + 3600_000;
